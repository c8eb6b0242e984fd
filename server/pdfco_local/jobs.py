"""Conversion jobs: persisted on submission, run by the worker pool, resumed after a restart.

A job is written to the store *before* the client gets its ``jobId``, so a server killed with jobs in flight
finds them ``working`` on start and runs them again (extraction is deterministic and writes its result
atomically, so running twice is harmless). Credits (one per processed page) are taken when a job succeeds;
a job whose account cannot pay ends ``failed`` with code 402.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from .config import ServerConfig
from .errors import ApiError, ExtractionError
from .extract import ExtractRequest, ExtractResult
from .faults import FaultInjector
from .files import FileStorage, new_id
from .store import FileRecord, JobRecord, Store
from .workers import WorkerPool

log = logging.getLogger("pdfco_local.jobs")


@dataclass(frozen=True)
class Conversion:
    """What a client asked for, as stored with the job (enough to run it again after a restart)."""

    mode: str  # "layout" | "simple"
    url: str
    name: str
    pages: str | None = None
    password: str = ""
    lang: str = "eng"
    rect: tuple[float, float, float, float] | None = None
    expiration_minutes: int = 60
    input_id: str | None = None  # set when ``url`` is one of our own upload links
    http_username: str | None = None
    http_password: str | None = None


class JobRunner:
    def __init__(
        self, config: ServerConfig, store: Store, files: FileStorage, pool: WorkerPool, faults: FaultInjector
    ):
        self.config = config
        self.store = store
        self.files = files
        self.pool = pool
        self.faults = faults
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def resume(self) -> int:
        """Queue again every job the store still has as ``working`` (after a crash or restart)."""
        jobs = self.store.working_jobs()
        for job in jobs:
            self._spawn(job.id)
        if jobs:
            log.info("resumed %d unfinished job(s)", len(jobs))
        return len(jobs)

    def submit(self, owner: str, conversion: Conversion, time_limit: float | None = None) -> str:
        job_id = new_id()
        expiration = conversion.expiration_minutes * 60
        output = self.files.create(
            "output", owner, conversion.name, "text/plain; charset=utf-8", expiration, job_id
        )
        request: dict[str, Any] = asdict(conversion)
        request["time_limit"] = time_limit or self.config.job_time_limit
        self.store.add_job(job_id, owner, request, output.id)
        self._spawn(job_id)
        return job_id

    async def wait(self, job_id: str) -> JobRecord:
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.shield(task)
        job = self.store.get_job(job_id)
        assert job is not None
        return job

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, job_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def _run(self, job_id: str) -> None:
        job = self.store.get_job(job_id)
        if job is None or job.status != "working":
            return
        request = dict(job.request)
        time_limit = float(request.pop("time_limit"))
        rect = request.pop("rect")
        conversion = Conversion(**request, rect=tuple(rect) if rect else None)
        started = time.monotonic()
        try:
            if self.faults.job_fails():
                raise ExtractionError(500, "Injected fault: the job was failed on purpose (fault injection).")
            input_path = await self._input_path(job, conversion)
            output = self.files.store.get_file(job.output_id)
            assert output is not None
            extract_request = ExtractRequest(
                input_path=str(input_path),
                output_path=str(output.path),
                mode=conversion.mode,
                pages=conversion.pages,
                password=conversion.password,
                lang=conversion.lang,
                rect=conversion.rect,
                tesseract_cmd=self.config.tesseract_cmd,
                ocr_dpi=self.config.ocr_dpi,
                deadline=time.time() + time_limit,
            )
            result = await self.pool.run(extract_request, time_limit)
        except ExtractionError as error:
            self._fail(job, error.code, ApiError(error.code, error.detail).message, started)
            return
        except ApiError as error:
            self._fail(job, error.status, error.message, started)
            return
        self._succeed(job, conversion, result, started)

    async def _input_path(self, job: JobRecord, conversion: Conversion) -> Path:
        if conversion.input_id is not None:
            record = self.store.get_file(conversion.input_id)
            if record is None or not record.complete or not record.path.exists():
                raise ApiError(400, "The uploaded input file has expired or was deleted; upload it again.")
            return record.path
        fetched = await self.fetch(
            job.owner, conversion.url, conversion.http_username, conversion.http_password
        )
        return fetched.path

    async def fetch(
        self, owner: str, url: str, username: str | None = None, password: str | None = None, name: str = ""
    ) -> FileRecord:
        """Download an http(s) source into a temporary input file (streamed, size-limited)."""
        if url.startswith("cache:"):
            url = url[len("cache:") :]
        if not url.lower().startswith(("http://", "https://")):
            raise ApiError(452, f"Only http and https URLs can be fetched, not {url[:60]!r}.")
        record = self.files.create(
            "input",
            owner,
            name or url.rsplit("/", 1)[-1].split("?")[0] or "file",
            "application/octet-stream",
            self.config.upload_ttl,
        )
        auth = httpx.BasicAuth(username, password or "") if username else None
        try:
            async with (
                httpx.AsyncClient(timeout=60, follow_redirects=True) as client,
                client.stream("GET", url, auth=auth) as response,
            ):
                if response.status_code in (401, 403):
                    raise ApiError(403, f"The input URL answered HTTP {response.status_code}.")
                if response.status_code >= 400:
                    raise ApiError(400, f"The input URL answered HTTP {response.status_code}.")
                await self.files.write_stream(record, response.aiter_bytes(), self.config.max_upload_bytes)
        except httpx.HTTPError as error:
            self.files.delete(record)
            raise ApiError(400, f"The input URL could not be fetched: {type(error).__name__}.") from None
        except ApiError:
            self.files.delete(record)
            raise
        return record

    def _succeed(self, job: JobRecord, conversion: Conversion, result: ExtractResult, started: float) -> None:
        duration = int((time.monotonic() - started) * 1000)
        if self.store.charge(job.owner, result.pages) is None:
            self._fail(job, 402, f"The job needs {result.pages} credit(s); the balance is too low.", started)
            return
        output = self.store.get_file(job.output_id)
        assert output is not None
        expires = time.time() + conversion.expiration_minutes * 60
        self.store.complete_file(output.id, output.path.stat().st_size, expires)
        self.store.finish_job(
            job.id,
            "success",
            message=result.message(),
            page_count=result.pages,
            credits=result.pages,
            job_duration=duration,
        )
        log.info("job %s success pages=%d chars=%d ms=%d", job.id, result.pages, result.chars, duration)

    def _fail(self, job: JobRecord, code: int, message: str, started: float) -> None:
        duration = int((time.monotonic() - started) * 1000)
        output = self.store.get_file(job.output_id)
        if output is not None:
            self.files.delete(output)
        self.store.finish_job(job.id, "failed", message=message, error_code=code, job_duration=duration)
        log.info("job %s failed code=%d ms=%d: %s", job.id, code, duration, message)
