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

import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import pdfgen
import topology
from pdfco_local.runner import LocalServer
from topology import DAG_ID, GROUP_TASKS, NLP_DAG_ID, TRIGGER_CLASSPATH, Cluster, StateLog, TiKey, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(360)]

PASSWORD = "s3cret"
BATCH_SIZE = 4
BAD_BATCH = 2
DAMAGED, WRONG_PASSWORD = "zz-bad-damaged", "zz-bad-encrypted"
BAD = {DAMAGED, WRONG_PASSWORD}
TERMINAL = {"success", "failed", "skipped", "upstream_failed", "removed"}
POLL = 0.3
CHECK_LATENCY = 8.0


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


def airflow_env(
    home: Path, api_port: int, server: LocalServer, source: Path, destination: Path
) -> dict[str, str]:
    """LocalExecutor on a fresh SQLite DB; every process carries AIRFLOW_HOME, the marker of this test's."""
    settings = {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        # Paused until the test has created its run: unpausing a catchup=False cron DAG creates a run for
        # the latest slot at once (with the default params), which would queue beside the test's run.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
    }
    return topology.airflow_env(
        home, api_port=api_port, server=server, source=source, destination=destination, settings=settings
    )


class Rest(topology.Rest):
    """The shared REST client plus what this test reads of its own run."""

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


# The test ---------------------------------------------------------------------------------------------------


@pytest.fixture
def pdfco_server(tmp_path: Path) -> Iterator[LocalServer]:
    with topology.pdfco_local(tmp_path / "pdfco", check_latency=CHECK_LATENCY, workers=1) as server:
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
    # 20 s grace after SIGTERM; AIRFLOW_HOME also finds a task process orphaned by its LocalExecutor worker.
    airflow = Cluster(
        home,
        airflow_env(home, api_port, pdfco_server, source, destination),
        ("AIRFLOW_HOME", str(home)),
        grace=20,
    )
    rest = Rest(f"http://127.0.0.1:{api_port}", airflow, poll=POLL)
    timings: dict[str, float] = {}
    log = StateLog()
    try:
        airflow.run("db", "migrate", timeout=180)
        airflow.start(
            "api-server", "api-server", "--port", str(api_port), "--host", "127.0.0.1", "--workers", "1"
        )

        def healthy() -> bool:
            try:
                return requests.get(f"{rest.base}/api/v2/monitor/health", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        rest.wait_for("the api-server", healthy, timeout=90)
        for name in ("scheduler", "dag-processor", "triggerer"):
            airflow.start(name, name)

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
                tis = rest.task_instances(DAG_ID, run_id, page_size=1000, one_page=True)
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
        before = rest.task_instances(DAG_ID, run_id, page_size=1000, one_page=True)
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
                print(
                    f"{key}: states {log.states(key)}, deferred for {[round(s, 1) for s in log.deferred_stretches(key)]} s"
                )
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
