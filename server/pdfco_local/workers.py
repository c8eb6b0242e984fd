"""Extraction worker processes, each job under a wall-time and a memory limit.

Why processes and not threads: a hostile PDF can hang PDFium or make it allocate gigabytes (DESIGN.md saw
2.4 GB from a JBIG2 bomb in another engine). Each worker runs with ``RLIMIT_AS`` set to its start-up size
plus the per-job memory limit, and the parent kills a worker that overruns the time limit. Either way only
that job fails, with a message, a fresh worker takes the dead one's place, and the server keeps serving.
Workers stay warm between jobs, which is what makes PDFium's ~500 pages/s reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import resource
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .errors import ExtractionError
from .extract import ExtractRequest, ExtractResult, extract

_PR_SET_PDEATHSIG = 1
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def _worker_main(conn: Connection, memory_limit: int) -> None:
    """Loop of one worker process: receive a request, extract, answer ``("ok"|"error", payload)``."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_limit > 0:
        page_size = os.sysconf("SC_PAGE_SIZE")
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * page_size
        limit = current + memory_limit
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply: tuple[str, Any] = ("ok", extract(request))
        except ExtractionError as error:
            reply = ("error", (error.code, error.detail))
        except MemoryError:
            reply = (
                "error",
                (442, f"Reading the document needs more than the {_mib(memory_limit)} memory limit."),
            )
        except Exception as error:
            reply = ("error", (500, f"Extraction failed unexpectedly: {type(error).__name__}: {error}"))
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return  # the server went away (shutdown or crash): nobody is waiting for this result


def _die_with_parent() -> None:
    """Linux only: exit with the server instead of finishing a job nobody will collect."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _mib(size: int) -> str:
    return f"{size / 1024**2:.0f} MiB"


class _Worker:
    """One worker: a fresh interpreter (``python -m pdfco_local.workers FD LIMIT``) talking over a socketpair.

    A separate interpreter rather than ``multiprocessing``: forking the server (threads, event loop) is
    unsafe, and spawn/forkserver re-import the parent's ``__main__``, which breaks when the server is
    embedded in a script, pytest or an Airflow task.
    """

    def __init__(self, memory_limit: int):
        self._memory_limit = memory_limit
        self._start()

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pdfco_local.workers", str(theirs.fileno()), str(self._memory_limit)],
            pass_fds=[theirs.fileno()],
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self.conn = Connection(ours.detach())

    def execute(self, request: ExtractRequest, time_limit: float) -> ExtractResult:
        """Blocking: run one request, replacing the process if it hangs or dies. Called from a thread."""
        try:
            self.conn.send(request)
            finished = self.conn.poll(time_limit)
        except (BrokenPipeError, EOFError, OSError):
            finished = True  # dead before it could answer: recv() below reports it
        if not finished:
            self._restart()
            raise ExtractionError(445, f"Extraction exceeded the time limit of {time_limit:g} s.")
        try:
            status, payload = self.conn.recv()
        except (EOFError, OSError):
            try:
                code: int | None = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            self._restart()
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise ExtractionError(
                442,
                f"The document made the extraction worker crash ({how}); it may exceed the "
                f"{_mib(self._memory_limit)} memory limit or be malformed.",
            ) from None
        if status == "error":
            code, detail = payload
            raise ExtractionError(code, detail)
        result: ExtractResult = payload
        return result

    def _restart(self) -> None:
        self.stop()
        self._start()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


class WorkerPool:
    """A fixed number of warm workers; ``run`` waits for a free one."""

    def __init__(self, size: int, memory_limit: int):
        self.size = size
        self._memory_limit = memory_limit
        self._threads = ThreadPoolExecutor(max_workers=size, thread_name_prefix="pdfco-local-pool")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._workers: list[_Worker] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._idle = asyncio.Queue()
        for _ in range(self.size):
            worker = await loop.run_in_executor(self._threads, _Worker, self._memory_limit)
            self._workers.append(worker)
            self._idle.put_nowait(worker)

    async def run(self, request: ExtractRequest, time_limit: float) -> ExtractResult:
        assert self._idle is not None, "start() the pool first"
        idle = self._idle
        worker = await idle.get()
        future = asyncio.get_running_loop().run_in_executor(
            self._threads, worker.execute, request, time_limit
        )
        # The worker is free again only when its thread is done, even if the awaiting task is cancelled.
        future.add_done_callback(lambda _: idle.put_nowait(worker))
        return await future

    @property
    def pids(self) -> list[int]:
        """Process ids of the current workers (for monitoring, and for tests that kill one)."""
        return [worker.process.pid for worker in self._workers]

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        self._threads.shutdown(wait=False, cancel_futures=True)


if __name__ == "__main__":
    _worker_main(Connection(int(sys.argv[1])), int(sys.argv[2]))
