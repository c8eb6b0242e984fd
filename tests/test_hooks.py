"""``PdfCoHook`` and ``PdfCoAsyncHook`` over real HTTP.

Against a real in-process pdfco-local for behaviour and fault injection (``docs/pdfco-local.md``), and against a
tiny stub of api.pdf.co that answers with the response bodies documented in ``shared/pdfco-api.md``, verbatim,
for the shapes only the real service produces (legacy codes, ``errorCode``, HTTP 200 with ``error: true``).

Request counts come from pdfco-local's access log (``pdfco_local.access``) or from the stub's own record, so
"failed at once" and "retried N times" are observed on the wire, not inferred from the hook.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from airflow.sdk import ObjectStoragePath

import pdfgen
from conftest import API_KEY, CORPUS, ROOT, ServerFactory
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer
from pdfco_provider.errors import (
    PdfCoAuthError,
    PdfCoCreditsError,
    PdfCoDocumentError,
    PdfCoError,
    PdfCoRateLimitError,
    PdfCoTransientError,
)
from pdfco_provider.hooks import PdfCoAsyncHook, PdfCoHook, Upload

WRONG_KEY = "wrong-key-abcdef0123456789"
UNKNOWN_ID = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"
FAST = {"max_retries": 2, "backoff": 0.01}

Configure = Callable[..., None]


# helpers --------------------------------------------------------------------------------------------------------


def _no_key(error: BaseException, *keys: str) -> None:
    """The API key (and any other key used in the test) never appears in an exception's text."""
    for key in (API_KEY, WRONG_KEY, *keys):
        assert key not in str(error)
        assert key not in repr(error)


def _finish(hook: PdfCoHook, job_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = hook.check_job(job_id)
        if body["status"] != "working":
            return body
        assert time.monotonic() < deadline, f"job {job_id} still working after {timeout} s"
        time.sleep(0.03)


def _crlf_only(text: str) -> bool:
    return "\r\n" in text and "\n" not in text.replace("\r\n", "")


class AccessLog(logging.Handler):
    """pdfco-local's access log lines (one JSON object per request), with the time each was logged.

    The server logs a request just after sending its response, so a client may see the answer a moment before
    the line exists: ``settle`` waits for the log to go quiet before anything is counted.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.entries: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            entry = json.loads(record.getMessage())
        except ValueError:
            return
        entry["logged"] = record.created
        self.entries.append(entry)

    def settle(self, quiet: float = 0.15) -> list[dict[str, Any]]:
        count = -1
        while count != len(self.entries):
            count = len(self.entries)
            time.sleep(quiet)
        return list(self.entries)

    def clear(self) -> None:
        self.settle()
        self.entries.clear()

    def on(self, path: str) -> list[dict[str, Any]]:
        return [entry for entry in self.settle() if entry["path"] == path]


@pytest.fixture
def access_log() -> Iterator[AccessLog]:
    logger = logging.getLogger("pdfco_local.access")
    handler = AccessLog()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def hook(server: LocalServer, pdfco_connection: Configure) -> PdfCoHook:
    pdfco_connection(server, **FAST)
    return PdfCoHook()


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pdfgen.GeneratedPdf]:
    dest = tmp_path_factory.mktemp("docs")
    return {
        "multipage": pdfgen.multipage(dest, pages=3),
        "encrypted": pdfgen.encrypted(dest, user_password="s3cret"),
    }


@pytest.fixture
def uploaded(hook: PdfCoHook, docs: dict[str, pdfgen.GeneratedPdf]) -> Upload:
    return hook.upload(docs["multipage"].path)


# 1. PdfCoHook against pdfco-local ------------------------------------------------------------------------------


def test_credit_balance(hook: PdfCoHook) -> None:
    balance = hook.get_credit_balance()
    assert isinstance(balance, int)
    assert 0 < balance <= 1_000_000


def test_presigned_url(hook: PdfCoHook, server: LocalServer) -> None:
    body = hook.get_presigned_url("report.pdf")
    assert body["error"] is False
    assert body["status"] == 200
    assert body["name"] == "report.pdf"
    for link in (body["presignedUrl"], body["url"]):
        assert link.startswith(f"{server.base_url}/files/input/")
        assert urlsplit(link).path.endswith("/report.pdf")
        assert API_KEY not in link


def _check_upload(upload: Upload, source: Path, name: str) -> None:
    data = source.read_bytes()
    assert upload.name == name
    assert upload.size == len(data)
    assert upload.sha256 == hashlib.sha256(data).hexdigest()
    assert urlsplit(upload.url).path.endswith(f"/{name}")
    response = requests.get(upload.url, timeout=10)
    assert response.status_code == 200
    assert response.content == data


def test_upload_local_path(hook: PdfCoHook, docs: dict[str, pdfgen.GeneratedPdf]) -> None:
    path = docs["multipage"].path
    _check_upload(hook.upload(path), path, path.name)
    _check_upload(hook.upload(str(path)), path, path.name)
    _check_upload(hook.upload(path, name="renamed.pdf"), path, "renamed.pdf")


def test_upload_file_uri(hook: PdfCoHook, docs: dict[str, pdfgen.GeneratedPdf]) -> None:
    path = docs["multipage"].path
    _check_upload(hook.upload(path.as_uri()), path, path.name)


def test_upload_object_storage_path(hook: PdfCoHook) -> None:
    source = CORPUS / "sample.pdf"
    _check_upload(hook.upload(ObjectStoragePath(source.as_uri())), source, "sample.pdf")


def test_the_key_goes_to_the_api_only(
    hook: PdfCoHook, server: LocalServer, docs: dict[str, pdfgen.GeneratedPdf]
) -> None:
    """Observed on the wire: every /v1/ request carries x-api-key, no upload/result link request does."""
    api, files = hook._sessions()
    assert api.headers["x-api-key"] == API_KEY
    assert not any(name.lower() == "x-api-key" for name in files.headers)
    sent: list[tuple[str, str, dict[str, str]]] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        sent.append(
            (str(request.method), str(request.url), {k.lower(): v for k, v in request.headers.items()})
        )

    api.hooks["response"].append(record)
    files.hooks["response"].append(record)
    upload = hook.upload(docs["multipage"].path)
    result = hook.convert_to_text(upload.url)
    done = _finish(hook, result["jobId"])
    hook.download(done["url"], io.BytesIO())
    list(hook.iter_download(done["url"]))

    links = [(method, url, headers) for method, url, headers in sent if "/files/" in url]
    calls = [(method, url, headers) for method, url, headers in sent if "/v1/" in url]
    assert {method for method, _, _ in links} == {"PUT", "GET"}
    assert len(links) == 3
    assert calls
    for _, url, headers in links:
        assert "x-api-key" not in headers
        assert API_KEY not in url
        assert "authorization" not in headers
    for _, url, headers in calls:
        assert headers["x-api-key"] == API_KEY
        assert "authorization" not in headers  # the key is not also sent as basic auth
        assert API_KEY not in url  # header only, never the query string


def test_convert_async_by_default(
    hook: PdfCoHook, uploaded: Upload, docs: dict[str, pdfgen.GeneratedPdf]
) -> None:
    submitted = hook.convert_to_text(uploaded.url)
    assert submitted["error"] is False
    assert submitted["status"] == 200
    assert isinstance(submitted["jobId"], str)
    assert len(submitted["jobId"]) >= 32
    assert "body" not in submitted
    done = _finish(hook, submitted["jobId"])
    assert done["status"] == "success"
    assert done["pageCount"] == 3
    # The initial url is "the final url" (pdfco-api.md §3.5): same object, downloadable once the job succeeded
    # (its signed expiry may differ from the one job/check gives).
    assert urlsplit(done["url"]).path == urlsplit(submitted["url"]).path
    sink = io.BytesIO()
    size = hook.download(submitted["url"], sink)
    text = sink.getvalue().decode("utf-8")
    assert size == len(sink.getvalue()) > 0
    assert b"".join(hook.iter_download(done["url"])) == sink.getvalue()
    assert _crlf_only(text)
    pages = text.split("\f")
    for index, expected in enumerate(docs["multipage"].pages):
        assert pdfgen.normalize_whitespace(pages[index]) == pdfgen.normalize_whitespace(expected)


def test_convert_simple(hook: PdfCoHook, uploaded: Upload, access_log: AccessLog) -> None:
    submitted = hook.convert_to_text(uploaded.url, simple=True)
    assert [entry["path"] for entry in access_log.settle() if entry["method"] == "POST"] == [
        "/v1/pdf/convert/to/text-simple"
    ]
    done = _finish(hook, submitted["jobId"])
    assert done["status"] == "success"
    text = b"".join(hook.iter_download(done["url"])).decode("utf-8")
    for index in range(3):
        assert pdfgen.page_marker(index) in text


def test_convert_pages(hook: PdfCoHook, uploaded: Upload) -> None:
    done = _finish(hook, hook.convert_to_text(uploaded.url, pages="1-2")["jobId"])
    assert done["status"] == "success"
    assert done["pageCount"] == 2
    text = b"".join(hook.iter_download(done["url"])).decode("utf-8")
    assert pdfgen.page_marker(0) not in text
    assert pdfgen.page_marker(1) in text
    assert pdfgen.page_marker(2) in text
    inline = hook.convert_to_text(uploaded.url, pages="!0", inline=True, run_async=False)
    assert pdfgen.page_marker(2) in inline["body"]
    assert pdfgen.page_marker(0) not in inline["body"]


def test_convert_password(hook: PdfCoHook, docs: dict[str, pdfgen.GeneratedPdf]) -> None:
    locked = docs["encrypted"]
    url = hook.upload(locked.path).url
    done = _finish(hook, hook.convert_to_text(url, password="s3cret")["jobId"])
    assert done["status"] == "success"
    text = b"".join(hook.iter_download(done["url"])).decode("utf-8")
    assert "This document is encrypted" in text
    # Without the password the job fails with 441: a job state, not an exception from check_job.
    failed = _finish(hook, hook.convert_to_text(url)["jobId"])
    assert failed["status"] == "failed"
    assert failed["errorCode"] == 441
    # Synchronously the same rejection is the call's error.
    with pytest.raises(PdfCoDocumentError) as caught:
        hook.convert_to_text(url, password="wrong", run_async=False)
    assert caught.value.code == 441
    assert "s3cret" not in str(caught.value)
    _no_key(caught.value)


def test_convert_name(hook: PdfCoHook, uploaded: Upload) -> None:
    submitted = hook.convert_to_text(uploaded.url, name="custom-result.txt")
    assert submitted["name"] == "custom-result.txt"
    assert urlsplit(submitted["url"]).path.endswith("/custom-result.txt")
    done = _finish(hook, submitted["jobId"])
    assert urlsplit(done["url"]).path.endswith("/custom-result.txt")


def test_convert_inline_sync(hook: PdfCoHook) -> None:
    url = hook.upload(CORPUS / "sample.pdf").url
    result = hook.convert_to_text(url, inline=True, run_async=False)
    assert result["error"] is False
    assert result["status"] == 200  # an integer on conversion responses
    assert result["pageCount"] == 1
    body = result["body"]
    assert _crlf_only(body)
    expected = json.loads((CORPUS / "sample.expected-body-prefix.json").read_text())["body_prefix"]
    assert pdfgen.normalize_whitespace(body).startswith(pdfgen.normalize_whitespace(expected))


def test_check_job(hook: PdfCoHook) -> None:
    assert hook.check_job(UNKNOWN_ID)["status"] == "working"  # PDF.co: unknown ids look like working
    forced = hook.check_job(UNKNOWN_ID, force=True)
    assert forced["status"] == "unknown"


def test_download_and_iter_download(
    hook: PdfCoHook, uploaded: Upload, docs: dict[str, pdfgen.GeneratedPdf]
) -> None:
    data = docs["multipage"].path.read_bytes()
    sink = io.BytesIO()
    assert hook.download(uploaded.url, sink) == len(data)
    assert sink.getvalue() == data
    chunks = list(hook.iter_download(uploaded.url))
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    assert b"".join(chunks) == data


def test_test_connection(hook: PdfCoHook, server: LocalServer) -> None:
    ok, message = hook.test_connection()
    assert ok is True
    assert "credits" in message
    assert str(hook.get_credit_balance()) in message
    assert API_KEY not in message


def test_test_connection_with_a_wrong_key(server: LocalServer, pdfco_connection: Configure) -> None:
    pdfco_connection(server, key=WRONG_KEY, **FAST)
    ok, message = PdfCoHook().test_connection()
    assert ok is False
    assert "401" in message
    assert WRONG_KEY not in message
    assert API_KEY not in message


def test_a_connection_without_a_key_fails_before_any_request(
    server: LocalServer, pdfco_connection: Configure, access_log: AccessLog
) -> None:
    pdfco_connection(server, key="")
    with pytest.raises(PdfCoAuthError) as caught:
        PdfCoHook().get_credit_balance()
    assert "pdfco_default" in str(caught.value)
    _no_key(caught.value)
    assert access_log.on("/v1/account/credit/balance") == []


# 2. error classification through real calls --------------------------------------------------------------------


def test_wrong_key_fails_at_once(
    server: LocalServer, pdfco_connection: Configure, access_log: AccessLog
) -> None:
    # A retry would wait at least backoff/2 = 0.5 s: measure that none happened, and count the requests.
    pdfco_connection(server, key=WRONG_KEY, max_retries=3, backoff=1)
    hook = PdfCoHook()
    started = time.monotonic()
    with pytest.raises(PdfCoAuthError) as caught:
        hook.get_credit_balance()
    assert time.monotonic() - started < 0.5
    assert caught.value.code == 401
    assert not caught.value.retryable
    _no_key(caught.value)
    assert [entry["status"] for entry in access_log.on("/v1/account/credit/balance")] == [401]


def test_zero_credits(
    server_factory: ServerFactory,
    pdfco_connection: Configure,
    docs: dict[str, pdfgen.GeneratedPdf],
    access_log: AccessLog,
) -> None:
    poor = server_factory(api_keys={API_KEY: 0}, workers=1)
    pdfco_connection(poor, max_retries=3, backoff=1)
    hook = PdfCoHook()
    assert hook.get_credit_balance() == 0
    url = hook.upload(docs["multipage"].path).url  # uploads are free
    access_log.clear()
    started = time.monotonic()
    with pytest.raises(PdfCoCreditsError) as caught:
        hook.convert_to_text(url)
    assert time.monotonic() - started < 0.5
    assert caught.value.code == 402
    _no_key(caught.value)
    assert [entry["status"] for entry in access_log.on("/v1/pdf/convert/to/text")] == [402]


def test_bad_pages_is_a_document_error(hook: PdfCoHook, uploaded: Upload, access_log: AccessLog) -> None:
    access_log.clear()
    with pytest.raises(PdfCoDocumentError) as caught:
        hook.convert_to_text(uploaded.url, pages="2-x")
    assert caught.value.code == 450
    assert "Invalid page range specified." in str(caught.value)  # PDF.co's own message
    assert "multipage.pdf" in str(caught.value)  # which document
    _no_key(caught.value)
    assert [entry["status"] for entry in access_log.on("/v1/pdf/convert/to/text")] == [450]


def test_server_errors_are_retried_then_raised(
    server: LocalServer, hook: PdfCoHook, access_log: AccessLog
) -> None:
    hook.get_credit_balance()  # sessions made, connection read
    access_log.clear()
    server.set_faults(FaultConfig(error_rate=1.0))
    with pytest.raises(PdfCoTransientError) as caught:
        hook.get_credit_balance()
    assert caught.value.code in (500, 503)
    assert caught.value.retryable
    _no_key(caught.value)
    statuses = [entry["status"] for entry in access_log.on("/v1/account/credit/balance")]
    assert len(statuses) == FAST["max_retries"] + 1
    assert set(statuses) <= {500, 503}


def test_dropped_connections_are_retried_then_raised(
    server: LocalServer, hook: PdfCoHook, access_log: AccessLog
) -> None:
    hook.get_credit_balance()
    access_log.clear()
    server.set_faults(FaultConfig(drop_rate=1.0))
    with pytest.raises(PdfCoTransientError) as caught:
        hook.check_job(UNKNOWN_ID)
    _no_key(caught.value)
    assert len(access_log.on("/v1/job/check")) == FAST["max_retries"] + 1


def test_every_call_succeeds_through_random_faults(
    server: LocalServer,
    pdfco_connection: Configure,
    docs: dict[str, pdfgen.GeneratedPdf],
    access_log: AccessLog,
) -> None:
    # max_backoff also caps Retry-After (1 s on injected 429s) so the test stays fast; Retry-After itself is
    # covered by test_retry_after_is_honoured.
    pdfco_connection(server, max_retries=8, backoff=0.01, max_backoff=0.05)
    hook = PdfCoHook()
    path = docs["multipage"].path
    url = hook.upload(path).url
    job_id = hook.convert_to_text(url)["jobId"]
    _finish(hook, job_id)
    access_log.clear()
    server.set_faults(FaultConfig(seed=3, error_rate=0.4, throttle_rate=0.2, drop_rate=0.2))
    calls: list[Callable[[], Any]] = [
        lambda: hook.get_credit_balance() >= 0,
        lambda: hook.check_job(job_id)["status"] == "success",
        lambda: hook.get_presigned_url("a.pdf")["status"] == 200,
        lambda: hook.convert_to_text(url)["status"] == 200,
        lambda: hook.upload(path).size == path.stat().st_size,
    ]
    for index in range(20):
        assert calls[index % len(calls)]() is True
    api_requests = [entry for entry in access_log.settle() if entry["path"].startswith("/v1/")]
    statuses = [entry["status"] for entry in api_requests]
    assert len(api_requests) > 20  # retries really happened on the wire
    assert 429 in statuses
    assert {500, 503} & set(statuses)


def test_retry_after_is_honoured(server: LocalServer, hook: PdfCoHook, access_log: AccessLog) -> None:
    """429 + Retry-After: 1, throttling lifted after 0.5 s: a hook that waits the second sees one 429 then 200;
    one that used its 0.01 s backoff would spend its 3 attempts inside the throttled half-second."""
    hook.get_credit_balance()
    access_log.clear()
    server.set_faults(FaultConfig(throttle_rate=1.0, retry_after=1))
    lift = threading.Timer(0.5, server.set_faults, args=(FaultConfig(),))
    started = time.monotonic()
    lift.start()
    try:
        assert hook.get_credit_balance() > 0
    finally:
        lift.join()
    assert time.monotonic() - started >= 1.0
    entries = access_log.on("/v1/account/credit/balance")
    assert [entry["status"] for entry in entries] == [429, 200]
    second_started = entries[1]["logged"] - entries[1]["ms"] / 1000
    assert second_started - entries[0]["logged"] >= 0.95


# 3. against a stub of api.pdf.co serving pdfco-api.md's documented bodies verbatim ------------------------------

PDFCO_API_MD = (ROOT.parent / "shared" / "pdfco-api.md").read_text(encoding="utf-8")

# §1 Unauthorized
DOC_401 = (
    '{"error": true, "status": 401, "message": "Unauthorized. Authentication is required and has failed or has '
    'not yet been provided."}'
)
# §2.1 presigned URL example
DOC_PRESIGNED = (
    '{"presignedUrl": "https://pdf-temp-files.s3.us-west-2.amazonaws.com/A1VGV42YE0NWXMKEB4BUIWNYGKXEWTND/test.pdf'
    "?X-Amz-Expires=900&X-Amz-Algorithm=AWS4-HMAC-SHA256&...&X-Amz-SignedHeaders=content-type;host"
    '&X-Amz-Signature=...",\n'
    ' "url": "https://pdf-temp-files.s3.us-west-2.amazonaws.com/A1VGV42YE0NWXMKEB4BUIWNYGKXEWTND/test.pdf'
    '?X-Amz-Expires=3600&X-Amz-Security-Token=...&X-Amz-Signature=...",\n'
    ' "error": false, "status": 200, "name": "test.pdf", "remainingCredits": 1234}'
)
# §3.5 inline response: the docs show the `body` field then "..."; the rest are §3.5's documented fields
DOC_INLINE_BODY_FIELD = (
    r'{"body": " Your Company Name \r\n Your Address \r\n City, State Zip \r\n Invoice No. 123456 \r\n Invoice '
    r'Date 01/01/2016 \r\n Client Name \r\n Address \r\n City, State Zip \r\n\r\n N…"'
)
DOC_INLINE = DOC_INLINE_BODY_FIELD + ', "error": false, "status": 200}'
# §4.3 job/check examples (the success example is cut off after remainingCredits in the docs)
DOC_WORKING = '{"status": "working", "remainingCredits": 60227}'
DOC_SUCCESS_PREFIX = (
    '{"status": "success", "message": "Success",\n'
    ' "url": "https://pdf-temp-files.s3.us-west-2.amazonaws.com/6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA--151-300/'
    'L8QYIZQ6KZOITCT0PXUNPM6HKYSP5OIO.json?X-Amz-Expires=3600&X-Amz-Security-Token=…",\n'
    ' "jobId": "6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA--151-300", "credits": 2, "remainingCredits": 1480582'
)
DOC_SUCCESS = DOC_SUCCESS_PREFIX + "}"
DOC_JOB_ID = "6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA--151-300"

BALANCE = "/v1/account/credit/balance"
PRESIGN = "/v1/file/upload/get-presigned-url"
CONVERT = "/v1/pdf/convert/to/text"
CHECK = "/v1/job/check"


def test_stub_bodies_are_verbatim_from_pdfco_api_md() -> None:
    for documented in (DOC_401, DOC_PRESIGNED, DOC_INLINE_BODY_FIELD, DOC_WORKING, DOC_SUCCESS_PREFIX):
        assert documented in PDFCO_API_MD
    for served in (DOC_401, DOC_PRESIGNED, DOC_INLINE, DOC_WORKING, DOC_SUCCESS):
        json.loads(served)


@dataclass
class Reply:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class Stub:
    """A fake api.pdf.co: each path answers its queued replies in order (the last one repeats)."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                stub.seen.append(
                    Seen(
                        self.command,
                        url.path,
                        parse_qs(url.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        self.rfile.read(length),
                    )
                )
                queue = stub.routes.get(url.path) or [Reply(404, '{"error": true, "status": 404}')]
                reply = queue.pop(0) if len(queue) > 1 else queue[0]
                data = reply.body.encode("utf-8")
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def reply(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def requests_to(self, path: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stub]:
    """A stub api.pdf.co, with ``pdfco_default`` pointing at it (max_retries=2, backoff=0.01)."""
    fake = Stub()
    connection = {"conn_type": "pdfco", "host": fake.base_url, "password": API_KEY, "extra": FAST}
    monkeypatch.setenv("AIRFLOW_CONN_PDFCO_DEFAULT", json.dumps(connection))
    yield fake
    fake.close()


async def _async_check(job_id: str, force: bool = False) -> dict[str, Any]:
    hook = PdfCoAsyncHook()
    async with hook.session() as http:
        return await hook.check_job(http, job_id, force=force)


def test_stub_401_unauthorized(stub: Stub) -> None:
    stub.reply(BALANCE, Reply(401, DOC_401))
    with pytest.raises(PdfCoAuthError) as caught:
        PdfCoHook().get_credit_balance()
    assert caught.value.code == 401
    assert "Unauthorized. Authentication is required" in str(caught.value)
    _no_key(caught.value)
    assert len(stub.requests_to(BALANCE)) == 1
    assert stub.requests_to(BALANCE)[0].headers["x-api-key"] == API_KEY


@pytest.mark.asyncio
async def test_stub_401_unauthorized_async(stub: Stub) -> None:
    stub.reply(CHECK, Reply(401, DOC_401))
    with pytest.raises(PdfCoAuthError) as caught:
        await _async_check(DOC_JOB_ID)
    assert caught.value.code == 401
    _no_key(caught.value)


def test_stub_presigned_url(stub: Stub) -> None:
    stub.reply(PRESIGN, Reply(200, DOC_PRESIGNED))
    body = PdfCoHook().get_presigned_url("test.pdf")
    assert body == json.loads(DOC_PRESIGNED)
    seen = stub.requests_to(PRESIGN)
    assert len(seen) == 1
    assert seen[0].method == "GET"
    assert seen[0].query == {"name": ["test.pdf"], "contenttype": ["application/octet-stream"]}
    assert seen[0].headers["x-api-key"] == API_KEY


def test_stub_inline_conversion(stub: Stub) -> None:
    stub.reply(CONVERT, Reply(200, DOC_INLINE))
    source = "https://pdfco-test-files.s3.us-west-2.amazonaws.com/pdf-to-text/sample.pdf"
    result = PdfCoHook().convert_to_text(source, inline=True, run_async=False)
    assert result["status"] == 200
    assert result["body"].startswith(" Your Company Name \r\n Your Address \r\n")
    seen = stub.requests_to(CONVERT)
    assert len(seen) == 1
    assert seen[0].method == "POST"
    assert seen[0].headers["content-type"] == "application/json"
    payload = json.loads(seen[0].body)
    assert payload["url"] == source
    assert payload["inline"] is True
    assert payload["async"] is False


def test_stub_job_check_documented_examples(stub: Stub) -> None:
    stub.reply(CHECK, Reply(200, DOC_WORKING), Reply(200, DOC_SUCCESS))
    hook = PdfCoHook()
    assert hook.check_job(DOC_JOB_ID) == {"status": "working", "remainingCredits": 60227}
    done = hook.check_job(DOC_JOB_ID)
    assert done["status"] == "success"
    assert done["jobId"] == DOC_JOB_ID
    assert done["url"].startswith(
        "https://pdf-temp-files.s3.us-west-2.amazonaws.com/6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA"
    )
    seen = stub.requests_to(CHECK)
    assert [request.query["jobid"] for request in seen] == [[DOC_JOB_ID], [DOC_JOB_ID]]


@pytest.mark.asyncio
async def test_stub_job_check_documented_examples_async(stub: Stub) -> None:
    stub.reply(CHECK, Reply(200, DOC_WORKING), Reply(200, DOC_SUCCESS))
    assert await _async_check(DOC_JOB_ID) == {"status": "working", "remainingCredits": 60227}
    done = await _async_check(DOC_JOB_ID, force=True)
    assert done["status"] == "success"
    assert done["credits"] == 2
    seen = stub.requests_to(CHECK)
    assert all(request.method == "GET" for request in seen)  # the trigger side never POSTs
    assert seen[1].query["force"] == ["true"]
    assert all(request.headers["x-api-key"] == API_KEY for request in seen)


def test_stub_http_200_with_error_flag(stub: Stub) -> None:
    stub.reply(CONVERT, Reply(200, '{"error": true, "status": 441, "message": "Invalid password."}'))
    with pytest.raises(PdfCoDocumentError) as caught:
        PdfCoHook().convert_to_text("https://example.com/locked.pdf", password="nope")
    assert caught.value.code == 441
    assert "Invalid password." in str(caught.value)
    assert "locked.pdf" in str(caught.value)
    assert "nope" not in str(caught.value)
    _no_key(caught.value)
    assert len(stub.requests_to(CONVERT)) == 1


@pytest.mark.asyncio
async def test_stub_http_200_with_error_flag_async(stub: Stub) -> None:
    stub.reply(CHECK, Reply(200, '{"error": true, "status": 454, "message": "Invalid parameters."}'))
    with pytest.raises(PdfCoDocumentError) as caught:
        await _async_check(DOC_JOB_ID)
    assert caught.value.code == 454
    _no_key(caught.value)


def test_stub_legacy_403_not_enough_credits(stub: Stub) -> None:
    stub.reply(CONVERT, Reply(403, '{"error": true, "status": 403, "message": "Not enough credits"}'))
    with pytest.raises(PdfCoCreditsError) as caught:
        PdfCoHook().convert_to_text("https://example.com/a.pdf")
    assert caught.value.code == 403
    _no_key(caught.value)
    assert len(stub.requests_to(CONVERT)) == 1


def test_stub_legacy_405_timeout_is_retried(stub: Stub) -> None:
    timeout = Reply(405, '{"error": true, "status": 405, "message": "Timeout error"}')
    stub.reply(BALANCE, timeout)
    with pytest.raises(PdfCoTransientError) as caught:
        PdfCoHook().get_credit_balance()
    assert caught.value.code == 405
    _no_key(caught.value)
    assert len(stub.requests_to(BALANCE)) == FAST["max_retries"] + 1
    # and a timeout followed by an answer is a success
    stub.reply(BALANCE, timeout, Reply(200, '{"remainingCredits": 99795868}'))
    assert PdfCoHook().get_credit_balance() == 99795868


def test_stub_error_code_wins_over_status(stub: Stub) -> None:
    stub.reply(
        CONVERT,
        Reply(400, '{"error": true, "status": 400, "errorCode": 449, "message": "Invalid index range."}'),
    )
    with pytest.raises(PdfCoDocumentError) as caught:
        PdfCoHook().convert_to_text("https://example.com/a.pdf", pages="99")
    assert caught.value.code == 449
    _no_key(caught.value)
    # a 5xx whose errorCode names a document error is not retried
    stub.reply(
        BALANCE,
        Reply(500, '{"error": true, "status": 500, "errorCode": 442, "message": "Damaged document."}'),
    )
    with pytest.raises(PdfCoDocumentError) as damaged:
        PdfCoHook().get_credit_balance()
    assert damaged.value.code == 442
    _no_key(damaged.value)
    assert len(stub.requests_to(BALANCE)) == 1


FAILED_JOB = (
    '{"status": "failed", "error": true, "errorCode": 442, "message": "Input document damaged.", '
    '"jobId": "6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA"}'
)


def test_stub_failed_job_is_a_state_not_an_exception(stub: Stub) -> None:
    stub.reply(CHECK, Reply(200, FAILED_JOB))
    body = PdfCoHook().check_job("6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA")
    assert body["status"] == "failed"
    assert body["errorCode"] == 442
    assert len(stub.requests_to(CHECK)) == 1  # not retried either


@pytest.mark.asyncio
async def test_stub_failed_job_is_a_state_not_an_exception_async(stub: Stub) -> None:
    stub.reply(CHECK, Reply(200, FAILED_JOB))
    body = await _async_check("6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA")
    assert body["status"] == "failed"
    assert body["message"] == "Input document damaged."


# 5. PdfCoAsyncHook against pdfco-local -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_async_check_job_follows_a_job_to_success(hook: PdfCoHook, uploaded: Upload) -> None:
    job_id = hook.convert_to_text(uploaded.url)["jobId"]
    async_hook = PdfCoAsyncHook()
    states: list[str] = []
    async with async_hook.session() as http:
        for _ in range(600):
            body = await async_hook.check_job(http, job_id)
            states.append(body["status"])
            if body["status"] != "working":
                break
            await asyncio.sleep(0.03)
        unknown = await async_hook.check_job(http, UNKNOWN_ID, force=True)
    assert states[-1] == "success"
    assert set(states) <= {"working", "success"}
    assert body["pageCount"] == 3
    assert body["jobId"] == job_id
    assert unknown["status"] == "unknown"
    assert async_hook.retry.max_attempts == FAST["max_retries"] + 1  # extras read by the async hook too


@pytest.mark.asyncio
async def test_async_dropped_connection_is_transient(
    server: LocalServer, pdfco_connection: Configure
) -> None:
    pdfco_connection(server, **FAST)
    server.set_faults(FaultConfig(drop_rate=1.0))
    with pytest.raises(PdfCoTransientError) as caught:
        await _async_check(UNKNOWN_ID)
    assert caught.value.retryable
    _no_key(caught.value)


@pytest.mark.asyncio
async def test_async_server_errors_and_throttling(server: LocalServer, pdfco_connection: Configure) -> None:
    pdfco_connection(server, **FAST)
    server.set_faults(FaultConfig(error_rate=1.0))
    with pytest.raises(PdfCoTransientError) as failed:
        await _async_check(UNKNOWN_ID)
    assert failed.value.code in (500, 503)
    _no_key(failed.value)
    server.set_faults(FaultConfig(throttle_rate=1.0, retry_after=3))
    with pytest.raises(PdfCoRateLimitError) as throttled:
        await _async_check(UNKNOWN_ID)
    assert throttled.value.retry_after == 3.0
    _no_key(throttled.value)


@pytest.mark.asyncio
async def test_async_wrong_key_is_an_auth_error(server: LocalServer, pdfco_connection: Configure) -> None:
    pdfco_connection(server, key=WRONG_KEY, **FAST)
    with pytest.raises(PdfCoAuthError) as caught:
        await _async_check(UNKNOWN_ID)
    assert caught.value.code == 401
    _no_key(caught.value)


@pytest.mark.asyncio
async def test_async_missing_key_is_an_auth_error(server: LocalServer, pdfco_connection: Configure) -> None:
    pdfco_connection(server, key="")
    with pytest.raises(PdfCoAuthError) as caught:
        await _async_check(UNKNOWN_ID)
    _no_key(caught.value)


def test_every_error_class_is_a_pdfco_error() -> None:
    for cls in (
        PdfCoAuthError,
        PdfCoCreditsError,
        PdfCoDocumentError,
        PdfCoTransientError,
        PdfCoRateLimitError,
    ):
        assert issubclass(cls, PdfCoError)
