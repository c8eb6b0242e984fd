"""Assertions on PDF.co response bodies, shared by the contract tests (``shared/pdfco-api.md`` §3.5, §5.1)."""

from __future__ import annotations

import re
from typing import Any

import requests

from conftest import Api

TEXT = "pdf/convert/to/text"


def assert_ok(response: requests.Response) -> dict[str, Any]:
    """A PDF.co success body: HTTP 200, ``error: false``, integer ``status`` 200, credits and duration."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] is False, body
    assert body["status"] == 200
    assert type(body["status"]) is int
    assert type(body["remainingCredits"]) is int
    assert type(body["duration"]) is int
    assert body["duration"] >= 0
    return body


def assert_error(response: requests.Response, status: int, *words: str) -> dict[str, Any]:
    """A PDF.co error body whose HTTP status, ``status`` and ``message`` (naming the cause) agree."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] is True, body
    assert body["status"] == status
    assert type(body["status"]) is int
    assert isinstance(body["message"], str)
    assert body["message"]
    for word in words:
        assert word.lower() in body["message"].lower(), body["message"]
    return body


def submit(api: Api, endpoint: str = TEXT, **params: Any) -> dict[str, Any]:
    """An ``async=true`` conversion; asserts the immediate answer of §3.5 and returns it."""
    body = assert_ok(api.post(endpoint, json={**params, "async": True}))
    assert re.fullmatch(r"[A-Z0-9]{32}", body["jobId"]), body
    assert body["url"].startswith(api.base + "/")
    return body
