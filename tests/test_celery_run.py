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
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import redis
import requests
from cryptography.fernet import Fernet

import pdfgen
import topology
from conftest import CORPUS, ROOT
from pdfco_local.extract import ExtractRequest, extract
from pdfco_local.runner import LocalServer
from topology import (
    DAG_ID,
    GROUP_TASKS,
    NLP_DAG_ID,
    TRIGGER_CLASSPATH,
    Cluster,
    Rest,
    StateLog,
    TiKey,
    free_port,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(570)]

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

WORKERS = ("w1", "w2")
DOCUMENTS = 50
BATCH_SIZE = 5
BATCHES = DOCUMENTS // BATCH_SIZE
CHECK_LATENCY = 3.0
POLL = 0.5
RUN_TIMEOUT = 360.0
FINISHED = {"success", "failed"}
MARKER = "PDFCO_CELERY_TEST"


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
    with topology.pdfco_local(tmp_path / "pdfco", check_latency=CHECK_LATENCY, workers=2) as server:
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
    """CeleryExecutor on PostgreSQL (metadata and results) and Redis (broker), as docker-compose.yml has it."""
    settings = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{broker}",
        # The driver named: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        # The nightly schedule would start a run of its own as soon as the DAG is parsed (catchup=False
        # still runs the latest interval) and convert the documents first; only the triggered run runs.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(ports.scheduler_health),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(ports.trigger_logs),
        # Marks every process this test starts (children inherit it), to prove none is left running.
        MARKER: marker,
    }
    return topology.airflow_env(
        home, api_port=ports.api, server=server, source=source, destination=destination, settings=settings
    )


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
    cluster = Cluster(home, env, (MARKER, marker), grace=30)
    rest = Rest(f"http://127.0.0.1:{ports.api}", cluster, poll=POLL)
    log = StateLog()
    timings: dict[str, float] = {}
    final: dict[TiKey, dict[str, Any]] = {}
    results: dict[str, int] = {}
    try:
        cluster.run("db", "migrate", timeout=240)
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
            log.record(rest.task_instances(DAG_ID, run_id))
            run = rest.dag_run(DAG_ID, run_id)
            return run if run["state"] in FINISHED else None

        run = rest.wait_for("the pdf_to_text run", run_finished, timeout=RUN_TIMEOUT)
        timings["run finished"] = time.monotonic() - started
        final = rest.task_instances(DAG_ID, run_id)
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
