"""Issue acceptance: ``pdf_to_text`` under a real scheduler, dag-processor, triggerer and api-server.

LocalExecutor on a fresh SQLite metadata DB (WAL mode makes that work), every component a subprocess with
its own log file; pdfco-local runs in this process, answering ``job/check`` only after CHECK_LATENCY seconds
(its fault injection), so every sensor stays ``deferred`` at least that long whatever the machine's speed.
Everything is observed through the public REST API (``/api/v2``), as a user or the UI would: task instance
states (polled every 0.3 s), the clear endpoint, XCom entries, event logs and asset events; plus the files
the DAGs write and pdfco-local's access log.

The source holds 12 documents in three batches of 4. The last batch (names sorting last) holds a damaged
PDF and one encrypted with another password than the run's, next to two good documents.

Why the slow ``job/check``: Airflow 3.3 fails a resumed deferrable task when the executor's (stale) success
event for the deferring attempt is processed only after the resumed attempt is already ``running``
(apache/airflow#71580, #72716). A trigger that fires within a second or two of the deferral hits that on a
loaded machine; a trigger that needs CHECK_LATENCY seconds does not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

import pdfgen
from conftest import API_KEY, ROOT, connection_uri
from pdfco_local.config import ServerConfig
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

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
PASSWORD = "s3cret"
BATCH_SIZE = 4
BAD_BATCH = 2
DAMAGED, WRONG_PASSWORD = "zz-bad-damaged", "zz-bad-encrypted"
BAD = {DAMAGED, WRONG_PASSWORD}
TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
POLL = 0.3
CHECK_LATENCY = 8.0

TiKey = tuple[str, int]


# Source documents -------------------------------------------------------------------------------------------


def make_source(source: Path, scratch: Path) -> dict[str, pdfgen.GeneratedPdf | None]:
    """12 documents; sorted by name they form batches a*, b*, zz-* (``None``: no expected text)."""
    docs: dict[str, pdfgen.GeneratedPdf | None] = {}
    for prefix in ("a", "b"):
        for i in (1, 2):
            docs[f"{prefix}0{i}"] = pdfgen.multipage(source, pages=1 + i, name=f"{prefix}0{i}.pdf")
        # The right password (the run's ``password`` param) opens this one.
        docs[f"{prefix}03-locked"] = pdfgen.encrypted(source, PASSWORD, name=f"{prefix}03-locked.pdf")
        docs[f"{prefix}04"] = pdfgen.multipage(source, pages=4, name=f"{prefix}04.pdf")
    shutil.copyfile(pdfgen.damaged(scratch)["truncated"], source / f"{DAMAGED}.pdf")
    docs[DAMAGED] = None
    docs[WRONG_PASSWORD] = pdfgen.encrypted(source, "another-password", name=f"{WRONG_PASSWORD}.pdf")
    docs["zz-good-1"] = pdfgen.multipage(source, pages=3, name="zz-good-1.pdf")
    docs["zz-good-2"] = pdfgen.multipage(source, pages=5, name="zz-good-2.pdf")
    assert len(docs) == 12
    return dict(sorted(docs.items()))


def batches_of(names: list[str]) -> list[list[str]]:
    ordered = sorted(names)
    return [ordered[i : i + BATCH_SIZE] for i in range(0, len(ordered), BATCH_SIZE)]


# Airflow components -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(
    home: Path, api_port: int, server: LocalServer, source: Path, destination: Path
) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # Paused until the test has created its run: unpausing a catchup=False cron DAG creates a run for
            # the latest slot at once (with the default params), which would queue beside the test's run.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
                [
                    {
                        "name": "dags-folder",
                        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                        "kwargs": {},
                    }
                ]
            ),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW_CONN_PDFCO_DEFAULT": connection_uri(server, API_KEY),
            "PDF_TO_TEXT_SOURCE": str(source),
            "PDF_TO_TEXT_DESTINATION": str(destination),
        }
    )
    return env


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Airflow:
    """``airflow <component>`` subprocesses sharing one environment; stop() leaves no process behind."""

    home: Path
    env: dict[str, str]
    components: list[Component] = field(default_factory=list)

    def run(self, *args: str, timeout: float = 180) -> None:
        log = self.home / f"{'-'.join(args[:2])}.log"
        with log.open("wb") as out:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                timeout=timeout, check=False,
            )  # fmt: skip
        assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{tail(log)}"

    def start(self, name: str, *args: str) -> None:
        log = self.home / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "airflow", name, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        self.components.append(Component(name, process, log))

    def check_alive(self) -> None:
        for component in self.components:
            code = component.process.poll()
            if code is not None:
                raise AssertionError(f"airflow {component.name} exited with {code}:\n{tail(component.log)}")

    def stop(self) -> list[str]:
        """Terminate every component (then kill); returns the processes that were still alive afterwards.

        Any process carrying this test's private AIRFLOW_HOME counts, so a task process orphaned by its
        LocalExecutor worker is found too; leftovers are killed (by pid) before they are reported.
        """
        tree: list[psutil.Process] = []
        for component in self.components:
            with contextlib.suppress(psutil.NoSuchProcess):
                root = psutil.Process(component.process.pid)
                tree.extend([root, *root.children(recursive=True)])
        for component in self.components:
            if component.process.poll() is None:
                component.process.terminate()
        _, alive = psutil.wait_procs(tree, timeout=20)
        for process in alive:
            print(f"killing {process.pid} ({_cmdline(process)}): still alive 20 s after SIGTERM")
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(alive, timeout=10)
        for component in self.components:
            component.process.wait(timeout=10)
        leftovers = [process for process in psutil.process_iter() if self._ours(process)]
        for process in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        return [f"{process.pid} {_cmdline(process)}" for process in leftovers]

    def _ours(self, process: psutil.Process) -> bool:
        try:
            return process.pid != os.getpid() and process.environ().get("AIRFLOW_HOME") == str(self.home)
        except psutil.Error:
            return False

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


# REST -------------------------------------------------------------------------------------------------------


class Rest:
    """The public REST API, no token: SimpleAuthManager with ``all_admins`` lets everyone in."""

    def __init__(self, base_url: str, airflow: Airflow):
        self.base = base_url.rstrip("/")
        self.airflow = airflow
        self.session = requests.Session()

    def get(self, path: str, **params: Any) -> Any:
        response = self.session.get(f"{self.base}{path}", params=params, timeout=30)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.post(f"{self.base}{path}", json=body, timeout=30)
        assert response.status_code == 200, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        response = self.session.patch(f"{self.base}{path}", json=body, timeout=30)
        assert response.status_code == 200, f"PATCH {path}: {response.status_code} {response.text}"
        return response.json()

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float) -> Any:
        """Call ``check`` every POLL seconds until it returns something truthy."""
        deadline = time.monotonic() + timeout
        while True:
            self.airflow.check_alive()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(POLL)

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        return result

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.get(f"/api/v2/dags/{dag_id}/dagRuns", order_by="run_after")[
            "dag_runs"
        ]
        return runs

    def task_instances(self, dag_id: str, run_id: str) -> dict[TiKey, dict[str, Any]]:
        body = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", limit=1000)
        assert body["total_entries"] == len(body["task_instances"])
        return {(ti["task_id"], ti["map_index"]): ti for ti in body["task_instances"]}

    def state_mismatches(self, run_id: str) -> list[str]:
        """Audit-log entries of the scheduler failing a task whose executor event came late (airflow#71580)."""
        body = self.get("/api/v2/eventLogs", dag_id=DAG_ID, run_id=run_id, event="state mismatch")
        return [f"{entry['task_id']}[{entry['map_index']}]: {entry['extra']}" for entry in body["event_logs"]]

    def xcom(self, run_id: str, task_id: str, map_index: int = -1, key: str = "return_value") -> Any:
        entry = self.get(
            f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}",
            map_index=map_index,
        )
        value = entry["value"]
        return json.loads(value) if isinstance(value, str) else value


@dataclass
class StateLog:
    """Every state each task instance was seen in, with when (monotonic) it was first seen so."""

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

    def deferred_seconds(self, key: TiKey) -> list[float]:
        """How long each stretch in ``deferred`` lasted, as far as 0.3 s polling can tell."""
        seen = self.history[key]
        return [
            round(seen[i + 1][0] - at, 1) for i, (at, state) in enumerate(seen[:-1]) if state == "deferred"
        ]


# The test ---------------------------------------------------------------------------------------------------


@pytest.fixture
def pdfco_server(tmp_path: Path) -> Iterator[LocalServer]:
    slow_checks = FaultConfig(latency=CHECK_LATENCY, latency_rate=1.0, paths=("/v1/job/check",))
    config = ServerConfig(
        data_dir=tmp_path / "pdfco", api_keys={API_KEY: 10**7}, workers=1, faults=slow_checks
    )
    with LocalServer(config) as server:
        yield server


@pytest.fixture
def access_log() -> Iterator[list[dict[str, Any]]]:
    """pdfco-local's access log lines (JSON), captured in-process."""
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(record.getMessage()))

    logger = logging.getLogger("pdfco_local.access")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def uploaded_names(lines: list[dict[str, Any]]) -> list[str]:
    """File names PUT to presigned URLs (``/files/input/<id>/<name>``)."""
    return sorted(
        line["path"].rsplit("/", 1)[-1]
        for line in lines
        if line["method"] == "PUT" and line["path"].startswith("/files/input/")
    )


def test_pdf_to_text_under_a_real_scheduler(
    tmp_path: Path, pdfco_server: LocalServer, access_log: list[dict[str, Any]]
) -> None:
    started = time.monotonic()
    source, destination = tmp_path / "source", tmp_path / "out"
    docs = make_source(source, tmp_path / "scratch")
    names = list(docs)
    batches = batches_of(names)
    assert batches[BAD_BATCH] == sorted([*BAD, "zz-good-1", "zz-good-2"])
    good = [name for name in names if name not in BAD]

    home = tmp_path / "airflow-home"
    home.mkdir()
    api_port = free_port()
    airflow = Airflow(home, airflow_env(home, api_port, pdfco_server, source, destination))
    rest = Rest(f"http://127.0.0.1:{api_port}", airflow)
    timings: dict[str, float] = {}
    log = StateLog()
    try:
        airflow.run("db", "migrate")
        airflow.start("api-server", "--port", str(api_port), "--host", "127.0.0.1", "--workers", "1")

        def healthy() -> bool:
            try:
                return requests.get(f"{rest.base}/api/v2/monitor/health", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        rest.wait_for("the api-server", healthy, timeout=90)
        for name in ("scheduler", "dag-processor", "triggerer"):
            airflow.start(name)

        def parsed() -> dict[str, dict[str, Any]] | None:
            dags = {dag["dag_id"]: dag for dag in rest.get("/api/v2/dags")["dags"]}
            return dags if {DAG_ID, NLP_DAG_ID} <= set(dags) else None

        dags = rest.wait_for("both DAGs parsed", parsed, timeout=90)
        timings["components up"] = time.monotonic() - started

        # -- first run: every batch but the last succeeds -----------------------------------------------
        # The run takes the slot the scheduler would fill on unpausing (the latest 02:00), so the scheduler
        # skips that slot ("run already exists") instead of starting a run with the default params.
        nightly = dags[DAG_ID]
        run_id = rest.post(
            f"/api/v2/dags/{DAG_ID}/dagRuns",
            {
                "logical_date": nightly["next_dagrun_logical_date"],
                "data_interval_start": nightly["next_dagrun_data_interval_start"],
                "data_interval_end": nightly["next_dagrun_data_interval_end"],
                "conf": {"batch_size": BATCH_SIZE, "password": PASSWORD},
            },
        )["dag_run_id"]
        for dag_id in (NLP_DAG_ID, DAG_ID):
            assert rest.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})["is_paused"] is False

        def run_finished(tries: int) -> Callable[[], dict[TiKey, dict[str, Any]] | None]:
            def check() -> dict[TiKey, dict[str, Any]] | None:
                tis = rest.task_instances(DAG_ID, run_id)
                log.record(tis)
                report = tis.get(("report", -1))
                done = report is not None and report["state"] in TERMINAL and report["try_number"] == tries
                if done and rest.dag_run(DAG_ID, run_id)["state"] in ("success", "failed"):
                    return tis
                return None

            return check

        first = rest.wait_for("the first run", run_finished(1), timeout=180)
        timings["first run"] = time.monotonic() - started
        print(f"first run finished: {rest.dag_run(DAG_ID, run_id)['state']}")
        uploads_first = uploaded_names(access_log)

        indexes = range(len(batches))
        assert {key for key in first if key[0].startswith("convert.")} == {
            (task, i) for task in GROUP_TASKS for i in indexes
        }
        assert first[("discover", -1)]["state"] == "success"
        # Each sensor deferred on a PdfCoJobTrigger that the triggerer took, then the triggerer's event
        # resumed it to success.
        triggerers = {job["id"] for job in rest.get("/api/v2/jobs", job_type="TriggererJob")["jobs"]}
        for i in indexes:
            key = ("convert.wait", i)
            assert "deferred" in log.states(key), f"convert.wait[{i}] never seen deferred: {log.states(key)}"
            assert first[key]["state"] == "success", (log.states(key), rest.state_mismatches(run_id))
            after = log.states(key)[log.states(key).index("deferred") + 1 :]
            assert after and after[-1] == "success", log.states(key)
            classpaths = {classpath for classpath, _ in log.triggers[key]}
            assert classpaths == {TRIGGER_CLASSPATH}, log.triggers[key]
            assert {triggerer for _, triggerer in log.triggers[key]} & triggerers, (
                log.triggers[key],
                triggerers,
            )
        for task in GROUP_TASKS:
            for i in indexes:
                expected = "failed" if (task, i) == ("convert.store", BAD_BATCH) else "success"
                assert first[(task, i)]["state"] == expected, (task, i, log.states((task, i)))
        assert first[("report", -1)]["state"] == "success"

        manifests = list((destination / "_manifests").glob("*.json"))
        safe_run_id = re.sub(r"[^\w.-]+", "_", run_id)
        assert manifests == [destination / "_manifests" / f"{safe_run_id}.json"]
        manifest = json.loads(manifests[0].read_text())
        assert manifest["run_id"] == run_id
        assert manifest["counts"] == {"converted": 10, "skipped": 0, "failed": 2, "total": 12}
        by_name = {doc["name"]: doc for doc in manifest["documents"]}
        assert sorted(by_name) == names
        assert_failures(by_name)
        for name in good:
            assert by_name[name]["status"] == "stored", by_name[name]
            doc = docs[name]
            assert doc is not None
            text = (destination / f"{name}.txt").read_text()
            stored = [pdfgen.normalize_whitespace(page) for page in text.split("\f") if page.strip()]
            assert stored == [pdfgen.normalize_whitespace(page) for page in doc.pages], name
        assert not (destination / f"{DAMAGED}.txt").exists()
        assert not (destination / f"{WRONG_PASSWORD}.txt").exists()
        assert uploads_first == sorted(f"{name}.pdf" for name in names)

        # -- the asset event starts pdf_text_nlp, which analyses exactly the converted documents ---------
        def nlp_done(count: int) -> Callable[[], list[dict[str, Any]] | None]:
            def check() -> list[dict[str, Any]] | None:
                runs = rest.dag_runs(NLP_DAG_ID)
                finished = [run for run in runs if run["state"] in ("success", "failed")]
                return runs if len(runs) >= count and len(finished) == len(runs) else None

            return check

        nlp_runs = rest.wait_for("the asset-triggered pdf_text_nlp run", nlp_done(1), timeout=120)
        timings["nlp run"] = time.monotonic() - started
        assert len(nlp_runs) == 1, nlp_runs
        assert nlp_runs[0]["run_type"] == "asset_triggered"
        assert nlp_runs[0]["state"] == "success"
        assert nlp_files(destination) == good
        analysed_once = {p.name: p.stat().st_mtime_ns for p in (destination / "nlp").glob("*.json")}
        for name in good:
            analysis = json.loads((destination / "nlp" / f"{name}.json").read_text())
            assert analysis["name"] == name
            assert analysis["words"] > 0
        # The report's asset event: one, from this run, pointing at the manifest, and it made the NLP run.
        # (Read only now: /assets/events answers 500 while a run it created has no start_date yet.)
        events = rest.get("/api/v2/assets/events", source_dag_id=DAG_ID)["asset_events"]
        assert len(events) == 1, events
        assert events[0]["extra"]["run_id"] == run_id
        assert events[0]["extra"]["manifest"] == str(manifests[0])
        assert (events[0]["extra"]["converted"], events[0]["extra"]["failed"]) == (10, 2)
        assert [run["run_id"] for run in events[0]["created_dagruns"]] == [nlp_runs[0]["dag_run_id"]]

        # -- clear the failed batch (its whole group) and report through the API -------------------------
        before = rest.task_instances(DAG_ID, run_id)
        mark = len(access_log)
        clear = {
            "dag_run_id": run_id,
            "task_ids": [["convert.not_yet_converted", BAD_BATCH]],
            "include_downstream": True,
            "only_failed": False,
        }
        dry = rest.post(f"/api/v2/dags/{DAG_ID}/clearTaskInstances", {**clear, "dry_run": True})
        to_clear = {(ti["task_id"], ti["map_index"]) for ti in dry["task_instances"]}
        assert to_clear == {*((task, BAD_BATCH) for task in GROUP_TASKS), ("report", -1)}
        rest.post(f"/api/v2/dags/{DAG_ID}/clearTaskInstances", {**clear, "dry_run": False})
        after = rest.wait_for("the cleared run", run_finished(2), timeout=150)
        timings["rerun"] = time.monotonic() - started
        print(f"cleared run finished: {rest.dag_run(DAG_ID, run_id)['state']}")

        for key, ti in after.items():
            if key in to_clear:
                assert ti["try_number"] == before[key]["try_number"] + 1, (key, log.states(key))
                assert ti["state"] == ("failed" if key == ("convert.store", BAD_BATCH) else "success"), (
                    key,
                    log.states(key),
                    rest.state_mismatches(run_id),
                )
            else:
                assert ti["try_number"] == before[key]["try_number"], (key, log.states(key))
                assert ti["state"] == before[key]["state"], key
                assert ti["end_date"] == before[key]["end_date"], key

        # Only the two bad documents were redone: the good ones count as stored by the first try.
        todo = {
            record["name"]: record for record in rest.xcom(run_id, "convert.not_yet_converted", BAD_BATCH)
        }
        assert sorted(todo) == batches[BAD_BATCH]
        for name, record in todo.items():
            if name in BAD:
                assert record["status"] == "pending", record
            else:
                assert record["status"] == "stored", record
                assert "earlier try" in record["reason"], record
        uploaded = {
            record["name"]: record["status"] for record in rest.xcom(run_id, "convert.upload", BAD_BATCH)
        }
        assert uploaded == {name: "uploaded" if name in BAD else "stored" for name in batches[BAD_BATCH]}
        assert uploaded_names(access_log[mark:]) == sorted(f"{name}.pdf" for name in BAD)
        submits = [line for line in access_log[mark:] if line["path"] == "/v1/pdf/convert/to/text"]
        assert len(submits) == 2, submits

        manifest = json.loads(manifests[0].read_text())
        assert manifest["run_id"] == run_id
        by_name = {doc["name"]: doc for doc in manifest["documents"]}
        assert sorted(by_name) == names
        assert [name for name, doc in by_name.items() if doc["status"] == "failed"] == sorted(BAD)
        assert_failures(by_name)
        # The run converted 10 documents, whichever try did it; the rerun's report says so.
        for name in ("zz-good-1", "zz-good-2"):
            assert by_name[name]["status"] == "stored", by_name[name]
        assert manifest["counts"] == {"converted": 10, "skipped": 0, "failed": 2, "total": 12}

        # The rerun's report emitted a second event; its pdf_text_nlp run leaves the set of analyses as is.
        nlp_runs = rest.wait_for("the second pdf_text_nlp run", nlp_done(2), timeout=120)
        events = rest.get("/api/v2/assets/events", source_dag_id=DAG_ID)["asset_events"]
        assert [event["extra"]["run_id"] for event in events] == [run_id, run_id]
        assert [run["state"] for run in nlp_runs] == ["success", "success"]
        assert nlp_files(destination) == good
        # The second event lists all 10 documents the run converted; none is analysed a second time.
        assert {p.name: p.stat().st_mtime_ns for p in (destination / "nlp").glob("*.json")} == analysed_once
        timings["second nlp run"] = time.monotonic() - started
        second = rest.get(
            f"/api/v2/dags/{NLP_DAG_ID}/dagRuns/{nlp_runs[1]['dag_run_id']}/taskInstances/new_documents"
            "/xcomEntries/return_value"
        )["value"]
        second = json.loads(second) if isinstance(second, str) else second
        print(f"second pdf_text_nlp run analysed: {sorted(doc['name'] for doc in second)}")
        # No other pdf_to_text run was ever started (no scheduled run beside the test's).
        assert [run["dag_run_id"] for run in rest.dag_runs(DAG_ID)] == [run_id]
    except BaseException:
        airflow.dump()
        raise
    finally:
        stop_started = time.monotonic()
        leftovers = airflow.stop()
        timings["stop"] = time.monotonic() - stop_started
        print(f"timings (s since start): { {key: round(value, 1) for key, value in timings.items()} }")
        for key in sorted(log.history):
            if key[0] == "convert.wait" and key[1] >= 0:
                print(f"{key}: states {log.states(key)}, deferred for {log.deferred_seconds(key)} s")
    assert not leftovers, leftovers


def assert_failures(by_name: dict[str, dict[str, Any]]) -> None:
    """The two bad documents failed at the convert step with PDF.co's codes and messages."""
    damaged, locked = by_name[DAMAGED], by_name[WRONG_PASSWORD]
    assert damaged["status"] == "failed", damaged
    assert damaged["error_code"] == 442, damaged
    assert damaged["error"].startswith("convert: Input document is damaged or of incorrect type."), damaged
    assert locked["status"] == "failed", locked
    assert locked["error_code"] == 441, locked
    assert locked["error"].startswith("convert: Invalid password."), locked


def nlp_files(destination: Path) -> list[str]:
    return sorted(path.name.removesuffix(".json") for path in (destination / "nlp").glob("*.json"))
