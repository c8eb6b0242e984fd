"""Benchmark (a): pdfco-local's extraction throughput against ``pdftotext`` on the same files, same run.

A generated 200-page corpus (10 files x 20 text-heavy pages, ``tests/pdfgen.large_corpus``) is uploaded once;
then, timed, every file is converted through the HTTP API (async convert, job/check polling, download) with
the server's worker pool, and converted by ``pdftotext -layout`` (poppler) with the same number of
concurrent processes. Median of several rounds. Results go to ``bench/results/extract.json`` and are
summarised in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import pdfgen
from pdfco_local.runner import ServerProcess

RESULTS = Path(__file__).resolve().parent / "results" / "extract.json"


def upload_all(server: ServerProcess, files: list[Path]) -> list[str]:
    session = requests.Session()
    session.headers["x-api-key"] = server.api_key
    urls = []
    for path in files:
        presign = session.get(
            f"{server.base_url}/v1/file/upload/get-presigned-url", params={"name": path.name}
        ).json()
        session.put(presign["presignedUrl"], data=path.read_bytes()).raise_for_status()
        urls.append(presign["url"])
    return urls


def convert_all(server: ServerProcess, urls: list[str], endpoint: str) -> tuple[float, int]:
    """Submit every file, poll until all are done, download every result. Returns (seconds, pages)."""
    session = requests.Session()
    session.headers["x-api-key"] = server.api_key
    started = time.perf_counter()
    jobs = [
        session.post(
            f"{server.base_url}/v1/pdf/convert/to/{endpoint}", json={"url": url, "async": True}
        ).json()
        for url in urls
    ]
    pages = 0
    pending = {job["jobId"] for job in jobs}
    while pending:
        for job_id in list(pending):
            state = session.get(f"{server.base_url}/v1/job/check", params={"jobid": job_id}).json()
            if state["status"] == "working":
                continue
            if state["status"] != "success":
                raise RuntimeError(state)
            pages += state["pageCount"]
            session.get(state["url"]).raise_for_status()
            pending.discard(job_id)
        if pending:
            time.sleep(0.01)
    return time.perf_counter() - started, pages


def pdftotext_all(files: list[Path], out: Path, parallel: int, layout: bool) -> float:
    def one(path: Path) -> None:
        args = ["pdftotext", *(["-layout"] if layout else []), str(path), str(out / f"{path.stem}.txt")]
        subprocess.run(args, check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--pages-per-file", type=int, default=20)
    args = parser.parse_args()
    if shutil.which("pdftotext") is None:
        print("pdftotext is missing: install poppler-utils (./run bench does)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = pdfgen.large_corpus(work / "corpus", files=args.files, pages_per_file=args.pages_per_file)
        files = [doc.path for doc in corpus]
        total_pages = sum(doc.page_count for doc in corpus)
        (work / "out").mkdir()
        results: dict[str, list[float]] = {}
        with ServerProcess(work / "server", "--workers", str(args.workers)) as server:
            urls = upload_all(server, files)
            convert_all(server, urls, "text")  # warm-up: workers import PDFium, caches fill
            for _ in range(args.rounds):
                for endpoint in ("text", "text-simple"):
                    seconds, pages = convert_all(server, urls, endpoint)
                    assert pages == total_pages
                    results.setdefault(f"pdfco-local /{endpoint}", []).append(pages / seconds)
                for layout in (True, False):
                    seconds = pdftotext_all(files, work / "out", args.workers, layout)
                    name = "pdftotext -layout" if layout else "pdftotext"
                    results.setdefault(name, []).append(total_pages / seconds)
    summary = {name: round(statistics.median(values), 1) for name, values in results.items()}
    record = {
        "benchmark": "extract",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "corpus": {"files": len(files), "pages": total_pages, "generator": "tests/pdfgen.large_corpus"},
        "parallelism": args.workers,
        "rounds": args.rounds,
        "pages_per_second_median": summary,
        "pages_per_second_all": {name: [round(v, 1) for v in values] for name, values in results.items()},
        "note": "pdfco-local times include HTTP submit, job/check polling and result download",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["pages_per_second_median"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
