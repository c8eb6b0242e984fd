"""``pdf_to_text`` on the docker-compose topology, run as processes: CeleryExecutor, PostgreSQL and Redis.

What ``docker-compose.yml`` describes, minus Docker: a fresh PostgreSQL database on 127.0.0.1:5432 as the
metadata DB (and Celery's result backend), a Redis database on 127.0.0.1:6379 as the Celery broker, and one
process each for ``api-server``, ``scheduler``, ``dag-processor``, ``triggerer`` and two ``celery worker``s,
plus pdfco-local (in this process, two extraction workers). Every port is ephemeral and every process logs
to its own file, so the test can run beside other test runs on the same machine.

The run converts 50 good documents (generated ones in sub-folders, the non-Latin one and the PDF.co
samples) in 10 batches of 5. It is observed through the public REST API, as a user or the UI would: task
instance states every 0.5 s (so each ``convert.wait`` is seen ``deferred``, on the triggerer's trigger),
which worker ran each task instance (``[core] hostname_callable`` reports each worker's own name), the
health endpoint; plus the files written, the Celery result rows in PostgreSQL and the broker's keys in Redis.

pdfco-local answers ``job/check`` after 3 s (its latency fault, on that path only): a deferred sensor then
sits on the triggerer for at least that long, and 0.5 s polling does not miss the ``deferred`` state.

Skipped only when PostgreSQL or Redis is unreachable (``scripts/services.sh`` starts them).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg2
import pytest
import redis
import requests
from cryptography.fernet import Fernet

import pdfgen
from conftest import API_KEY, CORPUS, ROOT, connection_uri
from pdfco_local.config import ServerConfig
from pdfco_local.extract import ExtractRequest, extract
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(570)]

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

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
WORKERS = ("w1", "w2")
DOCUMENTS = 50
BATCH_SIZE = 5
BATCHES = DOCUMENTS // BATCH_SIZE
CHECK_LATENCY = 3.0
POLL = 0.5
RUN_TIMEOUT = 360.0
FINISHED = {"success", "failed"}

TiKey = tuple[str, int]


# PostgreSQL and Redis ---------------------------------------------------------------------------------------


def pg_connect(dbname: str = "postgres") -> Any:
    connection = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, connect_timeout=5)
    connection.autocommit = True
    return connection


@pytest.fixture
def metadata_db() -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database; dropped (``WITH (FORCE)``) afterwards."""
    try:
        admin = pg_connect()
    except psycopg2.OperationalError as error:
        where = f"{PG_HOST}:{PG_PORT} as {PG_USER}"
        pytest.skip(f"PostgreSQL is unreachable on {where} ({error}); run scripts/services.sh")
    name = f"pdfco_ci_{secrets.token_hex(6)}"
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
            left = cursor.fetchone()
        admin.close()
        assert left == (0,), f"database {name} was not dropped"


@pytest.fixture
def broker_db() -> Iterator[int]:
    """An empty Redis database number in 1..15 for the Celery broker; flushed afterwards."""
    try:
        probe = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=5)
        probe.ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis is unreachable on {REDIS_HOST}:{REDIS_PORT} ({error}); run scripts/services.sh")
    probe.close()
    numbers = list(range(1, 16))
    secrets.SystemRandom().shuffle(numbers)
    for number in numbers:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number)
        if client.dbsize() == 0:
            break
        client.close()
    else:
        pytest.fail("no empty Redis database among 1..15 for the Celery broker")
    try:
        yield number
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def pdfco_server(tmp_path: Path) -> Iterator[LocalServer]:
    """pdfco-local with two extraction workers; ``job/check`` answers after CHECK_LATENCY seconds."""
    faults = FaultConfig(latency=CHECK_LATENCY, latency_rate=1.0, paths=("/v1/job/check",))
    config = ServerConfig(data_dir=tmp_path / "pdfco", api_keys={API_KEY: 10**7}, workers=2, faults=faults)
    with LocalServer(config) as server:
        yield server


# Source documents -------------------------------------------------------------------------------------------


def make_source(source: Path) -> dict[str, Path]:
    """50 good documents, by the name the DAG gives them (path under ``source`` without ``.pdf``)."""
    docs: dict[str, Path] = {}
    for generated in pdfgen.large_corpus(source / "corpus", files=20, pages_per_file=6):
        docs[f"corpus/{generated.path.stem}"] = generated.path
    docs["non_latin"] = pdfgen.non_latin(source).path
    samples = sorted(CORPUS.glob("*.pdf")) if CORPUS.is_dir() else []
    for sample in samples:
        (source / "samples").mkdir(exist_ok=True)
        docs[f"samples/{sample.stem}"] = Path(shutil.copy(sample, source / "samples" / sample.name))
    number = 0
    while len(docs) < DOCUMENTS:
        number += 1
        name = f"multipage-{number:02d}"
        docs[f"multipage/{name}"] = pdfgen.multipage(
            source / "multipage", pages=1 + number % 9, name=f"{name}.pdf"
        ).path
    assert len(docs) == DOCUMENTS
    return dict(sorted(docs.items()))


def expected_text(path: Path, scratch: Path) -> bytes:
    """What pdfco-local's extraction gives for ``path`` (``/pdf/convert/to/text`` is layout mode)."""
    out = scratch / f"{secrets.token_hex(8)}.txt"
    extract(ExtractRequest(str(path), str(out)))
    return out.read_bytes()


# Airflow components -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Ports:
    api: int = field(default_factory=free_port)
    scheduler_health: int = field(default_factory=free_port)
    trigger_logs: int = field(default_factory=free_port)
    worker_logs: dict[str, int] = field(default_factory=lambda: {name: free_port() for name in WORKERS})


def airflow_env(
    home: Path, database: str, broker: int, ports: Ports, server: LocalServer, source: Path, destination: Path,
    marker: str,
) -> dict[str, str]:  # fmt: skip
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
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{broker}",
            # The driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{ports.api}/execution/",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(ports.api),
            "AIRFLOW__API__WORKERS": "1",
            # The nightly schedule would start a run of its own as soon as the DAG is parsed (catchup=False
            # still runs the latest interval) and convert the documents first; only the triggered run runs.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            # Faster loops than production defaults, so a short run is not dominated by sleeps.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports.scheduler_health),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_logs),
            "AIRFLOW_CONN_PDFCO_DEFAULT": connection_uri(server, API_KEY),
            "PDF_TO_TEXT_SOURCE": str(source),
            "PDF_TO_TEXT_DESTINATION": str(destination),
            # Marks every process this test starts (children inherit it), to prove none is left running.
            "PDFCO_CELERY_TEST": marker,
        }
    )
    return env


def worker_env(env: dict[str, str], name: str, ports: Ports) -> dict[str, str]:
    """A worker's own settings: its name on task instances and its log server port."""
    tests = str(ROOT / "tests")
    return {
        **env,
        "PDFCO_WORKER_NAME": name,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.get",
        "PYTHONPATH": os.pathsep.join(filter(None, [tests, env.get("PYTHONPATH")])),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(ports.worker_logs[name]),
    }


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    """``airflow`` subprocesses; stop() leaves none of them (nor any child) behind."""

    home: Path
    env: dict[str, str]
    marker: str
    components: list[Component] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 240) -> None:
        log = self.home / f"{'-'.join(args[:2])}.log"
        with log.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout, check=False,
            )  # fmt: skip
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{tail(log)}"

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Component:
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
        for component in self.components:
            code = component.process.poll()
            if code is not None:
                raise AssertionError(f"{component.name} exited with {code}:\n{tail(component.log)}")

    def ours(self) -> list[psutil.Process]:
        """Every live process carrying this test's marker (the components and all their descendants)."""
        found = []
        for process in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if process.environ().get("PDFCO_CELERY_TEST") == self.marker:
                    found.append(process)
        return found

    def stop(self) -> list[str]:
        """SIGTERM every component, then SIGKILL what is left; returns the processes still alive."""
        for component in self.components:
            if component.process.poll() is None:
                component.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(c.process.poll() is None for c in self.components):
            time.sleep(0.2)
        _, alive = psutil.wait_procs(self.ours(), timeout=max(1.0, deadline - time.monotonic()))
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        for component in self.components:
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(timeout=5)
        return [f"{process.pid} {_cmdline(process)}" for process in self.ours()]

    def dump(self) -> None:
        for component in self.components:
            print(f"===== {component.name} =====\n{tail(component.log, 60)}")
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


# REST -------------------------------------------------------------------------------------------------------


class Rest:
    """The public REST API; SimpleAuthManager with ``all_admins`` needs no token."""

    def __init__(self, base_url: str, cluster: Cluster):
        self.base = base_url.rstrip("/")
        self.cluster = cluster
        self.session = requests.Session()

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}{path}", params=params, timeout=30)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def send(self, method: str, path: str, body: dict[str, Any]) -> Any:
        response = self.session.request(method, f"{self.base}{path}", json=body, timeout=30)
        assert response.status_code == 200, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float, poll: float = POLL) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.cluster.check_alive()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(poll)

    def task_instances(self, run_id: str) -> dict[TiKey, dict[str, Any]]:
        """Every task instance of the run, page by page."""
        found: dict[TiKey, dict[str, Any]] = {}
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        offset = 0
        while True:
            body = self.get(path, limit=50, offset=offset, order_by="id")
            page = body["task_instances"]
            found.update({(ti["task_id"], ti["map_index"]): ti for ti in page})
            offset += len(page)
            if not page or offset >= body["total_entries"]:
                return found

    def dag_run(self, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id, safe='')}")
        return run


@dataclass
class StateLog:
    """Every state each task instance was seen in (with when), and the triggers seen while deferred."""

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

    def deferred_seconds(self, key: TiKey) -> float:
        """Time spent in ``deferred``, as far as POLL-second polling can tell."""
        seen = self.history[key]
        return sum(seen[i + 1][0] - at for i, (at, state) in enumerate(seen[:-1]) if state == "deferred")


# The test ---------------------------------------------------------------------------------------------------


def test_pdf_to_text_on_celery_postgres_redis(
    tmp_path: Path, metadata_db: str, broker_db: int, pdfco_server: LocalServer
) -> None:
    started = time.monotonic()
    source, destination = tmp_path / "source", tmp_path / "out"
    docs = make_source(source)
    home = tmp_path / "airflow-home"
    home.mkdir()
    ports = Ports()
    marker = secrets.token_hex(8)
    env = airflow_env(home, metadata_db, broker_db, ports, pdfco_server, source, destination, marker)
    cluster = Cluster(home, env, marker)
    rest = Rest(f"http://127.0.0.1:{ports.api}", cluster)
    log = StateLog()
    timings: dict[str, float] = {}
    final: dict[TiKey, dict[str, Any]] = {}
    results: dict[str, int] = {}
    try:
        cluster.run("db", "migrate")
        timings["db migrated"] = time.monotonic() - started
        cluster.start(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(ports.api), "--workers", "1"
        )
        for name in ("scheduler", "dag-processor", "triggerer"):
            cluster.start(name, name)
        workers = {
            name: cluster.start(
                f"worker-{name}", "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "2",
                env=worker_env(env, name, ports),
            )
            for name in WORKERS
        }  # fmt: skip

        def healthy() -> dict[str, Any] | None:
            try:
                response = requests.get(f"{rest.base}/api/v2/monitor/health", timeout=15)
            except requests.RequestException:  # not listening yet, or too busy starting up
                return None
            body: dict[str, Any] = response.json() if response.status_code == 200 else {}
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return body if body and all(body[part]["status"] == "healthy" for part in parts) else None

        rest.wait_for("api-server, scheduler, triggerer and dag-processor healthy", healthy, timeout=150)
        scheduler_health = requests.get(f"http://127.0.0.1:{ports.scheduler_health}/health", timeout=15)
        assert scheduler_health.status_code == 200, scheduler_health.text

        def parsed() -> bool:
            dags = {dag["dag_id"]: dag for dag in rest.get("/api/v2/dags")["dags"]}
            return all(dag_id in dags for dag_id in (DAG_ID, NLP_DAG_ID)) and not dags[DAG_ID]["is_paused"]

        rest.wait_for("the DAGs parsed", parsed, timeout=120)

        def workers_ready() -> bool:
            return all(
                re.search(rf"{name}@\S+ ready\.", component.log.read_text(errors="replace"))
                for name, component in workers.items()
            )

        rest.wait_for("both Celery workers ready", workers_ready, timeout=120)
        # pdf_text_nlp would start on this run's asset event; it is not what this test is about.
        rest.send("PATCH", f"/api/v2/dags/{NLP_DAG_ID}", {"is_paused": True})
        timings["components up"] = time.monotonic() - started

        run_id = rest.send(
            "POST",
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            {"logical_date": None, "conf": {"batch_size": BATCH_SIZE}},
        )["dag_run_id"]

        def run_finished() -> dict[str, Any] | None:
            log.record(rest.task_instances(run_id))
            run = rest.dag_run(run_id)
            return run if run["state"] in FINISHED else None

        run = rest.wait_for("the pdf_to_text run", run_finished, timeout=RUN_TIMEOUT)
        timings["run finished"] = time.monotonic() - started
        final = rest.task_instances(run_id)
        log.record(final)

        # Every task instance succeeded: discover, 10 mapped convert groups, report.
        indexes = range(BATCHES)
        expected_keys = {("discover", -1), ("report", -1)} | {
            (task, i) for task in GROUP_TASKS for i in indexes
        }
        assert set(final) == expected_keys, sorted(set(final) ^ expected_keys)
        not_ok = {key: log.states(key) for key, ti in final.items() if ti["state"] != "success"}
        assert not not_ok, not_ok
        assert run["state"] == "success", run

        # Each sensor was deferred on a PdfCoJobTrigger that the (one) triggerer took, then resumed.
        triggerers = {job["id"] for job in rest.get("/api/v2/jobs", job_type="TriggererJob")["jobs"]}
        assert len(triggerers) == 1, triggerers
        for i in indexes:
            key = ("convert.wait", i)
            states = log.states(key)
            assert "deferred" in states, f"convert.wait[{i}] never seen deferred: {states}"
            assert states[-1] == "success", states
            assert {classpath for classpath, _ in log.triggers[key]} == {TRIGGER_CLASSPATH}, log.triggers[key]
            assert {triggerer for _, triggerer in log.triggers[key]} & triggerers, (
                log.triggers[key],
                triggerers,
            )
        health = rest.get("/api/v2/monitor/health")
        assert health["triggerer"]["status"] == "healthy", health
        assert health["triggerer"]["latest_triggerer_heartbeat"], health

        # Both workers ran task instances, convert.* ones included, and no other host did.
        hosts = Counter(ti["hostname"] for ti in final.values())
        convert_hosts = Counter(ti["hostname"] for key, ti in final.items() if key[0].startswith("convert."))
        assert set(hosts) <= set(WORKERS), hosts
        assert set(convert_hosts) == set(WORKERS), convert_hosts

        # Celery carried them: the broker's queue binding in our Redis database, and a SUCCESS result row in
        # PostgreSQL per workload: one per try, plus one per sensor resumed after its deferral. A worker
        # writes the row after the task has reported its state, so the last rows may still say STARTED.
        broker = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=broker_db)
        assert broker.exists("_kombu.binding.default"), broker.keys()
        broker.close()
        workloads = sum(ti["try_number"] for ti in final.values()) + BATCHES

        def celery_results() -> dict[str, int] | None:
            with contextlib.closing(pg_connect(metadata_db)) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT status, count(*) FROM celery_taskmeta GROUP BY status")
                results.clear()
                results.update(cursor.fetchall())
            return results if set(results) == {"SUCCESS"} else None

        rest.wait_for("Celery results stored", celery_results, timeout=60)
        assert results == {"SUCCESS": workloads}, results

        # The text: every document's <name>.txt is byte for byte what pdfco-local extracts, with a sidecar.
        scratch = tmp_path / "expected"
        scratch.mkdir()
        for name, path in docs.items():
            stored = destination / f"{name}.txt"
            assert stored.is_file(), f"{stored} missing"
            assert stored.read_bytes() == expected_text(path, scratch), name
            sidecar = json.loads((destination / f"{name}.json").read_text())
            assert sidecar, name
        leftovers = sorted(str(path.relative_to(destination)) for path in destination.rglob(".*.part"))
        assert not leftovers, leftovers

        # The manifest of the run counts 50 converted.
        safe_run_id = re.sub(r"[^\w.-]+", "_", run_id)
        manifest_path = destination / "_manifests" / f"{safe_run_id}.json"
        manifest = json.loads(manifest_path.read_text())
        assert manifest["run_id"] == run_id
        assert manifest["counts"] == {"converted": DOCUMENTS, "skipped": 0, "failed": 0, "total": DOCUMENTS}
        assert sorted(doc["name"] for doc in manifest["documents"]) == sorted(docs)
        assert {doc["status"] for doc in manifest["documents"]} == {"stored"}
        timings["checked"] = time.monotonic() - started
    except BaseException:
        cluster.dump()
        raise
    finally:
        stop_started = time.monotonic()
        left = cluster.stop()
        timings["stop"] = time.monotonic() - stop_started
        timings["total"] = time.monotonic() - started
        print(f"timings (s): { {key: round(value, 1) for key, value in timings.items()} }")
        per_worker = Counter(ti["hostname"] for ti in final.values())
        per_worker_convert = Counter(
            ti["hostname"] for key, ti in final.items() if key[0].startswith("convert.")
        )
        print(f"task instances per worker: {dict(per_worker)}, convert.* only: {dict(per_worker_convert)}")
        print(f"celery results: {results}")
        for key in sorted(log.history):
            if key[0] == "convert.wait" and key[1] >= 0:
                print(
                    f"{key}: {log.states(key)}, deferred {log.deferred_seconds(key):.1f} s, "
                    f"host {final.get(key, {}).get('hostname')}"
                )
    assert not left, left
