"""Shared fixtures: a real pdfco-local on an ephemeral port, and a thin client for its HTTP contract.

Tests talk to the server over real HTTP with ``requests``; nothing of our own server is mocked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from pdfco_local.config import ServerConfig
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer

API_KEY = "test-key-0123456789"
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "pdfco-samples"

# A private Airflow home for this test session, set before anything imports airflow (its config is read at
# import time). Tests never touch a user's ~/airflow.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="pdfco-tests-airflow-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        # Two bundles: the project's DAGs and the test DAGs (dag.test() syncs whichever holds the DAG).
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": "dags-folder",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {},
                },
                {
                    "name": "test-dags",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(ROOT / "tests" / "dags"), "refresh_interval": 0},
                },
            ]
        ),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }
)
os.environ.pop("AIRFLOW_CONN_PDFCO_DEFAULT", None)


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
def server(shared_server: LocalServer) -> Iterator[LocalServer]:
    """The module's server, with fault injection switched off before and after the test."""
    shared_server.set_faults(FaultConfig())
    yield shared_server
    shared_server.set_faults(FaultConfig())


@pytest.fixture
def api(shared_server: LocalServer) -> Api:
    return Api(shared_server)


# Airflow ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated SQLite metadata DB in the session's private AIRFLOW_HOME; removed at the end."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    yield AIRFLOW_HOME
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


def connection_uri(server: LocalServer, key: str = API_KEY, **extra: Any) -> str:
    """The ``pdfco`` connection for a server, in the JSON form of ``AIRFLOW_CONN_<ID>``."""
    return json.dumps({"conn_type": "pdfco", "host": server.base_url, "password": key, "extra": extra})


@pytest.fixture
def pdfco_connection(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``pdfco_connection(server, key=..., **extra)`` points ``pdfco_default`` at a server for one test."""

    def configure(
        server: LocalServer, key: str = API_KEY, conn_id: str = "pdfco_default", **extra: Any
    ) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_uri(server, key, **extra))

    return configure


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """``run_dag(dag_id, **params)``: runs a DAG of ``dags/`` or ``tests/dags`` with ``dag.test()``.

    Returns the DagRun. ``dag.test()`` runs every task in this process and runs deferred triggers
    in-process through the real serialize -> rebuild path (airflow-notes.md §5.1).
    """
    from airflow.dag_processing.dagbag import DagBag

    bags = [DagBag(dag_folder=str(ROOT / "dags")), DagBag(dag_folder=str(ROOT / "tests" / "dags"))]
    for bag in bags:
        assert not bag.import_errors, bag.import_errors

    def run(dag_id: str, **params: Any) -> Any:
        dag = next(bag.dags[dag_id] for bag in bags if dag_id in bag.dags)
        return dag.test(run_conf=params)

    return run
