"""Fault injection: off by default, each kind does what docs/pdfco-local.md says, and it is repeatable."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import pdfgen
from conftest import API_KEY, Api, ServerFactory
from pdfco_local.faults import FaultConfig
from pdfco_local.runner import LocalServer


def _statuses(api: Api, count: int) -> list[int]:
    return [api.get("account/credit/balance").status_code for _ in range(count)]


def test_faults_are_off_by_default(api: Api) -> None:
    assert not FaultConfig().enabled
    assert set(_statuses(api, 40)) == {200}


def test_error_faults_answer_5xx_with_a_pdfco_body_on_api_paths_only(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory()
    api = Api(server)
    url = api.upload(pdfgen.multipage(tmp_path, pages=1).path)  # before the faults start
    server.set_faults(FaultConfig(error_rate=1.0))
    for _ in range(10):
        response = api.get("account/credit/balance")
        assert response.status_code in (500, 503)
        body = response.json()
        assert body["error"] is True
        assert body["status"] == response.status_code
        assert "injected fault" in body["message"]
    # File links stand for S3 and health checks for the platform: not faulted by default.
    assert requests.get(url, timeout=10).status_code == 200
    assert requests.get(f"{server.base_url}/healthz", timeout=10).status_code == 200


def test_throttle_faults_answer_429_with_retry_after(server_factory: ServerFactory) -> None:
    server = server_factory(faults=FaultConfig(throttle_rate=1.0, retry_after=3))
    response = Api(server).get("job/check", params={"jobid": "X" * 32})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.json()["status"] == 429


def test_drop_faults_close_the_connection_mid_response(server_factory: ServerFactory) -> None:
    server = server_factory(faults=FaultConfig(drop_rate=1.0))
    # requests reports the cut body as ChunkedEncodingError ("Connection broken: IncompleteRead").
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(
            f"{server.base_url}/v1/account/credit/balance", headers={"x-api-key": API_KEY}, timeout=10
        ).json()
    # The server itself is fine: with faults off the same call works.
    server.set_faults(FaultConfig())
    assert Api(server).get("account/credit/balance").status_code == 200


def test_latency_faults_delay_responses(server_factory: ServerFactory) -> None:
    server = server_factory(faults=FaultConfig(latency=0.4, latency_rate=1.0))
    started = time.monotonic()
    assert Api(server).get("account/credit/balance").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_job_fail_faults_fail_jobs_with_a_clear_message(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory()
    api = Api(server)
    url = api.upload(pdfgen.multipage(tmp_path, pages=1).path)
    server.set_faults(FaultConfig(job_fail_rate=1.0))
    body = api.convert(url)
    assert body["status"] == "failed"
    assert body["errorCode"] == 500
    assert "fault injection" in body["message"]


def test_the_same_seed_gives_the_same_faults(server_factory: ServerFactory) -> None:
    config = FaultConfig(seed=7, error_rate=0.3, throttle_rate=0.2)
    first = server_factory(faults=config)
    second = server_factory(faults=config)
    sequence = _statuses(Api(first), 40)
    assert sequence == _statuses(Api(second), 40)
    assert {200, 429} <= set(sequence)
    assert set(sequence) & {500, 503}
    # Reconfiguring restarts the sequence from the seed.
    first.set_faults(config)
    assert _statuses(Api(first), 40) == sequence
    # Another seed, another sequence.
    first.set_faults(FaultConfig(seed=8, error_rate=0.3, throttle_rate=0.2))
    assert _statuses(Api(first), 40) != sequence


def test_fault_rates_are_roughly_honoured(shared_server: LocalServer) -> None:
    shared_server.set_faults(FaultConfig(seed=1, error_rate=0.25))
    try:
        statuses = _statuses(Api(shared_server), 400)
    finally:
        shared_server.set_faults(FaultConfig())
    failed = sum(status >= 500 for status in statuses) / len(statuses)
    assert 0.18 < failed < 0.32


def test_cli_fault_flags_switch_injection_on(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "pdfco_local", "serve", "--port", "0", "--data-dir", str(tmp_path),
            "--workers", "1", "--api-key", API_KEY, "--fault-error-rate", "1", "--log-level", "warning",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        match = re.search(r"listening on (\S+)", process.stdout.readline())
        assert match
        assert "fault injection ON" in process.stdout.readline()
        response = requests.get(
            f"{match.group(1)}/v1/account/credit/balance", headers={"x-api-key": API_KEY}, timeout=10
        )
        assert response.status_code in (500, 503)
    finally:
        process.terminate()
        process.wait(timeout=30)
