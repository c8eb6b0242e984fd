"""PDF.co hooks: ``PdfCoHook`` (requests, for workers) and ``PdfCoAsyncHook`` (aiohttp, for the triggerer).

Both sit on the HTTP provider's hooks, which resolve the connection, base URL, TLS and proxy settings; what
they add is PDF.co's auth header, its error model (``errors.classify``) and retries (``backoff``).

Connection (type ``pdfco``, default id ``pdfco_default``):

- host: base URL, default ``https://api.pdf.co`` (pdfco-local: ``http://127.0.0.1:8090``); a host without a
  scheme means https;
- password: the API key. It is sent only as the ``x-api-key`` header to the API host (never to upload or
  result links, which may point at S3), and registered with ``mask_secret`` before any request;
- extras: ``timeout`` (seconds per request, default 60), ``max_retries`` (default 4), ``backoff`` (first
  retry delay, default 1 s, doubling), ``max_backoff`` (default 60 s), ``verify`` (TLS, default true),
  ``proxies`` (requests-style mapping).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, cast
from urllib.parse import urlsplit

import aiohttp
import requests
from airflow.providers.common.compat.connection import get_async_connection
from airflow.providers.http.hooks.http import AsyncHttpSession, HttpAsyncHook, HttpHook, SessionConfig
from airflow.sdk import ObjectStoragePath
from airflow.sdk.log import mask_secret

from .backoff import RetryPolicy
from .errors import PdfCoAuthError, PdfCoError, PdfCoTransientError, classify

DEFAULT_HOST = "https://api.pdf.co"
DEFAULT_TIMEOUT = 60.0
CHUNK = 1024 * 1024
#: Extras this provider reads; the HTTP hook would otherwise send every unknown extra as a header.
OWN_EXTRAS = ("timeout", "max_retries", "backoff", "max_backoff", "verify", "proxies")

Source = str | os.PathLike[str] | ObjectStoragePath


def base_url(host: str | None, schema: str | None = None, port: int | None = None) -> str:
    """``https://api.pdf.co`` unless the connection says otherwise; a bare host name means https."""
    host = (host or DEFAULT_HOST).rstrip("/")
    url = host if "://" in host else f"{schema or 'https'}://{host}"
    return f"{url}:{port}" if port else url


def _key(password: str | None, conn_id: str) -> str:
    if not password:
        raise PdfCoAuthError(
            f"Connection {conn_id!r} has no API key: put the PDF.co key in its password field."
        )
    mask_secret(password)
    return password


@dataclass(frozen=True)
class Upload:
    """A file uploaded through a presigned URL: the ``url`` to convert, and what was sent."""

    url: str
    name: str
    size: int
    sha256: str


class _HashingReader:
    """A file-like body that hashes what it sends; ``__len__`` makes requests send a Content-Length."""

    def __init__(self, handle: IO[bytes], size: int):
        self._handle = handle
        self._left = size
        self.digest = hashlib.sha256()

    def __len__(self) -> int:
        return self._left

    def close(self) -> None:
        self._handle.close()

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(CHUNK if size is None or size < 0 else min(size, CHUNK))
        self._left -= len(chunk)
        self.digest.update(chunk)
        return chunk


class PdfCoHook(HttpHook):
    """Synchronous PDF.co client for operators (runs on workers)."""

    conn_name_attr = "pdfco_conn_id"
    default_conn_name = "pdfco_default"
    conn_type = "pdfco"
    hook_name = "PDF.co"
    default_host = DEFAULT_HOST

    def __init__(self, pdfco_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(method="GET", http_conn_id=pdfco_conn_id, **kwargs)
        self.pdfco_conn_id = pdfco_conn_id
        self._api: requests.Session | None = None
        self._files: requests.Session | None = None
        self.timeout = DEFAULT_TIMEOUT
        self.retry = RetryPolicy()

    # connection ----------------------------------------------------------------------------------------
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form (also declared in ``get_provider_info`` for Airflow >= 3.2)."""
        return {
            "hidden_fields": ["schema", "login", "port"],
            "relabeling": {"password": "API key", "host": "Base URL"},
            "placeholders": {
                "host": DEFAULT_HOST,
                "password": "your PDF.co API key",
                "extra": '{"timeout": 60, "max_retries": 4, "backoff": 1, "max_backoff": 60, "verify": true}',
            },
        }

    def _set_base_url(self, connection: Any) -> None:
        self.base_url = base_url(connection.host, connection.schema, connection.port)
        self._base_url_initialized = True

    def get_conn(
        self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
    ) -> requests.Session:
        """A session for the API: the key as ``x-api-key``, no basic auth, PDF.co's extras not sent as headers."""
        session = super().get_conn(headers, extra_options)
        connection = self.get_connection(self.http_conn_id)
        key = _key(connection.password, self.http_conn_id)
        extra = connection.extra_dejson
        for name in OWN_EXTRAS:
            session.headers.pop(name, None)
        session.auth = None
        session.headers["x-api-key"] = key
        self.timeout = float(extra.get("timeout", DEFAULT_TIMEOUT))
        self.retry = RetryPolicy.from_extra(extra)
        return session

    def _sessions(self) -> tuple[requests.Session, requests.Session]:
        """The API session, and a key-less session for upload/result links (which may be S3's)."""
        if self._api is None or self._files is None:
            self._api = self.get_conn()
            self._files = requests.Session()
            self._files.verify = self._api.verify
            self._files.proxies = self._api.proxies
        return self._api, self._files

    # the request loop ----------------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        url: str,
        what: str,
        *,
        api: bool = True,
        body: Callable[[], Any] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> tuple[requests.Response, Any]:
        """Send with retries; returns the response and its parsed JSON body (``None`` when streaming).

        ``body`` makes a fresh request body for every attempt (an upload stream cannot be replayed).
        """
        api_session, files_session = self._sessions()
        session = api_session if api else files_session
        attempt = 0
        while True:
            attempt += 1
            try:
                response = session.request(
                    method, url, data=body() if body else None, timeout=self.timeout, stream=stream, **kwargs
                )
                parsed = None if stream and response.ok else _json_or_none(response)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                error: PdfCoError = PdfCoTransientError(
                    f"PDF.co {what} failed: {type(exc).__name__} talking to {urlsplit(url).netloc}"
                )
            else:
                classified = classify(response.status_code, parsed, response.headers, what)
                if classified is None:
                    return response, parsed
                error = classified
            if not self.retry.should_retry(error, attempt):
                raise error
            delay = self.retry.delay(attempt, error)
            self.log.warning(
                "%s; retry %d of %d in %.1f s", error.message, attempt, self.retry.max_attempts - 1, delay
            )
            time.sleep(delay)

    def _call(self, method: str, endpoint: str, what: str, **kwargs: Any) -> dict[str, Any]:
        _, body = self._send(method, self.url_from_endpoint(endpoint), what, **kwargs)
        if not isinstance(body, dict):
            raise PdfCoTransientError(f"PDF.co {what} answered without a JSON body.")
        return body

    # API methods ---------------------------------------------------------------------------------------
    def get_credit_balance(self) -> int:
        """Remaining credits (``GET /v1/account/credit/balance``), a cheap authenticated call."""
        return int(self._call("GET", "v1/account/credit/balance", "credit balance")["remainingCredits"])

    def get_presigned_url(self, name: str, content_type: str = "application/octet-stream") -> dict[str, Any]:
        return self._call(
            "GET",
            "v1/file/upload/get-presigned-url",
            f"presigned URL for {name}",
            params={"name": name, "contenttype": content_type},
        )

    def upload(
        self, source: Source, name: str | None = None, content_type: str = "application/octet-stream"
    ) -> Upload:
        """Stream a local or ``ObjectStoragePath`` file to a presigned URL; memory does not grow with size."""
        path = source if isinstance(source, ObjectStoragePath) else ObjectStoragePath(os.fspath(source))
        name = name or path.name
        size = int(path.stat().st_size)
        presigned = self.get_presigned_url(name, content_type)
        readers: list[_HashingReader] = []

        def fresh_body() -> _HashingReader:
            for reader in readers:
                reader.close()
            reader = _HashingReader(cast(IO[bytes], path.open("rb")), size)  # type: ignore[no-untyped-call]
            readers.append(reader)
            return reader

        try:
            self._send(
                "PUT", presigned["presignedUrl"], f"upload of {name}", api=False, body=fresh_body,
                headers={"Content-Type": content_type},
            )  # fmt: skip
        finally:
            for reader in readers:
                reader.close()
        return Upload(url=presigned["url"], name=name, size=size, sha256=readers[-1].digest.hexdigest())

    def convert_to_text(
        self,
        url: str,
        *,
        simple: bool = False,
        pages: str | None = None,
        password: str | None = None,
        lang: str | None = None,
        profiles: str | None = None,
        name: str | None = None,
        expiration: int | None = None,
        inline: bool = False,
        run_async: bool = True,
        what: str | None = None,
    ) -> dict[str, Any]:
        """``POST /v1/pdf/convert/to/text`` (or ``text-simple``); async unless asked otherwise, since sync
        calls die at about 30 s (408/445) on api.pdf.co."""
        payload: dict[str, Any] = {"url": url, "async": run_async, "inline": inline}
        optional = {"pages": pages, "password": password, "name": name, "expiration": expiration}
        if not simple:
            optional.update(lang=lang, profiles=profiles)
        payload.update({key: value for key, value in optional.items() if value not in (None, "")})
        endpoint = "v1/pdf/convert/to/text-simple" if simple else "v1/pdf/convert/to/text"
        source = name or urlsplit(url).path.rsplit("/", 1)[-1]
        return self._call("POST", endpoint, what or f"conversion of {source}", json=payload)

    def check_job(self, job_id: str, force: bool = False) -> dict[str, Any]:
        """``GET /v1/job/check``: the job's string state plus, on success, ``url`` and ``pageCount``."""
        params = {"jobid": job_id, "force": "true" if force else "false"}
        return self._call("GET", "v1/job/check", f"job/check of {job_id}", params=params)

    def download(self, url: str, destination: BinaryIO, what: str = "result download") -> int:
        """Stream a result (or any file link) into ``destination``; returns the number of bytes."""
        response, _ = self._send("GET", url, what, api=False, stream=True)
        size = 0
        with response:
            for chunk in response.iter_content(CHUNK):
                destination.write(chunk)
                size += len(chunk)
        return size

    def iter_download(self, url: str, what: str = "result download") -> Iterator[bytes]:
        response, _ = self._send("GET", url, what, api=False, stream=True)
        with response:
            yield from response.iter_content(CHUNK)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: an authenticated GET of the credit balance."""
        try:
            credits = self.get_credit_balance()
        except Exception as error:
            return False, str(error)
        return True, f"Connected to {self.base_url}: {credits} credits left."


class PdfCoAsyncHook(HttpAsyncHook):
    """Asynchronous PDF.co client for the trigger: job/check GETs only (never a POST from the triggerer)."""

    conn_name_attr = "pdfco_conn_id"
    default_conn_name = "pdfco_default"
    conn_type = "pdfco"
    hook_name = "PDF.co"

    def __init__(self, pdfco_conn_id: str = default_conn_name) -> None:
        # retry_limit=1: the trigger's poll loop is the retry, with Retry-After-aware backoff.
        super().__init__(method="GET", http_conn_id=pdfco_conn_id, retry_limit=1)
        self.retry = RetryPolicy()

    async def config(self) -> SessionConfig:
        if self._config is None:
            conn = await get_async_connection(conn_id=self.http_conn_id, hook=self)
            extra = conn.extra_dejson
            options: dict[str, Any] = {
                "timeout": aiohttp.ClientTimeout(total=float(extra.get("timeout", DEFAULT_TIMEOUT)))
            }
            if str(extra.get("verify", "true")).lower() == "false":
                options["ssl"] = False
            proxies = extra.get("proxies") or {}
            if proxies.get("https") or proxies.get("http"):
                options["proxy"] = proxies.get("https") or proxies.get("http")
            self._config = SessionConfig(
                base_url=base_url(conn.host, conn.schema, conn.port),
                headers={"x-api-key": _key(conn.password, self.http_conn_id)},
                auth=None,
                extra_options=options,
            )
            self.retry = RetryPolicy.from_extra(extra)
        return self._config

    async def check_job(self, http: AsyncHttpSession, job_id: str, force: bool = False) -> dict[str, Any]:
        """One ``job/check`` GET on an open session; transient failures raise ``PdfCoTransientError``."""
        what = f"job/check of {job_id}"
        try:
            response = await http.run(
                endpoint="v1/job/check",
                data={"jobid": job_id, "force": "true" if force else "false"},
                extra_options={"check_response": False},
            )
            async with response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise PdfCoTransientError(f"PDF.co {what} failed: {type(exc).__name__}") from None
        error = classify(response.status, body, response.headers, what)
        if error is not None:
            raise error
        if not isinstance(body, dict):
            raise PdfCoTransientError(f"PDF.co {what} answered without a JSON object.")
        return body


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None
