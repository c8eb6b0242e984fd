"""Contract: API keys, credits, the rate limit, request encodings and routing, over real HTTP.

What is checked comes from ``shared/pdfco-api.md`` §1 (``x-api-key`` header or query parameter, 401, the credit
balance), §3.4/§4.1/§8 (JSON, urlencoded, multipart and query-string parameters; case-insensitive names;
``true``/``True``/``1`` booleans), §5 (error bodies, 402, 429) and from ``docs/pdfco-local.md`` (one credit per
processed page, 402 for a job that cannot be paid, ``Retry-After`` on 429, ``/healthz`` without a key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import API_KEY, Api, ServerFactory
from contract import assert_error, assert_ok
from pdfco_local.runner import LocalServer
from pdfgen import multipage, page_marker

TIMEOUT = 30
SIMPLE = "pdf/convert/to/text-simple"


# helpers ---------------------------------------------------------------------------------------------------
def assert_job_state(response: requests.Response, state: str) -> dict[str, Any]:
    """A job/check answer: HTTP 200 and the string state in ``status``."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == state, body
    assert type(body["remainingCredits"]) is int
    assert type(body["duration"]) is int
    return body


@pytest.fixture(scope="module")
def two_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multipage(tmp_path_factory.mktemp("pdf"), pages=2, name="two.pdf").path


@pytest.fixture(scope="module")
def three_pages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return multipage(tmp_path_factory.mktemp("pdf"), pages=3, name="three.pdf").path


@pytest.fixture(scope="module")
def doc_url(shared_server: LocalServer, two_pages: Path) -> str:
    """A two-page document uploaded once to the module's shared server (read-only for the tests)."""
    return Api(shared_server).upload(two_pages)


@pytest.fixture(scope="module")
def finished_job(shared_server: LocalServer, doc_url: str) -> dict[str, Any]:
    """A successful async text-simple job on the shared server: its final job/check body."""
    job = Api(shared_server).convert(doc_url, endpoint=SIMPLE)
    assert job["status"] == "success", job
    return job


# API key ---------------------------------------------------------------------------------------------------
ENDPOINTS = [
    ("GET", "account/credit/balance"),
    ("GET", "file/upload/get-presigned-url?name=x.pdf"),
    ("POST", "file/upload/base64"),
    ("POST", "file/upload"),
    ("GET", "file/upload/url?url=http://127.0.0.1:9/x.pdf"),
    ("POST", "file/delete"),
    ("POST", "pdf/convert/to/text"),
    ("POST", SIMPLE),
    ("GET", "job/check?jobid=ABC"),
    ("POST", "job/check"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_missing_key_is_401(api: Api, method: str, path: str) -> None:
    response = api.session.request(method, api.url(path), timeout=TIMEOUT)
    assert_error(response, 401, "x-api-key")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_wrong_key_is_401(api: Api, method: str, path: str) -> None:
    response = api.session.request(
        method, api.url(path), headers={"x-api-key": "not-" + API_KEY}, timeout=TIMEOUT
    )
    assert_error(response, 401, "not valid")


def test_wrong_key_in_query_is_401(api: Api) -> None:
    response = requests.get(api.url("account/credit/balance"), params={"x-api-key": "nope"}, timeout=TIMEOUT)
    assert_error(response, 401, "not valid")


def test_empty_key_is_401(api: Api) -> None:
    response = requests.get(api.url("account/credit/balance"), headers={"x-api-key": ""}, timeout=TIMEOUT)
    assert_error(response, 401)


@pytest.mark.parametrize("header", ["x-api-key", "X-API-KEY", "X-Api-Key"])
def test_key_in_header(api: Api, header: str) -> None:
    response = requests.get(api.url("account/credit/balance"), headers={header: API_KEY}, timeout=TIMEOUT)
    assert_ok(response)


def test_key_in_query_string(api: Api, doc_url: str) -> None:
    assert_ok(requests.get(api.url("account/credit/balance"), params={"x-api-key": API_KEY}, timeout=TIMEOUT))
    converted = requests.post(
        api.url(SIMPLE), params={"x-api-key": API_KEY}, json={"url": doc_url, "inline": True}, timeout=TIMEOUT
    )
    assert page_marker(0) in assert_ok(converted)["body"]


def test_healthz_needs_no_key(api: Api) -> None:
    response = requests.get(f"{api.base}/healthz", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# credits ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_credit_balance(server_factory: ServerFactory, method: str) -> None:
    api = Api(server_factory(api_keys={API_KEY: 1234}, workers=1))
    response = api.session.request(
        method, api.url("account/credit/balance"), headers={"x-api-key": API_KEY}, timeout=TIMEOUT
    )
    body = assert_ok(response)
    assert body["remainingCredits"] == 1234


def test_balances_are_per_key(server_factory: ServerFactory, two_pages: Path) -> None:
    server = server_factory(api_keys={"key-one": 50, "key-two": 70}, workers=1)
    one, two = Api(server, "key-one"), Api(server, "key-two")
    assert assert_ok(one.get("account/credit/balance"))["remainingCredits"] == 50
    assert assert_ok(two.get("account/credit/balance"))["remainingCredits"] == 70
    assert assert_ok(one.post(SIMPLE, json={"url": one.upload(two_pages)}))["remainingCredits"] == 48
    assert assert_ok(two.get("account/credit/balance"))["remainingCredits"] == 70


def test_one_credit_per_converted_page(server_factory: ServerFactory, three_pages: Path) -> None:
    server = server_factory(api_keys={API_KEY: 100}, workers=1)
    api = Api(server)
    url = api.upload(three_pages)  # uploads are free
    assert assert_ok(api.get("account/credit/balance"))["remainingCredits"] == 100

    sync = assert_ok(api.post(SIMPLE, json={"url": url}))
    assert sync["pageCount"] == 3
    assert sync["credits"] == 3
    assert sync["remainingCredits"] == 97

    job = api.convert(url, endpoint="pdf/convert/to/text", pages="0-1")
    assert job["status"] == "success", job
    assert job["pageCount"] == 2
    assert job["credits"] == 2
    assert job["remainingCredits"] == 95

    one = assert_ok(api.post(SIMPLE, data={"url": url, "pages": "2"}))
    assert one["credits"] == 1
    assert one["remainingCredits"] == 94
    assert assert_ok(api.get("account/credit/balance"))["remainingCredits"] == 94


def test_zero_balance_is_402(server_factory: ServerFactory, two_pages: Path) -> None:
    server = server_factory(api_keys={API_KEY: 0}, workers=1)
    api = Api(server)
    url = api.upload(two_pages)  # uploads need no credits
    assert_error(api.post(SIMPLE, json={"url": url}), 402, "credit")
    assert_error(api.post(SIMPLE, json={"url": url, "async": True}), 402, "credit")
    assert_error(api.post("pdf/convert/to/text", json={"url": url}), 402, "credit")
    assert assert_ok(api.get("account/credit/balance"))["remainingCredits"] == 0


def test_job_costing_more_than_the_balance_fails_with_402(
    server_factory: ServerFactory, three_pages: Path
) -> None:
    server = server_factory(api_keys={API_KEY: 2}, workers=1)
    api = Api(server)
    url = api.upload(three_pages)

    job = api.convert(url, endpoint=SIMPLE)
    assert job["status"] == "failed", job
    assert job["error"] is True
    assert job["errorCode"] == 402
    assert "credit" in job["message"].lower()
    assert job["remainingCredits"] == 2  # nothing taken

    assert_error(api.post(SIMPLE, json={"url": url}), 402, "credit")  # the same, synchronously
    assert assert_ok(api.get("account/credit/balance"))["remainingCredits"] == 2

    exact = assert_ok(api.post(SIMPLE, json={"url": url, "pages": "0-1"}))  # exactly the balance
    assert exact["credits"] == 2
    assert exact["remainingCredits"] == 0
    assert_error(api.post(SIMPLE, json={"url": url, "pages": "0"}), 402, "credit")


# rate limit ------------------------------------------------------------------------------------------------
def _burst(api: Api, count: int) -> list[requests.Response]:
    return [api.get("account/credit/balance") for _ in range(count)]


def test_rate_limit_answers_429_with_retry_after(server_factory: ServerFactory) -> None:
    server = server_factory(rate_limit=2, workers=1)
    api = Api(server)
    responses = _burst(api, 8)
    statuses = [response.status_code for response in responses]
    assert statuses[0] == 200, statuses
    assert set(statuses) == {200, 429}, statuses

    retry_after = 0
    for response in responses:
        if response.status_code == 200:
            assert_ok(response)
            continue
        assert_error(response, 429, "requests per second")
        assert response.headers["Retry-After"].isdigit(), response.headers
        retry_after = int(response.headers["Retry-After"])
        assert retry_after >= 1

    time.sleep(retry_after)
    assert_ok(api.get("account/credit/balance"))


def test_rate_limit_is_per_key_and_spares_file_links(server_factory: ServerFactory, two_pages: Path) -> None:
    server = server_factory(api_keys={"key-one": 100, "key-two": 100}, rate_limit=2, workers=1)
    one, two = Api(server, "key-one"), Api(server, "key-two")
    url = one.upload(two_pages)  # one of key-one's two tokens
    statuses = [response.status_code for response in _burst(one, 4)]
    assert 429 in statuses, statuses

    assert_error(one.get("account/credit/balance"), 429)  # key-one is throttled...
    assert_ok(two.get("account/credit/balance"))  # ...key-two is not
    downloaded = requests.get(url, timeout=TIMEOUT)  # file links stand for S3: never limited
    assert downloaded.status_code == 200
    assert downloaded.content == two_pages.read_bytes()
    assert requests.get(f"{server.base_url}/healthz", timeout=TIMEOUT).status_code == 200


# request encodings on text-simple ---------------------------------------------------------------------------
def _json(api: Api, path: str, params: dict[str, Any]) -> requests.Response:
    return api.post(path, json=params)


def _form(api: Api, path: str, params: dict[str, Any]) -> requests.Response:
    return api.post(path, data=params)  # requests sends True as "True", like PDF.co's Python samples


def _multipart(api: Api, path: str, params: dict[str, Any]) -> requests.Response:
    def text(value: Any) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    return api.post(path, files={key: (None, text(value)) for key, value in params.items()})


def _query(api: Api, path: str, params: dict[str, Any]) -> requests.Response:
    return api.post(path, params=params)


ENCODINGS = [_json, _form, _multipart, _query]
ENCODING_IDS = ["json", "urlencoded", "multipart", "query"]
Sender = Callable[[Api, str, dict[str, Any]], requests.Response]


@pytest.mark.parametrize("send", ENCODINGS, ids=ENCODING_IDS)
def test_text_simple_accepts_every_body_encoding(api: Api, doc_url: str, send: Sender) -> None:
    body = assert_ok(send(api, SIMPLE, {"url": doc_url, "inline": True}))
    assert body["pageCount"] == 2
    assert body["name"] == "two.txt"
    assert page_marker(0) in body["body"]
    assert page_marker(1) in body["body"]


@pytest.mark.parametrize("send", ENCODINGS, ids=ENCODING_IDS)
def test_parameter_names_are_case_insensitive(api: Api, doc_url: str, send: Sender) -> None:
    body = assert_ok(send(api, SIMPLE, {"URL": doc_url, "Inline": True, "PAGES": "1", "Name": "upper.txt"}))
    assert body["pageCount"] == 1
    assert body["name"] == "upper.txt"
    assert page_marker(1) in body["body"]
    assert page_marker(0) not in body["body"]

    submitted = assert_ok(send(api, SIMPLE, {"Url": doc_url, "ASYNC": True}))
    assert submitted["jobId"]
    assert api.wait(submitted["jobId"])["status"] == "success"


TRUE_VALUES: list[Any] = [True, "true", "True", "TRUE", "1", 1, "yes"]
FALSE_VALUES: list[Any] = [False, "false", "False", "0", 0, "no"]


@pytest.mark.parametrize("value", TRUE_VALUES, ids=repr)
@pytest.mark.parametrize("send", [_json, _form, _query], ids=["json", "urlencoded", "query"])
def test_async_true_spellings(api: Api, doc_url: str, send: Sender, value: Any) -> None:
    submitted = assert_ok(send(api, SIMPLE, {"url": doc_url, "async": value}))
    assert len(submitted["jobId"]) >= 32
    assert submitted["pageCount"] == 0  # not run yet
    assert "body" not in submitted
    job = api.wait(submitted["jobId"])
    assert job["status"] == "success", job
    assert job["pageCount"] == 2


@pytest.mark.parametrize("value", FALSE_VALUES, ids=repr)
def test_async_false_spellings_run_synchronously(api: Api, doc_url: str, value: Any) -> None:
    body = assert_ok(api.post(SIMPLE, json={"url": doc_url, "async": value}))
    assert body["pageCount"] == 2
    assert body["credits"] == 2


@pytest.mark.parametrize("value", TRUE_VALUES, ids=repr)
@pytest.mark.parametrize("send", [_json, _form, _query], ids=["json", "urlencoded", "query"])
def test_inline_true_spellings(api: Api, doc_url: str, send: Sender, value: Any) -> None:
    body = assert_ok(send(api, SIMPLE, {"url": doc_url, "inline": value}))
    assert page_marker(0) in body["body"]


@pytest.mark.parametrize("value", FALSE_VALUES, ids=repr)
def test_inline_false_spellings_give_a_link(api: Api, doc_url: str, value: Any) -> None:
    body = assert_ok(api.post(SIMPLE, json={"url": doc_url, "inline": value}))
    assert "body" not in body
    text = api.text(body["url"])
    assert page_marker(0) in text


@pytest.mark.parametrize("name", ["async", "inline"])
@pytest.mark.parametrize("send", ENCODINGS, ids=ENCODING_IDS)
def test_invalid_boolean_is_454(api: Api, doc_url: str, send: Sender, name: str) -> None:
    assert_error(send(api, SIMPLE, {"url": doc_url, name: "maybe"}), 454, name)


@pytest.mark.parametrize(
    ("payload", "words"),
    [(b'{"url": "x", ', ("json",)), (b"not json", ("json",)), (b'["url"]', ("json object",))],
    ids=["truncated", "garbage", "array"],
)
def test_malformed_json_body_is_400(api: Api, payload: bytes, words: tuple[str, ...]) -> None:
    response = api.post(
        SIMPLE, data=payload, headers={"x-api-key": API_KEY, "content-type": "application/json"}
    )
    assert_error(response, 400, *words)


def test_missing_url_is_400(api: Api) -> None:
    assert_error(api.post(SIMPLE, json={"inline": True}), 400, "url")


def test_body_wins_over_query_string(api: Api, doc_url: str) -> None:
    response = api.post(SIMPLE, params={"url": doc_url, "pages": "0"}, json={"pages": "1", "inline": True})
    body = assert_ok(response)
    assert page_marker(1) in body["body"]
    assert page_marker(0) not in body["body"]


# request encodings on job/check -----------------------------------------------------------------------------
JOB_CHECK_FORMS: list[tuple[str, Callable[[Api, str], requests.Response]]] = [
    ("get-jobid", lambda api, job: api.get("job/check", params={"jobid": job})),
    ("get-jobId", lambda api, job: api.get("job/check", params={"jobId": job})),
    ("get-JOBID", lambda api, job: api.get("job/check", params={"JOBID": job})),
    ("json-jobid", lambda api, job: api.post("job/check", json={"jobid": job})),
    ("json-jobId", lambda api, job: api.post("job/check", json={"jobId": job})),
    ("json-JOBID", lambda api, job: api.post("job/check", json={"JOBID": job})),
    ("urlencoded-jobid", lambda api, job: api.post("job/check", data={"jobid": job})),
    ("urlencoded-JobId", lambda api, job: api.post("job/check", data={"JobId": job})),
    ("multipart-jobid", lambda api, job: api.post("job/check", files={"jobid": (None, job)})),
    ("multipart-jobId", lambda api, job: api.post("job/check", files={"jobId": (None, job)})),
    ("post-query", lambda api, job: api.post("job/check", params={"jobid": job})),
]


@pytest.mark.parametrize(
    "check", [form for _, form in JOB_CHECK_FORMS], ids=[name for name, _ in JOB_CHECK_FORMS]
)
def test_job_check_accepts_every_request_form(
    api: Api, finished_job: dict[str, Any], check: Callable[[Api, str], requests.Response]
) -> None:
    body = assert_job_state(check(api, finished_job["jobId"]), "success")
    assert body["jobId"] == finished_job["jobId"]
    assert body["pageCount"] == 2
    assert body["credits"] == 2
    assert type(body["jobDuration"]) is int
    assert body["url"].startswith(f"{api.base}/files/output/{finished_job['jobId']}/")
    assert isinstance(body["outputLinkValidTill"], str)
    assert page_marker(1) in api.text(body["url"])


@pytest.mark.parametrize("send", ENCODINGS, ids=ENCODING_IDS)
@pytest.mark.parametrize("force", [True, "true", "True", "1"], ids=repr)
def test_job_check_force_spellings_report_unknown(api: Api, send: Sender, force: Any) -> None:
    unknown = "Z" * 32
    assert assert_job_state(send(api, "job/check", {"jobid": unknown}), "working")["jobId"] == unknown
    assert (
        assert_job_state(send(api, "job/check", {"JobId": unknown, "Force": force}), "unknown")["jobId"]
        == unknown
    )


def test_job_check_invalid_force_is_454(api: Api) -> None:
    assert_error(api.get("job/check", params={"jobid": "Z" * 32, "force": "maybe"}), 454, "force")


def test_job_check_without_jobid_is_400(api: Api) -> None:
    assert_error(api.post("job/check", json={}), 400, "jobid")


def test_job_check_malformed_json_is_400(api: Api) -> None:
    response = api.post(
        "job/check", data=b"{jobid", headers={"x-api-key": API_KEY, "content-type": "application/json"}
    )
    assert_error(response, 400, "json")


def test_job_of_another_key_is_not_visible(server_factory: ServerFactory, two_pages: Path) -> None:
    server = server_factory(api_keys={"key-one": 100, "key-two": 100}, workers=1)
    one, two = Api(server, "key-one"), Api(server, "key-two")
    job = one.convert(one.upload(two_pages), endpoint=SIMPLE)
    assert job["status"] == "success", job
    assert (
        assert_job_state(two.get("job/check", params={"jobid": job["jobId"]}), "working").get("url") is None
    )
    hidden = assert_job_state(
        two.get("job/check", params={"jobid": job["jobId"], "force": "true"}), "unknown"
    )
    assert "url" not in hidden


# routing ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["pdf/convert/to/html", "no/such/endpoint", "job/check/extra"])
def test_unknown_v1_path_is_404(api: Api, path: str) -> None:
    assert_error(api.post(path, json={}), 404)
    assert_error(api.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", SIMPLE),
        ("GET", "pdf/convert/to/text"),
        ("GET", "file/upload"),
        ("DELETE", "job/check"),
        ("PUT", "file/delete"),
    ],
)
def test_wrong_method_is_405(api: Api, method: str, path: str) -> None:
    response = api.session.request(method, api.url(path), headers={"x-api-key": API_KEY}, timeout=TIMEOUT)
    assert_error(response, 405)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", SIMPLE, {"POST"}), ("DELETE", "job/check", {"GET", "POST"})],
)
def test_405_names_the_allowed_methods(api: Api, method: str, path: str, allowed: set[str]) -> None:
    """RFC 9110 §15.5.6: a 405 response MUST carry an ``Allow`` header."""
    response = api.session.request(method, api.url(path), headers={"x-api-key": API_KEY}, timeout=TIMEOUT)
    assert response.status_code == 405
    assert "Allow" in response.headers, dict(response.headers)
    assert allowed <= {item.strip() for item in response.headers["Allow"].split(",")}
