"""Deterministic generators for the PDFs the test suite feeds to the server.

The server's answers are compared with what the generator drew, so every generator returns the file *and* the
exact text lines it put on each page (:class:`GeneratedPdf`). Generating the files at test time (into
``tmp_path``) instead of checking binaries into the repository keeps the fixtures reviewable and lets a test ask
for exactly the shape it needs (page count, password, size).

Determinism: the same arguments give the same text, layout and (except for :func:`encrypted`, whose salts and IVs
come from ``os.urandom`` inside fpdf2) byte-identical files, because fpdf2's creation date is pinned and the
hand-written documents contain nothing variable.

Three ways of producing a PDF are used, each where it is the simplest tool:

* fpdf2 for ordinary text documents, embedded TrueType fonts and encryption;
* pypdfium2 to rasterise a text page into a bitmap for the image-only ("scanned") pages;
* a tiny hand-written PDF serialiser (:class:`_PdfWriter`) for the documents whose structure matters more than
  their looks: thousands of pages sharing one content stream (:func:`huge_pages`) and a ``/Rotate`` page
  (:func:`rotated`), which fpdf2 cannot express.
"""

from __future__ import annotations

import io
import random
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import pypdfium2 as pdfium
from fpdf import FPDF
from fpdf.enums import AccessPermission, EncryptionMethod
from fpdf.fonts import TTFFont
from PIL import Image

__all__ = [
    "DEJAVU_SANS",
    "EncryptionName",
    "GeneratedPdf",
    "damaged",
    "encrypted",
    "huge_pages",
    "image_only",
    "large_corpus",
    "mixed",
    "multipage",
    "non_latin",
    "normalize_whitespace",
    "page_marker",
    "rotated",
    "write_bytes_pdf",
]

DEJAVU_SANS: Final = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
"""The TrueType font embedded for non-Latin text; DejaVu covers Greek, Cyrillic, Armenian, Georgian, Hebrew
and Arabic but no CJK, Thai or Devanagari."""

# A pinned creation date makes fpdf2's output (whose /ID is a hash of the content and this date) reproducible.
_CREATION_DATE: Final = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

# A4 in points; every fpdf2 document here uses points so coordinates read the same as in the PDF.
_A4_HEIGHT: Final = 841.89
_MARGIN: Final = 56.0

# One distinctive word per page, so that a test of page selection can tell the pages apart by a word that
# appears nowhere else. Combined with the zero-padded page index (``Delta-0003``) no marker is a substring of
# another, whatever the page count.
_NATO: Final = (
    "Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliett", "Kilo",
    "Lima", "Mike", "November", "Oscar", "Papa", "Quebec", "Romeo", "Sierra", "Tango", "Uniform", "Victor",
    "Whiskey", "Xray", "Yankee", "Zulu",
)  # fmt: skip

_LOREM: Final = (
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do", "eiusmod",
    "tempor", "incididunt", "ut", "labore", "et", "dolore", "magna", "aliqua", "enim", "ad", "minim",
    "veniam", "quis", "nostrud", "exercitation", "ullamco", "laboris", "nisi", "aliquip", "ex", "ea",
    "commodo", "consequat", "duis", "aute", "irure", "in", "reprehenderit", "voluptate", "velit", "esse",
    "cillum", "fugiat", "nulla", "pariatur", "excepteur", "sint", "occaecat", "cupidatat", "non", "proident",
    "sunt", "culpa", "qui", "officia", "deserunt", "mollit", "anim", "id", "est", "laborum", "curabitur",
    "pretium", "tincidunt", "lacus", "gravida", "orci", "a", "odio", "nullam", "varius", "turpis",
)  # fmt: skip


@dataclass(frozen=True)
class GeneratedPdf:
    """A generated document and the text a correct extractor must find in it.

    ``pages[i]`` is the text lines drawn on page ``i`` joined with ``"\\n"``, in reading (logical) order, even
    where the glyphs were laid out otherwise (right-to-left scripts, rotated pages). For the pages listed in
    ``image_pages`` the text exists only as pixels: ``pages[i]`` is what OCR should read, while the text layer
    is empty (see :meth:`text_layer`).
    """

    path: Path
    pages: list[str]
    image_pages: frozenset[int] = field(default_factory=frozenset)
    password: str | None = None

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def text_layer(self, page: int) -> str:
        """What a text-layer extractor (no OCR) should return for ``page``: nothing on an image-only page."""
        return "" if page in self.image_pages else self.pages[page]

    def lines(self, page: int) -> list[str]:
        """The lines drawn on ``page``, for tests that compare line by line."""
        return self.pages[page].split("\n") if self.pages[page] else []


def normalize_whitespace(text: str) -> str:
    """Collapse every whitespace run to one space, so ``\\r\\n`` line ends and column gaps compare equal."""
    return " ".join(text.split())


def write_bytes_pdf(dest: Path, name: str, data: bytes) -> Path:
    """Write ``data`` verbatim as ``dest/name``: for inputs that only pretend to be PDFs."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------------------------------------------
# Ordinary text documents (fpdf2)
# --------------------------------------------------------------------------------------------------------------


def multipage(dest: Path, pages: int = 5, name: str = "multipage.pdf") -> GeneratedPdf:
    """A Latin text document whose pages can be told apart, for page selection (``pages="0,2-3"``, ``"!0"``).

    Every page carries its 1-based number (``Page 3 of 5``), its 0-based index (the PDF.co convention), a marker
    word unique to the page (``Keyword Charlie-0002``) and a sentence of filler text.
    """
    if pages < 1:
        raise ValueError(f"pages must be at least 1, not {pages}")
    texts = [
        [
            f"Page {index + 1} of {pages}",
            f"Zero-based page index {index}",
            f"Keyword {page_marker(index)}",
            _lorem_line(random.Random(f"multipage-{index}"), 70),
        ]
        for index in range(pages)
    ]
    pdf = _new_fpdf()
    pdf.set_font("helvetica", size=14)
    for lines in texts:
        _draw_page(pdf, lines, leading=24)
    return _save(pdf, dest, name, texts)


def page_marker(index: int) -> str:
    """The word that :func:`multipage` puts on page ``index`` (0-based) and on no other page."""
    return f"{_NATO[index % len(_NATO)]}-{index:04d}"


# Each line is a single script so that the expected text does not depend on how an extractor orders mixed
# left-to-right and right-to-left runs (PDFium reorders a Latin label followed by Hebrew as one RTL paragraph).
_NON_LATIN_LTR: Final = (
    "Latin: Zürich, Łódź, Ærøskøbing, Čeština, façade",
    "Ελληνικά: Καλημέρα κόσμε",
    "Русский: Съешь же ещё этих мягких булок",
    "Українська: Гей, хлопці, ґудзик їжака",
    "Հայերեն: Բարեւ աշխարհ",
    "ქართული: გამარჯობა მსოფლიო",
    "Tiếng Việt: Xin chào thế giới",
)
_NON_LATIN_RTL: Final = (
    "Hebrew",
    "שלום עולם",
    "מה שלומך היום",
    "Arabic",
    "مرحبا بالعالم",
    "كيف حالك اليوم",
)


def non_latin(dest: Path, name: str = "non_latin.pdf") -> GeneratedPdf:
    """Two pages of non-Latin text in an embedded DejaVu Sans subset (fpdf2 writes the ToUnicode map).

    Page 0 holds left-to-right scripts (Latin with diacritics, Greek, Cyrillic, Armenian, Georgian,
    Vietnamese), page 1 Hebrew and Arabic. Right-to-left lines are laid out in *visual* order (glyph runs
    reversed), as a real RTL producer would place them; a correct extractor gives them back in logical order,
    which is what ``pages`` holds. Arabic is not shaped (isolated letter forms: fpdf2 shapes only with
    uharfbuzz), which changes its looks but not its text. CJK is absent because no installed font covers it.
    """
    texts = [list(_NON_LATIN_LTR), list(_NON_LATIN_RTL)]
    pdf = _new_fpdf()
    pdf.add_font("DejaVuSans", "", str(DEJAVU_SANS))
    pdf.set_font("DejaVuSans", size=16)
    font = pdf.fonts["dejavusans"]
    assert isinstance(font, TTFFont)
    missing = sorted({char for lines in texts for line in lines for char in line} - {" "} - _covered(font))
    if missing:
        raise ValueError(f"{DEJAVU_SANS.name} has no glyph for {''.join(missing)!r}")
    for lines in texts:
        _draw_page(pdf, [_visual_order(line) for line in lines], leading=30)
    return _save(pdf, dest, name, texts)


EncryptionName = Literal["rc4-128", "aes-128", "aes-256"]
_ENCRYPTION_METHODS: Final[dict[EncryptionName, EncryptionMethod]] = {
    "rc4-128": EncryptionMethod.RC4,
    "aes-128": EncryptionMethod.AES_128,
    "aes-256": EncryptionMethod.AES_256,
}


def encrypted(
    dest: Path,
    user_password: str = "s3cret",  # noqa: S107 - a fixture, not a secret
    owner_password: str | None = None,
    *,
    method: EncryptionName = "aes-256",
    permissions: AccessPermission | None = None,
    name: str = "encrypted.pdf",
) -> GeneratedPdf:
    """A text document encrypted with the standard security handler.

    ``owner_password`` defaults to the user password (pypdf's convention). An empty ``user_password`` makes an
    owner-only document that opens without a password but carries ``permissions``.

    Passwords are prepared the way the PDF specification says: for ``aes-256`` (revision 6) fpdf2 applies
    SASLprep (RFC 4013: NFKC, soft hyphen removed, non-ASCII spaces mapped to U+0020) and uses UTF-8; the older
    methods take the password in Latin-1 (PDFDocEncoding), so it must be Latin-1 encodable. PDFium does *not*
    SASLprep the password it is given, so ``"I\\u00adX"`` only opens an ``aes-256`` file as ``"IX"`` and an NFD
    ``"pässwörd"`` opens nothing: that is what a server-side SASLprep test needs.

    Unlike the other generators the output is not byte-identical between runs: fpdf2 draws its salts and IVs
    from ``os.urandom``.
    """
    owner = user_password if owner_password is None else owner_password
    if not owner:
        raise ValueError("an encrypted document needs a user or an owner password")
    if method != "aes-256":
        for password in (user_password, owner):
            try:
                password.encode("latin-1")
            except UnicodeEncodeError as error:
                raise ValueError(f"{method} passwords must be Latin-1 encodable: {password!r}") from error
    texts = [["This document is encrypted", f"Encryption method {method}", "Confidential line three"]]
    pdf = _new_fpdf()
    pdf.set_font("helvetica", size=14)
    _draw_page(pdf, texts[0], leading=24)
    pdf.set_encryption(
        owner_password=owner,
        user_password=user_password,
        encryption_method=_ENCRYPTION_METHODS[method],
        permissions=AccessPermission.all() if permissions is None else permissions,
    )
    generated = _save(pdf, dest, name, texts)
    return GeneratedPdf(generated.path, generated.pages, password=user_password or None)


# --------------------------------------------------------------------------------------------------------------
# Image-only ("scanned") pages
# --------------------------------------------------------------------------------------------------------------

_SCAN_TEXT: Final = "SCANNED DOCUMENT\nInvoice number 4096\nThe quick brown fox jumps\nover the lazy dog"


def image_only(
    dest: Path, text: str = _SCAN_TEXT, *, dpi: int = 300, name: str = "image_only.pdf"
) -> GeneratedPdf:
    """One page whose only content is a bitmap of ``text`` (lines split on ``"\\n"``): no text layer at all.

    The text is drawn in 28 pt Helvetica, rasterised with PDFium at ``dpi`` and thresholded to pure black and
    white, which Tesseract reads reliably when the page is rendered back at 300 dpi.
    """
    lines = text.split("\n")
    pdf = _new_fpdf()
    _image_page(pdf, lines, dpi)
    return _save(pdf, dest, name, [lines], image_pages=frozenset({0}))


def mixed(dest: Path, *, dpi: int = 300, name: str = "mixed.pdf") -> GeneratedPdf:
    """Page 0 has a text layer, page 1 is image-only: for tests that OCR only the pages lacking text."""
    texts = [
        ["Mixed document, page one", "This page has a real text layer", "Keyword Papyrus"],
        ["SCANNED PAGE TWO", "Only pixels on this page", "Keyword Granite"],
    ]
    pdf = _new_fpdf()
    pdf.set_font("helvetica", size=14)
    _draw_page(pdf, texts[0], leading=24)
    _image_page(pdf, texts[1], dpi)
    return _save(pdf, dest, name, texts, image_pages=frozenset({1}))


def _image_page(pdf: FPDF, lines: Sequence[str], dpi: int) -> None:
    """Add a page covered by a bitmap of ``lines``."""
    pdf.add_page()
    pdf.image(_render_text(lines, dpi), x=0, y=0, w=pdf.w, h=pdf.h)


def _render_text(lines: Sequence[str], dpi: int) -> Image.Image:
    """Rasterise ``lines`` (large black Helvetica on white, A4) into a black-and-white bitmap.

    Thresholding instead of keeping PDFium's anti-aliased grey edges keeps the scan crisp and small, and keeps
    Tesseract from misreading thin glyph pairs (it read a grey "4711" as "471 1").
    """
    source = _new_fpdf()
    source.set_font("helvetica", size=28)
    _draw_page(source, lines, leading=48, top=_MARGIN + 60)
    document = pdfium.PdfDocument(bytes(source.output()))
    try:
        page = document[0]
        bitmap = page.render(scale=dpi / 72, grayscale=True)
        image: Image.Image = bitmap.to_pil()
        # to_pil() shares the bitmap's buffer; point() copies it before the bitmap is closed.
        black_and_white = image.point(lambda value: 255 if value >= 128 else 0)
        bitmap.close()
        page.close()
    finally:
        document.close()
    return black_and_white


# --------------------------------------------------------------------------------------------------------------
# Broken inputs
# --------------------------------------------------------------------------------------------------------------


def damaged(dest: Path) -> dict[str, Path]:
    """Files named ``.pdf`` that are not usable PDFs, keyed by what is wrong with them.

    ``truncated``: a valid 5-page document cut in half (no xref, no trailer; PDFium cannot rebuild it).
    ``garbage``: a ``%PDF-1.7`` header followed by random bytes. ``header_only``: a header and ``%%EOF``.
    ``png``, ``html``, ``zip``: other formats with a PDF name, as an upload with the wrong file gives.
    ``empty``: zero bytes.
    """
    dest.mkdir(parents=True, exist_ok=True)
    source = multipage(dest, pages=5, name="damaged-source.pdf").path
    complete = source.read_bytes()
    source.unlink()

    png = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(png, format="PNG")

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        # A fixed timestamp; ZipFile.writestr(name, ...) would stamp the current time.
        bundle.writestr(zipfile.ZipInfo("document.txt", date_time=(2024, 1, 2, 3, 4, 6)), "not a PDF\n")

    variants = {
        "truncated": complete[: len(complete) // 2],
        "garbage": b"%PDF-1.7\n" + random.Random("garbage").randbytes(4096),
        "header_only": b"%PDF-1.4\n%%EOF\n",
        "png": png.getvalue(),
        "html": b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
        b"<body><h1>Not Found</h1></body></html>\n",
        "zip": archive.getvalue(),
        "empty": b"",
    }
    return {kind: write_bytes_pdf(dest, f"damaged-{kind}.pdf", data) for kind, data in variants.items()}


# --------------------------------------------------------------------------------------------------------------
# Volume: benchmarks and time limits
# --------------------------------------------------------------------------------------------------------------


def large_corpus(dest: Path, files: int = 10, pages_per_file: int = 20) -> list[GeneratedPdf]:
    """``files`` text-heavy documents (``corpus-000.pdf``, ...) of ``pages_per_file`` full pages, for benchmarks.

    Each page is a heading plus 39 lines of deterministic pseudo-Latin (about 3 KB of text), in a standard font
    so nothing is embedded and 200 pages take a fraction of a second.
    """
    generated: list[GeneratedPdf] = []
    for number in range(files):
        rng = random.Random(f"corpus-{number}")
        texts = [
            [f"Corpus file {number:03d} page {page + 1} of {pages_per_file}"]
            + [_lorem_line(rng, 84) for _ in range(39)]
            for page in range(pages_per_file)
        ]
        pdf = _new_fpdf()
        pdf.set_font("helvetica", size=10)
        for lines in texts:
            _draw_page(pdf, lines, leading=18, top=_MARGIN)
        generated.append(_save(pdf, dest, f"corpus-{number:03d}.pdf", texts))
    return generated


def huge_pages(
    dest: Path, pages: int = 3000, *, lines_per_page: int = 45, name: str = "huge.pdf"
) -> GeneratedPdf:
    """A document with many text pages that is cheap to write but slow to extract, to trip a job time limit.

    All pages draw one shared, compressed content stream of ``lines_per_page`` lines after a tiny page-specific
    stream with the page heading, so the file stays small (a few hundred bytes per page) and is written by hand
    in milliseconds while PDFium still has to lay out every page's text. With the defaults, extracting every
    page with pypdfium2 takes a few seconds (see ``test_huge_pages``, which prints the time).
    """
    if pages < 1:
        raise ValueError(f"pages must be at least 1, not {pages}")
    body = [
        f"Shared body line {number:03d} lorem ipsum dolor sit amet consectetur"
        for number in range(lines_per_page)
    ]
    width, height = 612, 792  # US Letter
    writer = _PdfWriter()
    catalog, page_tree = writer.reserve(), writer.reserve()
    font = writer.add(_HELVETICA)
    shared = writer.add_stream(_text_ops(body, x=50, y=height - 60, size=10, leading=14), compress=True)
    kids: list[int] = []
    texts: list[str] = []
    shared_text = "\n".join(body)
    for index in range(pages):
        heading = f"Huge page {index + 1} of {pages}"
        own = writer.add_stream(
            _text_ops([heading], x=50, y=height - 36, size=12, leading=14), compress=False
        )
        kids.append(
            writer.add(f"<< /Type /Page /Parent {page_tree} 0 R /Contents [{own} 0 R {shared} 0 R] >>")
        )
        texts.append(f"{heading}\n{shared_text}")
    writer.set(catalog, f"<< /Type /Catalog /Pages {page_tree} 0 R >>")
    writer.set(
        page_tree,
        f"<< /Type /Pages /Count {pages} /Kids [{' '.join(f'{kid} 0 R' for kid in kids)}] "
        f"/MediaBox [0 0 {width} {height}] /Resources << /Font << /F1 {font} 0 R >> >> >>",
    )
    path = write_bytes_pdf(dest, name, writer.serialize(root=catalog))
    return GeneratedPdf(path, texts)


# --------------------------------------------------------------------------------------------------------------
# Page rotation (hand-written: fpdf2 cannot set /Rotate)
# --------------------------------------------------------------------------------------------------------------

# For each /Rotate value, the matrix that maps upright "as displayed" coordinates back into user space, so that
# the viewer's clockwise rotation of the page makes the text upright again. The placeholders are the MediaBox
# width and height.
_UNROTATE: Final[dict[int, str]] = {
    0: "1 0 0 1 0 0",
    90: "0 1 -1 0 {w} 0",
    180: "-1 0 0 -1 {w} {h}",
    270: "0 -1 1 0 0 {h}",
}


def rotated(
    dest: Path, rotation: int = 90, *, sideways: bool = False, name: str = "rotated.pdf"
) -> GeneratedPdf:
    """One portrait A4 page carrying ``/Rotate rotation``; by default its text reads upright when displayed.

    The default is how turned pages usually arrive (scanners, office suites): a portrait MediaBox, a
    ``/Rotate`` entry and content drawn turned the other way, so the viewer shows a landscape page with
    horizontal text; an extractor must return the lines top to bottom.

    ``sideways=True`` draws the content upright in user space instead, so ``/Rotate`` turns it and the viewer
    shows sideways text (PDF.co's ``sample-rotated.pdf`` is built like this). ``pages`` still lists the lines
    top to bottom as drawn, but PDFium's ``get_text_range`` returns them bottom-up for ``/Rotate 90``.
    """
    if rotation not in _UNROTATE:
        raise ValueError(f"rotation must be one of {sorted(_UNROTATE)}, not {rotation}")
    width, height = 595, 842
    shown_height = width if rotation in (90, 270) and not sideways else height
    lines = [
        "Rotated page heading",
        f"This page carries Rotate {rotation}",
        "The first body line reads left to right",
        "The second body line follows it",
        "The final line closes the page",
    ]
    matrix = _UNROTATE[0 if sideways else rotation].format(w=width, h=height)
    content = (
        b"q " + matrix.encode() + b" cm\n" + _text_ops(lines, x=72, y=shown_height - 90, size=20, leading=30)
    )
    writer = _PdfWriter()
    catalog, page_tree = writer.reserve(), writer.reserve()
    font = writer.add(_HELVETICA)
    stream = writer.add_stream(content + b"\nQ", compress=True)
    page = writer.add(
        f"<< /Type /Page /Parent {page_tree} 0 R /MediaBox [0 0 {width} {height}] /Rotate {rotation} "
        f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {stream} 0 R >>"
    )
    writer.set(catalog, f"<< /Type /Catalog /Pages {page_tree} 0 R >>")
    writer.set(page_tree, f"<< /Type /Pages /Count 1 /Kids [{page} 0 R] >>")
    path = write_bytes_pdf(dest, name, writer.serialize(root=catalog))
    return GeneratedPdf(path, ["\n".join(lines)])


# --------------------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------------------


def _new_fpdf() -> FPDF:
    """An A4, point-unit fpdf2 document with a pinned creation date (hence a reproducible /ID)."""
    pdf = FPDF(unit="pt", format="A4")
    pdf.set_creation_date(_CREATION_DATE)
    pdf.set_auto_page_break(False)
    pdf.set_margins(_MARGIN, _MARGIN)
    return pdf


def _draw_page(pdf: FPDF, lines: Iterable[str], *, leading: float, top: float = _MARGIN + 30) -> None:
    """Add a page and draw one text object per line, top to bottom: the simplest layout to extract."""
    pdf.add_page()
    y = top
    for line in lines:
        if y > _A4_HEIGHT - _MARGIN:
            raise ValueError("too many lines for one page")
        if pdf.get_string_width(line) > pdf.epw:
            raise ValueError(f"line too wide for the page: {line!r}")
        pdf.text(_MARGIN, y, line)
        y += leading


def _save(
    pdf: FPDF,
    dest: Path,
    name: str,
    texts: Sequence[Sequence[str]],
    image_pages: frozenset[int] = frozenset(),
) -> GeneratedPdf:
    path = write_bytes_pdf(dest, name, bytes(pdf.output()))
    return GeneratedPdf(path, ["\n".join(lines) for lines in texts], image_pages=image_pages)


def _lorem_line(rng: random.Random, max_chars: int) -> str:
    """A capitalised run of filler words, as long as possible without exceeding ``max_chars``."""
    words = [rng.choice(_LOREM).capitalize()]
    length = len(words[0])
    while True:
        word = rng.choice(_LOREM)
        if length + 1 + len(word) > max_chars:
            return " ".join(words)
        words.append(word)
        length += 1 + len(word)


def _covered(font: TTFFont) -> set[str]:
    return {chr(codepoint) for codepoint in font.cmap}


def _visual_order(line: str) -> str:
    """The glyph order in which a right-to-left line is laid out left to right on the page.

    Only pure right-to-left lines (letters and spaces) are supported, for which visual order is simply the
    reverse; mixed-direction lines would need the full Unicode bidirectional algorithm.
    """
    directions = {unicodedata.bidirectional(char) for char in line if char != " "}
    if not directions & {"R", "AL"}:
        return line
    if not directions <= {"R", "AL", "NSM"}:
        raise ValueError(f"mixed-direction line not supported: {line!r}")
    return line[::-1]


_HELVETICA: Final = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _text_ops(lines: Sequence[str], *, x: float, y: float, size: float, leading: float) -> bytes:
    """Content-stream operators showing ``lines`` in font /F1, the first baseline at (x, y)."""
    shown = " T* ".join(f"({_pdf_literal(line)}) Tj" for line in lines)
    return f"BT /F1 {size:g} Tf {leading:g} TL {x:g} {y:g} Td {shown} ET".encode("ascii")


def _pdf_literal(text: str) -> str:
    """Escape ``text`` for a PDF literal string; ASCII only, as the hand-written documents use WinAnsi."""
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"hand-written PDFs take printable ASCII only: {text!r}")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


class _PdfWriter:
    """The smallest correct PDF serialiser: numbered objects, a classic xref table, a trailer.

    Objects are numbered from 1 in the order they are added or reserved; a reserved number is filled in later
    with :meth:`set`, for dictionaries (the page tree) that refer to objects created after them.
    """

    def __init__(self) -> None:
        self._objects: list[bytes | None] = []

    def reserve(self) -> int:
        self._objects.append(None)
        return len(self._objects)

    def add(self, body: str | bytes) -> int:
        number = self.reserve()
        self.set(number, body)
        return number

    def set(self, number: int, body: str | bytes) -> None:
        self._objects[number - 1] = body.encode("ascii") if isinstance(body, str) else body

    def add_stream(self, data: bytes, *, compress: bool) -> int:
        if compress:
            data = zlib.compress(data, 9)
        header = f"<< /Length {len(data)}{' /Filter /FlateDecode' if compress else ''} >>\nstream\n"
        return self.add(header.encode("ascii") + data + b"\nendstream")

    def serialize(self, *, root: int) -> bytes:
        # The binary comment line tells transfer tools the file is binary (PDF 32000-1 §7.5.2).
        chunks = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
        offset = len(chunks[0])
        offsets: list[int] = []
        for number, body in enumerate(self._objects, start=1):
            if body is None:
                raise ValueError(f"object {number} was reserved but never set")
            chunk = b"%d 0 obj\n%s\nendobj\n" % (number, body)
            offsets.append(offset)
            chunks.append(chunk)
            offset += len(chunk)
        size = len(self._objects) + 1
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % size]
        xref.extend(b"%010d 00000 n \n" % position for position in offsets)
        trailer = b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, offset)
        return b"".join(chunks + xref + [trailer])


def pdfium_pages(path: Path, password: str | None = None) -> list[str]:
    """What PDFium extracts from each page directly: the reference the server's text is compared with."""
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(path, password=password)
    try:
        texts: list[str] = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            texts.append(str(textpage.get_text_range()))
            textpage.close()
            page.close()
        return texts
    finally:
        document.close()
