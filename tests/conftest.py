"""Shared fixtures: a real pdfco-local on an ephemeral port, and a thin client for its HTTP contract.

Tests talk to the server over real HTTP with ``requests``; nothing of our own server is mocked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from pdfco_local.config import ServerConfig
from pdfco_local.runner import LocalServer

API_KEY = "test-key-0123456789"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "pdfco-samples"


class Api:
    """Calls one pdfco-local as a PDF.co client would (the key in ``x-api-key``)."""

    def __init__(self, server: LocalServer, key: str = API_KEY):
        self.server = server
        self.base = server.base_url
        self.key = key
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base}/v1/{path.lstrip('/')}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", {"x-api-key": self.key})
        return self.session.get(self.url(path), timeout=60, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", {"x-api-key": self.key})
        return self.session.post(self.url(path), timeout=60, **kwargs)

    def upload(self, path: Path, name: str | None = None) -> str:
        """The documented flow: presigned URL, then PUT; returns the file's ``url``."""
        presign = self.get(
            "file/upload/get-presigned-url",
            params={"name": name or path.name, "contenttype": "application/octet-stream"},
        ).json()
        with path.open("rb") as handle:
            put = self.session.put(
                presign["presignedUrl"],
                data=handle,
                headers={"content-type": "application/octet-stream"},
                timeout=60,
            )
        put.raise_for_status()
        return str(presign["url"])

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        """Poll job/check until the job leaves ``working``."""
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.get("job/check", params={"jobid": job_id}).json()
            if body["status"] != "working":
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still working after {timeout} s")
            time.sleep(0.05)

    def convert(self, url: str, endpoint: str = "pdf/convert/to/text", **params: Any) -> dict[str, Any]:
        """Async convert and wait; returns the final job/check body."""
        submitted = self.post(endpoint, json={"url": url, "async": True, **params})
        assert submitted.status_code == 200, submitted.text
        return self.wait(submitted.json()["jobId"])

    def text(self, url: str) -> str:
        """Download a result link; bytes decoded so CRLF stays visible."""
        response = self.session.get(url, timeout=60)
        response.raise_for_status()
        return response.content.decode("utf-8")


ServerFactory = Callable[..., LocalServer]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with config overrides (``workers=1, rate_limit=2, ...``); all stopped at teardown."""
    started: list[LocalServer] = []

    def start(data_dir: Path | None = None, **overrides: Any) -> LocalServer:
        config = ServerConfig(
            data_dir=data_dir or tmp_path / f"server{len(started)}", api_keys={API_KEY: 1_000_000}, workers=2
        )
        server = LocalServer(replace(config, **overrides)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One server for a module's read-mostly tests (starting one costs ~0.5 s of worker start-up)."""
    config = ServerConfig(data_dir=tmp_path_factory.mktemp("pdfco"), api_keys={API_KEY: 1_000_000}, workers=2)
    with LocalServer(config) as server:
        yield server


@pytest.fixture
def api(shared_server: LocalServer) -> Api:
    return Api(shared_server)
