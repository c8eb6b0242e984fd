"""Unit tests of the one place PDF.co errors are classified (``errors.py``) and of the retry policy (``backoff.py``).

The expectations come from ``DESIGN.md`` ("Errors are classified once") and ``shared/pdfco-api.md`` §5: auth and
credits fail fast, document errors fail the document, 408/429/5xx and legacy ``405 Timeout`` are retried, both the
HTTP status and the JSON ``error`` flag are checked, and ``errorCode`` (AZ) wins over ``status``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from multidict import CIMultiDict
from requests.structures import CaseInsensitiveDict

from conftest import API_KEY
from pdfco_provider.backoff import RetryPolicy
from pdfco_provider.errors import (
    PdfCoAuthError,
    PdfCoCreditsError,
    PdfCoDocumentError,
    PdfCoError,
    PdfCoRateLimitError,
    PdfCoRequestError,
    PdfCoTransientError,
    classify,
    retry_after_seconds,
)

WHAT = "conversion of invoice.pdf"

# code -> (message PDF.co would send, the class it must map to); DOCS-CODES wording where there is one.
TABLE: dict[int, tuple[str, type[PdfCoError]]] = {
    400: ("Bad request.", PdfCoDocumentError),
    401: ("Unauthorized. Authentication is required and has failed.", PdfCoAuthError),
    402: ("Not enough credits.", PdfCoCreditsError),
    403: ("Access forbidden for input URL.", PdfCoAuthError),
    404: ("Resource not found.", PdfCoRequestError),
    405: ("Method not allowed.", PdfCoRequestError),
    408: ("Server timed out waiting for the request.", PdfCoTransientError),
    413: ("Request entity too large.", PdfCoDocumentError),
    429: ("Too many requests.", PdfCoRateLimitError),
    441: ("Invalid password.", PdfCoDocumentError),
    442: ("Input document damaged or of incorrect type.", PdfCoDocumentError),
    # 445 "Timeout error -> use async=true": resending the same request cannot help, so not retried here.
    445: ("Timeout error.", PdfCoDocumentError),
    449: ("Invalid index range. First page is 0.", PdfCoDocumentError),
    450: ("Invalid page range specified.", PdfCoDocumentError),
    454: ("Invalid parameters.", PdfCoDocumentError),
    500: ("Something went wrong. Please try again or contact support.", PdfCoTransientError),
    502: ("Bad gateway.", PdfCoTransientError),
    503: ("Service unavailable.", PdfCoTransientError),
}
RETRYABLE = (PdfCoTransientError, PdfCoRateLimitError)


def _expect(error: PdfCoError | None, cls: type[PdfCoError], code: int, message: str | None = None) -> None:
    assert error is not None, f"{code} was taken for a success"
    assert type(error) is cls, f"{code}: {type(error).__name__}, expected {cls.__name__}"
    assert error.code == code
    assert error.retryable is issubclass(cls, RETRYABLE)
    assert WHAT in str(error)
    assert f"({code})" in str(error)
    if message is not None:
        assert message in str(error)
        assert error.message == str(error)
    assert API_KEY not in str(error)


# classify: the status table -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(TABLE))
def test_http_status_with_error_body(code: int) -> None:
    message, cls = TABLE[code]
    body = {"error": True, "status": code, "message": message}
    _expect(classify(code, body, {}, WHAT), cls, code, message)


@pytest.mark.parametrize("code", sorted(TABLE))
def test_http_status_without_error_flag(code: int) -> None:
    """A 4xx/5xx is a failure even when the body does not say ``error: true`` (or has no JSON at all)."""
    message, cls = TABLE[code]
    _expect(classify(code, {"status": code, "message": message}, {}, WHAT), cls, code, message)
    _expect(classify(code, {"message": message}, {}, WHAT), cls, code, message)
    if code not in (403, 405):  # those two read the message (legacy credits/timeout), see below
        _expect(classify(code, None, {}, WHAT), cls, code, f"HTTP {code}")


@pytest.mark.parametrize("code", sorted(TABLE))
def test_http_200_with_error_flag_uses_the_body_status(code: int) -> None:
    """PDF.co answers some failures with HTTP 200 and ``"error": true`` (pdfco-api.md §5.1)."""
    message, cls = TABLE[code]
    _expect(classify(200, {"error": True, "status": code, "message": message}, {}, WHAT), cls, code, message)


@pytest.mark.parametrize(
    "body",
    [
        {"error": False, "status": 200, "url": "https://x/y.txt"},
        {"status": 200, "name": "a.txt"},
        {"remainingCredits": 99795868},
        {"status": "working", "remainingCredits": 60227},
        {"status": "success", "message": "Success", "jobId": "6YSZD3U872ZYYFEDMQCQSGEEO8YSF5WA"},
        {"error": "false", "status": 200},
        None,
        [],
    ],
)
def test_successes_are_not_errors(body: Any) -> None:
    assert classify(200, body, {}, WHAT) is None


@pytest.mark.parametrize("status", ["failed", "aborted", "unknown"])
def test_a_failed_job_state_is_not_a_failed_call(status: str) -> None:
    """job/check of a failed job answers 200 with a string state (plus AZ's error/errorCode): the caller reads it."""
    body = {"status": status, "error": True, "errorCode": 442, "message": "Input document damaged."}
    assert classify(200, body, {}, "job/check of X") is None


# classify: string codes, flags, errorCode, missing messages, legacy codes --------------------------------------


@pytest.mark.parametrize(
    ("http", "body", "cls", "code"),
    [
        (200, {"error": True, "status": "441", "message": "Invalid password."}, PdfCoDocumentError, 441),
        (200, {"error": "true", "status": "402", "message": "Not enough credits."}, PdfCoCreditsError, 402),
        (200, {"error": "True", "status": "503", "message": "Busy."}, PdfCoTransientError, 503),
        (400, {"error": True, "status": "450", "message": "Invalid page range."}, PdfCoDocumentError, 450),
        (
            200,
            {"error": True, "errorCode": "449", "message": "Invalid index range."},
            PdfCoDocumentError,
            449,
        ),
        (500, {"error": "true", "status": "429", "message": "Slow down."}, PdfCoRateLimitError, 429),
    ],
)
def test_string_codes_and_string_flags(
    http: int, body: dict[str, Any], cls: type[PdfCoError], code: int
) -> None:
    _expect(classify(http, body, {}, WHAT), cls, code, body["message"])


@pytest.mark.parametrize(
    ("http", "body", "cls", "code"),
    [
        (400, {"error": True, "status": 400, "errorCode": 449, "message": "m"}, PdfCoDocumentError, 449),
        (200, {"error": True, "status": 200, "errorCode": 441, "message": "m"}, PdfCoDocumentError, 441),
        (503, {"error": True, "status": 503, "errorCode": 442, "message": "m"}, PdfCoDocumentError, 442),
        (400, {"error": True, "status": 400, "errorCode": 402, "message": "m"}, PdfCoCreditsError, 402),
        (200, {"error": True, "status": 441, "errorCode": "500", "message": "m"}, PdfCoTransientError, 500),
    ],
)
def test_error_code_wins_over_status(
    http: int, body: dict[str, Any], cls: type[PdfCoError], code: int
) -> None:
    _expect(classify(http, body, {}, WHAT), cls, code)


def test_missing_message_names_the_http_status() -> None:
    _expect(classify(503, {"error": True, "status": 503}, {}, WHAT), PdfCoTransientError, 503, "HTTP 503")
    _expect(classify(502, None, {}, WHAT), PdfCoTransientError, 502, "HTTP 502")
    _expect(classify(401, {"error": True, "message": ""}, {}, WHAT), PdfCoAuthError, 401, "HTTP 401")
    _expect(classify(441, {"error": True, "message": None}, {}, WHAT), PdfCoDocumentError, 441, "HTTP 441")


def test_error_flag_without_any_code_is_still_an_error() -> None:
    """``error: true`` on HTTP 200 with no usable code: never a silent success."""
    error = classify(200, {"error": True, "message": "Something went wrong."}, {}, WHAT)
    assert isinstance(error, PdfCoError)
    assert "Something went wrong." in str(error)
    assert API_KEY not in str(error)


def test_unlisted_client_errors_are_request_errors() -> None:
    for code in (406, 409, 414, 418, 422):
        _expect(
            classify(code, {"error": True, "status": code, "message": "m"}, {}, WHAT), PdfCoRequestError, code
        )
    _expect(classify(599, None, {}, WHAT), PdfCoTransientError, 599)


@pytest.mark.parametrize("message", ["Not enough credits", "not enough credits", "Credits exhausted"])
def test_legacy_403_not_enough_credits_is_a_credits_error(message: str) -> None:
    _expect(
        classify(403, {"error": True, "status": 403, "message": message}, {}, WHAT),
        PdfCoCreditsError,
        403,
        message,
    )
    _expect(
        classify(200, {"error": True, "status": 403, "message": message}, {}, WHAT),
        PdfCoCreditsError,
        403,
        message,
    )


@pytest.mark.parametrize("message", ["Timeout error", "Timeout", "Request timeout."])
def test_legacy_405_timeout_is_transient(message: str) -> None:
    _expect(
        classify(405, {"error": True, "status": 405, "message": message}, {}, WHAT),
        PdfCoTransientError,
        405,
        message,
    )


def test_retry_after_travels_with_429_and_5xx_only() -> None:
    headers = {"Retry-After": "7"}
    throttled = classify(429, {"error": True, "status": 429, "message": "m"}, headers, WHAT)
    assert isinstance(throttled, PdfCoRateLimitError)
    assert throttled.retry_after == 7.0
    busy = classify(503, {"error": True, "status": 503, "message": "m"}, headers, WHAT)
    assert isinstance(busy, PdfCoTransientError)
    assert busy.retry_after == 7.0
    no_header = classify(429, None, {}, WHAT)
    assert no_header is not None
    assert no_header.retry_after is None
    auth = classify(401, None, headers, WHAT)
    assert auth is not None
    assert auth.retry_after is None


# retry_after_seconds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0"}, 0.0),
        ({"Retry-After": "120"}, 120.0),
        (CaseInsensitiveDict({"RETRY-AFTER": "4"}), 4.0),
        (CIMultiDict({"rEtRy-AfTeR": "5"}), 5.0),
    ],
)
def test_retry_after_integer(headers: Any, expected: float) -> None:
    assert retry_after_seconds(headers) == expected


def test_retry_after_http_date() -> None:
    future = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = retry_after_seconds({"Retry-After": future})
    assert seconds is not None
    assert 28.0 <= seconds <= 30.5
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after_seconds({"Retry-After": past}) == 0.0
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "1 minute", "Wed, 99 Foo 2015 99:99:99 GMT", "2s"])
def test_retry_after_garbage_is_ignored(value: str) -> None:
    assert retry_after_seconds({"Retry-After": value}) is None


def test_retry_after_missing() -> None:
    assert retry_after_seconds({}) is None
    assert retry_after_seconds(CaseInsensitiveDict({"Content-Type": "application/json"})) is None


# RetryPolicy --------------------------------------------------------------------------------------------------


def _samples(policy: RetryPolicy, attempt: int, error: PdfCoError | None = None, n: int = 300) -> list[float]:
    return [policy.delay(attempt, error) for _ in range(n)]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5])
def test_delay_is_between_half_and_all_of_the_exponential_step(attempt: int) -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=60.0)
    step = 0.5 * 2 ** (attempt - 1)
    delays = _samples(policy, attempt)
    assert all(step / 2 <= delay <= step for delay in delays)
    # jitter: spread over the interval, not one fixed value
    assert len(set(delays)) > 1
    assert min(delays) < step * 0.6
    assert max(delays) > step * 0.9


def test_delay_is_capped_at_max_delay() -> None:
    policy = RetryPolicy(max_attempts=50, base_delay=1.0, max_delay=5.0)
    for attempt in (4, 10, 40):
        delays = _samples(policy, attempt)
        assert all(2.5 <= delay <= 5.0 for delay in delays)
        assert len(set(delays)) > 1


def test_delay_grows_with_the_attempt() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=1000.0)
    means = [sum(_samples(policy, attempt)) / 300 for attempt in (1, 2, 3, 4)]
    assert means == sorted(means)
    assert means[-1] > 4 * means[0]


def test_retry_after_wins_over_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=60.0)
    throttled = PdfCoRateLimitError("m", 429, retry_after=5.0)
    for attempt in (1, 6):  # below and above the exponential step (1 s, then 32 s)
        delays = _samples(policy, attempt, throttled)
        assert all(5.0 <= delay <= 5.1 for delay in delays)
        assert len(set(delays)) > 1  # a little jitter, so throttled clients do not return in lockstep
    zero = _samples(policy, 3, PdfCoRateLimitError("m", 429, retry_after=0.0))
    assert all(0.0 <= delay <= 0.1 for delay in zero)


def test_retry_after_is_capped_at_max_delay() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=3.0)
    assert all(
        delay == 3.0 for delay in _samples(policy, 1, PdfCoRateLimitError("m", 429, retry_after=600.0))
    )


def test_an_error_without_retry_after_uses_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay=1.0, max_delay=60.0)
    assert all(2.0 <= delay <= 4.0 for delay in _samples(policy, 3, PdfCoTransientError("m", 503)))


def test_should_retry_only_retryable_errors_within_the_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    transient = PdfCoTransientError("m", 503)
    assert policy.should_retry(transient, 1)
    assert policy.should_retry(transient, 2)
    assert not policy.should_retry(transient, 3)
    assert policy.should_retry(PdfCoRateLimitError("m", 429), 1)
    for fatal in (
        PdfCoAuthError("m", 401),
        PdfCoCreditsError("m", 402),
        PdfCoDocumentError("m", 450),
        PdfCoRequestError("m", 404),
    ):
        assert not policy.should_retry(fatal, 1)


def test_from_extra_defaults() -> None:
    assert RetryPolicy.from_extra({}) == RetryPolicy()
    assert RetryPolicy() == RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=60.0)


def test_from_extra_reads_the_connection_extras() -> None:
    policy = RetryPolicy.from_extra({"max_retries": 2, "backoff": 0.01, "max_backoff": 0.5, "timeout": 9})
    assert policy == RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.5)


def test_from_extra_accepts_strings_from_the_ui() -> None:
    policy = RetryPolicy.from_extra({"max_retries": "0", "backoff": "2.5", "max_backoff": "30"})
    assert policy == RetryPolicy(max_attempts=1, base_delay=2.5, max_delay=30.0)
    assert not policy.should_retry(PdfCoTransientError("m", 503), 1)
