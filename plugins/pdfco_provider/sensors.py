"""``PdfCoJobSensor``: waits for the PDF.co jobs of a batch of document records.

Deferrable mode (the default when ``[operators] default_deferrable`` is on) hands the job ids to
``PdfCoJobTrigger`` and frees the worker slot; poke mode checks every pending job once per poke. Either
way the sensor's ``timeout`` is the sensor's own: in deferrable mode it becomes an absolute deadline the
trigger carries (``execution_timeout`` is not enforced while deferred, and an unknown job id reports
``working`` forever), and the failure names the documents and job ids still waiting.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowSensorTimeout
from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf

from .errors import PdfCoError
from .hooks import PdfCoHook
from .records import CONVERTED, SUBMITTED, Record, active, add_timing, as_records, fail
from .triggers import EVENT_VERSION, TERMINAL, PdfCoJobTrigger

DEFAULT_TIMEOUT = 2 * 3600.0
#: Extra time the framework's own deferral timeout allows beyond the trigger's deadline (a backstop for a
#: triggerer that is down; normally the trigger's timeout event comes first).
BACKSTOP = 600.0


class PdfCoJobSensor(BaseSensorOperator):
    """Wait until every submitted record's job has finished; returns the records, converted or failed.

    :param records: document records from ``PdfCoSubmitOperator`` (templated; an XComArg works).
    :param poll_interval: longest wait between checks (the trigger starts at 1 s and backs off to it).
    :param force_after: seconds after which jobs still ``working`` are checked with ``force=true``, so an
        unknown job id surfaces as ``unknown`` instead of ``working`` forever.
    :param max_concurrency: job/check calls in flight at once in the trigger.
    """

    template_fields: Sequence[str] = ("records", "pdfco_conn_id")
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        records: Any,
        pdfco_conn_id: str = PdfCoHook.default_conn_name,
        poll_interval: float = 10.0,
        force_after: float = 600.0,
        max_concurrency: int = 8,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ):
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        super().__init__(poke_interval=poll_interval, **kwargs)
        self.records = records
        self.pdfco_conn_id = pdfco_conn_id
        self.poll_interval = poll_interval
        self.force_after = force_after
        self.max_concurrency = max_concurrency
        self.deferrable = deferrable

    def execute(self, context: Context) -> Any:
        records = as_records(self.records)
        job_ids = [record["job_id"] for record in active(records, SUBMITTED)]
        # Before deferring, so a user can see what the task waits for while it is deferred.
        context["ti"].xcom_push(key="job_ids", value=job_ids)
        if not job_ids:
            self.log.info("no submitted jobs to wait for (%d record(s))", len(records))
            return records
        if not self.deferrable:
            return super().execute(context)
        timeout = float(self.timeout or DEFAULT_TIMEOUT)
        deadline = _started(context) + timeout  # anchored on the try's start: stable across re-deferrals
        self.log.info("deferring: %d job(s), deadline in %.0f s", len(job_ids), deadline - time.time())
        self.defer(
            trigger=PdfCoJobTrigger(
                job_ids=job_ids, deadline=deadline, pdfco_conn_id=self.pdfco_conn_id,
                poll_interval=self.poll_interval, force_after=self.force_after,
                max_concurrency=self.max_concurrency,
            ),
            method_name="execute_complete",
            kwargs={"records": records},
            timeout=timedelta(seconds=max(0.0, deadline - time.time()) + BACKSTOP),
        )  # fmt: skip

    def poke(self, context: Context) -> PokeReturnValue:
        records = as_records(self.records)
        hook = PdfCoHook(self.pdfco_conn_id)
        force = time.time() - _started(context) >= self.force_after
        results: dict[str, dict[str, Any]] = {}
        for record in active(records, SUBMITTED):
            try:
                answer = hook.check_job(record["job_id"], force=force)
            except PdfCoError as error:
                if error.retryable:  # transient after the hook's own retries: try again next poke
                    self.log.warning("%s", error.message)
                    return PokeReturnValue(is_done=False)
                raise
            if answer.get("status") not in TERMINAL:
                return PokeReturnValue(is_done=False)
            results[record["job_id"]] = answer
        return PokeReturnValue(is_done=True, xcom_value=self._apply(records, results, _started(context)))

    def execute_complete(
        self, context: Context, event: Mapping[str, Any] | None = None, records: Any = None
    ) -> list[Record]:
        """Turn the trigger's event into records. A pure function of the event: safe to run twice."""
        if not event or event.get("v") != EVENT_VERSION:
            raise AirflowException(f"Unexpected event from PdfCoJobTrigger: {event!r}")
        # ``records`` comes from defer(kwargs=...) on a real triggerer; dag.test() replaces next_kwargs with
        # the event alone, so fall back to the template field, rendered again when the task resumes.
        records = as_records(self.records if records is None else records)
        updated = self._apply(records, dict(event.get("jobs", {})), _started(context))
        if event["status"] == "error":
            raise AirflowException(f"PDF.co jobs could not be checked: {event.get('message')}")
        if event["status"] == "timeout":
            waiting = [r for r in updated if r.get("status") == SUBMITTED]
            context["ti"].xcom_push(key="records", value=updated)
            names = ", ".join(f"{r['name']} (job {r['job_id']})" for r in waiting)
            raise AirflowSensorTimeout(
                f"{len(waiting)} PDF.co job(s) still working after the sensor timeout of "
                f"{float(self.timeout or DEFAULT_TIMEOUT):.0f} s: {names}"
            )
        return updated

    def _apply(self, records: list[Record], jobs: dict[str, dict[str, Any]], started: float) -> list[Record]:
        for record in active(records, SUBMITTED):
            result = jobs.get(record["job_id"])
            if result is None or result.get("status") not in TERMINAL:
                continue
            add_timing(record, "wait", time.time() - started)
            state = result["status"]
            if state == "success":
                record.update(
                    status=CONVERTED, result_url=result.get("url") or record.get("result_url"),
                    pages=result.get("pageCount"), credits=result.get("credits"), message=result.get("message"),
                )  # fmt: skip
            elif state == "unknown":
                fail(
                    record,
                    "convert",
                    f"PDF.co does not know job {record['job_id']} (expired or never created)",
                )
            else:
                fail(record, "convert", str(result.get("message") or state), result.get("errorCode"))
        converted = sum(r.get("status") == CONVERTED for r in records)
        self.log.info("jobs finished: %d converted, %d records in total", converted, len(records))
        return records


def _started(context: Context) -> float:
    start = getattr(context["ti"], "start_date", None)
    return start.timestamp() if start is not None else time.time()
