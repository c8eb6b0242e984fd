"""The PDF.co ``pages`` grammar (``shared/pdfco-api.md`` §3.3): unit tests of ``pdfco_local.pages`` and HTTP checks.

Grammar: comma-separated items ``N``, ``N-M`` or ``N-``, 0-based, any index may be prefixed with ``!`` to count
from the last page (OAS pattern ``pages0``, whose ``\\d`` is ECMAScript's ASCII digit). Malformed → 450; an
index beyond the document → 449.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

import pdfgen
from conftest import Api
from pdfco_local import pages
from pdfco_local.errors import ExtractionError
from pdfco_local.pages import Index, PageRange
from pdfco_local.runner import LocalServer
from pdfgen import page_marker

TEXT = "pdf/convert/to/text"
SIMPLE = "pdf/convert/to/text-simple"


def selected(spec: str | None, page_count: int) -> list[int]:
    return pages.resolve(pages.parse(spec), page_count)


# --------------------------------------------------------------------------------------------------------------
# parse
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [None, "", "   ", "\t\n"])
def test_empty_spec_means_all_pages(spec: str | None) -> None:
    assert pages.parse(spec) is None
    assert selected(spec, 4) == [0, 1, 2, 3]


def test_parse_structure() -> None:
    assert pages.parse("0, 2-5 ,7-, !0, !5-!2, 1-!1") == [
        PageRange(Index(0, False), None, False),
        PageRange(Index(2, False), Index(5, False), True),
        PageRange(Index(7, False), None, True),
        PageRange(Index(0, True), None, False),
        PageRange(Index(5, True), Index(2, True), True),
        PageRange(Index(1, False), Index(1, True), True),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "abc",
        "-1",
        "-5",
        "1--2",
        "1-2-3",
        ",",
        "1,",
        ",1",
        "1,,2",
        "!",
        "!-1",
        "!!1",
        "1 2",
        "1.5",
        "0x1",
        "1;2",
        "*",
        "1-*",
        "+1",
        pytest.param("\uff11", id="fullwidth-digit"),  # not an ASCII \d
        pytest.param("\u0663", id="arabic-indic-digit"),
    ],
)
def test_malformed_specs_are_450(spec: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        pages.parse(spec)
    assert caught.value.code == 450
    assert "cannot parse" in caught.value.detail.lower()


@pytest.mark.parametrize(
    ("spec", "page_count", "expected"),
    [
        ("0", 5, [0]),
        ("4", 5, [4]),
        ("0,2-3", 5, [0, 2, 3]),
        ("0,2-5,7-", 10, [0, 2, 3, 4, 5, 7, 8, 9]),  # the documented example
        ("1-", 5, [1, 2, 3, 4]),
        ("4-", 5, [4]),
        ("!0", 5, [4]),
        ("!4", 5, [0]),
        ("1-!1", 5, [1, 2, 3]),
        ("!1-", 5, [3, 4]),
        ("!5-!2", 10, [4, 5, 6, 7]),
        ("2-2", 5, [2]),
        ("!0-!0", 1, [0]),
        ("0-!0", 3, [0, 1, 2]),
        (" 0 , 2 - 3 ", 5, [0, 2, 3]),
        ("! 0", 5, [4]),
        ("3,1", 5, [3, 1]),  # the order given
        ("007", 8, [7]),
    ],
)
def test_resolve(spec: str, page_count: int, expected: list[int]) -> None:
    assert selected(spec, page_count) == expected


@pytest.mark.parametrize(
    ("spec", "page_count"), [("5", 3), ("3", 3), ("!3", 3), ("0-3", 3), ("1-!3", 3), ("1-", 1)]
)
def test_out_of_range_is_449(spec: str, page_count: int) -> None:
    with pytest.raises(ExtractionError) as caught:
        selected(spec, page_count)
    assert caught.value.code == 449
    assert f"document's {page_count} pages" in caught.value.detail


@pytest.mark.parametrize(("spec", "page_count"), [("3-1", 5), ("!0-0", 5), ("2-!3", 5)])
def test_backwards_range_is_450(spec: str, page_count: int) -> None:
    with pytest.raises(ExtractionError) as caught:
        selected(spec, page_count)
    assert caught.value.code == 450
    assert "backwards" in caught.value.detail


# --------------------------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def four(shared_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    generated = pdfgen.multipage(tmp_path_factory.mktemp("four"), pages=4)
    return Api(shared_server).upload(generated.path)


def _error(response: requests.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] is True
    assert body["status"] == code
    return body


def _markers(text: str) -> list[int]:
    return [next(index for index in range(4) if page_marker(index) in page) for page in text.split("\f")]


@pytest.mark.parametrize("endpoint", [TEXT, SIMPLE])
@pytest.mark.parametrize(("spec", "expected"), [("3,1", [3, 1]), ("!3", [0]), ("0-!0", [0, 1, 2, 3])])
def test_http_selection(api: Api, four: str, endpoint: str, spec: str, expected: list[int]) -> None:
    response = api.post(endpoint, json={"url": four, "pages": spec, "inline": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert _markers(body["body"]) == expected
    assert body["pageCount"] == len(expected)
    assert body["credits"] == len(expected)


@pytest.mark.parametrize("endpoint", [TEXT, SIMPLE])
@pytest.mark.parametrize("spec", ["4", "!4", "2-4", "4-", "!5-!2"])
def test_http_out_of_range_is_449(api: Api, four: str, endpoint: str, spec: str) -> None:
    body = _error(api.post(endpoint, json={"url": four, "pages": spec}), 449)
    assert "first page is 0" in body["message"].lower()


@pytest.mark.parametrize("spec", ["4", "!0-0"])
def test_http_async_page_errors_end_the_job(api: Api, four: str, spec: str) -> None:
    """Errors that need the page count surface in the job: failed, with the PDF.co code."""
    submitted = api.post(TEXT, json={"url": four, "pages": spec, "async": True})
    assert submitted.status_code == 200, submitted.text
    job = api.wait(submitted.json()["jobId"])
    assert job["status"] == "failed"
    assert job["error"] is True
    assert job["errorCode"] == (449 if spec == "4" else 450)


@pytest.mark.parametrize("spec", ["1;2", pytest.param("\uff11", id="fullwidth-digit"), "1,,2"])
def test_http_malformed_is_450(api: Api, four: str, spec: str) -> None:
    _error(api.post(TEXT, json={"url": four, "pages": spec, "async": True}), 450)


def test_http_pages_in_form_and_query(api: Api, four: str) -> None:
    """``pages`` arrives the same way whether in JSON, a form body or the query string (§3.4)."""
    form = api.post(TEXT, data={"url": four, "pages": "!0", "inline": "true"})
    query = api.post(TEXT, params={"url": four, "pages": "!0", "inline": "true"})
    for response in (form, query):
        assert response.status_code == 200, response.text
        assert _markers(response.json()["body"]) == [3]
