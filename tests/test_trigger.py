"""``PdfCoJobTrigger`` against a real pdfco-local over HTTP.

Every test drives the trigger the way the triggerer does (airflow-notes.md §1.4, §3.5): ``serialize()``, JSON
kwargs without the key, rebuild from the classpath, then ``run()`` of the *rebuilt* trigger to its single event.
Nothing of the server, aiohttp or the hook is mocked; faults come from pdfco-local's own fault injection, and
what the server saw is read from its access log (``pdfco_local.access``: path, status and duration).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow.models.trigger import Trigger
from airflow.sdk.module_loading import import_string
from airflow.serialization.decoders import smart_decode_trigger_kwargs
from airflow.triggers.base import TriggerEvent
from structlog.testing import capture_logs

import pdfgen
from conftest import API_KEY, Api
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer
from pdfco_provider.triggers import KEPT, PdfCoJobTrigger

Connect = Callable[..., None]

CLASSPATH = "pdfco_provider.triggers.PdfCoJobTrigger"
PROGRESS = re.compile(r"PDF\.co jobs: (\d+) working, (\d+) succeeded, (\d+) failed")


# helpers ------------------------------------------------------------------------------------------------------


def unknown_job_id() -> str:
    """An id in PDF.co's shape (32 uppercase characters) that no server has issued."""
    return "".join(secrets.choice(string.ascii_uppercase) for _ in range(32))


def submit(api: Api, path: Path, **params: Any) -> str:
    """Upload and start an async text conversion; returns the job id (as the submit operator would)."""
    response = api.post("pdf/convert/to/text", json={"url": api.upload(path), "async": True, **params})
    assert response.status_code == 200, response.text
    return str(response.json()["jobId"])


def make_trigger(job_ids: list[str], **overrides: Any) -> PdfCoJobTrigger:
    kwargs: dict[str, Any] = {
        "job_ids": job_ids,
        "deadline": time.time() + 60,
        "poll_interval": 0.2,
        "min_poll_interval": 0.05,
    }
    return PdfCoJobTrigger(**{**kwargs, **overrides})


def rebuild(trigger: PdfCoJobTrigger) -> PdfCoJobTrigger:
    """What defer + the triggerer do: store ``serialize()`` as a ``Trigger`` row (JSON kwargs, encrypted when a
    Fernet key is set), then decrypt, decode and rebuild the class from its classpath
    (``TriggerRunner.create_triggers`` in ``airflow/jobs/triggerer_job_runner.py``)."""
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert API_KEY not in json.dumps(kwargs)  # plain JSON, data only, no key
    row = Trigger.from_object(trigger)
    assert API_KEY not in row.encrypted_kwargs
    stored = Trigger._decrypt_kwargs(row.encrypted_kwargs)
    rebuilt = import_string(row.classpath)(**{k: smart_decode_trigger_kwargs(v) for k, v in stored.items()})
    assert type(rebuilt) is PdfCoJobTrigger
    assert rebuilt is not trigger
    assert rebuilt.serialize() == (classpath, kwargs)
    return rebuilt


def check_payload(event: TriggerEvent, *secrets_: str) -> dict[str, Any]:
    payload = event.payload
    assert isinstance(payload, dict)
    text = json.dumps(payload)  # versioned JSON, never pickle
    for secret in (API_KEY, *secrets_):
        assert secret not in text
    assert payload["v"] == 1
    assert set(payload) == {"v", "status", "jobs", "message"}
    return payload


@dataclass(frozen=True)
class Run:
    """The one event of a run, and when the run started and ended (wall clock, comparable with log records)."""

    payload: dict[str, Any]
    started: float
    finished: float

    @property
    def elapsed(self) -> float:
        return self.finished - self.started


async def run_rebuilt(trigger: PdfCoJobTrigger, bound: float = 45, *secrets_: str) -> Run:
    """Serialize, rebuild and run the rebuilt trigger to completion, within ``bound`` seconds: one event."""
    rebuilt = rebuild(trigger)
    started = time.time()

    async def drain() -> list[TriggerEvent]:
        return [event async for event in rebuilt.run()]

    events = await asyncio.wait_for(drain(), bound)
    finished = time.time()
    assert len(events) == 1, events
    assert isinstance(events[0], TriggerEvent)
    return Run(check_payload(events[0], *secrets_), started, finished)


def final_states(api: Api, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What the server says each job ended as, in the fields the trigger carries (KEPT)."""
    bodies = {job_id: api.wait(job_id) for job_id in job_ids}
    return {job_id: {key: body[key] for key in KEPT if key in body} for job_id, body in bodies.items()}


@dataclass(frozen=True)
class Request:
    """One request as pdfco-local's access log recorded it, with wall-clock start and end."""

    path: str
    status: int | str
    start: float
    end: float


async def access_log(
    caplog: pytest.LogCaptureFixture, run: Run, path: str = "/v1/job/check"
) -> list[Request]:
    """The requests to ``path`` that pdfco-local handled during ``run`` (the test's own calls excluded).

    The server logs a request after sending its response, so the last lines may trail the run a little.
    """
    await asyncio.sleep(0.2)
    requests = []
    for record in caplog.records:
        if record.name != "pdfco_local.access":
            continue
        entry = json.loads(record.getMessage())
        start, end = record.created - entry["ms"] / 1000, record.created
        # The test's own checks end before the run starts or start after it ends.
        if entry["path"] == path and end > run.started and start < run.finished:
            requests.append(Request(entry["path"], entry["status"], start, end))
    return sorted(requests, key=lambda request: request.start)


def max_overlap(requests: list[Request]) -> int:
    edges = sorted([(r.start, 1) for r in requests] + [(r.end, -1) for r in requests])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def rounds(requests: list[Request], gap: float = 0.1) -> list[list[Request]]:
    """Group requests into poll rounds: a round's checks start together; rounds are separated by a sleep."""
    grouped: list[list[Request]] = []
    for request in requests:
        if grouped and request.start - max(r.end for r in grouped[-1]) < gap:
            grouped[-1].append(request)
        else:
            grouped.append([request])
    return grouped


@pytest.fixture
def api(server: LocalServer) -> Api:
    return Api(server)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Good multipage documents of 1-4 pages, two damaged files and an encrypted one (no password given)."""
    folder = tmp_path_factory.mktemp("trigger-docs")
    docs = {
        f"good{pages}": pdfgen.multipage(folder, pages=pages, name=f"good{pages}.pdf").path
        for pages in (1, 2, 3, 4)
    }
    damaged = pdfgen.damaged(folder)
    docs["truncated"] = damaged["truncated"]
    docs["png"] = damaged["png"]
    docs["locked"] = pdfgen.encrypted(folder, user_password="s3cret").path
    return docs


# 1. serialize --------------------------------------------------------------------------------------------------


def test_serialize_gives_the_classpath_and_exact_data_only_kwargs() -> None:
    trigger = PdfCoJobTrigger(
        job_ids=["JOB1", "JOB2"],
        deadline=1_900_000_000.5,
        pdfco_conn_id="pdfco_other",
        poll_interval=7,
        min_poll_interval=2,
        max_concurrency=3,
        force_after=120,
        progress_every=30,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "job_ids": ["JOB1", "JOB2"],
        "deadline": 1_900_000_000.5,
        "pdfco_conn_id": "pdfco_other",
        "poll_interval": 7.0,
        "min_poll_interval": 2.0,
        "max_concurrency": 3,
        "force_after": 120.0,
        "progress_every": 30.0,
    }
    assert json.loads(json.dumps(kwargs)) == kwargs
    rebuilt = rebuild(trigger)
    assert rebuilt.serialize() == trigger.serialize()
    assert rebuild(rebuilt).serialize() == trigger.serialize()


def test_serialize_defaults_name_the_default_connection_and_never_a_key() -> None:
    classpath, kwargs = PdfCoJobTrigger(job_ids=["A"], deadline=1.0).serialize()
    assert classpath == CLASSPATH
    assert kwargs == {
        "job_ids": ["A"],
        "deadline": 1.0,
        "pdfco_conn_id": "pdfco_default",
        "poll_interval": 10.0,
        "min_poll_interval": 1.0,
        "max_concurrency": 8,
        "force_after": 600.0,
        "progress_every": 60.0,
    }


# 2. true final states ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mixed_jobs_each_end_in_their_true_final_state(
    server: LocalServer, api: Api, documents: dict[str, Path], pdfco_connection: Connect
) -> None:
    pdfco_connection(server)
    jobs = {label: submit(api, path) for label, path in documents.items()}

    run = await run_rebuilt(make_trigger(list(jobs.values())))

    assert run.payload["status"] == "done"
    assert run.payload["jobs"] == final_states(api, list(jobs.values()))
    by_label = {label: run.payload["jobs"][job_id] for label, job_id in jobs.items()}
    for pages in (1, 2, 3, 4):
        good = by_label[f"good{pages}"]
        assert good["status"] == "success", good
        assert good["pageCount"] == pages
        assert good["credits"] == pages
        assert api.text(good["url"]).count("\f") == pages - 1
    for label in ("truncated", "png"):
        assert by_label[label]["status"] == "failed"
        assert by_label[label]["errorCode"] == 442
        assert "damaged" in by_label[label]["message"].lower()
    assert "PNG" in by_label["png"]["message"]
    assert by_label["locked"]["status"] == "failed"
    assert by_label["locked"]["errorCode"] == 441
    assert "password" in by_label["locked"]["message"].lower()


# 3. faults -----------------------------------------------------------------------------------------------------

# Seeds chosen so that each kind of fault hits some of the first poll round's four checks (decisions are drawn
# in request order, so the first round always meets the same faults).
FAULTS = {
    "errors": FaultConfig(seed=1, error_rate=0.5),
    "throttle": FaultConfig(seed=1, throttle_rate=0.5, retry_after=1),
    "drops": FaultConfig(seed=1, drop_rate=0.3),
    "latency": FaultConfig(seed=1, latency=0.3, latency_rate=0.5),
    "combined": FaultConfig(
        seed=2, error_rate=0.2, throttle_rate=0.2, retry_after=1, drop_rate=0.2, latency=0.3, latency_rate=0.5
    ),
}
#: What the trigger logs when a check meets each fault ("... failed (503): (injected fault); will check again").
SYMPTOMS = {
    "errors": re.compile(r"failed \(50[03]\)"),
    "throttle": re.compile(r"failed \(429\)"),
    "drops": re.compile(r"failed: \w+Error"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("name", FAULTS)
async def test_jobs_reach_their_true_final_state_through_faults(
    server: LocalServer,
    api: Api,
    documents: dict[str, Path],
    pdfco_connection: Connect,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    caplog.set_level(logging.INFO, logger="pdfco_local.access")
    pdfco_connection(server)
    labels = ("good1", "good3", "truncated", "locked")
    job_ids = [submit(api, documents[label]) for label in labels]  # submitted before the faults start
    server.set_faults(FAULTS[name])

    with capture_logs() as logs:
        run = await run_rebuilt(make_trigger(job_ids, deadline=time.time() + 40), 45)

    server.set_faults(FaultConfig())
    assert run.payload["status"] == "done", run.payload
    assert run.payload["jobs"] == final_states(api, job_ids)
    assert [run.payload["jobs"][job_id]["status"] for job_id in job_ids] == [
        "success",
        "success",
        "failed",
        "failed",
    ]
    warnings = [entry["event"] for entry in logs if entry["log_level"] == "warning"]
    for kind, symptom in SYMPTOMS.items():
        if kind in (name, "combined"):
            assert any(symptom.search(warning) for warning in warnings), (kind, warnings)
    if name in ("latency", "combined"):
        assert any(request.end - request.start >= 0.3 for request in await access_log(caplog, run))


@pytest.mark.asyncio
async def test_throttled_checks_wait_for_retry_after(
    server: LocalServer,
    api: Api,
    documents: dict[str, Path],
    pdfco_connection: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The jobs are finished before the trigger starts and the backoff is tiny (50 ms), so only honouring
    ``Retry-After: 1`` can make the trigger take a second or more."""
    caplog.set_level(logging.INFO, logger="pdfco_local.access")
    pdfco_connection(server, backoff=0.05, max_backoff=10)
    job_ids = [submit(api, documents[label]) for label in ("good1", "good2", "good3", "locked")]
    expected = final_states(api, job_ids)
    server.set_faults(FaultConfig(seed=1, throttle_rate=0.5, retry_after=1))

    run = await run_rebuilt(make_trigger(job_ids), 30)

    server.set_faults(FaultConfig())
    assert run.payload["status"] == "done"
    assert run.payload["jobs"] == expected
    checks = await access_log(caplog, run)
    assert any(request.status == 429 for request in checks)
    assert run.elapsed >= 1.0
    grouped = rounds(checks)
    assert len(grouped) >= 2
    for current, following in itertools.pairwise(grouped):
        if any(request.status == 429 for request in current):
            pause = following[0].start - max(request.end for request in current)
            assert pause >= 0.95, f"next poll {pause:.2f} s after a 429 with Retry-After: 1"


# 4. deadlines and unknown ids ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_deadline_in_the_past_times_out_at_once(
    server: LocalServer, api: Api, documents: dict[str, Path], pdfco_connection: Connect
) -> None:
    pdfco_connection(server)
    job_ids = [submit(api, documents["good1"]), unknown_job_id()]

    run = await run_rebuilt(make_trigger(job_ids, deadline=time.time() - 5), 10)

    assert run.payload["status"] == "timeout"
    assert run.payload["jobs"] == {job_id: {"status": "working"} for job_id in job_ids}
    assert run.elapsed < 1.0


@pytest.mark.asyncio
@pytest.mark.parametrize("interval", [0.2, 30.0], ids=["short-polls", "long-polls"])
async def test_an_unknown_job_times_out_by_the_deadline_and_finished_jobs_keep_their_state(
    server: LocalServer, api: Api, documents: dict[str, Path], pdfco_connection: Connect, interval: float
) -> None:
    """A poll interval longer than the time left must not carry the trigger past its deadline."""
    pdfco_connection(server)
    good = submit(api, documents["good2"])
    expected = final_states(api, [good])[good]  # finished: the first check sees it done
    unknown = unknown_job_id()
    deadline = time.time() + 2

    trigger = make_trigger(
        [good, unknown],
        deadline=deadline,
        poll_interval=interval,
        min_poll_interval=interval,
        force_after=3600,
    )
    run = await run_rebuilt(trigger, 10)

    assert run.payload["status"] == "timeout"
    assert deadline - 0.05 <= run.finished < deadline + 1.5
    assert run.payload["jobs"] == {good: expected, unknown: {"status": "working"}}
    assert expected["status"] == "success"


@pytest.mark.asyncio
async def test_the_deadline_holds_while_checks_are_slow(
    server: LocalServer, pdfco_connection: Connect
) -> None:
    """Every check takes 4 s (a congested API; the request timeout is 60 s): the trigger must still end at its
    2 s deadline, not when the poll round it started before the deadline comes back."""
    pdfco_connection(server)
    unknown = unknown_job_id()
    server.set_faults(FaultConfig(latency=4, latency_rate=1.0))
    deadline = time.time() + 2

    run = await run_rebuilt(make_trigger([unknown], deadline=deadline, force_after=3600), 15)

    assert run.payload["status"] == "timeout"
    assert run.payload["jobs"] == {unknown: {"status": "working"}}
    assert run.finished < deadline + 1.5, f"timeout event {run.finished - deadline:.1f} s after the deadline"


@pytest.mark.asyncio
async def test_force_after_zero_reports_an_unknown_job_as_unknown(
    server: LocalServer, api: Api, documents: dict[str, Path], pdfco_connection: Connect
) -> None:
    """``force=true`` from the first check: the unknown id answers ``unknown``; a real job is unaffected."""
    pdfco_connection(server)
    good = submit(api, documents["good3"])
    unknown = unknown_job_id()

    run = await run_rebuilt(make_trigger([good, unknown], force_after=0), 20)

    assert run.payload["status"] == "done"
    forced = api.get("job/check", params={"jobid": unknown, "force": "true"}).json()
    assert run.payload["jobs"][unknown] == {key: forced[key] for key in KEPT if key in forced}
    assert run.payload["jobs"][unknown]["status"] == "unknown"
    assert run.payload["jobs"][good] == final_states(api, [good])[good]
    assert run.payload["jobs"][good]["status"] == "success"
    assert run.elapsed < 5


# 5. configuration errors ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_wrong_key_ends_in_one_error_event_naming_401_not_the_key(
    server: LocalServer, api: Api, documents: dict[str, Path], pdfco_connection: Connect
) -> None:
    wrong = f"wrong-key-{secrets.token_hex(8)}"
    job_id = submit(api, documents["good1"])
    pdfco_connection(server, key=wrong)

    with capture_logs() as logs:
        run = await run_rebuilt(make_trigger([job_id]), 10, wrong)

    assert run.payload["status"] == "error"
    assert "401" in run.payload["message"]
    assert run.payload["jobs"] == {job_id: {"status": "working"}}
    assert run.elapsed < 5  # fails fast: an auth error is not retried
    assert wrong not in repr(logs)


@pytest.mark.asyncio
async def test_a_connection_without_a_key_ends_in_one_error_event(
    server: LocalServer, pdfco_connection: Connect
) -> None:
    pdfco_connection(server, key="")
    job_id = unknown_job_id()

    run = await run_rebuilt(make_trigger([job_id]), 10)

    assert run.payload["status"] == "error"
    assert "API key" in run.payload["message"]
    assert run.payload["jobs"] == {job_id: {"status": "working"}}


# 6. concurrency bound ------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_no_more_than_max_concurrency_checks_are_in_flight(
    server: LocalServer,
    api: Api,
    documents: dict[str, Path],
    pdfco_connection: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pdfco_local.access")
    pdfco_connection(server)
    job_ids = [submit(api, documents[f"good{1 + index % 4}"]) for index in range(6)]
    expected = final_states(api, job_ids)  # all finished: one poll round answers them all
    server.set_faults(FaultConfig(latency=0.3, latency_rate=1.0))

    run = await run_rebuilt(make_trigger(job_ids, max_concurrency=2), 20)

    server.set_faults(FaultConfig())
    assert run.payload["status"] == "done"
    assert run.payload["jobs"] == expected
    assert run.elapsed >= 0.9  # 6 checks x 0.3 s, at most two at a time
    checks = await access_log(caplog, run)
    assert len(checks) == 6
    assert max_overlap(checks) == 2


# 7. cancellation -----------------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("in_flight", [False, True], ids=["while-sleeping", "while-checking"])
async def test_cancellation_propagates_and_produces_no_event(
    server: LocalServer, pdfco_connection: Connect, caplog: pytest.LogCaptureFixture, in_flight: bool
) -> None:
    caplog.set_level(logging.INFO, logger="pdfco_local.access")
    pdfco_connection(server)
    if in_flight:  # every check hangs for 5 s on the server: the cancel lands inside the HTTP request
        server.set_faults(FaultConfig(latency=5, latency_rate=1.0))
    rebuilt = rebuild(make_trigger([unknown_job_id()], force_after=3600, poll_interval=1.0))
    events: list[TriggerEvent] = []

    async def drain() -> None:
        async for event in rebuilt.run():
            events.append(event)

    started = time.time()
    task = asyncio.create_task(drain())
    await asyncio.sleep(0.6)
    assert not task.done()
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - cancelled_at < 1.0
    assert task.cancelled()
    assert events == []
    if not in_flight:
        polls = await access_log(caplog, Run({}, started, time.time()))
        assert polls, "the trigger never polled before it was cancelled"


# 8. the event loop is never blocked ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_event_loop_keeps_ticking_while_the_trigger_runs(
    server: LocalServer, api: Api, documents: dict[str, Path], pdfco_connection: Connect
) -> None:
    pdfco_connection(server)
    job_ids = [submit(api, documents[label]) for label in ("good4", "good2", "truncated", "locked")]
    job_ids.append(unknown_job_id())
    server.set_faults(FaultConfig(seed=8, latency=0.3, latency_rate=0.5, error_rate=0.2))
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.05)
    try:
        run = await run_rebuilt(make_trigger(job_ids, force_after=1.0), 30)
    finally:
        stop.set()
        await ticking
    server.set_faults(FaultConfig())

    assert run.payload["status"] == "done"
    assert run.elapsed > 1.0
    assert len(gaps) > 50
    assert max(gaps) < 0.2, f"event loop blocked for {max(gaps):.3f} s"


# 9. progress logging -------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_progress_is_logged_without_the_key(
    server_factory: Callable[..., LocalServer],
    tmp_path: Path,
    documents: dict[str, Path],
    pdfco_connection: Connect,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 1-worker server busy with a slow document keeps the others queued, so the first rounds see work.

    The trigger logs through Airflow's structlog logger (``LoggingMixin.log``), which does not reach the
    stdlib ``caplog`` handler: its records are captured with ``structlog.testing.capture_logs``; ``caplog``
    covers every stdlib logger (aiohttp, the HTTP provider, the server).
    """
    slow_server = server_factory(workers=1)
    api = Api(slow_server)
    pdfco_connection(slow_server)
    caplog.set_level(logging.DEBUG)
    slow = pdfgen.huge_pages(tmp_path, pages=300).path
    job_ids = [submit(api, slow), submit(api, documents["good2"]), submit(api, documents["truncated"])]

    with capture_logs() as logs:
        run = await run_rebuilt(make_trigger(job_ids, progress_every=0), 30)

    assert run.payload["status"] == "done"
    assert run.payload["jobs"] == final_states(api, job_ids)
    counts = [
        tuple(int(number) for number in match.groups())
        for entry in logs
        if (match := PROGRESS.search(str(entry["event"])))
    ]
    assert counts, f"no progress line logged: {logs}"
    assert any(working > 0 for working, _, _ in counts), counts
    assert counts[-1] == (0, 2, 1)
    assert all(sum(count) == 3 for count in counts), counts
    assert API_KEY not in repr(logs)
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
        assert API_KEY not in repr(record.args)
    assert API_KEY not in caplog.text
