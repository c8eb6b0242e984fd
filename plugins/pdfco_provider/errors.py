"""PDF.co errors, classified once for the sync hook, the async hook and the trigger (DESIGN.md).

Both the HTTP status and the JSON ``error`` flag are checked: PDF.co answers some failures with HTTP 200 and
``"error": true`` (``shared/pdfco-api.md`` §5.1). The code is ``errorCode`` if present, else the body's integer
``status``, else the HTTP status. Legacy tables used 403 for "not enough credits" and 405 for "timeout"; both
are recognised from the message.

Messages carry PDF.co's own text and never the API key (it is only ever sent as a header).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from airflow.providers.common.compat.sdk import AirflowException

#: Codes that mean "this document (or these parameters) cannot be converted": retrying will not help.
DOCUMENT_CODES = frozenset({400, 413, 415, 441, 442, 443, 444, 445, 446, 447, 448, 449, 450, 452, 454})
TRANSIENT_CODES = frozenset({408, 500, 502, 503, 504})


class PdfCoError(AirflowException):
    """Base of every PDF.co failure; ``code`` is PDF.co's error code, ``retryable`` says whether to retry."""

    retryable = False

    def __init__(self, message: str, code: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.retry_after = retry_after


class PdfCoAuthError(PdfCoError):
    """401/403: the key is missing or wrong, or access is forbidden. Fails fast, never retried."""


class PdfCoCreditsError(PdfCoError):
    """402 (or legacy 403 "not enough credits"): the account cannot pay. Fails fast."""


class PdfCoDocumentError(PdfCoError):
    """The document or its parameters were rejected (441 password, 442 damaged, 449/450 pages, ...)."""


class PdfCoRequestError(PdfCoError):
    """Any other client error (404, 405...): a bug or a misconfiguration, not worth retrying."""


class PdfCoRateLimitError(PdfCoError):
    """429: retried after ``Retry-After`` (or a backoff when the header is missing)."""

    retryable = True


class PdfCoTransientError(PdfCoError):
    """408, 5xx, dropped connections, timeouts: retried with exponential backoff and jitter."""

    retryable = True


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds: an integer, or an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from datetime import UTC, datetime

        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def classify(http_status: int, body: Any, headers: Mapping[str, str], what: str) -> PdfCoError | None:
    """The error a response stands for, or ``None`` when it is a success.

    ``what`` names the call (e.g. ``"convert sample.pdf"``) so that the message says which document or step
    failed. A ``job/check`` body whose ``status`` is a string state is a success of the *call* even when the
    job failed: the caller reads the state.
    """
    data: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
    flagged = data.get("error") is True or str(data.get("error")).lower() == "true"
    if http_status < 400 and not flagged:
        return None
    state = data.get("status")
    if http_status < 400 and isinstance(state, str) and not state.strip().isdigit():
        return None  # job/check of a failed job: a state ("failed"), not a failed call ("441")
    code = _code(data, http_status)
    message = str(data.get("message") or f"HTTP {http_status}").strip()
    text = f"PDF.co {what} failed ({code}): {message}"
    lowered = message.lower()
    if code == 402 or (code == 403 and "credit" in lowered):
        return PdfCoCreditsError(text, code)
    if code in (401, 403):
        return PdfCoAuthError(text, code)
    if code == 429:
        return PdfCoRateLimitError(text, code, retry_after_seconds(headers))
    if code in TRANSIENT_CODES or code >= 500 or (code == 405 and "timeout" in lowered):
        return PdfCoTransientError(text, code, retry_after_seconds(headers))
    if code in DOCUMENT_CODES:
        return PdfCoDocumentError(text, code)
    return PdfCoRequestError(text, code)


def _code(data: Mapping[str, Any], http_status: int) -> int:
    for key in ("errorCode", "status"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 400:
            return value
        if isinstance(value, str) and value.isdigit() and int(value) >= 400:
            return int(value)
    return http_status if http_status >= 400 else 500
