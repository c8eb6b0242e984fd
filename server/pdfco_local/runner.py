"""Run pdfco-local under uvicorn: in the foreground (the CLI) or in a background thread (tests, the demo).

Binding the socket ourselves lets port 0 mean "any free port" while still knowing the port before the first
request, so several servers (test runs side by side) never collide.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from .app import PdfCoLocal, QuietDrops
from .config import ServerConfig
from .faults import FaultConfig


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: PdfCoLocal, log_level: str = "warning") -> uvicorn.Server:
    config = uvicorn.Config(
        app.asgi,
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
        http="h11",
    )
    logging.getLogger("uvicorn.error").addFilter(QuietDrops())
    return uvicorn.Server(config)


class LocalServer:
    """pdfco-local in a background thread, for tests and the demo.

    >>> with LocalServer(ServerConfig(data_dir=tmp, api_keys={"k": 100})) as server:
    ...     requests.get(server.base_url + "/v1/account/credit/balance", headers={"x-api-key": "k"})
    """

    def __init__(self, config: ServerConfig, host: str = "127.0.0.1", port: int = 0):
        self.config = config
        self.app = PdfCoLocal(config)
        self._socket = bind(host, port)
        self.host, self.port = self._socket.getsockname()[:2]
        self._server = uvicorn_server(self.app)
        self._thread = threading.Thread(target=self._run, name="pdfco-local", daemon=True)

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_key(self) -> str:
        return next(iter(self.config.api_keys))

    def set_faults(self, faults: FaultConfig) -> None:
        """Switch fault injection on a running server (the random sequence restarts from the seed)."""
        self.app.faults.configure(faults)

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout: float = 60) -> LocalServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("pdfco-local did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ServerProcess:
    """pdfco-local as a child process (``python -m pdfco_local serve``), for benchmarks that measure it
    alone and for tests that kill it or run it beside Airflow components.

    The first line the CLI prints names the bound port, so ``port=0`` works here too.
    """

    def __init__(self, data_dir: Path, *args: str, api_key: str | None = None, port: int = 0):
        self.api_key = api_key or secrets.token_urlsafe(16)
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "pdfco_local", "serve", "--port", str(port), "--data-dir", str(data_dir),
                "--api-key", f"{self.api_key}:100000000", "--log-level", "warning", *args,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        banner = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", banner)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"pdfco-local did not start: {banner!r}")
        self.base_url = match.group(1)
        self.port = int(self.base_url.rsplit(":", 1)[1])

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code (0 after a clean shutdown)."""
        self.process.terminate()
        return self.process.wait(timeout=30)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process.poll() is None:
            self.stop()
