"""Acceptance: the installed distribution registers the provider, its connection type and its form."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import API_KEY
from pdfco_local.runner import LocalServer


def airflow(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=180,
    )


def test_providers_list_shows_the_distribution(airflow_db: Path) -> None:
    listed = airflow("providers", "list", "--output", "json")
    assert listed.returncode == 0, listed.stderr
    providers = {item["package_name"]: item for item in json.loads(listed.stdout)}
    assert providers["airflow-provider-pdfco"]["version"] == "0.1.0"
    hooks = airflow("providers", "hooks", "--output", "json")
    assert hooks.returncode == 0, hooks.stderr
    rows = [row for row in json.loads(hooks.stdout) if row.get("connection_type") == "pdfco"]
    assert rows
    assert rows[0]["class"] == "pdfco_provider.hooks.PdfCoHook"


def test_a_pdfco_connection_made_with_the_cli_passes_test_connection(
    airflow_db: Path, shared_server: LocalServer
) -> None:
    added = airflow(
        "connections", "add", "pdfco_cli", "--conn-type", "pdfco", "--conn-host", shared_server.base_url,
        "--conn-password", API_KEY, "--conn-extra", json.dumps({"timeout": 10, "max_retries": 0}),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    tested = airflow("connections", "test", "pdfco_cli", AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    assert "Connection success!" in tested.stdout, tested.stdout + tested.stderr
    assert API_KEY not in tested.stdout + tested.stderr

    wrong = airflow(
        "connections", "add", "pdfco_wrong", "--conn-type", "pdfco", "--conn-host", shared_server.base_url,
        "--conn-password", "not-the-key-5a5a", "--conn-extra", json.dumps({"max_retries": 0}),
    )  # fmt: skip
    assert wrong.returncode == 0, wrong.stderr
    failed = airflow("connections", "test", "pdfco_wrong", AIRFLOW__CORE__TEST_CONNECTION="Enabled")
    assert "Connection failed!" in failed.stdout
    assert "401" in failed.stdout
    assert "not-the-key-5a5a" not in failed.stdout + failed.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def api_server(airflow_db: Path) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True"}
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--port", str(port), "--apps", "core"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None, "api-server exited"
            assert time.monotonic() < deadline, "api-server did not start"
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=60)


@pytest.mark.slow
def test_the_api_server_offers_the_pdfco_connection_form(api_server: str) -> None:
    """The UI's connection form is built from this endpoint (Admin > Connections > Add)."""
    meta = requests.get(f"{api_server}/ui/connections/hook_meta", timeout=30)
    assert meta.status_code == 200
    (pdfco,) = [item for item in meta.json() if item["connection_type"] == "pdfco"]
    assert pdfco["hook_name"] == "PDF.co"
    assert pdfco["hook_class_name"] == "pdfco_provider.hooks.PdfCoHook"
    fields = pdfco["standard_fields"]
    assert fields["password"] == {"hidden": False, "title": "API key", "placeholder": "your PDF.co API key"}
    assert fields["host"]["placeholder"] == "https://api.pdf.co"
    assert fields["login"]["hidden"] and fields["port"]["hidden"] and fields["url_schema"]["hidden"]
    extras = pdfco["extra_fields"]
    assert set(extras) == {"timeout", "max_retries", "backoff", "max_backoff", "verify"}
    assert extras["timeout"]["value"] == 60
