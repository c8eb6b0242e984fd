"""Operators for the three worker-side steps: upload, submit (the convert-to-text POST) and store.

Each takes one document record or a list (``records``, templated, usually an upstream XCom) and returns the
enriched records. A document's failure is written into its record with PDF.co's message and the batch goes
on; auth (401/403) and credit (402) errors stop the task at once, since no other document can succeed. The
store step, last of the chain, fails the task after storing everything it could when any document failed,
so the failure shows in the UI while nothing is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException
from airflow.sdk import BaseOperator, Context, ObjectStoragePath
from airflow.sdk.log import mask_secret

from .errors import PdfCoAuthError, PdfCoCreditsError, PdfCoError
from .hooks import PdfCoHook
from .links import PdfCoStoredTextLink
from .records import (
    CONVERTED,
    FAILED,
    PENDING,
    STORED,
    SUBMITTED,
    UPLOADED,
    Record,
    active,
    add_timing,
    as_records,
    describe_failures,
    fail,
)  # fmt: skip
from .storage import write_atomically, write_json

SIDECAR_VERSION = 1


class PdfCoDocumentsFailed(AirflowException):
    """Some documents of the batch failed; the others were processed. The message names each one."""


class _BatchOperator(BaseOperator):
    """Runs one step over every active record, isolating document failures."""

    template_fields: Sequence[str] = ("records", "pdfco_conn_id")
    step: ClassVar[str] = ""

    def __init__(self, *, records: Any, pdfco_conn_id: str = PdfCoHook.default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.records = records
        self.pdfco_conn_id = pdfco_conn_id

    def _each(
        self, records: list[Record], status: str | None, work: Callable[[PdfCoHook, Record], None]
    ) -> None:
        hook = PdfCoHook(self.pdfco_conn_id)
        todo = active(records, status)
        self.log.info("%s: %d of %d document(s) to process", self.step, len(todo), len(records))
        for record in todo:
            started = time.monotonic()
            try:
                work(hook, record)
            except (PdfCoAuthError, PdfCoCreditsError):
                raise  # nothing else in the batch can succeed: fail fast, retry the task later
            except PdfCoError as error:
                fail(record, self.step, error.message, error.code)
                self.log.warning("%s failed for %s: %s", self.step, record["name"], error.message)
            except OSError as error:  # unreadable source, unwritable destination
                fail(record, self.step, f"{type(error).__name__}: {error}")
                self.log.warning("%s failed for %s: %s", self.step, record["name"], error)
            finally:
                add_timing(record, self.step, time.monotonic() - started)


class PdfCoUploadOperator(_BatchOperator):
    """Stream each record's ``source`` (local path or any ``ObjectStoragePath`` URI) to PDF.co."""

    step = "upload"

    def execute(self, context: Context) -> list[Record]:
        records = as_records(self.records)

        def upload(hook: PdfCoHook, record: Record) -> None:
            uploaded = hook.upload(record["source"], name=f"{record['name'].rsplit('/', 1)[-1]}.pdf")
            record.update(
                status=UPLOADED,
                uploaded_url=uploaded.url,
                size=uploaded.size,
                sha256=uploaded.sha256,
                error=None,
            )
            record.setdefault("fingerprint", uploaded.sha256)
            self.log.info("uploaded %s (%d bytes)", record["name"], uploaded.size)

        self._each(records, PENDING, upload)
        return records


class PdfCoSubmitOperator(_BatchOperator):
    """Start one async convert-to-text job per uploaded record (``POST``, on the worker, never in a trigger).

    :param mode: ``text`` (layout, OCR for scans) or ``text-simple`` (faster, fewer credits, no OCR).
    :param pages: PDF.co page spec (``"0,2-5,7-"``, ``"!0"``); all pages when empty.
    :param password: password for encrypted documents (templated; masked in logs, and Airflow redacts a
        rendered field named ``password``).
    :param lang: OCR language(s), e.g. ``eng`` or ``eng+deu`` (``text`` mode only).
    :param expiration: minutes the result link stays valid; must cover the wait and the store step.
    """

    template_fields: Sequence[str] = (
        "records",
        "pdfco_conn_id",
        "mode",
        "pages",
        "password",
        "lang",
        "profiles",
    )
    step = "submit"

    def __init__(
        self,
        *,
        mode: str = "text",
        pages: str | None = None,
        password: str | None = None,
        lang: str | None = None,
        profiles: str | None = None,
        expiration: int = 60,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.mode = mode
        self.pages = pages
        self.password = password
        self.lang = lang
        self.profiles = profiles
        self.expiration = expiration

    def execute(self, context: Context) -> list[Record]:
        if self.mode not in ("text", "text-simple"):
            raise ValueError(f"mode must be 'text' or 'text-simple', not {self.mode!r}")
        if self.password:
            mask_secret(self.password)
        records = as_records(self.records)

        def submit(hook: PdfCoHook, record: Record) -> None:
            answer = hook.convert_to_text(
                record["uploaded_url"], simple=self.mode == "text-simple", pages=self.pages or None,
                password=self.password, lang=self.lang, profiles=self.profiles, name=f"{record['name']}.txt",
                expiration=self.expiration, what=f"conversion of {record['name']}",
            )  # fmt: skip
            record.update(status=SUBMITTED, job_id=answer["jobId"], result_url=answer.get("url"))
            self.log.info("submitted %s as job %s", record["name"], answer["jobId"])

        self._each(records, UPLOADED, submit)
        return records


class PdfCoStoreOperator(_BatchOperator):
    """Download each converted record's text and write ``<name>.txt`` plus a ``<name>.json`` sidecar.

    Both files are written to a hidden ``.part`` sibling and renamed into place, text first, so a reader
    never sees half a file and a sidecar always describes a complete text (the sidecar's ``fingerprint`` is
    what lets a rerun skip the document).

    :param destination: any ``ObjectStoragePath`` URI or local folder (templated).
    :param fail_on_document_error: fail the task (after storing the rest) when any document of the batch
        failed at any step; the records are pushed to XCom under ``records`` first.
    """

    template_fields: Sequence[str] = ("records", "pdfco_conn_id", "destination")
    operator_extra_links = (PdfCoStoredTextLink(),)
    step = "store"

    def __init__(self, *, destination: str, fail_on_document_error: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.destination = destination
        self.fail_on_document_error = fail_on_document_error

    def execute(self, context: Context) -> list[Record]:
        records = as_records(self.records)
        base = ObjectStoragePath(self.destination)

        def store(hook: PdfCoHook, record: Record) -> None:
            text_path = base / f"{record['name']}.txt"
            size = write_atomically(
                text_path, lambda out: hook.download(record["result_url"], out), record["job_id"]
            )
            record.update(status=STORED, text_path=str(text_path), text_bytes=size, error=None)
            sidecar = {
                "v": SIDECAR_VERSION,
                "source": record["source"],
                "fingerprint": record.get("fingerprint"),
                "sha256": record.get("sha256"),
                "job_id": record["job_id"],
                "pages": record.get("pages"),
                "credits": record.get("credits"),
                "text_bytes": size,
                "timings": record.get("timings", {}),
                "engine": hook.base_url,  # resolved from the connection by the download above
                "stored_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            write_json(base / f"{record['name']}.json", sidecar, record["job_id"])
            self.log.info("stored %s (%d bytes) at %s", record["name"], size, text_path)

        self._each(records, CONVERTED, store)
        failed = [record for record in records if record.get("status") == FAILED]
        self.log.info(
            "batch done: %d stored, %d failed, %d total",
            sum(r.get("status") == STORED for r in records), len(failed), len(records),
        )  # fmt: skip
        if failed and self.fail_on_document_error:
            context["ti"].xcom_push(key="records", value=records)
            raise PdfCoDocumentsFailed(
                f"{len(failed)} of {len(records)} document(s) failed: {describe_failures(failed)}"
            )
        return records
