"""Test DAGs: one batch through upload, submit, the job sensor and store, configured by ``params``.

``pdfco_batch`` waits with the deferrable sensor (the trigger runs in-process under ``dag.test()``),
``pdfco_batch_poke`` with the same sensor in poke mode. Params: ``sources`` (paths or records),
``destination``, ``mode``, ``pages``, ``password``, ``sensor_timeout``.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Param

from pdfco_provider.operators import PdfCoStoreOperator, PdfCoSubmitOperator, PdfCoUploadOperator
from pdfco_provider.sensors import PdfCoJobSensor

for dag_id, deferrable in (("pdfco_batch", True), ("pdfco_batch_poke", False)):
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        render_template_as_native_obj=True,
        params={
            "sources": Param([], type="array"),
            "destination": "/tmp/pdfco-batch",
            "mode": "text",
            "pages": "",
            "password": "",
        },
    ):
        upload = PdfCoUploadOperator(task_id="upload", records="{{ params.sources }}")
        submit = PdfCoSubmitOperator(
            task_id="submit",
            records=upload.output,
            mode="{{ params.mode }}",
            pages="{{ params.pages }}",
            password="{{ params.password }}",
        )
        wait = PdfCoJobSensor(
            task_id="wait", records=submit.output, poll_interval=0.2, deferrable=deferrable, timeout=120
        )
        PdfCoStoreOperator(task_id="store", records=wait.output, destination="{{ params.destination }}")
