"""Process management and REST observation shared by the real-topology tests.

``test_scheduler_run`` (LocalExecutor on SQLite) and ``test_celery_run`` (CeleryExecutor on PostgreSQL and
Redis) both start every Airflow component as a subprocess with its own log file, watch the run only through
the public REST API and must prove at the end that no process they started is left running. The mechanics
are the same; what differs between the two (executor settings, timeouts, polling interval, the environment
variable that marks their processes) is passed in by the test, so each keeps its own bounds.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import requests

from conftest import API_KEY, ROOT, connection_uri
from pdfco_local.config import ServerConfig
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer

TiKey = tuple[str, int]

# The DAGs both topologies run: pdf_to_text (one mapped task group per batch), and pdf_text_nlp on its
# asset event; a convert.wait sensor defers on TRIGGER_CLASSPATH.
DAG_ID = "pdf_to_text"
NLP_DAG_ID = "pdf_text_nlp"
GROUP_TASKS = (
    "convert.not_yet_converted",
    "convert.upload",
    "convert.submit",
    "convert.wait",
    "convert.store",
)
TRIGGER_CLASSPATH = "pdfco_provider.triggers.PdfCoJobTrigger"


def free_port() -> int:
    """An ephemeral port, so the test can run beside other test runs on the same machine."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def pdfco_local(data_dir: Path, *, check_latency: float, workers: int) -> Iterator[LocalServer]:
    """pdfco-local in this process, answering ``job/check`` only after ``check_latency`` seconds.

    The latency (a fault injected on that path only) keeps every deferred sensor on the triggerer at least
    that long, so polling cannot miss the ``deferred`` state whatever the machine's speed.
    """
    faults = FaultConfig(latency=check_latency, latency_rate=1.0, paths=("/v1/job/check",))
    config = ServerConfig(data_dir=data_dir, api_keys={API_KEY: 10**7}, workers=workers, faults=faults)
    with LocalServer(config) as server:
        yield server


def airflow_env(
    home: Path,
    *,
    api_port: int,
    server: LocalServer,
    source: Path,
    destination: Path,
    settings: dict[str, str],
) -> dict[str, str]:
    """The environment of every component: this process's, minus any Airflow setting, plus the test's.

    ``settings`` carries what the topology decides (metadata DB, executor, pausing, refresh interval...)
    and wins over the defaults here, which only make a short run not be dominated by sleeps.
    """
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
    }
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {},
        }
    ]
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW_CONN_PDFCO_DEFAULT": connection_uri(server, API_KEY),
            "PDF_TO_TEXT_SOURCE": str(source),
            "PDF_TO_TEXT_DESTINATION": str(destination),
            **settings,
        }
    )
    return env


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """``airflow`` subprocesses; stop() leaves none of them (nor any child or orphan) behind.

    ``marker`` is an environment variable (name, value) that every process the test starts inherits, so
    stop() also finds processes that outlived their parent (a task process orphaned by its worker, say).
    ``grace`` is how long components get after SIGTERM before everything left is SIGKILLed.
    """

    home: Path
    env: dict[str, str]
    marker: tuple[str, str]
    grace: float
    components: list[Component] = field(default_factory=list)

    def run(self, *args: str, timeout: float) -> None:
        """``airflow <args>`` to completion (``db migrate``); a non-zero exit fails the test with its log."""
        log = self.home / f"{'-'.join(args[:2])}.log"
        with log.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout, check=False,
            )  # fmt: skip
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{tail(log)}"

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Component:
        """Start ``airflow <args>`` logging to ``<name>.log``; ``env`` replaces the shared one (workers)."""
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", *args], env=env or self.env, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        component = Component(name, process, log)
        self.components.append(component)
        return component

    def check_alive(self) -> None:
        """Fail at once (with its log) when a component died, rather than at some later timeout."""
        for component in self.components:
            code = component.process.poll()
            if code is not None:
                raise AssertionError(f"airflow {component.name} exited with {code}:\n{tail(component.log)}")

    def ours(self) -> list[psutil.Process]:
        """Every live process carrying this test's marker (the components and all their descendants)."""
        variable, value = self.marker
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.pid != os.getpid() and process.environ().get(variable) == value:
                    found.append(process)
        return found

    def stop(self) -> list[str]:
        """SIGTERM every component, then SIGKILL what is left; returns the processes that were still alive.

        Those leftovers are killed (by pid) after being listed, so a failing test does not leak them.
        """
        tree: list[psutil.Process] = []
        for component in self.components:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(component.process.pid)
                tree.extend([root, *root.children(recursive=True)])
        for component in self.components:
            if component.process.poll() is None:
                component.process.terminate()
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and any(c.process.poll() is None for c in self.components):
            time.sleep(0.2)
        waiting = {process.pid: process for process in [*tree, *self.ours()]}
        _, alive = psutil.wait_procs(list(waiting.values()), timeout=max(1.0, deadline - time.monotonic()))
        for process in alive:
            print(
                f"killing {process.pid} ({_cmdline(process)}): still alive {self.grace:.0f} s after SIGTERM"
            )
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        for component in self.components:
            component.process.wait(timeout=10)
        leftovers = self.ours()
        listed = [f"{process.pid} {_cmdline(process)}" for process in leftovers]
        for process in leftovers:
            with contextlib.suppress(psutil.Error):
                process.kill()
        return listed

    def dump(self) -> None:
        """Print the tail of every component's log and of every task log (on failure)."""
        for component in self.components:
            print(f"===== airflow {component.name} =====\n{tail(component.log, 60)}")
        for log in sorted((self.home / "logs").rglob("*.log")):
            print(f"===== {log.relative_to(self.home)} =====\n{tail(log, 15)}")


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return "?"


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"(no {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Rest:
    """The public REST API, as a user or the UI sees it; SimpleAuthManager with ``all_admins`` needs no token.

    Every wait also checks that all components are alive, so a crash fails fast with the crashed log.
    """

    def __init__(self, base_url: str, cluster: Cluster, poll: float):
        self.base = base_url.rstrip("/")
        self.cluster = cluster
        self.poll = poll
        self.session = requests.Session()

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}{path}", params=params, timeout=30)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        response = self.session.request(method, f"{self.base}{path}", json=body, timeout=30)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.send("POST", path, body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self.send("PATCH", path, body)

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Call ``check`` every ``poll`` seconds until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            self.cluster.check_alive()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(self.poll)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        return run

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns", order_by="run_after")
        runs: list[dict[str, Any]] = body["dag_runs"]
        return runs

    def task_instances(
        self, dag_id: str, run_id: str, *, page_size: int = 50, one_page: bool = False
    ) -> dict[TiKey, dict[str, Any]]:
        """Every task instance of the run, page by page (ordered by id, so no page repeats another).

        ``one_page``: a single request of ``page_size`` entries, asserted to hold them all, for a run small
        enough that a truncated answer can only mean something is wrong.
        """
        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        if one_page:
            body = self.get(path, limit=page_size)
            assert body["total_entries"] == len(body["task_instances"])
            return {(ti["task_id"], ti["map_index"]): ti for ti in body["task_instances"]}
        found: dict[TiKey, dict[str, Any]] = {}
        offset = 0
        while True:
            body = self.get(path, limit=page_size, offset=offset, order_by="id")
            page = body["task_instances"]
            found.update({(ti["task_id"], ti["map_index"]): ti for ti in page})
            offset += len(page)
            if not page or offset >= body["total_entries"]:
                return found


@dataclass
class StateLog:
    """Every state each task instance was seen in (with when, monotonic), and the triggers seen while deferred.

    The REST API only tells the current state; polling it into this log is how a test proves a sensor
    really went through ``deferred`` and on which triggerer.
    """

    history: dict[TiKey, list[tuple[float, str | None]]] = field(default_factory=lambda: defaultdict(list))
    triggers: dict[TiKey, set[tuple[str, int | None]]] = field(default_factory=lambda: defaultdict(set))

    def record(self, tis: dict[TiKey, dict[str, Any]]) -> None:
        now = time.monotonic()
        for key, ti in tis.items():
            seen = self.history[key]
            if not seen or seen[-1][1] != ti["state"]:
                seen.append((now, ti["state"]))
            if ti["state"] == "deferred" and ti.get("trigger"):
                self.triggers[key].add((ti["trigger"]["classpath"], ti["trigger"]["triggerer_id"]))

    def states(self, key: TiKey) -> list[str | None]:
        return [state for _, state in self.history[key]]

    def deferred_stretches(self, key: TiKey) -> list[float]:
        """How long each stretch in ``deferred`` lasted, as far as polling can tell."""
        seen = self.history[key]
        return [seen[i + 1][0] - at for i, (at, state) in enumerate(seen[:-1]) if state == "deferred"]

    def deferred_seconds(self, key: TiKey) -> float:
        """Time spent in ``deferred`` in all, as far as polling can tell."""
        return sum(self.deferred_stretches(key))
