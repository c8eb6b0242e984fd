"""The Starlette application: PDF.co's text-extraction endpoints plus the signed file links.

Endpoints and field names follow ``shared/pdfco-api.md`` (§1-5); the server-specific choices (page
separator, job/check of a failed job, credits of uploads) are documented in ``docs/pdfco-local.md``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import pages as page_spec
from .accounts import Accounts
from .config import ServerConfig
from .errors import ApiError, ExtractionError
from .faults import FaultInjector
from .files import FileStorage, safe_name
from .jobs import Conversion, JobRunner
from .params import Params, read_params
from .signing import Signer
from .store import FileRecord, JobRecord, Store
from .workers import WorkerPool

access_log = logging.getLogger("pdfco_local.access")
log = logging.getLogger("pdfco_local")

_LANG = re.compile(r"^[a-z_]{3,8}(\+[a-z_]{3,8})*$")
_CHUNK = 1024 * 1024


class InjectedDrop(Exception):
    """Raised after the response headers to make the server close the connection (fault injection)."""


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PdfCoLocal:
    """Holds the server's parts; ``asgi`` is the application to hand to uvicorn."""

    def __init__(self, config: ServerConfig):
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.store = Store(config.data_dir / "pdfco-local.sqlite3")
        self.accounts = Accounts(config.api_keys, self.store, config.rate_limit)
        self.files = FileStorage(config.data_dir / "files", self.store, Signer.from_data_dir(config.data_dir))
        self.faults = FaultInjector(config.faults)
        self.pool = WorkerPool(config.workers, config.job_memory_limit)
        self.jobs = JobRunner(config, self.store, self.files, self.pool, self.faults)
        self._sweeper: asyncio.Task[None] | None = None
        routes = [
            Route("/healthz", self.health, methods=["GET"]),
            Route("/v1/account/credit/balance", self.credit_balance, methods=["GET", "POST"]),
            Route("/v1/file/upload/get-presigned-url", self.presigned_url, methods=["GET", "POST"]),
            Route("/v1/file/upload", self.upload_multipart, methods=["POST"]),
            Route("/v1/file/upload/base64", self.upload_base64, methods=["POST"]),
            Route("/v1/file/upload/url", self.upload_from_url, methods=["GET", "POST"]),
            Route("/v1/file/delete", self.delete_file, methods=["POST"]),
            Route("/v1/pdf/convert/to/text", self.convert_layout, methods=["POST"]),
            Route("/v1/pdf/convert/to/text-simple", self.convert_simple, methods=["POST"]),
            Route("/v1/job/check", self.job_check, methods=["GET", "POST"]),
            Route("/files/input/{file_id}/{name}", self.put_file, methods=["PUT"]),
            Route("/files/{kind}/{file_id}/{name}", self.get_file, methods=["GET", "HEAD"]),
        ]
        app = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={ApiError: self._api_error, HTTPException: self._http_error},
        )
        self.asgi: ASGIApp = _Middleware(app, self.faults)

    # lifecycle ------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await self.pool.start()
        self.jobs.resume()
        self._sweeper = asyncio.create_task(self._sweep_forever())
        try:
            yield
        finally:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            await self.jobs.close()
            self.pool.close()
            self.store.close()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                self.sweep()
            except Exception:
                log.exception("sweep failed")

    def sweep(self) -> int:
        """Delete expired files and forget old jobs; returns the number of files deleted."""
        deleted = self.files.sweep()
        self.store.purge_jobs(time.time() - self.config.job_retention)
        return deleted

    # helpers --------------------------------------------------------------------------------------------
    async def _api_error(self, _request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def _http_error(self, _request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            ApiError(exc.status_code, exc.detail).body(), status_code=exc.status_code, headers=exc.headers
        )

    def _base_url(self, request: Request) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/")
        return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"

    async def _begin(self, request: Request) -> tuple[str, Params]:
        """Authenticate (401), rate-limit (429) and parse the parameters of an API call."""
        owner = self.accounts.authenticate(request)
        self.accounts.throttle(owner)
        return owner, await read_params(request, self.config.max_request_bytes)

    def _ok(self, request: Request, owner: str, **fields: Any) -> JSONResponse:
        return JSONResponse(self._body(request, owner, **fields))

    def _body(self, request: Request, owner: str, **fields: Any) -> dict[str, Any]:
        """A success body; ``fields`` may override ``status`` (job/check answers a string state there)."""
        return {
            "error": False,
            "status": 200,
            **fields,
            "remainingCredits": self.accounts.balance(owner),
            "duration": int((time.monotonic() - request.scope["pdfco.started"]) * 1000),
        }

    def _uploaded(self, request: Request, owner: str, record: FileRecord) -> JSONResponse:
        return self._ok(
            request,
            owner,
            url=self.files.link(self._base_url(request), record),
            name=record.name,
            outputLinkValidTill=_iso(record.expires),
            credits=0,
        )

    # endpoints ------------------------------------------------------------------------------------------
    async def health(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def credit_balance(self, request: Request) -> Response:
        owner, _ = await self._begin(request)
        return self._ok(request, owner)

    async def presigned_url(self, request: Request) -> Response:
        owner, params = await self._begin(request)
        name = safe_name(params.text("name"), "file.pdf")
        content_type = params.text("contenttype") or ""
        record = self.files.create(
            "input", owner, name, content_type or "application/octet-stream", self.config.upload_ttl
        )
        base = self._base_url(request)
        put_expires = min(record.expires, time.time() + self.config.presign_ttl)
        return self._ok(
            request,
            owner,
            presignedUrl=self.files.upload_link(base, record, put_expires, content_type),
            url=self.files.link(base, record),
            name=name,
            outputLinkValidTill=_iso(record.expires),
            credits=0,
        )

    async def put_file(self, request: Request) -> Response:
        record = self.files.resolve(str(request.url), "PUT", request.headers.get("content-type", ""))
        assert record is not None
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.config.max_upload_bytes:
            raise ApiError(
                413, f"The upload is {declared} bytes; the limit is {self.config.max_upload_bytes}."
            )
        await self.files.write_stream(record, request.stream(), self.config.max_upload_bytes)
        return Response(status_code=200)

    async def get_file(self, request: Request) -> Response:
        record = self.files.resolve(str(request.url), "GET")
        assert record is not None
        if not record.complete or not record.path.exists():
            if record.kind == "output":
                raise ApiError(404, "The result is not ready: check the job with /v1/job/check.")
            raise ApiError(404, "Nothing was uploaded to this link.")
        return FileResponse(record.path, media_type=record.content_type, filename=record.name)

    async def upload_multipart(self, request: Request) -> Response:
        owner, params = await self._begin(request)
        upload = params.files.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(400, "Send the file as the multipart field 'file'.")
        name = safe_name(params.text("name") or upload.filename, "file")
        record = self.files.create("input", owner, name, "application/octet-stream", self.config.upload_ttl)
        await self.files.write_stream(record, _chunks(upload), self.config.max_request_bytes)
        return self._uploaded(request, owner, record)

    async def upload_base64(self, request: Request) -> Response:
        owner, params = await self._begin(request)
        data = params.required("file")
        if data.startswith("data:") and "," in data:
            data = data.split(",", 1)[1]
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "Parameter 'file' is not valid base64 or a base64 data URI.") from None
        lifetime = self._expiration(params) * 60
        name = safe_name(params.text("name"), "file")
        record = self.files.create("input", owner, name, "application/octet-stream", lifetime)
        self.files.write_bytes(record, content)
        return self._uploaded(request, owner, record)

    async def upload_from_url(self, request: Request) -> Response:
        owner, params = await self._begin(request)
        url = params.required("url")
        name = safe_name(params.text("name"), "")
        record = await self.jobs.fetch(
            owner, url, params.text("httpusername"), params.text("httppassword"), name
        )
        return self._uploaded(request, owner, record)

    async def delete_file(self, request: Request) -> Response:
        owner, params = await self._begin(request)
        record = self.files.resolve(params.required("url"))
        if record is None:
            raise ApiError(400, "The URL is not a file stored on this server.")
        if record.owner != owner:
            raise ApiError(403, "The file belongs to another API key.")
        self.files.delete(record)
        return self._ok(request, owner)

    async def convert_layout(self, request: Request) -> Response:
        return await self._convert(request, "layout")

    async def convert_simple(self, request: Request) -> Response:
        return await self._convert(request, "simple")

    async def _convert(self, request: Request, mode: str) -> Response:
        owner, params = await self._begin(request)
        conversion = self._conversion(owner, params, mode)
        if self.accounts.balance(owner) < 1:
            raise ApiError(402, "The account has no credits left.")
        base = self._base_url(request)
        if params.flag("async"):
            job_id = self.jobs.submit(owner, conversion)
            output = self.store.get_file(job_id)
            assert output is not None
            return self._ok(
                request,
                owner,
                jobId=job_id,
                url=self.files.link(base, output),
                name=conversion.name,
                outputLinkValidTill=_iso(output.expires),
                pageCount=0,
                credits=0,
            )
        time_limit = min(self.config.job_time_limit, self.config.sync_timeout)
        job = await self.jobs.wait(self.jobs.submit(owner, conversion, time_limit=time_limit))
        if job.status != "success":
            raise _job_error(job)
        output = self.store.get_file(job.output_id)
        assert output is not None
        fields: dict[str, Any] = {
            "url": self.files.link(base, output),
            "pageCount": job.page_count,
            "name": conversion.name,
            "outputLinkValidTill": _iso(output.expires),
            "credits": job.credits,
            "jobId": job.id,
            "message": job.message,
        }
        if params.flag("inline"):
            # bytes, then decode: read_text() would translate the CRLF line endings away
            fields["body"] = (await asyncio.to_thread(output.path.read_bytes)).decode("utf-8")
        return self._ok(request, owner, **fields)

    def _conversion(self, owner: str, params: Params, mode: str) -> Conversion:
        """Validate everything that can be checked without the document, so errors come back at once."""
        url = params.required("url")
        pages = params.text("pages")
        try:
            page_spec.parse(pages)  # 450 now rather than in the job
        except ExtractionError as error:
            raise ApiError(error.code, error.detail) from None
        _check_profiles(params.text("profiles"))
        lang = (params.text("lang") or "eng").strip()
        if not _LANG.match(lang):
            raise ApiError(454, f"Parameter 'lang' must look like 'eng' or 'eng+deu', not {lang!r}.")
        record = self.files.resolve(url)
        if record is not None and record.kind == "input" and not record.complete:
            raise ApiError(400, "Nothing has been uploaded to the input URL yet (PUT the file first).")
        source_name = record.name if record is not None else url.rsplit("/", 1)[-1].split("?")[0]
        default_name = (PurePosixPath(source_name).stem or "result") + ".txt"
        return Conversion(
            mode=mode,
            url=url,
            name=safe_name(params.text("name"), default_name),
            pages=pages,
            password=params.text("password") or "",
            lang=lang,
            rect=_rect(params.text("rect")),
            expiration_minutes=self._expiration(params),
            input_id=record.id if record is not None and record.kind == "input" else None,
            http_username=params.text("httpusername"),
            http_password=params.text("httppassword"),
        )

    def _expiration(self, params: Params) -> int:
        minutes = params.number("expiration", self.config.default_expiration_minutes)
        if not 1 <= minutes <= self.config.max_expiration_minutes:
            raise ApiError(
                454, f"Parameter 'expiration' must be 1 to {self.config.max_expiration_minutes} minutes."
            )
        return minutes

    async def job_check(self, request: Request) -> Response:
        owner, params = await self._begin(request)
        job_id = params.required("jobid").strip()
        job = self.store.get_job(job_id)
        if job is None or job.owner != owner:
            # api.pdf.co: "working" = "in work or does not exist"; "unknown" only when force=true.
            if params.flag("force"):
                return self._ok(request, owner, status="unknown", jobId=job_id, message="Unknown job id.")
            return self._ok(request, owner, status="working", jobId=job_id, message="Working")
        return self._job_state(request, owner, job)

    def _job_state(self, request: Request, owner: str, job: JobRecord) -> Response:
        common: dict[str, Any] = {"jobId": job.id, "credits": job.credits, "jobDuration": job.job_duration}
        if job.status == "working":
            return self._ok(request, owner, status="working", message="Working", jobId=job.id)
        if job.status == "success":
            output = self.store.get_file(job.output_id)
            link_fields: dict[str, Any] = {}
            if output is not None:
                link_fields = {
                    "url": self.files.link(self._base_url(request), output),
                    "outputLinkValidTill": _iso(output.expires),
                }
            return self._ok(
                request,
                owner,
                status="success",
                message=job.message,
                pageCount=job.page_count,
                **link_fields,
                **common,
            )
        # A failed job: the call worked, but clients that only look at ``error`` must not read it as success.
        body = self._body(request, owner, status=job.status, message=job.message, **common)
        body.update(error=True, errorCode=job.error_code)
        return JSONResponse(body)


def _job_error(job: JobRecord) -> ApiError:
    """The stored message of a failed job already starts with the code's generic text."""
    error = ApiError(job.error_code or 500)
    error.message = job.message or error.message
    return error


def _rect(value: str | None) -> tuple[float, float, float, float] | None:
    """``"x y w h"`` (OpenAPI) or ``"x, y, w, h"`` (older docs)."""
    if not value or not value.strip():
        return None
    try:
        numbers = [float(part) for part in value.replace(",", " ").split()]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or numbers[2] <= 0 or numbers[3] <= 0:
        raise ApiError(454, f"Parameter 'rect' must be 'x y width height', not {value!r}.")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _check_profiles(profiles: str | None) -> None:
    """``profiles`` must parse (444 otherwise); its options tune ByteScout's engine, which this server does
    not run, so they are accepted and not applied. ``RotationAngle`` in particular is not needed: the text
    direction is detected from the characters themselves (``extract._text_quarter_turns``), so PDF.co's
    rotated-input sample gives the upright invoice either way.
    """
    if not profiles or not profiles.strip():
        return
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", profiles, flags=re.S)  # "JSON ... can contain comments"
    for candidate in (text, text.replace("'", '"')):  # "... can be single/double-quoted"
        try:
            json.loads(candidate)
            return
        except json.JSONDecodeError:
            continue
    raise ApiError(444, "Parameter 'profiles' is not valid JSON.")


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk


class _Middleware:
    """Outermost layer: request timing, the access log (never the key or query) and fault injection."""

    def __init__(self, app: ASGIApp, faults: FaultInjector):
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        scope["pdfco.started"] = started
        path: str = scope["path"]
        state: dict[str, Any] = {"status": 0, "logged": False}

        def log_once(status: int | str) -> None:
            if not state["logged"]:
                state["logged"] = True
                line = {"method": scope["method"], "path": path, "status": status}
                access_log.info(json.dumps({**line, "ms": round((time.monotonic() - started) * 1000, 1)}))

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                # Logged before the last byte leaves: a client that has its answer finds the line written.
                log_once(state["status"])
            await send(message)

        try:
            await self._handle(scope, receive, send_logged, path)
        except InjectedDrop:
            log_once("dropped")  # headers went out, the body never did
            raise
        finally:
            log_once(state["status"] or "dropped")

    async def _handle(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        decision = self.faults.for_request(path)
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.drop:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
            )
            raise InjectedDrop(path)
        if decision.throttle or decision.error_status:
            code = 429 if decision.throttle else decision.error_status or 500
            headers = {"Retry-After": str(self.faults.config.retry_after)} if decision.throttle else {}
            error = ApiError(code, "(injected fault)", headers)
            await JSONResponse(error.body(), status_code=code, headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class QuietDrops(logging.Filter):
    """Keeps uvicorn from printing a traceback for every injected dropped connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], InjectedDrop))
