"""Acceptance: the contract's seed flow, with plain ``requests``, converts PDF.co's own sample invoice.

Presigned URL → PUT → async convert → poll job/check → download the result URL, exactly as PDF.co's Python
sample does (``shared/pdfco-api.md`` §8.2-8.4); the text must start with the documented ``body`` prefix.
"""

from __future__ import annotations

import json
import time

import requests

from conftest import API_KEY, CORPUS
from pdfco_local.runner import LocalServer


def _tokens(text: str) -> list[str]:
    return text.split()


def test_seed_flow_converts_the_documented_sample(shared_server: LocalServer) -> None:
    base = f"{shared_server.base_url}/v1"
    headers = {"x-api-key": API_KEY}

    presign = requests.get(
        f"{base}/file/upload/get-presigned-url",
        params={"name": "sample.pdf", "contenttype": "application/octet-stream"},
        headers=headers,
        timeout=30,
    ).json()
    assert presign["error"] is False and presign["status"] == 200
    with (CORPUS / "sample.pdf").open("rb") as handle:
        put = requests.put(
            presign["presignedUrl"],
            data=handle,
            headers={"content-type": "application/octet-stream"},
            timeout=30,
        )
    assert put.status_code == 200

    submitted = requests.post(
        f"{base}/pdf/convert/to/text",
        data={
            "url": presign["url"],
            "async": True,
            "name": "result.txt",
        },  # form body, "True" as samples send
        headers=headers,
        timeout=30,
    ).json()
    assert submitted["error"] is False and submitted["jobId"] and submitted["url"]

    deadline = time.monotonic() + 60
    while True:
        check = requests.get(
            f"{base}/job/check", params={"jobid": submitted["jobId"]}, headers=headers, timeout=30
        )
        state = check.json()["status"]
        if state != "working":
            break
        assert time.monotonic() < deadline, "job never finished"
        time.sleep(0.1)
    assert state == "success", check.text

    result = requests.get(submitted["url"], timeout=30)
    assert result.status_code == 200
    text = result.content.decode("utf-8")

    documented = json.loads((CORPUS / "sample.expected-body-prefix.json").read_text())["body_prefix"]
    expected = _tokens(documented)
    got = _tokens(text)
    # The documented body is cut mid-word ("N" of "Notes"): all tokens but the last match exactly.
    assert got[: len(expected) - 1] == expected[:-1]
    assert got[len(expected) - 1].startswith(expected[-1])
    lines = text.split("\r\n")
    assert len(lines) > 10
    assert not any("\n" in line or "\r" in line for line in lines), "every line must end in CRLF"
