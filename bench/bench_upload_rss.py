"""Benchmark (b): pdfco-local's memory while a 1 GiB file is uploaded through the presigned PUT.

The server runs as its own process; its resident set size is sampled every 10 ms before and during the
upload. The body is produced on the fly (never held in memory on either side) and sent with a
Content-Length, as a presigned S3 PUT must be. Target: growth under 64 MiB. Results go to
``bench/results/upload_rss.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import requests

from pdfco_local.runner import ServerProcess

RESULTS = Path(__file__).resolve().parent / "results" / "upload_rss.json"
MIB = 1024**2


class Body:
    """A file-like body of ``size`` bytes made chunk by chunk; ``__len__`` lets requests send Content-Length."""

    def __init__(self, size: int):
        self.size = size
        self.sent = 0
        self.block = bytes(range(256)) * 4096  # 1 MiB

    def __len__(self) -> int:
        return self.size - self.sent

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.sent
        if left <= 0:
            return b""
        n = min(left, len(self.block) if n is None or n < 0 else min(n, len(self.block)))
        self.sent += n
        return self.block[:n]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    args = parser.parse_args()
    size = args.size_mib * MIB
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(Path(tmp), "--workers", "1", "--max-upload-mb", "4096") as server,
    ):
        process = psutil.Process(server.process.pid)
        time.sleep(1.0)  # let start-up allocations settle
        baseline = process.memory_info().rss
        peak = baseline
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, process.memory_info().rss)
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        session = requests.Session()
        session.headers["x-api-key"] = server.api_key
        presign = session.get(
            f"{server.base_url}/v1/file/upload/get-presigned-url", params={"name": "big.pdf"}
        ).json()
        started = time.perf_counter()
        response = requests.put(presign["presignedUrl"], data=Body(size), timeout=600)
        seconds = time.perf_counter() - started
        stop.set()
        sampler.join()
        response.raise_for_status()
        stored = next((Path(tmp) / "files").iterdir()).stat().st_size
    growth = peak - baseline
    record = {
        "benchmark": "upload_rss",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "upload_bytes": size,
        "stored_bytes": stored,
        "seconds": round(seconds, 2),
        "mib_per_second": round(size / MIB / seconds, 1),
        "server_rss_baseline_mib": round(baseline / MIB, 1),
        "server_rss_peak_mib": round(peak / MIB, 1),
        "server_rss_growth_mib": round(growth / MIB, 1),
        "target_growth_mib": 64,
        "within_target": growth < 64 * MIB,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0 if record["within_target"] and stored == size else 1


if __name__ == "__main__":
    sys.exit(main())
