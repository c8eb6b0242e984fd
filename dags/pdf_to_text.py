"""pdf_to_text: every night, turn the PDFs under a source location into text next to a manifest.

discover -> convert[batch] (upload -> submit -> wait (deferrable) -> store), mapped per batch -> report

- ``discover`` lists the source (any ``ObjectStoragePath``: a local folder, ``s3://``...) and skips documents
  whose sidecar fingerprint matches (unless ``force``); it splits the rest into batches so that even tens of
  thousands of documents stay under ``[core] max_map_length``.
- each ``convert`` group handles one batch; a bad document fails its batch's ``store`` task with PDF.co's
  message while every other document of the batch is stored; clearing the group (the UI's "Clear") redoes
  only what is not converted yet, because the group starts by skipping converted documents again.
- ``report`` runs whatever happened upstream, writes ``<destination>/_manifests/<run>.json`` and emits an
  event on the ``pdf_to_text`` Asset (run id, counts, manifest path) for downstream NLP DAGs.

Source and destination default to the Airflow Variables ``pdf_to_text_source`` / ``pdf_to_text_destination``,
else the environment variables ``PDF_TO_TEXT_SOURCE`` / ``PDF_TO_TEXT_DESTINATION``: a deployment sets them
once; a manual run can override them with params.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from airflow.sdk import Asset, ObjectStoragePath, Param, Variable, dag, task, task_group

from pdfco_provider import batch as batching
from pdfco_provider.operators import PdfCoStoreOperator, PdfCoSubmitOperator, PdfCoUploadOperator
from pdfco_provider.records import FAILED, FINAL, SKIPPED, STORED, Record
from pdfco_provider.sensors import PdfCoJobSensor
from pdfco_provider.storage import write_json

PDF_TEXT = Asset(name="pdf_to_text", uri="x-pdfco://pdf_to_text/text")
DESTINATION = "{{ ti.xcom_pull(task_ids='discover', key='destination') }}"


def _setting(value: str | None, variable: str, env: str) -> str:
    resolved = value or Variable.get(variable, default=None) or os.environ.get(env)
    if not resolved:
        raise ValueError(
            f"Set the {variable!r} Airflow Variable, the {env} environment variable or the param."
        )
    return str(resolved)


@dag(
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    tags=["pdfco", "text"],
    params={
        "source": Param(None, type=["null", "string"], description="ObjectStoragePath URI or local folder"),
        "pattern": Param("**/*.pdf", type="string"),
        "destination": Param(None, type=["null", "string"], description="where <name>.txt/.json go"),
        "conn_id": Param("pdfco_default", type="string"),
        "mode": Param("text", enum=["text", "text-simple"]),
        "pages": Param("", type="string", description="PDF.co page spec, e.g. 0,2-5,7- ; empty = all"),
        "password": Param("", type="string", description="for encrypted documents"),
        "lang": Param("eng", type="string", description="OCR language(s), e.g. eng+deu"),
        "batch_size": Param(25, type="integer", minimum=1),
        "force": Param(False, type="boolean", description="convert again even if converted"),
    },
    doc_md=__doc__,
)
def pdf_to_text() -> None:
    @task
    def discover(params: dict[str, Any], ti: Any = None) -> list[list[Record]]:
        """Returns the batches to map over; source, destination and skipped documents go to other XCom keys."""
        source = _setting(params["source"], "pdf_to_text_source", "PDF_TO_TEXT_SOURCE")
        destination = _setting(params["destination"], "pdf_to_text_destination", "PDF_TO_TEXT_DESTINATION")
        found = batching.discover(source, params["pattern"])
        if not params["force"]:
            found = batching.skip_converted(
                found, destination, "already converted (sidecar fingerprint matches)"
            )
        todo = [record for record in found if record["status"] not in FINAL]
        batches = batching.split(todo, params["batch_size"])
        print(f"{len(found)} document(s) under {source}: {len(todo)} to convert in {len(batches)} batch(es), "
              f"{len(found) - len(todo)} already converted")  # fmt: skip
        ti.xcom_push(key="source", value=source)
        ti.xcom_push(key="destination", value=destination)
        ti.xcom_push(key="skipped", value=[record for record in found if record["status"] == SKIPPED])
        return batches

    @task_group
    def convert(batch: list[Record]) -> None:
        @task
        def not_yet_converted(batch: list[Record], destination: str) -> list[Record]:
            """On a rerun of this group, documents stored by an earlier try count as stored, not redone."""
            return batching.skip_converted(
                batch, destination, "converted by an earlier try of this run", STORED
            )

        todo = not_yet_converted(batch, DESTINATION)
        upload = PdfCoUploadOperator(task_id="upload", records=todo, pdfco_conn_id="{{ params.conn_id }}")
        submit = PdfCoSubmitOperator(
            task_id="submit",
            records=upload.output,
            pdfco_conn_id="{{ params.conn_id }}",
            mode="{{ params.mode }}",
            pages="{{ params.pages }}",
            password="{{ params.password }}",  # noqa: S106 - a template, redacted when rendered
            lang="{{ params.lang }}",
        )
        wait = PdfCoJobSensor(
            task_id="wait",
            records=submit.output,
            pdfco_conn_id="{{ params.conn_id }}",
            deferrable=True,
            poll_interval=10.0,
            timeout=7200,
        )
        PdfCoStoreOperator(
            task_id="store",
            records=wait.output,
            destination=DESTINATION,
            pdfco_conn_id="{{ params.conn_id }}",
        )

    @task(trigger_rule="all_done", outlets=[PDF_TEXT])
    def report(batches: list[list[Record]] | None, **context: Any) -> dict[str, Any]:
        """Collect every document's outcome (whatever failed upstream), write the manifest, emit the event."""
        ti = context["ti"]
        source = ti.xcom_pull(task_ids="discover", key="source")
        destination = ti.xcom_pull(task_ids="discover", key="destination")
        documents: list[Record] = list(ti.xcom_pull(task_ids="discover", key="skipped") or [])
        for index, batch in enumerate(batches or []):
            documents.extend(_batch_outcome(ti, index, batch))
        run_id = context["run_id"]
        data = batching.manifest(run_id, source, destination, documents)
        path = ObjectStoragePath(destination) / "_manifests" / f"{_safe(run_id)}.json"
        write_json(path, data)
        counts = data["counts"]
        print(f"manifest {path}: {counts}")
        for document in data["documents"]:
            if document["status"] == FAILED:
                print(f"FAILED {document['name']}: {document.get('error')}")
        context["outlet_events"][PDF_TEXT].extra = {
            "v": 1, "run_id": run_id, "manifest": str(path), "destination": destination, **counts,
        }  # fmt: skip
        return {"manifest": str(path), **counts}

    # TaskFlow calls take their arguments from the context and XComs at run time, which mypy cannot see.
    batches = discover()  # type: ignore[call-arg, misc]
    convert.expand(batch=batches) >> report(batches)  # type: ignore[arg-type]


def _batch_outcome(ti: Any, index: int, batch: list[Record]) -> list[Record]:
    """The batch's records from the furthest step that recorded them; a batch that died early is failed."""
    for task_id, key in (
        ("convert.store", "return_value"), ("convert.store", "records"), ("convert.wait", "records"),
    ):  # fmt: skip
        records = ti.xcom_pull(task_ids=task_id, key=key, map_indexes=index)
        if records:
            return [_final(record, index) for record in records]
    return [
        {
            **record,
            "status": FAILED,
            "error": f"batch {index} did not finish: see the failed task in convert[{index}]",
        }
        for record in batch
    ]


def _final(record: Record, index: int) -> Record:
    if record.get("status") in FINAL:
        return record
    return {
        **record,
        "status": FAILED,
        "error": record.get("error") or f"unfinished in batch {index} ({record.get('status')})",
    }


def _safe(run_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", run_id)


pdf_to_text()
