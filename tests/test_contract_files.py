"""Contract: uploads, signed file links, expiry and deletion, over real HTTP against a real pdfco-local.

What is checked comes from ``shared/pdfco-api.md`` §2 (presigned URL + PUT, ``/file/upload``, ``/upload/base64``,
``/upload/url``, ``/file/delete``, the 4 MB API request limit) and §5 (error bodies), plus the server-specific
rules of ``docs/pdfco-local.md`` (links signed over id, expiry, method and content type; 403 for a tampered or
expired link, 404 for a deleted or swept file; expired files deleted from disk by the sweep).
"""

from __future__ import annotations

import base64
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

from conftest import API_KEY, Api, ServerFactory
from contract import assert_error, assert_ok
from pdfco_local.runner import LocalServer
from pdfgen import multipage, page_marker

TIMEOUT = 30
PDF_TYPE = "application/pdf"


# helpers ---------------------------------------------------------------------------------------------------
def assert_uploaded(body: dict[str, Any], api: Api, name: str) -> None:
    """The fields of an upload answer: a GET link of ours named ``name``, valid for the upload TTL."""
    assert body["name"] == name
    assert body["credits"] == 0
    assert body["url"].startswith(f"{api.base}/files/input/")
    assert urlsplit(body["url"]).path.endswith(f"/{name}")
    valid_till = parse_valid_till(body)
    ttl = api.server.config.upload_ttl
    assert time.time() + ttl - 60 < valid_till <= time.time() + ttl + 1


def parse_valid_till(body: dict[str, Any]) -> float:
    value = body["outputLinkValidTill"]
    assert isinstance(value, str)
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value).timestamp()


def file_id(url: str) -> str:
    """``/files/<kind>/<ID>/<name>`` -> ``ID``."""
    return urlsplit(url).path.split("/")[3]


def stored_path(server: LocalServer, url: str) -> Path:
    return server.config.data_dir / "files" / file_id(url)


def stored_names(server: LocalServer) -> list[str]:
    return sorted(path.name for path in (server.config.data_dir / "files").iterdir())


def presign(api: Api, name: str = "doc.pdf", contenttype: str | None = None) -> dict[str, Any]:
    params = {"name": name}
    if contenttype is not None:
        params["contenttype"] = contenttype
    body = assert_ok(api.get("file/upload/get-presigned-url", params=params))
    assert_uploaded(body, api, name)
    return body


def put(url: str, data: Any, content_type: str | None = None) -> requests.Response:
    headers = {"content-type": content_type} if content_type is not None else {}
    return requests.put(url, data=data, headers=headers, timeout=TIMEOUT)


def download(url: str) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT)


def upload_bytes(api: Api, data: bytes, name: str = "doc.pdf") -> str:
    """Presigned upload of ``data``; returns the GET ``url``."""
    body = presign(api, name, "application/octet-stream")
    assert put(body["presignedUrl"], data, "application/octet-stream").status_code == 200
    return str(body["url"])


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def other_char(char: str, alphabet: str) -> str:
    return next(candidate for candidate in alphabet if candidate != char)


def sleep_past_expiry(url: str) -> None:
    """Sleep until the link's signed ``expires`` (epoch seconds) has passed."""
    expires = int(dict(parse_qsl(urlsplit(url).query))["expires"])
    time.sleep(max(0.0, expires - time.time()) + 0.15)


@pytest.fixture(scope="module")
def pdf_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A two-page PDF (``Alpha-0000``, ``Bravo-0001``)."""
    return multipage(tmp_path_factory.mktemp("pdf"), pages=2).path.read_bytes()


# presigned URL + PUT ---------------------------------------------------------------------------------------
def test_presigned_url_put_then_url_downloads_the_same_bytes(api: Api, pdf_bytes: bytes) -> None:
    body = presign(api, "report.pdf", PDF_TYPE)
    presigned, url = body["presignedUrl"], body["url"]
    assert presigned.startswith(f"{api.base}/files/input/")
    assert file_id(presigned) == file_id(url)
    assert len(file_id(url)) == 32
    assert presigned != url

    assert_error(download(url), 404, "nothing was uploaded")  # not yet uploaded

    uploaded = put(presigned, pdf_bytes, PDF_TYPE)
    assert uploaded.status_code == 200
    assert uploaded.content == b""

    fetched = download(url)
    assert fetched.status_code == 200
    assert fetched.content == pdf_bytes
    assert stored_path(api.server, url).read_bytes() == pdf_bytes


def test_put_with_another_content_type_than_signed_is_403(api: Api, pdf_bytes: bytes) -> None:
    body = presign(api, "typed.pdf", PDF_TYPE)
    assert_error(put(body["presignedUrl"], pdf_bytes, "application/octet-stream"), 403, "signature")
    assert_error(put(body["presignedUrl"], pdf_bytes, None), 403, "signature")  # no Content-Type at all
    assert_error(download(body["url"]), 404)  # nothing was kept
    assert put(body["presignedUrl"], pdf_bytes, PDF_TYPE).status_code == 200
    assert download(body["url"]).content == pdf_bytes


@pytest.mark.parametrize(
    "content_type", [PDF_TYPE, "text/plain", "application/octet-stream", "image/png", None]
)
def test_presigned_url_without_contenttype_accepts_any_type(
    api: Api, pdf_bytes: bytes, content_type: str | None
) -> None:
    body = presign(api, "any.pdf")
    assert put(body["presignedUrl"], pdf_bytes, content_type).status_code == 200
    assert download(body["url"]).content == pdf_bytes


@pytest.mark.parametrize("name", ["../../etc/evil.pdf", "dir/evil.pdf", "..\\evil.pdf"])
def test_upload_name_cannot_leave_the_link(api: Api, pdf_bytes: bytes, name: str) -> None:
    """The name is only the last path segment of the links: no traversal, nothing outside the files folder."""
    body = assert_ok(api.get("file/upload/get-presigned-url", params={"name": name}))
    assert "/" not in body["name"]
    assert ".." not in body["name"]
    for link in (body["presignedUrl"], body["url"]):
        assert urlsplit(link).path.count("/") == 4, link
    assert put(body["presignedUrl"], pdf_bytes).status_code == 200
    assert download(body["url"]).content == pdf_bytes
    assert stored_path(api.server, body["url"]).read_bytes() == pdf_bytes


# tampered and expired links ---------------------------------------------------------------------------------
def _tamper_signature(links: dict[str, Any]) -> requests.Response:
    signature = dict(parse_qsl(urlsplit(links["url"]).query))["signature"]
    changed = signature[:-1] + other_char(signature[-1], "0123456789abcdef")
    return download(with_query(links["url"], signature=changed))


def _tamper_file_id(links: dict[str, Any]) -> requests.Response:
    ident = file_id(links["url"])
    changed = ident[:-1] + other_char(ident[-1], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    return download(links["url"].replace(ident, changed))


def _tamper_expires(links: dict[str, Any]) -> requests.Response:
    expires = int(dict(parse_qsl(urlsplit(links["url"]).query))["expires"])
    return download(with_query(links["url"], expires=str(expires + 3600)))


def _drop_signature(links: dict[str, Any]) -> requests.Response:
    parts = urlsplit(links["url"])
    return download(urlunsplit(parts._replace(query="")))


def _put_link_for_get(links: dict[str, Any]) -> requests.Response:
    return download(links["presignedUrl"])


def _get_link_for_put(links: dict[str, Any]) -> requests.Response:
    return put(links["url"], b"%PDF-1.4 overwritten", "application/octet-stream")


@pytest.mark.parametrize(
    "tamper",
    [
        _tamper_signature,
        _tamper_file_id,
        _tamper_expires,
        _drop_signature,
        _put_link_for_get,
        _get_link_for_put,
    ],
    ids=["signature", "file-id", "expires", "no-signature", "put-link-for-get", "get-link-for-put"],
)
def test_tampered_link_is_403(
    api: Api, pdf_bytes: bytes, tamper: Callable[[dict[str, Any]], requests.Response]
) -> None:
    links = presign(api, "tamper.pdf", "application/octet-stream")
    assert put(links["presignedUrl"], pdf_bytes, "application/octet-stream").status_code == 200

    body = assert_error(tamper(links), 403)
    assert "sign" in body["message"].lower(), body["message"]

    assert download(links["url"]).content == pdf_bytes  # the genuine link still works, file unchanged


def test_expired_presigned_put_link_is_403(server_factory: ServerFactory, pdf_bytes: bytes) -> None:
    server = server_factory(presign_ttl=1, workers=1)
    api = Api(server)
    links = presign(api, "late.pdf", PDF_TYPE)
    # the GET link lives for the upload TTL, the PUT link only for presign_ttl
    assert int(dict(parse_qsl(urlsplit(links["presignedUrl"]).query))["expires"]) <= time.time() + 1
    sleep_past_expiry(links["presignedUrl"])

    assert_error(put(links["presignedUrl"], pdf_bytes, PDF_TYPE), 403, "expired")
    assert_error(download(links["url"]), 404, "nothing was uploaded")
    assert not stored_path(server, links["url"]).exists()


# expiry and the sweep --------------------------------------------------------------------------------------
def test_upload_ttl_expiry_is_swept_from_disk(server_factory: ServerFactory, pdf_bytes: bytes) -> None:
    server = server_factory(upload_ttl=1, workers=1)
    api = Api(server)
    url = upload_bytes(api, pdf_bytes)
    path = stored_path(server, url)
    assert path.read_bytes() == pdf_bytes
    assert server.app.sweep() == 0  # nothing expired yet
    assert path.exists()

    time.sleep(1.2)
    assert server.app.sweep() >= 1
    assert not path.exists()
    assert file_id(url) not in stored_names(server)

    gone = download(url)
    assert gone.status_code in (403, 404)
    assert_error(gone, gone.status_code)
    converted = api.post("pdf/convert/to/text-simple", json={"url": url})
    assert converted.status_code in (403, 404)
    assert_error(converted, converted.status_code)


def test_result_file_expiration_is_swept_from_disk(server_factory: ServerFactory, pdf_bytes: bytes) -> None:
    server = server_factory(workers=1)
    api = Api(server)
    source = upload_bytes(api, pdf_bytes)
    job = api.convert(source, endpoint="pdf/convert/to/text-simple", expiration=1)
    assert job["status"] == "success", job
    result_url = job["url"]
    assert urlsplit(result_url).path.startswith(f"/files/output/{job['jobId']}/")
    valid_till = parse_valid_till(job)
    assert time.time() + 30 < valid_till <= time.time() + 61  # expiration=1 minute from the job's end

    path = stored_path(server, result_url)
    assert download(result_url).content == path.read_bytes()
    assert page_marker(0) in path.read_text("utf-8")

    assert server.app.files.sweep(now=time.time() + 30) == 0  # not yet expired
    assert server.app.files.sweep(now=time.time() + 120) == 1  # the result only; the upload lives 1 h
    assert not path.exists()
    assert_error(download(result_url), 404)
    assert download(source).content == pdf_bytes


@pytest.mark.parametrize("expiration", [0, -5, 1441, "soon"])
def test_result_expiration_out_of_range_is_454(api: Api, pdf_bytes: bytes, expiration: object) -> None:
    source = upload_bytes(api, pdf_bytes)
    response = api.post("pdf/convert/to/text-simple", json={"url": source, "expiration": expiration})
    assert_error(response, 454, "expiration")


# POST /v1/file/upload (multipart) ---------------------------------------------------------------------------
def test_multipart_upload_uses_the_file_name(api: Api, pdf_bytes: bytes) -> None:
    response = api.post("file/upload", files={"file": ("scan.pdf", pdf_bytes, PDF_TYPE)})
    body = assert_ok(response)
    assert_uploaded(body, api, "scan.pdf")
    assert download(body["url"]).content == pdf_bytes


def test_multipart_upload_with_name_field(api: Api, pdf_bytes: bytes) -> None:
    response = api.post(
        "file/upload", files={"file": ("scan.pdf", pdf_bytes, PDF_TYPE)}, data={"name": "renamed.pdf"}
    )
    body = assert_ok(response)
    assert_uploaded(body, api, "renamed.pdf")
    assert download(body["url"]).content == pdf_bytes


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {"files": {"name": (None, "x.pdf")}},
        {"files": {"upload": ("x.pdf", b"%PDF-1.4", PDF_TYPE)}},
        {"data": {"name": "x.pdf"}},
        {"json": {"file": "JVBERi0xLjQ="}},
        {},
    ],
    ids=["multipart-no-file", "multipart-wrong-field", "urlencoded", "json", "empty"],
)
def test_multipart_upload_without_file_is_400(api: Api, request_kwargs: dict[str, Any]) -> None:
    assert_error(api.post("file/upload", **request_kwargs), 400, "file")


def test_multipart_upload_over_request_limit_is_413(server_factory: ServerFactory) -> None:
    server = server_factory(max_request_bytes=10_000, workers=1)
    api = Api(server)
    small = assert_ok(api.post("file/upload", files={"file": ("small.pdf", b"x" * 5_000, PDF_TYPE)}))
    assert download(small["url"]).content == b"x" * 5_000

    before = stored_names(server)
    response = api.post("file/upload", files={"file": ("big.pdf", b"x" * 20_000, PDF_TYPE)})
    assert_error(response, 413, "limit")
    assert stored_names(server) == before  # nothing kept


def test_multipart_upload_over_request_limit_sent_chunked_is_413(server_factory: ServerFactory) -> None:
    """Without a Content-Length the limit still holds (the body is counted while it streams in)."""
    server = server_factory(max_request_bytes=10_000, workers=1)
    api = Api(server)
    boundary = "contract-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(10):
            yield b"x" * 2_000
        yield tail

    before = stored_names(server)
    response = requests.post(
        api.url("file/upload"),
        data=chunks(),
        headers={"x-api-key": API_KEY, "content-type": f"multipart/form-data; boundary={boundary}"},
        timeout=TIMEOUT,
    )
    assert_error(response, 413, "limit")
    assert stored_names(server) == before


# POST /v1/file/upload/base64 ---------------------------------------------------------------------------------
@pytest.mark.parametrize("prefix", ["", "data:application/pdf;base64,"], ids=["plain", "data-uri"])
def test_base64_upload_then_convert(api: Api, pdf_bytes: bytes, prefix: str) -> None:
    encoded = prefix + base64.b64encode(pdf_bytes).decode("ascii")
    body = assert_ok(api.post("file/upload/base64", json={"file": encoded, "name": "b64.pdf"}))
    assert_uploaded(body, api, "b64.pdf")
    assert download(body["url"]).content == pdf_bytes

    converted = assert_ok(api.post("pdf/convert/to/text-simple", json={"url": body["url"], "inline": True}))
    assert converted["pageCount"] == 2
    assert converted["name"] == "b64.txt"
    assert page_marker(0) in converted["body"]
    assert page_marker(1) in converted["body"]


def test_base64_upload_as_form_body(api: Api, pdf_bytes: bytes) -> None:
    encoded = base64.b64encode(pdf_bytes).decode("ascii")
    body = assert_ok(api.post("file/upload/base64", data={"file": encoded, "name": "form.pdf"}))
    assert_uploaded(body, api, "form.pdf")
    assert download(body["url"]).content == pdf_bytes


@pytest.mark.parametrize(
    "file_value",
    ["not base64 at all!", "JVBERi0xLjQ", "data:application/pdf;base64,%%%%"],
    ids=["garbage", "bad-padding", "bad-data-uri"],
)
def test_base64_upload_invalid_is_400(api: Api, file_value: str) -> None:
    assert_error(api.post("file/upload/base64", json={"file": file_value, "name": "x.pdf"}), 400, "base64")


def test_base64_upload_without_file_is_400(api: Api) -> None:
    assert_error(api.post("file/upload/base64", json={"name": "x.pdf"}), 400, "file")


def test_base64_upload_expiration(api: Api, pdf_bytes: bytes) -> None:
    encoded = base64.b64encode(pdf_bytes).decode("ascii")
    body = assert_ok(
        api.post("file/upload/base64", json={"file": encoded, "name": "short.pdf", "expiration": 1})
    )
    assert time.time() + 50 < parse_valid_till(body) <= time.time() + 61
    assert_error(api.post("file/upload/base64", json={"file": encoded, "expiration": 0}), 454, "expiration")


def test_base64_upload_over_request_limit_is_413(server_factory: ServerFactory) -> None:
    server = server_factory(max_request_bytes=10_000, workers=1)
    api = Api(server)
    encoded = base64.b64encode(b"x" * 20_000).decode("ascii")
    before = stored_names(server)
    assert_error(api.post("file/upload/base64", json={"file": encoded}), 413, "limit")
    assert_error(api.post("file/upload/base64", data={"file": encoded}), 413, "limit")
    assert stored_names(server) == before


def _form_payloads() -> dict[str, tuple[bytes, str]]:
    """Form bodies of ~27-35 kB, for a server whose request limit is 10 kB."""
    big = base64.b64encode(b"x" * 20_000).decode("ascii")
    small = base64.b64encode(b"x" * 6_000).decode("ascii")
    multipart = f'--bnd\r\nContent-Disposition: form-data; name="file"\r\n\r\n{big}\r\n--bnd--\r\n'
    return {
        "urlencoded": (
            urlencode({"file": big, "name": "big.pdf"}).encode(),
            "application/x-www-form-urlencoded",
        ),
        "multipart": (multipart.encode(), "multipart/form-data; boundary=bnd"),
        # every field is under the limit, the body is not
        "urlencoded-many-fields": (
            urlencode({"file": small, "a": "y" * 9_000, "b": "y" * 9_000, "c": "y" * 9_000}).encode(),
            "application/x-www-form-urlencoded",
        ),
    }


@pytest.mark.parametrize("encoding", list(_form_payloads()))
def test_base64_upload_over_request_limit_sent_chunked_is_413(
    server_factory: ServerFactory, encoding: str
) -> None:
    """A form body without a Content-Length is held to the same 4 MB (here 10 kB) API limit: 413."""
    server = server_factory(max_request_bytes=10_000, workers=1)
    api = Api(server)
    payload, content_type = _form_payloads()[encoding]
    assert len(payload) > 20_000

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 2_000):
            yield payload[start : start + 2_000]

    before = stored_names(server)
    response = requests.post(
        api.url("file/upload/base64"),
        data=chunks(),
        headers={"x-api-key": API_KEY, "content-type": content_type},
        timeout=TIMEOUT,
    )
    assert_error(response, 413, "limit")
    assert stored_names(server) == before


# GET / POST /v1/file/upload/url ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_upload_from_one_of_our_own_links(api: Api, pdf_bytes: bytes, method: str) -> None:
    source = upload_bytes(api, pdf_bytes, "origin.pdf")
    params = {"url": source, "name": "copy.pdf"}
    response = (
        api.get("file/upload/url", params=params)
        if method == "GET"
        else api.post("file/upload/url", json=params)
    )
    body = assert_ok(response)
    assert_uploaded(body, api, "copy.pdf")
    assert file_id(body["url"]) != file_id(source)
    assert download(body["url"]).content == pdf_bytes


def test_upload_from_url_without_name_keeps_the_source_name(api: Api, pdf_bytes: bytes) -> None:
    source = upload_bytes(api, pdf_bytes, "origin.pdf")
    body = assert_ok(api.post("file/upload/url", data={"url": source}))
    assert_uploaded(body, api, "origin.pdf")
    assert download(body["url"]).content == pdf_bytes


class _BasicAuthHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``/doc.pdf`` to ``user:s3cret`` only; anything else is 404."""

    payload = b""
    expected = "Basic " + base64.b64encode(b"user:s3cret").decode("ascii")

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="files"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.path != "/doc.pdf":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", PDF_TYPE)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def basic_auth_site(pdf_bytes: bytes) -> Iterator[str]:
    """A local HTTP server (port 0, own thread) that requires basic auth; yields its base URL."""
    handler = type("Handler", (_BasicAuthHandler,), {"payload": pdf_bytes})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_upload_from_url_with_basic_auth(
    api: Api, pdf_bytes: bytes, basic_auth_site: str, method: str
) -> None:
    params = {"url": f"{basic_auth_site}/doc.pdf", "httpusername": "user", "httppassword": "s3cret"}
    response = (
        api.get("file/upload/url", params=params)
        if method == "GET"
        else api.post("file/upload/url", json=params)
    )
    body = assert_ok(response)
    assert_uploaded(body, api, "doc.pdf")
    assert download(body["url"]).content == pdf_bytes


@pytest.mark.parametrize(
    "credentials",
    [
        {"httpusername": "user", "httppassword": "wrong"},
        {"httpusername": "intruder", "httppassword": "s3cret"},
        {},
    ],
    ids=["wrong-password", "wrong-user", "none"],
)
def test_upload_from_url_with_wrong_credentials_is_403(
    api: Api, basic_auth_site: str, credentials: dict[str, str]
) -> None:
    response = api.post("file/upload/url", json={"url": f"{basic_auth_site}/doc.pdf", **credentials})
    assert_error(response, 403, "401")


def test_upload_from_url_that_answers_404_is_an_error(api: Api, basic_auth_site: str) -> None:
    response = api.post(
        "file/upload/url",
        json={"url": f"{basic_auth_site}/missing.pdf", "httpusername": "user", "httppassword": "s3cret"},
    )
    assert_error(response, 400, "404")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/doc.pdf",
        "file:///etc/passwd",
        "gopher://example.com/doc.pdf",
        "example.com/doc.pdf",
    ],
)
def test_upload_from_url_with_a_non_http_scheme_is_452(api: Api, url: str) -> None:
    assert_error(api.get("file/upload/url", params={"url": url}), 452, "http")


def test_upload_from_url_without_url_is_400(api: Api) -> None:
    assert_error(api.post("file/upload/url", json={"name": "x.pdf"}), 400, "url")


# PUT size limit -----------------------------------------------------------------------------------------------
def test_put_at_the_upload_limit_is_accepted(server_factory: ServerFactory) -> None:
    server = server_factory(max_upload_bytes=1000, workers=1)
    links = presign(Api(server), "limit.pdf", "application/octet-stream")
    assert put(links["presignedUrl"], b"y" * 1000, "application/octet-stream").status_code == 200
    assert download(links["url"]).content == b"y" * 1000


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_put_over_the_upload_limit_is_413_and_nothing_is_kept(
    server_factory: ServerFactory, chunked: bool
) -> None:
    server = server_factory(max_upload_bytes=1000, workers=1)
    links = presign(Api(server), "big.pdf", "application/octet-stream")
    data: Any = (b"z" * 500 for _ in range(4)) if chunked else b"z" * 2000

    assert_error(put(links["presignedUrl"], data, "application/octet-stream"), 413, "limit")
    assert_error(download(links["url"]), 404, "nothing was uploaded")
    assert stored_names(server) == []  # neither the file nor a partial ".part" file


# POST /v1/file/delete -----------------------------------------------------------------------------------------
def test_delete_removes_the_file(server_factory: ServerFactory, pdf_bytes: bytes) -> None:
    server = server_factory(api_keys={"key-one": 100, "key-two": 100}, workers=1)
    owner = Api(server, "key-one")
    url = upload_bytes(owner, pdf_bytes)
    path = stored_path(server, url)
    assert path.exists()

    body = assert_ok(owner.post("file/delete", json={"url": url}))
    assert body["remainingCredits"] == 100
    assert not path.exists()
    assert_error(download(url), 404)
    assert_error(owner.post("file/delete", json={"url": url}), 404)  # already gone


def test_delete_of_another_keys_file_is_403(server_factory: ServerFactory, pdf_bytes: bytes) -> None:
    server = server_factory(api_keys={"key-one": 100, "key-two": 100}, workers=1)
    owner, other = Api(server, "key-one"), Api(server, "key-two")
    url = upload_bytes(owner, pdf_bytes)

    assert_error(other.post("file/delete", json={"url": url}), 403, "another")
    assert download(url).content == pdf_bytes  # still there
    assert stored_path(server, url).exists()
    assert_ok(owner.post("file/delete", data={"url": url}))
    assert_error(download(url), 404)


def test_delete_of_a_result_file(server_factory: ServerFactory, pdf_bytes: bytes) -> None:
    server = server_factory(workers=1)
    api = Api(server)
    job = api.convert(upload_bytes(api, pdf_bytes), endpoint="pdf/convert/to/text-simple")
    assert job["status"] == "success", job
    assert download(job["url"]).status_code == 200
    assert_ok(api.post("file/delete", json={"url": job["url"]}))
    assert not stored_path(server, job["url"]).exists()
    assert_error(download(job["url"]), 404)


@pytest.mark.parametrize(
    "url_of",
    [lambda url: "https://example.com/files/doc.pdf", lambda url: with_query(url, signature="0" * 64)],
    ids=["foreign-url", "tampered-link"],
)
def test_delete_with_a_url_that_is_not_ours(api: Api, pdf_bytes: bytes, url_of: Callable[[str], str]) -> None:
    url = upload_bytes(api, pdf_bytes)
    response = api.post("file/delete", json={"url": url_of(url)})
    assert response.status_code in (400, 403)
    assert_error(response, response.status_code)
    assert download(url).content == pdf_bytes
