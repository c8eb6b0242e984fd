"""Benchmark (c): the pdf_to_text DAG against the baseline users run today, PDF.co's sample script in a loop.

The baseline is the official Python sample's flow applied to a folder, one file at a time: presigned URL,
PUT, async convert, ``time.sleep(3)`` between ``job/check`` polls, download. The DAG runs the same documents
through ``airflow dags test`` (upload, submit, deferred wait, store, in batches). Both talk to the same
pdfco-local (2 workers) on this machine; wall-clock time end to end, text written to disk in both cases.
Results go to ``bench/results/pipeline.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]
from demo import airflow_env, pdfco_connection  # noqa: E402

import pdfgen  # noqa: E402
from pdfco_local.runner import ServerProcess  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "pipeline.json"


def sample_script_loop(base: str, key: str, files: list[Path], out: Path) -> float:
    """PDF.co's sample (Python, "Convert PDF To Text From Uploaded File" made async) over a folder."""
    started = time.perf_counter()
    headers = {"x-api-key": key}
    for path in files:
        presign = requests.get(
            f"{base}/v1/file/upload/get-presigned-url",
            params={"name": path.name},
            headers=headers,
            timeout=60,
        ).json()
        with path.open("rb") as handle:
            requests.put(
                presign["presignedUrl"],
                data=handle,
                headers={"content-type": "application/octet-stream"},
                timeout=600,
            )
        job = requests.post(
            f"{base}/v1/pdf/convert/to/text",
            data={"url": presign["url"], "async": True},
            headers=headers,
            timeout=60,
        ).json()
        while True:
            time.sleep(3)  # the samples poll every 3 seconds
            state = requests.get(
                f"{base}/v1/job/check", params={"jobid": job["jobId"]}, headers=headers, timeout=60
            ).json()
            if state["status"] != "working":
                break
        (out / f"{path.stem}.txt").write_bytes(requests.get(job["url"], timeout=600).content)
    return time.perf_counter() - started


def dag_run(base: str, key: str, source: Path, out: Path, home: Path, batch_size: int) -> float:
    env = {**airflow_env(home), "AIRFLOW_CONN_PDFCO_DEFAULT": pdfco_connection(base, key)}
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
    )
    conf = json.dumps({"source": str(source), "destination": str(out), "batch_size": batch_size})
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "pdf_to_text", "--conf", conf],
        env=env, check=True, capture_output=True,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "source"
        files = [
            pdfgen.multipage(source, pages=args.pages, name=f"doc-{i:03d}.pdf").path for i in range(args.docs)
        ]
        with ServerProcess(work / "server", "--workers", "2") as server:
            (work / "baseline").mkdir()
            baseline = sample_script_loop(server.base_url, server.api_key, files, work / "baseline")
            pipeline = dag_run(
                server.base_url, server.api_key, source, work / "dag", work / "airflow", args.batch_size
            )
        stored = len(list((work / "dag").glob("*.txt")))
        assert stored == args.docs, f"the DAG stored {stored} of {args.docs} documents"
        shutil.rmtree(work / "airflow", ignore_errors=True)
    record = {
        "benchmark": "pipeline",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "documents": args.docs,
        "pages_per_document": args.pages,
        "batch_size": args.batch_size,
        "baseline_sample_script_loop_seconds": round(baseline, 1),
        "pdf_to_text_dag_seconds": round(pipeline, 1),
        "speedup": round(baseline / pipeline, 2),
        "note": "DAG time includes airflow dags test start-up, DAG parsing and every task; baseline polls every 3 s",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
