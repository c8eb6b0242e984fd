"""``PdfCoJobTrigger``: waits in the triggerer for a set of PDF.co jobs, polling ``job/check`` with GETs only.

Rules it keeps (DESIGN.md, ``airflow-notes.md`` §1.4, §1.7):

- kwargs are data only (conn id, job ids, intervals, an absolute deadline in epoch seconds); never the key;
- only idempotent GETs, so a triggerer restart that re-runs ``run()`` repeats nothing harmful;
- all pending jobs are checked concurrently, at most ``max_concurrency`` at a time, on one HTTP session;
- the interval adapts: it starts at ``min_poll_interval`` and grows toward ``poll_interval`` while jobs keep
  working, and a ``Retry-After`` from a 429 (or a transient error's backoff) stretches the next wait;
- api.pdf.co reports an unknown job id as ``working`` forever, so jobs still working ``force_after`` seconds
  after the trigger started are checked with ``force=true`` (which answers ``unknown``), and the trigger ends
  with a ``timeout`` event at the deadline instead of relying on the framework timeout;
- nothing blocks the event loop, ``CancelledError`` propagates, and exactly one event is yielded, then
  ``run`` returns: ``{"v": 1, "status": "done" | "timeout" | "error", "jobs": {job_id: {...}}, "message"}``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from .errors import PdfCoError
from .hooks import PdfCoAsyncHook

EVENT_VERSION = 1
TERMINAL = frozenset({"success", "failed", "aborted", "unknown"})
#: Fields of a job/check answer carried in the event (small; no key).
KEPT = ("status", "message", "url", "pageCount", "credits", "errorCode", "jobDuration", "outputLinkValidTill")


class PdfCoJobTrigger(BaseTrigger):
    def __init__(
        self,
        job_ids: list[str],
        deadline: float,
        pdfco_conn_id: str = PdfCoAsyncHook.default_conn_name,
        poll_interval: float = 10.0,
        min_poll_interval: float = 1.0,
        max_concurrency: int = 8,
        force_after: float = 600.0,
        progress_every: float = 60.0,
    ):
        super().__init__()  # type: ignore[no-untyped-call]
        self.job_ids = list(dict.fromkeys(job_ids))
        self.deadline = float(deadline)
        self.pdfco_conn_id = pdfco_conn_id
        self.poll_interval = float(poll_interval)
        self.min_poll_interval = min(float(min_poll_interval), self.poll_interval)
        self.max_concurrency = int(max_concurrency)
        self.force_after = float(force_after)
        self.progress_every = float(progress_every)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{self.__class__.__module__}.{self.__class__.__qualname__}",
            {
                "job_ids": self.job_ids,
                "deadline": self.deadline,
                "pdfco_conn_id": self.pdfco_conn_id,
                "poll_interval": self.poll_interval,
                "min_poll_interval": self.min_poll_interval,
                "max_concurrency": self.max_concurrency,
                "force_after": self.force_after,
                "progress_every": self.progress_every,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        results: dict[str, dict[str, Any]] = {}
        pending = list(self.job_ids)
        started = time.time()
        interval = self.min_poll_interval
        last_progress = started
        hook = PdfCoAsyncHook(self.pdfco_conn_id)
        limit = asyncio.Semaphore(self.max_concurrency)
        try:
            async with hook.session() as http:

                async def check(job_id: str) -> tuple[str, dict[str, Any] | PdfCoError]:
                    async with limit:
                        force = time.time() - started >= self.force_after
                        try:
                            return job_id, await hook.check_job(http, job_id, force=force)
                        except PdfCoError as error:
                            return job_id, error

                attempt = 0
                while pending:
                    if time.time() >= self.deadline:
                        yield self._event("timeout", results, pending, "deadline reached")
                        return
                    wait = interval
                    transient = False
                    try:
                        # A round of checks may not outlive the deadline (slow API, many jobs, long timeouts).
                        answers = await asyncio.wait_for(
                            asyncio.gather(*(check(job_id) for job_id in pending)),
                            max(0.0, self.deadline - time.time()),
                        )
                    except TimeoutError:
                        yield self._event("timeout", results, pending, "deadline reached during a check")
                        return
                    for job_id, answer in answers:
                        if isinstance(answer, PdfCoError):
                            if not answer.retryable:  # auth or credits: waiting will not help
                                yield self._event("error", results, pending, answer.message)
                                return
                            transient = True
                            wait = max(wait, hook.retry.delay(attempt + 1, answer))
                            self.log.warning("%s; will check again", answer.message)
                        elif answer.get("status") in TERMINAL:
                            results[job_id] = {key: answer[key] for key in KEPT if key in answer}
                    attempt = attempt + 1 if transient else 0
                    pending = [job_id for job_id in pending if job_id not in results]
                    now = time.time()
                    if pending and now - last_progress >= self.progress_every:
                        last_progress = now
                        self._log_progress(results, pending)
                    if pending:
                        await asyncio.sleep(max(0.0, min(wait, self.deadline - now)))
                        interval = min(self.poll_interval, interval * 1.5)
        except PdfCoError as error:  # the connection itself is unusable (no key, bad host)
            yield self._event("error", results, pending, error.message)
            return
        self._log_progress(results, pending)
        yield self._event("done", results, [], f"{len(results)} job(s) finished")

    def _event(
        self, status: str, results: dict[str, dict[str, Any]], pending: list[str], message: str
    ) -> TriggerEvent:
        jobs = {**results, **{job_id: {"status": "working"} for job_id in pending}}
        event = {"v": EVENT_VERSION, "status": status, "jobs": jobs, "message": message}
        return TriggerEvent(event)  # type: ignore[no-untyped-call]

    def _log_progress(self, results: dict[str, dict[str, Any]], pending: list[str]) -> None:
        states = Counter(result["status"] for result in results.values())
        self.log.info(
            "PDF.co jobs: %d working, %d succeeded, %d failed (%d total)",
            len(pending), states["success"], sum(states.values()) - states["success"], len(self.job_ids),
        )  # fmt: skip
