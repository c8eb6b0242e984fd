"""Contract tests of background jobs and ``/v1/job/check`` over real HTTP (``shared/pdfco-api.md`` §3.5, §4, §5).

A real in-process pdfco-local answers every request; slow jobs come from ``pdfgen.huge_pages`` on a server with
a single worker, so a job/check is guaranteed to see ``working`` before ``success``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests

import pdfgen
from conftest import API_KEY, Api, ServerFactory
from contract import submit
from pdfco_local.runner import LocalServer
from pdfgen import GeneratedPdf, page_marker

TEXT = "pdf/convert/to/text"
SIMPLE = "pdf/convert/to/text-simple"
OTHER_KEY = "other-key-9876543210"
UNKNOWN_ID = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"

# --------------------------------------------------------------------------------------------------------------
# the four job/check request forms of §4.1 (plus the urlencoded form Python's ``data=`` sends)
# --------------------------------------------------------------------------------------------------------------

CheckForm = Callable[..., requests.Response]


def _as_text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def check_post_json_jobid(api: Api, job_id: str, **extra: Any) -> requests.Response:
    return api.post("job/check", json={"jobid": job_id, **extra})


def check_post_json_jobId(api: Api, job_id: str, **extra: Any) -> requests.Response:
    return api.post("job/check", json={"jobId": job_id, **extra})


def check_post_multipart(api: Api, job_id: str, **extra: Any) -> requests.Response:
    fields = {"jobid": (None, job_id), **{key: (None, _as_text(value)) for key, value in extra.items()}}
    response = api.post("job/check", files=fields)
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    return response


def check_get_query(api: Api, job_id: str, **extra: Any) -> requests.Response:
    return api.get("job/check", params={"jobid": job_id, **{k: _as_text(v) for k, v in extra.items()}})


def check_post_urlencoded(api: Api, job_id: str, **extra: Any) -> requests.Response:
    return api.post("job/check", data={"jobid": job_id, **{k: _as_text(v) for k, v in extra.items()}})


FORMS = {
    "post-json-jobid": check_post_json_jobid,
    "post-json-jobId": check_post_json_jobId,
    "post-multipart": check_post_multipart,
    "get-query": check_get_query,
    "post-urlencoded": check_post_urlencoded,
}


# --------------------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------------------


def checked(response: requests.Response) -> dict[str, Any]:
    """A job/check answer: the call itself succeeded, ``status`` is a string state (§4.3)."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert isinstance(body["status"], str), body
    assert body["status"] in {"working", "success", "failed", "aborted", "unknown"}, body
    assert isinstance(body["remainingCredits"], int)
    return body


def poll(
    api: Api, job_id: str, form: CheckForm = check_post_json_jobid, timeout: float = 60
) -> list[dict[str, Any]]:
    """Every job/check answer until the job leaves ``working``; the last one is final."""
    deadline = time.monotonic() + timeout
    answers = []
    while True:
        body = checked(form(api, job_id))
        answers.append(body)
        if body["status"] != "working":
            return answers
        assert time.monotonic() < deadline, f"job {job_id} still working after {timeout} s"
        time.sleep(0.05)


def balance(api: Api) -> int:
    response = api.get("account/credit/balance")
    assert response.status_code == 200
    credits: int = response.json()["remainingCredits"]
    return credits


def assert_iso_in_future(value: str) -> None:
    assert datetime.fromisoformat(value).timestamp() > time.time() + 60, value


def assert_success(body: dict[str, Any], api: Api, job_id: str, *, pages: int) -> None:
    """The job/check success fields of §4.3."""
    assert body["status"] == "success", body
    assert body["error"] is False
    assert body["jobId"] == job_id
    assert body["pageCount"] == pages
    assert body["credits"] == pages
    assert isinstance(body["jobDuration"], int)
    assert body["jobDuration"] >= 0
    assert isinstance(body["duration"], int)
    assert body["url"].startswith(api.base + "/")
    assert_iso_in_future(body["outputLinkValidTill"])
    assert isinstance(body["message"], str)


def assert_not_ready(url: str) -> None:
    """The final url of a job that has not succeeded: 404 with a PDF.co error body."""
    response = requests.get(url, timeout=30)
    assert response.status_code == 404, response.text
    body = response.json()
    assert body["error"] is True
    assert body["status"] == 404


@pytest.fixture(scope="module")
def small(shared_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedPdf, str]:
    generated = pdfgen.multipage(tmp_path_factory.mktemp("small"), pages=2)
    return generated, Api(shared_server).upload(generated.path)


@pytest.fixture(scope="module")
def png_link(shared_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    return Api(shared_server).upload(pdfgen.damaged(tmp_path_factory.mktemp("damaged"))["png"])


# --------------------------------------------------------------------------------------------------------------
# job/check forms and states
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form_name", sorted(FORMS))
def test_job_check_success(api: Api, small: tuple[GeneratedPdf, str], form_name: str) -> None:
    form = FORMS[form_name]
    submitted = submit(api, url=small[1], name="checked.txt")
    answers = poll(api, submitted["jobId"], form)
    for answer in answers[:-1]:
        assert answer["status"] == "working"
        assert answer.get("error") in (None, False)
    final = answers[-1]
    assert_success(final, api, submitted["jobId"], pages=2)
    assert final["remainingCredits"] == balance(api)
    assert unquote(urlsplit(final["url"]).path).endswith("/checked.txt")
    text = api.text(final["url"])
    assert page_marker(0) in text
    assert page_marker(1) in text
    # a finished job keeps answering success
    again = checked(form(api, submitted["jobId"]))
    assert again["status"] == "success"
    assert urlsplit(again["url"]).path == urlsplit(final["url"]).path


@pytest.mark.parametrize("form_name", sorted(FORMS))
def test_job_check_failed(api: Api, png_link: str, form_name: str) -> None:
    before = balance(api)
    submitted = submit(api, url=png_link)
    final = poll(api, submitted["jobId"], FORMS[form_name])[-1]
    assert final["status"] == "failed", final
    assert final["error"] is True
    assert final["errorCode"] == 442
    assert final["jobId"] == submitted["jobId"]
    assert "PNG" in final["message"]
    assert final["remainingCredits"] == before, "a failed job costs nothing"
    assert_not_ready(submitted["url"])


@pytest.mark.parametrize("form_name", sorted(FORMS))
def test_unknown_job_is_working_unless_forced(api: Api, form_name: str) -> None:
    form = FORMS[form_name]
    plain = checked(form(api, UNKNOWN_ID))
    assert plain["status"] == "working"
    assert checked(form(api, UNKNOWN_ID, force=False))["status"] == "working"
    forced = checked(form(api, UNKNOWN_ID, force=True))
    assert forced["status"] == "unknown"


def test_force_on_a_known_job_reports_its_state(api: Api, small: tuple[GeneratedPdf, str]) -> None:
    submitted = submit(api, url=small[1])
    poll(api, submitted["jobId"])
    forced = checked(check_post_json_jobid(api, submitted["jobId"], force=True))
    assert_success(forced, api, submitted["jobId"], pages=2)


def test_job_of_another_key_looks_unknown(server_factory: ServerFactory, tmp_path: Path) -> None:
    server = server_factory(api_keys={API_KEY: 1000, OTHER_KEY: 1000}, workers=1)
    owner, stranger = Api(server), Api(server, OTHER_KEY)
    generated = pdfgen.multipage(tmp_path, pages=2)
    submitted = submit(owner, url=owner.upload(generated.path))
    assert_success(poll(owner, submitted["jobId"])[-1], owner, submitted["jobId"], pages=2)
    for form in FORMS.values():
        assert checked(form(stranger, submitted["jobId"]))["status"] == "working"
        forced = checked(form(stranger, submitted["jobId"], force=True))
        assert forced["status"] == "unknown"
        assert "url" not in forced
        assert "pageCount" not in forced
    assert balance(stranger) == 1000
    assert balance(owner) == 1000 - 2


def test_job_check_needs_a_job_id(api: Api) -> None:
    response = api.post("job/check", json={})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] is True
    assert body["status"] == 400
    assert "jobid" in body["message"].lower()


def test_job_check_needs_the_key(api: Api) -> None:
    response = requests.get(api.url("job/check"), params={"jobid": UNKNOWN_ID}, timeout=30)
    assert response.status_code == 401
    assert response.json()["error"] is True


# --------------------------------------------------------------------------------------------------------------
# slow jobs: working, the final url before and after success, sync time limit
# --------------------------------------------------------------------------------------------------------------


def test_final_url_is_404_until_success(server_factory: ServerFactory, tmp_path: Path) -> None:
    """With one worker busy on a slow document, a queued job is ``working`` and its url answers 404."""
    api = Api(server_factory(workers=1))
    huge = pdfgen.huge_pages(tmp_path, pages=600)
    generated = pdfgen.multipage(tmp_path, pages=3)
    huge_url, small_url = api.upload(huge.path), api.upload(generated.path)

    blocker = submit(api, TEXT, url=huge_url)
    queued = submit(api, url=small_url, name="queued.txt")
    assert queued["pageCount"] == 0
    assert queued["credits"] == 0
    assert queued["name"] == "queued.txt"
    assert_iso_in_future(queued["outputLinkValidTill"])

    state = checked(check_get_query(api, queued["jobId"]))
    assert state["status"] == "working", state
    assert state["jobId"] == queued["jobId"]
    assert_not_ready(queued["url"])
    assert_not_ready(blocker["url"])

    final = poll(api, queued["jobId"])[-1]
    assert_success(final, api, queued["jobId"], pages=3)
    # the same result object (the link may be re-signed with the expiry counted from the job's end)
    assert urlsplit(final["url"]).path == urlsplit(queued["url"]).path
    text = api.text(queued["url"])
    assert api.text(final["url"]) == text
    assert [page_marker(index) in page for index, page in enumerate(text.split("\f"))] == [True] * 3
    # the blocker finished first (one worker, first come first served)
    blocker_state = checked(check_get_query(api, blocker["jobId"]))
    assert_success(blocker_state, api, blocker["jobId"], pages=600)
    assert "Huge page 600 of 600" in api.text(blocker["url"])


def test_slow_job_is_observed_working_then_success(server_factory: ServerFactory, tmp_path: Path) -> None:
    api = Api(server_factory(workers=1))
    huge = pdfgen.huge_pages(tmp_path, pages=400)
    submitted = submit(api, url=api.upload(huge.path))
    answers = poll(api, submitted["jobId"], check_post_json_jobId)
    states = [answer["status"] for answer in answers]
    assert states[0] == "working"
    assert states[-1] == "success"
    assert set(states[:-1]) == {"working"}
    assert len(states) >= 2, "the slow job was never seen working"
    assert_success(answers[-1], api, submitted["jobId"], pages=400)
    assert answers[-1]["jobDuration"] > 0


def test_sync_conversion_past_the_sync_timeout_is_445(server_factory: ServerFactory, tmp_path: Path) -> None:
    api = Api(server_factory(sync_timeout=0.5, workers=1))
    huge = pdfgen.huge_pages(tmp_path, pages=1500)
    url = api.upload(huge.path)
    before = balance(api)
    started = time.monotonic()
    response = api.post(TEXT, json={"url": url, "inline": True})
    elapsed = time.monotonic() - started
    assert response.status_code == 445, response.text
    body = response.json()
    assert body["error"] is True
    assert body["status"] == 445
    assert "async" in body["message"].lower()
    assert elapsed < 10, f"the 445 came after {elapsed:.1f} s, not at the 0.5 s sync timeout"
    assert balance(api) == before
    # the server (and its replaced worker) still converts, and async jobs are not bound by the sync timeout
    small = pdfgen.multipage(tmp_path, pages=1)
    quick = api.post(TEXT, json={"url": api.upload(small.path), "inline": True})
    assert quick.status_code == 200, quick.text
    assert "Page 1 of 1" in quick.json()["body"]
    submitted = submit(api, SIMPLE, url=url)
    assert_success(poll(api, submitted["jobId"])[-1], api, submitted["jobId"], pages=1500)
