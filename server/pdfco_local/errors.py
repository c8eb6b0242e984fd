"""PDF.co error codes and the one exception type the server raises for them.

The codes and their meaning come from the PDF.co response-code table (``shared/pdfco-api.md`` §5.2). Every
error response has the body ``{"error": true, "status": <code>, "message": <text>}``; codes above 499 that
are not real HTTP statuses (441-454) are still sent as the HTTP status, as the OpenAPI document lists them as
response codes of every endpoint.
"""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[int, str]] = {
    400: "Bad request. Check the request parameters.",
    401: "Unauthorized. Authentication is required and has failed or has not yet been provided.",
    402: "Not enough credits.",
    403: "Access forbidden for input URL.",
    404: "Resource not found.",
    405: "Method not allowed.",
    408: "Server timed out waiting for the request.",
    413: "Request entity too large.",
    414: "URI too long.",
    415: "Unsupported media type.",
    429: "Too many requests.",
    441: "Invalid password. The document is password protected.",
    442: "Input document is damaged or of incorrect type.",
    443: "Document security prevents this operation.",
    444: "Profiles parsing error.",
    445: "Timeout error. Use async=true mode and /v1/job/check, or process fewer pages.",
    449: "Invalid index range. Use /pdf/info to get page count. First page is 0.",
    450: "Invalid page range specified.",
    452: "Invalid URL.",
    454: "Invalid parameters.",
    500: "Something went wrong. Please try again or contact support.",
    503: "Service unavailable. Please try again.",
}


class ApiError(Exception):
    """An error answered to the client as a PDF.co error body.

    ``detail`` is appended to the generic message so that the client learns *which* document or parameter
    was at fault and why, instead of a bare code.
    """

    def __init__(self, status: int, detail: str | None = None, headers: dict[str, str] | None = None):
        self.status = status
        base = MESSAGES.get(status, "Error.")
        self.message = f"{base} {detail}" if detail else base
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, object]:
        return {"error": True, "status": self.status, "message": self.message}


class ExtractionError(Exception):
    """A document-level failure with its PDF.co code (441 password, 442 damaged, 445 time, 449/450 pages...).

    Raised where there is no HTTP request (the worker processes, the pages grammar); the job runner and the
    app turn it into a failed job or an :class:`ApiError`.
    """

    def __init__(self, code: int, detail: str):
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")
