"""Acceptance: bad documents fail their own jobs, and a SIGKILLed server finishes its jobs after a restart."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

import pdfgen
from conftest import API_KEY, Api, ServerFactory
from pdfco_local.runner import LocalServer, ServerProcess


def test_bad_documents_fail_alone_while_good_jobs_succeed(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory(workers=2, job_time_limit=1.0)
    api = Api(server)
    good = [pdfgen.multipage(tmp_path, pages=3, name=f"good{i}.pdf") for i in range(4)]
    damaged = pdfgen.damaged(tmp_path)
    truncated = next(path for name, path in damaged.items() if "trunc" in name)
    locked = pdfgen.encrypted(tmp_path, user_password="s3cret")
    huge = pdfgen.huge_pages(tmp_path, pages=3000)

    bad_jobs = {}
    for label, path in {"damaged": truncated, "locked": locked.path, "slow": huge.path}.items():
        response = api.post("pdf/convert/to/text", json={"url": api.upload(path), "async": True})
        bad_jobs[label] = response.json()["jobId"]
    good_jobs = [
        api.post("pdf/convert/to/text", json={"url": api.upload(doc.path), "async": True}).json()["jobId"]
        for doc in good
    ]

    for job_id, doc in zip(good_jobs, good, strict=True):
        body = api.wait(job_id)
        assert body["status"] == "success", body
        text = api.text(body["url"])
        for page, expected in zip(text.split("\f"), doc.pages, strict=True):
            assert pdfgen.normalize_whitespace(page) == pdfgen.normalize_whitespace(expected)

    results = {label: api.wait(job_id) for label, job_id in bad_jobs.items()}
    assert {label: body["status"] for label, body in results.items()} == dict.fromkeys(results, "failed")
    assert results["damaged"]["errorCode"] == 442
    assert "damaged" in results["damaged"]["message"].lower()
    assert results["locked"]["errorCode"] == 441
    assert "password is required" in results["locked"]["message"]
    assert results["slow"]["errorCode"] == 445
    assert "time limit of 1 s" in results["slow"]["message"]

    # The worker killed for the slow job was replaced: the server still converts.
    assert api.convert(api.upload(good[0].path))["status"] == "success"


def test_a_crashing_document_fails_its_job_and_the_server_keeps_serving(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """An allocation far beyond the memory limit: the job fails with a message, the next job succeeds."""
    server = server_factory(workers=1, job_memory_limit=64 * 1024**2, ocr_dpi=3000)
    api = Api(server)
    scanned = pdfgen.image_only(tmp_path)
    body = api.convert(api.upload(scanned.path))  # OCR renders ~870 MB of pixels at 3000 dpi
    assert body["status"] == "failed"
    assert body["errorCode"] == 442
    assert "64 MiB memory limit" in body["message"]
    good = pdfgen.multipage(tmp_path, pages=2)
    assert api.convert(api.upload(good.path))["status"] == "success"


@pytest.mark.slow
def test_sigkill_with_jobs_in_flight_then_restart_completes_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir, "--workers", "1", api_key=API_KEY)
    process, base = server.process, server.base_url
    headers = {"x-api-key": API_KEY}
    docs = [pdfgen.huge_pages(tmp_path, pages=600, name=f"big{i}.pdf") for i in range(4)]
    submitted = []
    try:
        for doc in docs:
            presign = requests.get(
                f"{base}/v1/file/upload/get-presigned-url",
                params={"name": doc.path.name},
                headers=headers,
                timeout=30,
            ).json()
            requests.put(presign["presignedUrl"], data=doc.path.read_bytes(), timeout=30).raise_for_status()
            job = requests.post(
                f"{base}/v1/pdf/convert/to/text-simple",
                json={"url": presign["url"], "async": True},
                headers=headers,
                timeout=30,
            ).json()
            submitted.append(job)
        states = [
            requests.get(
                f"{base}/v1/job/check", params={"jobid": job["jobId"]}, headers=headers, timeout=30
            ).json()
            for job in submitted
        ]
        assert any(state["status"] == "working" for state in states), "nothing was in flight to lose"
        workers = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    # The worker processes die with the server (PR_SET_PDEATHSIG) instead of finishing unobserved.
    psutil.wait_procs(workers, timeout=10)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]

    restarted = ServerProcess(data_dir, "--workers", "2", api_key=API_KEY, port=server.port)
    base = restarted.base_url
    try:
        for job, doc in zip(submitted, docs, strict=True):
            deadline = time.monotonic() + 120
            while True:
                state = requests.get(
                    f"{base}/v1/job/check", params={"jobid": job["jobId"]}, headers=headers, timeout=30
                ).json()
                if state["status"] != "working":
                    break
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert state["status"] == "success", state
            # The link handed out before the kill still works after the restart (same secret, same port).
            text = requests.get(job["url"], timeout=30).content.decode()
            assert text.count("\f") == doc.page_count - 1
            assert pdfgen.normalize_whitespace(text.split("\f")[0]) == pdfgen.normalize_whitespace(
                doc.pages[0]
            )
    finally:
        assert restarted.stop() == 0


def test_cli_prints_url_and_generated_key_and_stops_on_sigterm(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pdfco_local",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(tmp_path),
            "--workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PDFCO_LOCAL_API_KEYS": ""},
    )
    assert process.stdout is not None
    banner = process.stdout.readline()
    match = re.search(r"listening on (http://127\.0\.0\.1:\d+) api-key=(\S+)", banner)
    assert match, banner
    base, key = match.groups()
    balance = requests.get(f"{base}/v1/account/credit/balance", headers={"x-api-key": key}, timeout=30)
    assert balance.json()["remainingCredits"] > 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    _, stderr = process.communicate()
    assert key not in stderr, "the key must not be logged"
    assert '"path": "/v1/account/credit/balance"' in stderr, "one JSON access-log line per request"


def test_access_log_never_contains_the_key_or_query(
    shared_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="pdfco_local.access")
    requests.get(f"{shared_server.base_url}/v1/account/credit/balance?x-api-key={API_KEY}", timeout=30)
    lines = [record.getMessage() for record in caplog.records if record.name == "pdfco_local.access"]
    assert lines and all(API_KEY not in line and "x-api-key" not in line for line in lines)


def test_a_worker_killed_mid_job_fails_that_job_and_is_replaced(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    """Stands in for a PDFium segfault: the job reports the crash, a new worker serves the next job."""
    server = server_factory(workers=1)
    api = Api(server)
    job_id = api.post(
        "pdf/convert/to/text", json={"url": api.upload(pdfgen.huge_pages(tmp_path).path), "async": True}
    ).json()["jobId"]
    time.sleep(0.5)
    assert api.get("job/check", params={"jobid": job_id}).json()["status"] == "working"
    (worker,) = server.app.pool.pids
    os.kill(worker, signal.SIGKILL)
    body = api.wait(job_id)
    assert body["status"] == "failed"
    assert body["errorCode"] == 442
    assert "crash (signal 9)" in body["message"]
    assert api.convert(api.upload(pdfgen.multipage(tmp_path, pages=1).path))["status"] == "success"
