"""Operators and the sensor's poke mode, called directly against a real pdfco-local over HTTP.

``execute``/``poke`` get a small stand-in for Airflow's task context: the operators only read ``ti.start_date``
and call ``ti.xcom_push`` on it. Nothing of the server, the hook or the HTTP stack is mocked.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from airflow.sdk import Context, PokeReturnValue

import pdfgen
from conftest import Api, ServerFactory
from pdfco_local.runner import LocalServer
from pdfco_provider.errors import PdfCoAuthError
from pdfco_provider.links import PdfCoStoredTextLink, web_form
from pdfco_provider.operators import (
    PdfCoDocumentsFailed,
    PdfCoStoreOperator,
    PdfCoSubmitOperator,
    PdfCoUploadOperator,
)
from pdfco_provider.records import Record
from pdfco_provider.sensors import PdfCoJobSensor

SIDECAR_KEYS = {
    "v", "source", "fingerprint", "sha256", "job_id", "pages", "credits", "text_bytes", "timings", "engine",
    "stored_at",
}  # fmt: skip


class StandInTaskInstance:
    """The two things the operators use from a task instance: its start time and ``xcom_push``."""

    def __init__(self, start_date: datetime | None = None) -> None:
        self.start_date = start_date or datetime.now(UTC)
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON: fail here as a real push would
        self.xcoms[key] = value


def make_context(ti: StandInTaskInstance | None = None) -> Context:
    return cast(Context, {"ti": ti or StandInTaskInstance()})


@pytest.fixture
def connected(shared_server: LocalServer, pdfco_connection: Callable[..., None]) -> LocalServer:
    pdfco_connection(shared_server)
    return shared_server


# Small pipeline helpers: each calls one operator's execute() exactly as the task runner would.


def upload(sources: Any, context: Context | None = None) -> list[Record]:
    return PdfCoUploadOperator(task_id="upload", records=sources).execute(context or make_context())


def submit(records: Any, **kwargs: Any) -> list[Record]:
    return PdfCoSubmitOperator(task_id="submit", records=records, **kwargs).execute(make_context())


def poke_until_done(
    records: list[Record], timeout: float = 60, **kwargs: Any
) -> tuple[list[Record], list[PokeReturnValue]]:
    """Poke like a poke-mode sensor does; returns the final records and every answer seen."""
    sensor = PdfCoJobSensor(task_id="wait", records=records, deferrable=False, **kwargs)
    context = make_context()
    answers: list[PokeReturnValue] = []
    deadline = time.monotonic() + timeout
    while True:
        answer = sensor.poke(context)
        assert isinstance(answer, PokeReturnValue)
        answers.append(answer)
        if answer.is_done:
            return cast(list[Record], answer.xcom_value), answers
        assert time.monotonic() < deadline, f"jobs not done after {timeout} s"
        time.sleep(0.05)


def store(records: list[Record], destination: Path, **kwargs: Any) -> list[Record]:
    operator = PdfCoStoreOperator(task_id="store", records=records, destination=str(destination), **kwargs)
    return operator.execute(make_context())


def by_name(records: list[Record]) -> dict[str, Record]:
    return {record["name"]: record for record in records}


# Upload ---------------------------------------------------------------------------------------------------


def test_upload_a_single_path_string(connected: LocalServer, tmp_path: Path) -> None:
    doc = pdfgen.multipage(tmp_path, pages=2, name="single.pdf")
    digest = hashlib.sha256(doc.path.read_bytes()).hexdigest()

    [record] = upload(str(doc.path))

    assert record["source"] == str(doc.path)
    assert record["name"] == "single"
    assert record["status"] == "uploaded"
    assert record["error"] is None
    assert record["size"] == doc.path.stat().st_size
    assert record["sha256"] == digest
    assert record["fingerprint"] == digest
    assert record["uploaded_url"].startswith(connected.base_url)
    assert "upload" in record["timings"]
    # The uploaded URL really holds the document's bytes.
    assert requests.get(record["uploaded_url"], timeout=30).content == doc.path.read_bytes()


def test_upload_a_batch_isolates_an_unreadable_source(connected: LocalServer, tmp_path: Path) -> None:
    docs = [pdfgen.multipage(tmp_path, pages=i + 1, name=f"batch{i}.pdf") for i in range(3)]
    sources: list[Any] = [str(docs[0].path), {"source": str(docs[1].path), "name": "renamed"}]
    sources += [str(tmp_path / "missing.pdf"), str(docs[2].path)]

    records = by_name(upload(sources))

    assert sorted(records) == ["batch0", "batch2", "missing", "renamed"]
    for name, doc in (("batch0", docs[0]), ("renamed", docs[1]), ("batch2", docs[2])):
        assert records[name]["status"] == "uploaded", records[name]
        assert records[name]["size"] == doc.path.stat().st_size
        assert records[name]["sha256"] == hashlib.sha256(doc.path.read_bytes()).hexdigest()
    assert len({records[name]["uploaded_url"] for name in ("batch0", "renamed", "batch2")}) == 3
    missing = records["missing"]
    assert missing["status"] == "failed"
    assert missing["error"].startswith("upload: FileNotFoundError")
    assert "uploaded_url" not in missing


# Submit ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "pages", "selected"),
    [
        ("text", "", [0, 1, 2]),
        ("text-simple", "", [0, 1, 2]),
        ("text", "0,2", [0, 2]),
        ("text-simple", "!0", [2]),
    ],
)
def test_submit_converts_in_the_requested_mode_and_pages(
    connected: LocalServer, tmp_path: Path, mode: str, pages: str, selected: list[int]
) -> None:
    doc = pdfgen.multipage(tmp_path, pages=3)
    uploaded = upload(str(doc.path))

    [record] = submit(uploaded, mode=mode, pages=pages)

    assert record["status"] == "submitted"
    assert record["job_id"]
    assert record["result_url"].startswith(connected.base_url)
    body = Api(connected).wait(record["job_id"])
    assert body["status"] == "success", body
    assert body["pageCount"] == len(selected)
    text = Api(connected).text(body["url"])
    got = [pdfgen.normalize_whitespace(page) for page in text.split("\f") if page.strip()]
    assert got == [pdfgen.normalize_whitespace(doc.pages[i]) for i in selected]
    # The record's result link is the job's result.
    assert Api(connected).text(record["result_url"]) == text


def test_submit_rejects_an_unknown_mode(connected: LocalServer, tmp_path: Path) -> None:
    uploaded = upload(str(pdfgen.multipage(tmp_path, pages=1).path))
    with pytest.raises(ValueError, match="mode must be"):
        submit(uploaded, mode="markdown")


# The sensor in poke mode -------------------------------------------------------------------------------


def test_poke_returns_not_done_until_the_jobs_finish(connected: LocalServer, tmp_path: Path) -> None:
    # ~800 pages keep the job working for a moment after the POST, so the first poke finds it working.
    slow = pdfgen.huge_pages(tmp_path, pages=800)
    submitted = submit(upload(str(slow.path)), mode="text-simple")

    records, answers = poke_until_done(submitted)

    assert answers[0].is_done is False
    assert answers[0].xcom_value is None
    assert [answer.is_done for answer in answers] == [False] * (len(answers) - 1) + [True]
    [record] = records
    assert record["status"] == "converted"
    assert record["pages"] == 800
    assert record["credits"] == 800
    assert "wait" in record["timings"]


def test_poke_forces_unknown_job_ids_after_force_after(connected: LocalServer, tmp_path: Path) -> None:
    """An unknown job id answers ``working`` forever; after ``force_after`` it is asked with force=true."""
    good = submit(upload(str(pdfgen.multipage(tmp_path, pages=2).path)))
    Api(connected).wait(good[0]["job_id"])
    ghost: Record = {"source": "ghost.pdf", "name": "ghost", "status": "submitted", "job_id": "NOSUCHJOB0001"}
    sensor = PdfCoJobSensor(task_id="wait", records=[*good, ghost], deferrable=False, force_after=600)

    fresh = StandInTaskInstance()
    for _ in range(3):
        assert sensor.poke(make_context(fresh)).is_done is False

    old = StandInTaskInstance(datetime.now(UTC) - timedelta(seconds=601))
    answer = sensor.poke(make_context(old))
    assert answer.is_done is True
    records = by_name(cast(list[Record], answer.xcom_value))
    assert records["multipage"]["status"] == "converted"
    assert records["ghost"]["status"] == "failed"
    assert (
        records["ghost"]["error"]
        == "convert: PDF.co does not know job NOSUCHJOB0001 (expired or never created)"
    )


# Store ----------------------------------------------------------------------------------------------------


def test_store_writes_text_and_sidecar_atomically(connected: LocalServer, tmp_path: Path) -> None:
    docs = [pdfgen.multipage(tmp_path / "in", pages=i + 2, name=f"doc{i}.pdf") for i in range(2)]
    converted, _ = poke_until_done(submit(upload([str(doc.path) for doc in docs])))
    out = tmp_path / "out"
    before = datetime.now(UTC).replace(microsecond=0)

    stored = by_name(store(converted, out))

    assert sorted(path.name for path in out.iterdir()) == ["doc0.json", "doc0.txt", "doc1.json", "doc1.txt"]
    assert not list(out.rglob("*.part")), "a .part file was left behind"
    for index, doc in enumerate(docs):
        record = stored[f"doc{index}"]
        text_path = out / f"doc{index}.txt"
        assert record["status"] == "stored"
        assert record["error"] is None
        assert record["text_path"] == str(text_path)
        # The stored text is byte for byte what pdfco-local returns for the job.
        job = Api(connected).wait(record["job_id"])
        served = requests.get(job["url"], timeout=30).content
        assert text_path.read_bytes() == served
        assert record["text_bytes"] == len(served)
        pages = [pdfgen.normalize_whitespace(p) for p in served.decode().split("\f") if p.strip()]
        assert pages == [pdfgen.normalize_whitespace(p) for p in doc.pages]

        sidecar = json.loads((out / f"doc{index}.json").read_text())
        assert set(sidecar) == SIDECAR_KEYS
        assert sidecar["v"] == 1
        assert sidecar["source"] == str(doc.path)
        assert (
            sidecar["fingerprint"] == sidecar["sha256"] == hashlib.sha256(doc.path.read_bytes()).hexdigest()
        )
        assert sidecar["job_id"] == record["job_id"]
        assert sidecar["pages"] == doc.page_count == job["pageCount"]
        assert sidecar["credits"] == job["credits"]
        assert sidecar["text_bytes"] == len(served)
        assert set(sidecar["timings"]) >= {"upload", "submit", "wait"}
        assert sidecar["engine"] == connected.base_url
        assert datetime.fromisoformat(sidecar["stored_at"]) >= before


def _failing_batch(tmp_path: Path) -> tuple[list[Record], dict[str, Path]]:
    """Two good documents, a damaged one and an encrypted one, all submitted with the wrong password.

    The password applies to every document of a submit; the unencrypted ones ignore it.
    """
    good = [pdfgen.multipage(tmp_path / "in", pages=2, name=f"good{i}.pdf") for i in range(2)]
    damaged = pdfgen.damaged(tmp_path / "bad")["truncated"]
    locked = pdfgen.encrypted(tmp_path / "in", user_password="s3cret", name="locked.pdf")
    sources = {
        "good0": good[0].path,
        "damaged-truncated": damaged,
        "locked": locked.path,
        "good1": good[1].path,
    }
    records, _ = poke_until_done(submit(upload([str(path) for path in sources.values()]), password="nope"))
    return records, sources


def test_a_damaged_and_a_wrongly_unlocked_document_fail_alone(connected: LocalServer, tmp_path: Path) -> None:
    converted, sources = _failing_batch(tmp_path)
    out = tmp_path / "out"

    records = by_name(store(converted, out, fail_on_document_error=False))

    api = Api(connected)
    for name, code in (("damaged-truncated", 442), ("locked", 441)):
        record = records[name]
        job = api.wait(record["job_id"])
        assert job["status"] == "failed"
        assert record["status"] == "failed"
        assert record["error_code"] == code == job["errorCode"]
        assert record["error"] == f"convert: {job['message']}"
        assert not (out / f"{name}.txt").exists()
        assert not (out / f"{name}.json").exists()
    assert "damaged" in records["damaged-truncated"]["error"]
    assert "password" in records["locked"]["error"]
    for name in ("good0", "good1"):
        assert records[name]["status"] == "stored", records[name]
        assert (out / f"{name}.txt").read_bytes() == requests.get(
            api.wait(records[name]["job_id"])["url"], timeout=30
        ).content
        assert json.loads((out / f"{name}.json").read_text())["source"] == str(sources[name])
    assert not list(out.rglob("*.part"))


def test_fail_on_document_error_raises_after_storing_the_good_ones(
    connected: LocalServer, tmp_path: Path
) -> None:
    converted, sources = _failing_batch(tmp_path)
    out = tmp_path / "out"
    ti = StandInTaskInstance()
    operator = PdfCoStoreOperator(task_id="store", records=converted, destination=str(out))

    with pytest.raises(PdfCoDocumentsFailed) as raised:
        operator.execute(make_context(ti))

    message = str(raised.value)
    assert message.startswith("2 of 4 document(s) failed")
    for name in ("damaged-truncated", "locked"):
        assert name in message
        assert str(sources[name]) in message
    assert "good0" not in message and "good1" not in message
    assert "Input document is damaged" in message
    assert "The password given does not open the document" in message
    # The good documents were stored before the task failed, and the records went to XCom first.
    for name in ("good0", "good1"):
        assert (out / f"{name}.txt").stat().st_size > 0
        assert (out / f"{name}.json").exists()
    pushed = by_name(ti.xcoms["records"])
    assert {name: record["status"] for name, record in pushed.items()} == {
        "good0": "stored", "damaged-truncated": "failed", "locked": "failed", "good1": "stored",
    }  # fmt: skip


# Auth -----------------------------------------------------------------------------------------------------


def test_a_wrong_key_fails_the_operator_at_once(
    server_factory: ServerFactory,
    pdfco_connection: Callable[..., None],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = server_factory()
    pdfco_connection(server, key="not-the-key")
    docs = [str(pdfgen.multipage(tmp_path, pages=1, name=f"d{i}.pdf").path) for i in range(3)]
    caplog.set_level(logging.INFO, logger="pdfco_local.access")

    with pytest.raises(PdfCoAuthError) as raised:
        upload(docs)

    assert raised.value.code == 401
    # One refused request: no retries and no attempt at the other documents (only this server answers 401).
    refused = [
        r.getMessage()
        for r in caplog.records
        if r.name == "pdfco_local.access" and '"status": 401' in r.getMessage()
    ]
    assert len(refused) == 1, refused
    assert "get-presigned-url" in refused[0]

    records: list[Record] = [
        {"source": docs[0], "name": "d0", "status": "uploaded", "uploaded_url": f"{server.base_url}/x.pdf"}
    ]
    with pytest.raises(PdfCoAuthError):
        submit(records)
    waiting: list[Record] = [{"source": docs[0], "name": "d0", "status": "submitted", "job_id": "JOB1"}]
    with pytest.raises(PdfCoAuthError):
        PdfCoJobSensor(task_id="wait", records=waiting, deferrable=False).poke(make_context())


# Links ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "link"),
    [
        (
            "s3://bucket/texts/nightly",
            "https://s3.console.aws.amazon.com/s3/buckets/bucket?prefix=texts/nightly/",
        ),
        ("s3://aws_prod@bucket/texts/", "https://s3.console.aws.amazon.com/s3/buckets/bucket?prefix=texts/"),
        (
            "gs://bucket/texts/nightly",
            "https://console.cloud.google.com/storage/browser/bucket/texts/nightly",
        ),
        ("gcs://bucket/texts", "https://console.cloud.google.com/storage/browser/bucket/texts"),
        ("https://files.example.com/texts/", "https://files.example.com/texts/"),
        ("http://files.example.com/texts", "http://files.example.com/texts"),
        ("file:///data/texts", ""),
        ("/data/texts", ""),
        ("", ""),
    ],
)
def test_web_form_of_a_destination(destination: str, link: str) -> None:
    assert web_form(destination) == link
    operator = PdfCoStoreOperator(task_id="store", records=[], destination=destination)
    assert PdfCoStoredTextLink().get_link(operator, ti_key=cast(Any, None)) == link


@pytest.mark.parametrize("key", ["reports/2026 Q1", "a&b/c#d"])
def test_web_form_keeps_unusual_keys_intact(key: str) -> None:
    """A key with spaces, ``&`` or ``#`` must come back whole from the link a browser opens."""
    s3 = urlsplit(web_form(f"s3://bucket/{key}"))
    assert parse_qs(s3.query)["prefix"] == [f"{key}/"]
    gs = urlsplit(web_form(f"gs://bucket/{key}"))
    assert unquote(gs.path) == f"/storage/browser/bucket/{key}"
    assert not gs.fragment


def test_web_form_of_a_bucket_root() -> None:
    """The bucket itself: the console's bucket page, not a ``prefix=/`` that lists nothing."""
    assert web_form("s3://bucket") in (
        "https://s3.console.aws.amazon.com/s3/buckets/bucket",
        "https://s3.console.aws.amazon.com/s3/buckets/bucket?prefix=",
    )
    assert web_form("gs://bucket/").rstrip("/") == "https://console.cloud.google.com/storage/browser/bucket"
