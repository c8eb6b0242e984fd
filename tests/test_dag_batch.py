"""Whole batches through ``dag.test()``: upload -> submit -> wait (deferred or poking) -> store.

Every run talks to a real pdfco-local over HTTP; the deferrable sensor's trigger runs in-process through
Airflow's real serialize -> rebuild path. The last test is the secrecy acceptance test: the API key must not
appear in any log line, XCom, trigger kwargs, rendered template field or exception text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

import pdfgen
from conftest import ServerFactory
from pdfco_local.runner import LocalServer
from pdfco_provider.errors import PdfCoAuthError
from pdfco_provider.hooks import PdfCoHook
from pdfco_provider.triggers import PdfCoJobTrigger

TASKS = ("upload", "submit", "wait", "store")
TRIGGER_CLASSPATH = "pdfco_provider.triggers.PdfCoJobTrigger"

RunDag = Callable[..., Any]


def task_instances(run: Any) -> dict[str, Any]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskInstance).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        session.expunge_all()
    return {ti.task_id: ti for ti in rows}


def xcoms(run: Any) -> dict[tuple[str, str], Any]:
    """Every XCom of a run, deserialized: ``{(task_id, key): value}``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
        return {(row.task_id, row.key): XComModel.deserialize_value(row) for row in rows}


def stored_pages(path: Path) -> list[str]:
    return [pdfgen.normalize_whitespace(page) for page in path.read_text().split("\f") if page.strip()]


def expected_pages(doc: pdfgen.GeneratedPdf) -> list[str]:
    return [pdfgen.normalize_whitespace(page) for page in doc.pages]


def small_batch(folder: Path) -> list[pdfgen.GeneratedPdf]:
    return [pdfgen.multipage(folder, pages=2 + i, name=f"doc{i}.pdf") for i in range(3)]


def assert_batch_stored(run: Any, docs: list[pdfgen.GeneratedPdf], out: Path) -> None:
    assert run.state == "success"
    assert {task: ti.state for task, ti in task_instances(run).items()} == dict.fromkeys(TASKS, "success")
    for doc in docs:
        name = doc.path.stem
        assert stored_pages(out / f"{name}.txt") == expected_pages(doc)
        sidecar = json.loads((out / f"{name}.json").read_text())
        assert sidecar["source"] == str(doc.path)
        assert sidecar["pages"] == doc.page_count
    assert not list(out.rglob("*.part"))
    records = xcoms(run)[("store", "return_value")]
    assert [record["status"] for record in records] == ["stored"] * len(docs)


@pytest.fixture
def connected(shared_server: LocalServer, pdfco_connection: Callable[..., None]) -> LocalServer:
    pdfco_connection(shared_server)
    return shared_server


def test_deferrable_batch_completes_and_really_defers(
    connected: LocalServer, run_dag: RunDag, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    docs = small_batch(tmp_path / "in")
    out = tmp_path / "out"

    run = run_dag("pdfco_batch", sources=[str(doc.path) for doc in docs], destination=str(out))

    assert_batch_stored(run, docs, out)
    values = xcoms(run)
    submitted = values[("submit", "return_value")]
    job_ids = values[("wait", "job_ids")]
    assert job_ids == [record["job_id"] for record in submitted]
    # The wait task handed its jobs to a PdfCoJobTrigger row (the deferral), and the trigger ran.
    wait = task_instances(run)["wait"]
    assert wait.trigger_id is not None
    with create_session() as session:
        trigger = session.get(Trigger, wait.trigger_id)
        assert trigger is not None
        assert trigger.classpath == TRIGGER_CLASSPATH
        assert trigger.kwargs["job_ids"] == job_ids
        assert trigger.kwargs["pdfco_conn_id"] == "pdfco_default"
    logged = capsys.readouterr().out
    assert "deferring: 3 job(s)" in logged
    assert "PDF.co jobs: 0 working, 3 succeeded, 0 failed (3 total)" in logged
    # The converted records came out of the trigger's event.
    converted = values[("wait", "return_value")]
    assert [record["pages"] for record in converted] == [doc.page_count for doc in docs]


def test_poke_mode_batch_completes_without_deferring(
    connected: LocalServer, run_dag: RunDag, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = small_batch(tmp_path / "in")
    out = tmp_path / "out"

    run = run_dag("pdfco_batch_poke", sources=[str(doc.path) for doc in docs], destination=str(out))

    assert_batch_stored(run, docs, out)
    assert task_instances(run)["wait"].trigger_id is None
    logged = capsys.readouterr().out
    assert "deferring:" not in logged
    assert "PDF.co jobs:" not in logged


def test_a_damaged_document_fails_the_store_task_after_storing_the_rest(
    connected: LocalServer, run_dag: RunDag, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = [pdfgen.multipage(tmp_path / "in", pages=2, name=f"good{i}.pdf") for i in range(2)]
    damaged = pdfgen.damaged(tmp_path / "bad")["truncated"]
    sources = [str(good[0].path), str(damaged), str(good[1].path)]
    out = tmp_path / "out"

    run = run_dag("pdfco_batch", sources=sources, destination=str(out))

    assert run.state == "failed"
    states = {task: ti.state for task, ti in task_instances(run).items()}
    assert states == {"upload": "success", "submit": "success", "wait": "success", "store": "failed"}
    for doc in good:
        assert stored_pages(out / f"{doc.path.stem}.txt") == expected_pages(doc)
    assert not (out / "damaged-truncated.txt").exists()
    records = {record["name"]: record for record in xcoms(run)[("store", "records")]}
    assert {name: record["status"] for name, record in records.items()} == {
        "good0": "stored", "damaged-truncated": "failed", "good1": "stored",
    }  # fmt: skip
    failure = records["damaged-truncated"]
    assert failure["error_code"] == 442
    assert failure["error"].startswith("convert: Input document is damaged or of incorrect type.")
    assert failure["source"] == str(damaged)
    assert "1 of 3 document(s) failed: damaged-truncated" in capsys.readouterr().out


# Secrecy ----------------------------------------------------------------------------------------------------

SECRET_KEY = "SuperSecretKey-9f8e7d6c"
WRONG_KEY = "WrongKey-5a4b3c2d1e"
KEYS = (SECRET_KEY, WRONG_KEY)


def files_containing(needle: str, roots: Iterable[Path]) -> list[Path]:
    """Every file under ``roots`` whose bytes contain ``needle`` (as UTF-8)."""
    found = []
    for root in roots:
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            if needle.encode() in path.read_bytes():
                found.append(path)
    return found


def texts_containing(needle: str, texts: dict[str, str]) -> list[str]:
    return [label for label, text in texts.items() if needle in text]


def test_the_api_key_never_leaks(
    server_factory: ServerFactory,
    pdfco_connection: Callable[..., None],
    run_dag: RunDag,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    caplog.set_level(logging.DEBUG)
    server = server_factory(api_keys={SECRET_KEY: 10**6})
    good = small_batch(tmp_path / "in")
    damaged = pdfgen.damaged(tmp_path / "bad")["garbage"]
    sources = [*(str(doc.path) for doc in good), str(damaged)]
    texts: dict[str, str] = {}

    # A batch with the right key, through the deferrable sensor, with one document failing (error paths log).
    pdfco_connection(server, key=SECRET_KEY)
    run = run_dag("pdfco_batch", sources=sources, destination=str(tmp_path / "out"))
    assert run.state == "failed"  # the damaged document fails the store step ...
    assert (tmp_path / "out" / "doc0.txt").exists()  # ... after the others were stored
    wait = task_instances(run)["wait"]
    assert wait.trigger_id is not None  # the trigger really was serialized and stored

    # The same with a key the server refuses: the batch fails at upload with an auth error.
    pdfco_connection(server, key=WRONG_KEY)
    refused = run_dag("pdfco_batch", sources=sources, destination=str(tmp_path / "refused"))
    assert refused.state == "failed"
    assert task_instances(refused)["upload"].state == "failed"

    # Exceptions raised with a wrong key, from the sync hook, the connection test and the trigger.
    with pytest.raises(PdfCoAuthError) as raised:
        PdfCoHook().get_credit_balance()
    texts["exception: hook"] = "".join(traceback.format_exception(raised.value)) + repr(raised.value)
    texts["exception: test_connection"] = PdfCoHook().test_connection()[1]
    wrong_trigger = PdfCoJobTrigger(job_ids=["JOB1"], deadline=time.time() + 30, poll_interval=0.1)

    async def first_event() -> Any:
        return await anext(wrong_trigger.run())

    event = asyncio.run(first_event())
    assert event.payload["status"] == "error"
    texts["trigger event"] = json.dumps(event.payload)

    # Trigger kwargs: as this trigger serializes them, and every trigger row in the metadata DB.
    texts["trigger serialize()"] = json.dumps(wrong_trigger.serialize())
    with create_session() as session:
        for row in session.query(Trigger).all():
            texts[f"trigger row {row.id} (raw)"] = row.encrypted_kwargs
            texts[f"trigger row {row.id}"] = json.dumps(row.kwargs, default=str)
        for dag_run in (run, refused):
            for row in session.query(RenderedTaskInstanceFields).filter_by(run_id=dag_run.run_id):
                texts[f"rendered {dag_run.run_id} {row.task_id}"] = json.dumps(
                    row.rendered_fields, default=str
                )
            for ti in session.query(TaskInstance).filter_by(run_id=dag_run.run_id):
                texts[f"next_kwargs {ti.task_id}"] = json.dumps(ti.next_kwargs, default=str)
    assert any(label.startswith("rendered") for label in texts)
    for dag_run in (run, refused):
        for (task_id, key), value in xcoms(dag_run).items():
            texts[f"xcom {dag_run.run_id} {task_id} {key}"] = json.dumps(value, default=str)
    assert any(label.startswith("xcom") for label in texts)

    # Everything logged: stdlib records (caplog, DEBUG and up), the console (structlog), and every file of the
    # Airflow home (task logs under logs/ if any, the metadata DB with its WAL).
    captured = capsys.readouterr()
    texts["stdout"], texts["stderr"] = captured.out, captured.err
    texts["caplog"] = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    assert "PDF.co jobs:" in texts["stdout"]  # the trigger's own log line is in what we search
    assert "failed (401)" in texts["stdout"]  # and so is the auth failure of the refused run
    home = Path(os.environ["AIRFLOW_HOME"])

    # The search can fail: it finds a key wherever one really is.
    bait = tmp_path / "bait" / "nested" / "log.txt"
    bait.parent.mkdir(parents=True)
    bait.write_text(f"x-api-key: {SECRET_KEY}\n")
    assert files_containing(SECRET_KEY, [tmp_path / "bait"]) == [bait]
    assert texts_containing(SECRET_KEY, {"clean": "x-api-key: ***", "bait": bait.read_text()}) == ["bait"]

    for key in KEYS:
        assert texts_containing(key, texts) == [], f"{key} leaked"
        assert files_containing(key, [home]) == [], f"{key} leaked into the Airflow home"
