"""Start pdfco-local as its own process for benchmarks, so its CPU time and memory are measured alone."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    process: subprocess.Popen[str]
    base_url: str
    key: str


@contextmanager
def pdfco_local(data_dir: Path, *args: str) -> Iterator[Server]:
    key = secrets.token_urlsafe(16)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pdfco_local",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--api-key",
            f"{key}:100000000",
            "--log-level",
            "warning",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    match = re.search(r"listening on (\S+)", banner)
    if match is None:
        process.kill()
        raise RuntimeError(f"pdfco-local did not start: {banner!r}")
    try:
        yield Server(process, match.group(1), key)
    finally:
        process.terminate()
        process.wait(timeout=30)
