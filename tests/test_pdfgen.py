"""Checks that the generated test PDFs are what the rest of the suite believes them to be.

Every expectation a server test relies on (page counts, the exact text PDFium extracts, which files fail to
open, which pages have no text layer) is verified here directly against pypdfium2, so that a failing server
test points at the server and not at its fixtures.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import unicodedata
from pathlib import Path

import pypdfium2 as pdfium
import pytest

from pdfgen import (
    EncryptionName,
    GeneratedPdf,
    damaged,
    encrypted,
    huge_pages,
    image_only,
    large_corpus,
    mixed,
    multipage,
    non_latin,
    normalize_whitespace,
    page_marker,
    pdfium_pages,
    rotated,
    write_bytes_pdf,
)

TESSERACT = shutil.which("tesseract")
needs_tesseract = pytest.mark.skipif(TESSERACT is None, reason="tesseract is not installed")


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def assert_text_matches(generated: GeneratedPdf, password: str | None = None) -> None:
    """Every page yields exactly the lines drawn on it, in order."""
    extracted = pdfium_pages(generated.path, password)
    assert len(extracted) == generated.page_count
    for index, text in enumerate(extracted):
        assert lines_of(text) == lines_of(generated.text_layer(index)), f"page {index}"


def ocr(path: Path, page_index: int) -> str:
    """Tesseract's reading of one page rendered at 300 dpi, as an OCR step would see it."""
    assert TESSERACT is not None
    document = pdfium.PdfDocument(path)
    try:
        image_path = path.with_suffix(f".page{page_index}.png")
        document[page_index].render(scale=300 / 72, grayscale=True).to_pil().save(image_path)
    finally:
        document.close()
    result = subprocess.run([TESSERACT, str(image_path), "-", "--psm", "6"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return normalize_whitespace(result.stdout)


def test_multipage_pages_carry_their_numbers(tmp_path: Path) -> None:
    generated = multipage(tmp_path, pages=5)
    assert generated.path == tmp_path / "multipage.pdf"
    assert_text_matches(generated)
    extracted = pdfium_pages(generated.path)
    assert "Page 3 of 5" in extracted[2]
    assert "Zero-based page index 2" in extracted[2]
    for index, text in enumerate(extracted):
        # Each page's marker is on that page and nowhere else, so page selection can be checked by marker.
        holders = [other for other in range(5) if page_marker(other) in extracted[index]]
        assert holders == [index], text


def test_page_markers_never_contain_one_another() -> None:
    markers = [page_marker(index) for index in range(300)]
    assert len(set(markers)) == len(markers)
    for marker in markers:
        assert [other for other in markers if marker in other] == [marker]


def test_multipage_rejects_empty_document(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        multipage(tmp_path, pages=0)


def test_non_latin_text_extracts_in_logical_order(tmp_path: Path) -> None:
    generated = non_latin(tmp_path)
    assert generated.page_count == 2
    assert_text_matches(generated)
    scripts = {unicodedata.name(char, "?").split()[0] for char in "".join(generated.pages)}
    assert {"GREEK", "CYRILLIC", "ARMENIAN", "GEORGIAN", "HEBREW", "ARABIC"} <= scripts


@pytest.mark.parametrize("method", ["rc4-128", "aes-128", "aes-256"])
@pytest.mark.parametrize("password", ["s3cret", "pässwörd"])
def test_encrypted_needs_the_password(tmp_path: Path, method: EncryptionName, password: str) -> None:
    generated = encrypted(tmp_path, password, method=method)
    assert generated.password == password
    for wrong in (None, "", "wrong"):
        with pytest.raises(pdfium.PdfiumError, match="password"):
            pdfium.PdfDocument(generated.path, password=wrong)
    assert_text_matches(generated, password)


def test_encrypted_opens_with_owner_password(tmp_path: Path) -> None:
    generated = encrypted(tmp_path, "user-pw", "owner-pw")
    assert_text_matches(generated, "owner-pw")
    assert_text_matches(generated, "user-pw")


def test_owner_only_encryption_opens_without_password(tmp_path: Path) -> None:
    generated = encrypted(tmp_path, "", "owner-pw")
    assert generated.password is None
    assert_text_matches(generated)


def test_pdfium_does_not_saslprep_passwords(tmp_path: Path) -> None:
    """AES-256 keys are derived from the SASLprep'd password; PDFium uses what it is given, byte for byte.

    A server that SASLpreps the request's password opens these files; passing it straight to PDFium does not.
    """
    soft_hyphen = encrypted(tmp_path, "I\u00adX", name="soft-hyphen.pdf")
    with pytest.raises(pdfium.PdfiumError, match="password"):
        pdfium.PdfDocument(soft_hyphen.path, password="I\u00adX")
    assert_text_matches(soft_hyphen, "IX")

    composed = encrypted(tmp_path, "pässwörd", name="nfc.pdf")
    with pytest.raises(pdfium.PdfiumError, match="password"):
        pdfium.PdfDocument(composed.path, password=unicodedata.normalize("NFD", "pässwörd"))


def test_legacy_encryption_rejects_non_latin1_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Latin-1"):
        encrypted(tmp_path, "пароль", method="rc4-128")


def test_image_only_page_has_no_text_layer(tmp_path: Path) -> None:
    generated = image_only(tmp_path)
    assert generated.image_pages == frozenset({0})
    assert pdfium_pages(generated.path) == [""]
    document = pdfium.PdfDocument(generated.path)
    try:
        kinds = [obj.type for obj in document[0].get_objects()]
    finally:
        document.close()
    assert kinds == [pdfium.raw.FPDF_PAGEOBJ_IMAGE]


@needs_tesseract
def test_image_only_page_is_legible_to_tesseract(tmp_path: Path) -> None:
    generated = image_only(tmp_path)
    assert ocr(generated.path, 0) == normalize_whitespace(generated.pages[0])


def test_mixed_has_text_then_image_page(tmp_path: Path) -> None:
    generated = mixed(tmp_path)
    assert generated.page_count == 2
    assert generated.text_layer(1) == ""
    assert_text_matches(generated)


@needs_tesseract
def test_mixed_image_page_is_legible_to_tesseract(tmp_path: Path) -> None:
    generated = mixed(tmp_path)
    assert ocr(generated.path, 1) == normalize_whitespace(generated.pages[1])


DAMAGED_KINDS = ["truncated", "garbage", "header_only", "png", "html", "zip", "empty"]


def test_damaged_variants(tmp_path: Path) -> None:
    files = damaged(tmp_path)
    assert sorted(files) == sorted(DAMAGED_KINDS)
    assert files["empty"].stat().st_size == 0
    assert files["truncated"].read_bytes().startswith(b"%PDF-")
    assert files["png"].read_bytes().startswith(b"\x89PNG")
    assert files["zip"].read_bytes().startswith(b"PK")
    assert all(path.suffix == ".pdf" for path in files.values())
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        f"damaged-{k}.pdf" for k in DAMAGED_KINDS
    )


@pytest.mark.parametrize("kind", DAMAGED_KINDS)
def test_damaged_files_do_not_open(tmp_path: Path, kind: str) -> None:
    path = damaged(tmp_path)[kind]
    try:
        document = pdfium.PdfDocument(path)
    except pdfium.PdfiumError:
        return
    try:
        assert len(document) == 0, f"{kind} opened with {len(document)} pages"
    finally:
        document.close()


def test_large_corpus_is_fast_and_full(tmp_path: Path) -> None:
    started = time.perf_counter()
    corpus = large_corpus(tmp_path, files=10, pages_per_file=20)
    generated_in = time.perf_counter() - started
    print(f"\nlarge_corpus: 10 files x 20 pages generated in {generated_in:.2f} s")
    assert generated_in < 5
    assert [doc.path.name for doc in corpus] == [f"corpus-{n:03d}.pdf" for n in range(10)]
    assert {doc.page_count for doc in corpus} == {20}
    assert {len(doc.lines(page)) for doc in corpus for page in range(20)} == {40}
    assert len(set(corpus[0].pages + corpus[1].pages)) == 40, "pages must differ"
    started = time.perf_counter()
    for doc in corpus:
        assert_text_matches(doc)
    print(f"large_corpus: 200 pages extracted and compared in {time.perf_counter() - started:.2f} s")


def test_huge_pages_takes_seconds_to_extract(tmp_path: Path) -> None:
    started = time.perf_counter()
    generated = huge_pages(tmp_path)
    generated_in = time.perf_counter() - started
    size = generated.path.stat().st_size
    assert generated_in < 2

    started = time.perf_counter()
    extracted = pdfium_pages(generated.path)
    extracted_in = time.perf_counter() - started
    print(
        f"\nhuge_pages: {generated.page_count} pages, {size / 1e6:.2f} MB, generated in {generated_in:.3f} s, "
        f"pypdfium2 text of every page in {extracted_in:.2f} s"
    )
    assert len(extracted) == generated.page_count == 3000
    for index in (0, 1, 1499, 2999):
        assert lines_of(extracted[index]) == generated.lines(index)
    assert extracted_in > 1.0, "no longer slow enough to exceed a small job time limit; raise lines_per_page"


def test_huge_pages_is_configurable(tmp_path: Path) -> None:
    generated = huge_pages(tmp_path, pages=7, lines_per_page=3, name="small.pdf")
    assert generated.path.name == "small.pdf"
    assert generated.lines(6) == [
        "Huge page 7 of 7",
        "Shared body line 000 lorem ipsum dolor sit amet consectetur",
        "Shared body line 001 lorem ipsum dolor sit amet consectetur",
        "Shared body line 002 lorem ipsum dolor sit amet consectetur",
    ]
    assert_text_matches(generated)


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_rotated_page_reads_in_order(tmp_path: Path, rotation: int) -> None:
    generated = rotated(tmp_path, rotation)
    document = pdfium.PdfDocument(generated.path)
    try:
        page = document[0]
        assert page.get_rotation() == rotation
        width, height = page.get_size()  # as displayed, i.e. after /Rotate
    finally:
        document.close()
    assert (width > height) == (rotation in (90, 270))
    assert_text_matches(generated)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_sideways_page_keeps_its_lines(tmp_path: Path, rotation: int) -> None:
    generated = rotated(tmp_path, rotation, sideways=True)
    (text,) = pdfium_pages(generated.path)
    expected = generated.lines(0)
    # PDFium orders the lines of sideways text by display position: bottom-up for /Rotate 90.
    assert lines_of(text) == (expected[::-1] if rotation == 90 else expected)


@needs_tesseract
def test_rotated_page_displays_upright(tmp_path: Path) -> None:
    generated = rotated(tmp_path, 90)
    assert ocr(generated.path, 0) == normalize_whitespace(generated.pages[0])


def test_rotated_rejects_odd_angles(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rotation"):
        rotated(tmp_path, 45)


def test_generators_are_byte_for_byte_deterministic(tmp_path: Path) -> None:
    def generate_all(dest: Path) -> dict[str, bytes]:
        paths = [
            multipage(dest).path,
            non_latin(dest).path,
            image_only(dest).path,
            mixed(dest).path,
            rotated(dest).path,
            huge_pages(dest, pages=20).path,
            *(doc.path for doc in large_corpus(dest, files=2, pages_per_file=3)),
            *damaged(dest).values(),
        ]
        return {path.name: path.read_bytes() for path in paths}

    first, second = generate_all(tmp_path / "a"), generate_all(tmp_path / "b")
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_write_bytes_pdf_creates_the_directory(tmp_path: Path) -> None:
    path = write_bytes_pdf(tmp_path / "nested" / "dir", "x.pdf", b"data")
    assert path.read_bytes() == b"data"
