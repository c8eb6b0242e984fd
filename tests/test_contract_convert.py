"""Contract tests of ``/v1/pdf/convert/to/text`` and ``/text-simple`` over real HTTP (``shared/pdfco-api.md`` §3, §5, §7).

Every test talks to a real in-process pdfco-local on an ephemeral port with ``requests``; the inputs come from
``pdfgen`` (which knows the exact text it drew) or from PDF.co's own sample invoice in the shared corpus, and the
server's text is checked against what PDFium extracts directly.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pypdfium2 as pdfium
import pytest
import requests

import pdfgen
from conftest import CORPUS, Api, ServerFactory
from contract import assert_error, assert_ok, submit
from pdfco_local.runner import LocalServer
from pdfgen import GeneratedPdf, normalize_whitespace, page_marker

TEXT = "pdf/convert/to/text"
SIMPLE = "pdf/convert/to/text-simple"
ENDPOINTS = [TEXT, SIMPLE]
GENERIC_442 = "Input document is damaged or of incorrect type."


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    """A generated document and its input link on the module's shared server."""

    pdf: GeneratedPdf
    url: str


def _upload(shared_server: LocalServer, pdf: GeneratedPdf, name: str | None = None) -> Uploaded:
    return Uploaded(pdf, Api(shared_server).upload(pdf.path, name))


def sync(api: Api, endpoint: str = TEXT, **params: Any) -> requests.Response:
    return api.post(endpoint, json={"async": False, **params})


def assert_failed_job(job: dict[str, Any], code: int, *fragments: str) -> None:
    assert job["status"] == "failed", job
    assert job["error"] is True
    assert job["errorCode"] == code, job
    for fragment in fragments:
        assert fragment.lower() in job["message"].lower(), job["message"]


def assert_valid_till(value: str, minutes: float) -> None:
    """``outputLinkValidTill`` is an ISO timestamp ``minutes`` from now (within a minute)."""
    valid_till = datetime.fromisoformat(value).timestamp()
    expected = time.time() + minutes * 60
    assert abs(valid_till - expected) < 60, (value, minutes)


def assert_result_fields(body: dict[str, Any], api: Api, *, pages: int, name: str) -> None:
    """The documented fields of a finished conversion (§3.5)."""
    assert body["pageCount"] == pages
    assert body["credits"] == pages
    assert isinstance(body["remainingCredits"], int)
    assert isinstance(body["duration"], int)
    assert body["name"] == name
    assert body["url"].startswith(api.base + "/")
    assert last_segment(body["url"]) == name
    assert_valid_till(body["outputLinkValidTill"], 60)


def last_segment(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def download(api: Api, url: str) -> str:
    return api.text(url)


def assert_crlf(text: str) -> None:
    assert "\r\n" in text
    assert re.search(r"(?<!\r)\n", text) is None, "a line ends in a lone LF"
    assert re.search(r"\r(?!\n)", text) is None, "a line ends in a lone CR"


def balance(api: Api) -> int:
    response = api.get("account/credit/balance")
    assert response.status_code == 200
    credits: int = response.json()["remainingCredits"]
    return credits


def marker_pages(text: str, page_count: int) -> list[int]:
    """The pdfgen.multipage page index of each ``\\f``-separated page of ``text``."""
    found = []
    for page_text in text.split("\f"):
        holders = [index for index in range(page_count) if page_marker(index) in page_text]
        assert len(holders) == 1, page_text
        found.append(holders[0])
    return found


def words(text: str) -> set[str]:
    return {word for word in re.split(r"[^a-z0-9]+", text.lower()) if word}


def assert_mostly_read(ocr_text: str, expected: str, share: float = 0.8) -> None:
    """OCR noise is allowed: most of the expected words must be there."""
    wanted = [word for word in re.split(r"[^a-z0-9]+", expected.lower()) if word]
    seen = words(ocr_text)
    found = [word for word in wanted if word in seen]
    assert len(found) >= share * len(wanted), (ocr_text, wanted)


# --------------------------------------------------------------------------------------------------------------
# module documents (generated once, uploaded once to the module's shared server)
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs")


@pytest.fixture(scope="module")
def five(shared_server: LocalServer, docs_dir: Path) -> Uploaded:
    return _upload(shared_server, pdfgen.multipage(docs_dir, pages=5))


@pytest.fixture(scope="module")
def three(shared_server: LocalServer, docs_dir: Path) -> Uploaded:
    return _upload(shared_server, pdfgen.multipage(docs_dir, pages=3, name="three.pdf"))


@pytest.fixture(scope="module")
def foreign(shared_server: LocalServer, docs_dir: Path) -> Uploaded:
    return _upload(shared_server, pdfgen.non_latin(docs_dir))


@pytest.fixture(scope="module")
def scanned(shared_server: LocalServer, docs_dir: Path) -> Uploaded:
    return _upload(shared_server, pdfgen.image_only(docs_dir))


# --------------------------------------------------------------------------------------------------------------
# sync / async, inline / url, name
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_inline_body_has_crlf_lines(api: Api, five: Uploaded, endpoint: str) -> None:
    before = balance(api)
    body = assert_ok(sync(api, endpoint, url=five.url, inline=True))
    assert_result_fields(body, api, pages=5, name="multipage.txt")
    assert body["remainingCredits"] == before - 5
    text = body["body"]
    assert isinstance(text, str)
    assert_crlf(text)
    assert text.count("\f") == 4
    for index in range(5):
        assert f"Page {index + 1} of 5" in text


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_url_download_equals_inline_body(api: Api, five: Uploaded, endpoint: str) -> None:
    inline = assert_ok(sync(api, endpoint, url=five.url, inline=True))["body"]
    linked = assert_ok(sync(api, endpoint, url=five.url, inline=False))
    assert "body" not in linked, "inline=false answers a url, not the text"
    assert_result_fields(linked, api, pages=5, name="multipage.txt")
    downloaded = requests.get(linked["url"], timeout=30)
    assert downloaded.status_code == 200
    assert downloaded.content == inline.encode("utf-8")
    assert "utf-8" in downloaded.headers["content-type"].lower()


def test_inline_defaults_to_false(api: Api, five: Uploaded) -> None:
    body = assert_ok(api.post(TEXT, json={"url": five.url}))
    assert "body" not in body
    assert_crlf(download(api, body["url"]))


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_async_result_equals_sync_body(api: Api, five: Uploaded, endpoint: str) -> None:
    inline = assert_ok(sync(api, endpoint, url=five.url, inline=True))["body"]
    submitted = submit(api, endpoint, url=five.url, name="async-result.txt")
    assert submitted["name"] == "async-result.txt"
    assert last_segment(submitted["url"]) == "async-result.txt"
    job = api.wait(submitted["jobId"])
    assert job["status"] == "success", job
    assert job["error"] is False
    assert job["pageCount"] == 5
    assert job["credits"] == 5
    assert last_segment(job["url"]) == "async-result.txt"
    # the final url of the immediate answer is the result, as PDF.co's samples rely on (§3.5)
    assert download(api, submitted["url"]) == inline
    assert download(api, job["url"]) == inline


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_name_sets_last_path_segment(api: Api, five: Uploaded, endpoint: str, mode: str) -> None:
    name = "Quarterly report-2024.txt"
    if mode == "sync":
        body = assert_ok(sync(api, endpoint, url=five.url, name=name))
    else:
        body = submit(api, endpoint, url=five.url, name=name)
        assert api.wait(body["jobId"])["status"] == "success"
    assert body["name"] == name
    assert last_segment(body["url"]) == name
    assert "Page 1 of 5" in download(api, body["url"])


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_default_name_is_input_stem_txt(api: Api, docs_dir: Path, endpoint: str) -> None:
    url = api.upload(pdfgen.multipage(docs_dir / "stem", pages=1).path, name="invoice.final.pdf")
    body = assert_ok(sync(api, endpoint, url=url))
    assert body["name"] == "invoice.final.txt"
    assert last_segment(body["url"]) == "invoice.final.txt"
    submitted = submit(api, endpoint, url=url)
    assert submitted["name"] == "invoice.final.txt"
    assert last_segment(submitted["url"]) == "invoice.final.txt"
    assert api.wait(submitted["jobId"])["status"] == "success"


def test_form_encoded_request_like_python_samples(api: Api, five: Uploaded) -> None:
    """Python samples post ``data=`` so booleans arrive as ``True``/``False`` strings (§3.4)."""
    response = api.post(TEXT, data={"url": five.url, "inline": "True", "async": "False", "pages": "0"})
    body = assert_ok(response)
    assert body["pageCount"] == 1
    assert "Page 1 of 5" in body["body"]


# --------------------------------------------------------------------------------------------------------------
# text correctness
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("doc", ["five", "foreign"])
def test_pages_match_pdfium_text(api: Api, request: pytest.FixtureRequest, endpoint: str, doc: str) -> None:
    uploaded: Uploaded = request.getfixturevalue(doc)
    generated = uploaded.pdf
    body = assert_ok(sync(api, endpoint, url=uploaded.url, inline=True))
    pages = body["body"].split("\f")
    assert len(pages) == generated.page_count
    reference = pdfgen.pdfium_pages(generated.path)
    for index, page_text in enumerate(pages):
        assert normalize_whitespace(page_text) == normalize_whitespace(reference[index]), f"page {index}"
        for line in generated.lines(index):
            assert normalize_whitespace(line) in normalize_whitespace(page_text), (index, line)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_non_latin_scripts_survive_as_utf8(api: Api, foreign: Uploaded, endpoint: str) -> None:
    body = assert_ok(sync(api, endpoint, url=foreign.url))
    raw = requests.get(body["url"], timeout=30).content
    text = raw.decode("utf-8")  # strict: must be valid UTF-8
    for needle in ("Zürich", "Łódź", "Καλημέρα", "Съешь", "ґудзик", "Բարեւ", "გამარჯობა", "Tiếng Việt"):
        assert needle in text, needle
    # right-to-left lines come back in logical order
    assert "שלום עולם" in text
    assert "مرحبا بالعالم" in text
    assert unicodedata.is_normalized("NFC", text)


def test_sample_and_rotated_sample_read_the_same(api: Api) -> None:
    """PDF.co's invoice and its ``/Rotate 270`` copy carry the same text (§7.1)."""
    tokens = []
    for name in ("sample.pdf", "sample-rotated.pdf"):
        body = assert_ok(sync(api, TEXT, url=api.upload(CORPUS / name), inline=True))
        assert body["pageCount"] == 1
        assert_crlf(body["body"])
        tokens.append(body["body"].split())
    assert tokens[0] == tokens[1]
    assert tokens[0][:3] == ["Your", "Company", "Name"]
    assert tokens[0][-2:] == ["TOTAL", "200.00"]


def test_rotated_sample_with_the_samples_rotation_profile(api: Api) -> None:
    """PDF.co's "Advanced Conversion Options With Rotated Input" sample converts ``sample-rotated.pdf`` with
    ``{"profiles":[{"profile1":{"RotationAngle":1}}]}`` to get the invoice's text; a client ported from that
    sample must get the invoice, not a sideways reading of it."""
    expected = assert_ok(sync(api, TEXT, url=api.upload(CORPUS / "sample.pdf"), inline=True))["body"].split()
    profiles = json.dumps({"profiles": [{"profile1": {"RotationAngle": 1}}]})
    body = assert_ok(
        sync(api, TEXT, url=api.upload(CORPUS / "sample-rotated.pdf"), inline=True, profiles=profiles)
    )
    assert body["body"].split() == expected


# --------------------------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------------------------

PAGE_SPECS = [
    ("0", [0]),
    ("0,2-3", [0, 2, 3]),
    ("1-", [1, 2, 3, 4]),
    ("!0", [4]),
    ("1-!1", [1, 2, 3]),
    ("!1-", [3, 4]),
    (" 0 , 2 - 3 ", [0, 2, 3]),
    ("", [0, 1, 2, 3, 4]),
]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("spec", "expected"), PAGE_SPECS)
def test_pages_selects_pages(api: Api, five: Uploaded, endpoint: str, spec: str, expected: list[int]) -> None:
    before = balance(api)
    body = assert_ok(sync(api, endpoint, url=five.url, pages=spec, inline=True))
    assert marker_pages(body["body"], 5) == expected
    assert body["pageCount"] == len(expected)
    assert body["credits"] == len(expected)
    assert body["remainingCredits"] == before - len(expected)


@pytest.mark.parametrize(("spec", "expected"), [("0,2-3", [0, 2, 3]), ("!1-", [3, 4])])
def test_pages_selects_pages_async(api: Api, five: Uploaded, spec: str, expected: list[int]) -> None:
    submitted = submit(api, url=five.url, pages=spec)
    job = api.wait(submitted["jobId"])
    assert job["status"] == "success", job
    assert job["pageCount"] == len(expected)
    assert job["credits"] == len(expected)
    assert marker_pages(download(api, job["url"]), 5) == expected


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_page_out_of_range_is_449(api: Api, three: Uploaded, endpoint: str) -> None:
    before = balance(api)
    assert_error(sync(api, endpoint, url=three.url, pages="5"), 449, "5", "range")
    submitted = submit(api, endpoint, url=three.url, pages="5")
    assert_failed_job(api.wait(submitted["jobId"]), 449, "5")
    assert balance(api) == before, "a failed conversion costs nothing"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("spec", ["abc", "-1", "1--2", "3-1"])
def test_malformed_pages_is_450_at_once(api: Api, five: Uploaded, endpoint: str, spec: str) -> None:
    assert_error(sync(api, endpoint, url=five.url, pages=spec), 450, spec)
    # malformed specs need no document: rejected before a job is queued, even with async=true
    response = api.post(endpoint, json={"url": five.url, "pages": spec, "async": True})
    body = assert_error(response, 450, spec)
    assert "jobId" not in body


# --------------------------------------------------------------------------------------------------------------
# passwords
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["rc4-128", "aes-128", "aes-256"])
def test_password_right_wrong_missing(api: Api, tmp_path: Path, method: pdfgen.EncryptionName) -> None:
    generated = pdfgen.encrypted(tmp_path, "s3cret", method=method)
    url = api.upload(generated.path)
    body = assert_ok(sync(api, TEXT, url=url, password="s3cret", inline=True))
    assert normalize_whitespace(body["body"]) == normalize_whitespace(generated.pages[0])
    assert_error(sync(api, TEXT, url=url, password="wrong"), 441, "password")
    missing = assert_error(sync(api, TEXT, url=url), 441, "password")
    assert "required" in missing["message"].lower()
    submitted = submit(api, TEXT, url=url, password="wrong")
    assert_failed_job(api.wait(submitted["jobId"]), 441, "password")


@pytest.mark.parametrize(
    ("stored", "sent"),
    [
        ("pässwörd", unicodedata.normalize("NFD", "pässwörd")),  # NFD form of the NFC password
        ("I\u00adX", "I\u00adX"),  # SASLprep drops the soft hyphen when the key is derived
        (
            "\uff50\uff41\uff53\uff53",
            "\uff50\uff41\uff53\uff53",
        ),  # NFKC folds full-width letters when the key is derived
    ],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_non_ascii_password_is_saslprepped(
    api: Api, tmp_path: Path, stored: str, sent: str, endpoint: str
) -> None:
    generated = pdfgen.encrypted(tmp_path, stored, method="aes-256")
    url = api.upload(generated.path)
    body = assert_ok(sync(api, endpoint, url=url, password=sent, inline=True))
    assert "This document is encrypted" in body["body"]


# --------------------------------------------------------------------------------------------------------------
# damaged inputs
# --------------------------------------------------------------------------------------------------------------

DAMAGED = {
    "png": ["PNG"],
    "html": ["HTML"],
    "zip": ["ZIP"],
    "empty": ["empty"],
    "truncated": [],
    "garbage": [],
    "header_only": [],
}


@pytest.fixture(scope="module")
def damaged_links(shared_server: LocalServer, docs_dir: Path) -> dict[str, str]:
    api = Api(shared_server)
    return {kind: api.upload(path) for kind, path in pdfgen.damaged(docs_dir / "damaged").items()}


def test_damaged_covers_every_pdfgen_variant(damaged_links: dict[str, str]) -> None:
    assert set(damaged_links) == set(DAMAGED)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("kind", sorted(DAMAGED))
def test_damaged_input_is_442(api: Api, damaged_links: dict[str, str], endpoint: str, kind: str) -> None:
    body = assert_error(sync(api, endpoint, url=damaged_links[kind]), 442, *DAMAGED[kind])
    detail = body["message"].replace(GENERIC_442, "").strip()
    assert len(detail) > 5, "the message must say what is wrong with the file"
    submitted = submit(api, endpoint, url=damaged_links[kind])
    job = api.wait(submitted["jobId"])
    assert_failed_job(job, 442, *DAMAGED[kind])
    assert job["message"] == body["message"]
    assert requests.get(submitted["url"], timeout=30).status_code == 404


# --------------------------------------------------------------------------------------------------------------
# OCR
# --------------------------------------------------------------------------------------------------------------


def test_image_only_page_is_read_with_ocr(api: Api, scanned: Uploaded) -> None:
    body = assert_ok(sync(api, TEXT, url=scanned.url, inline=True))
    assert body["pageCount"] == 1
    assert_crlf(body["body"])
    assert_mostly_read(body["body"], scanned.pdf.pages[0])
    assert "ocr" in body["message"].lower()
    assert re.search(r"\b0\b", body["message"]), body["message"]


def test_text_simple_does_not_ocr_and_says_so(api: Api, scanned: Uploaded) -> None:
    body = assert_ok(sync(api, SIMPLE, url=scanned.url, inline=True))
    assert body["pageCount"] == 1
    assert body["body"].strip() == ""
    message = body["message"].lower()
    assert "text-simple" in message
    assert "ocr" in message
    assert re.search(r"\b0\b", message), message


def test_missing_tesseract_is_reported(server_factory: ServerFactory, scanned: Uploaded) -> None:
    api = Api(server_factory(tesseract_cmd="/nonexistent/tesseract", workers=1))
    url = api.upload(scanned.pdf.path)
    body = assert_ok(sync(api, TEXT, url=url, inline=True))
    assert body["body"].strip() == ""
    message = body["message"].lower()
    assert "tesseract" in message
    assert "not installed" in message
    assert re.search(r"\b0\b", message), message


def test_mixed_document_ocrs_only_the_image_page(api: Api, docs_dir: Path) -> None:
    generated = pdfgen.mixed(docs_dir)
    submitted = submit(api, TEXT, url=api.upload(generated.path))
    job = api.wait(submitted["jobId"])
    assert job["status"] == "success", job
    assert job["pageCount"] == 2
    text = download(api, job["url"])
    first, second = text.split("\f")
    assert normalize_whitespace(first) == normalize_whitespace(generated.pages[0])
    assert_mostly_read(second, generated.pages[1])
    assert "papyrus" not in second.lower()
    assert "ocr" in job["message"].lower()
    assert re.search(r"\b1\b", job["message"]), job["message"]


# --------------------------------------------------------------------------------------------------------------
# parameter validation
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_bad_lang_is_454(api: Api, five: Uploaded, mode: str) -> None:
    response = api.post(TEXT, json={"url": five.url, "lang": "EN!", "async": mode == "async"})
    assert_error(response, 454, "lang")


def test_lang_combination_is_accepted(api: Api, five: Uploaded) -> None:
    assert assert_ok(sync(api, TEXT, url=five.url, lang="eng+deu", pages="0"))["pageCount"] == 1


def _line_boxes(path: Path) -> list[tuple[str, float, float, float]]:
    """Page 0's text runs as PDFium sees them: (text, top, bottom, right) in points from the top-left."""
    document = pdfium.PdfDocument(path)
    try:
        page = document[0]
        height = page.get_mediabox()[3]
        textpage = page.get_textpage()
        boxes = []
        for index in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(index)
            text = normalize_whitespace(textpage.get_text_bounded(left, bottom, right, top))
            boxes.append((text, height - top, height - bottom, right))
        return boxes
    finally:
        document.close()


@pytest.mark.parametrize("rect", ["0 0 300 100", "0, 0, 300, 100"])
def test_rect_limits_text_to_the_top_band(api: Api, five: Uploaded, rect: str) -> None:
    boxes = _line_boxes(five.pdf.path)
    inside = [text for text, _top, bottom, right in boxes if bottom <= 100 and right <= 300]
    outside = [text for text, _top, bottom, right in boxes if bottom > 100 or right > 300]
    assert inside, boxes
    assert outside, boxes
    body = assert_ok(sync(api, TEXT, url=five.url, pages="0", rect=rect, inline=True))
    lines = [normalize_whitespace(line) for line in body["body"].split("\r\n") if line.strip()]
    assert lines == inside
    for text in outside:
        assert text not in body["body"]


@pytest.mark.parametrize("rect", ["1 2 3", "a b c d", "0 0 -5 10"])
def test_bad_rect_is_454(api: Api, five: Uploaded, rect: str) -> None:
    assert_error(sync(api, TEXT, url=five.url, rect=rect), 454, "rect")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_unparseable_profiles_is_444(api: Api, five: Uploaded, mode: str) -> None:
    response = api.post(TEXT, json={"url": five.url, "profiles": "{not json", "async": mode == "async"})
    assert_error(response, 444, "profiles")


@pytest.mark.parametrize(
    "profiles",
    [
        json.dumps({"profiles": [{"profile1": {"RotationAngle": 1}}]}),
        {"profiles": [{"profile1": {"RotationAngle": 1}}]},
        "{ 'profiles': [ { 'profile1': { 'TrimSpaces': 'False', 'Unwrap': 'True' } } ] } // comment",
    ],
)
def test_documented_profiles_are_accepted(api: Api, five: Uploaded, profiles: Any) -> None:
    body = assert_ok(sync(api, TEXT, url=five.url, pages="0", profiles=profiles, inline=True))
    assert body["pageCount"] == 1
    assert body["body"].strip()


@pytest.mark.parametrize("expiration", [0, -5, 1441, "soon"])
def test_bad_expiration_is_454(api: Api, five: Uploaded, expiration: Any) -> None:
    assert_error(sync(api, TEXT, url=five.url, expiration=expiration), 454, "expiration")
    response = api.post(TEXT, json={"url": five.url, "expiration": expiration, "async": True})
    assert_error(response, 454, "expiration")


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_expiration_sets_output_link_valid_till(api: Api, five: Uploaded, mode: str) -> None:
    if mode == "sync":
        body = assert_ok(sync(api, TEXT, url=five.url, pages="0", expiration=5))
    else:
        body = api.wait(submit(api, TEXT, url=five.url, pages="0", expiration=5)["jobId"])
        assert body["status"] == "success"
    assert_valid_till(body["outputLinkValidTill"], 5)


def test_missing_url_is_400(api: Api) -> None:
    assert_error(api.post(TEXT, json={"inline": True}), 400, "url")


# --------------------------------------------------------------------------------------------------------------
# input URL problems
# --------------------------------------------------------------------------------------------------------------

UNREACHABLE = "http://127.0.0.1:1/x.pdf"


def test_unreachable_input_url_sync_is_400(api: Api) -> None:
    assert_error(sync(api, TEXT, url=UNREACHABLE), 400, "input url")


def test_unreachable_input_url_async_job_fails(api: Api) -> None:
    submitted = submit(api, TEXT, url=UNREACHABLE)
    assert submitted["name"] == "x.txt"
    job = api.wait(submitted["jobId"])
    assert_failed_job(job, 400, "input url")


def test_presigned_input_never_put_is_400(api: Api) -> None:
    presign = api.get("file/upload/get-presigned-url", params={"name": "never.pdf"}).json()
    for mode in (False, True):
        response = api.post(TEXT, json={"url": presign["url"], "async": mode})
        assert_error(response, 400, "upload")


def test_non_http_url_is_rejected(api: Api) -> None:
    assert_error(sync(api, TEXT, url="ftp://example.com/x.pdf"), 452, "http")
