"""Request parameters as PDF.co clients send them: JSON, urlencoded or multipart bodies plus the query string.

Official samples and clients disagree on spelling (``jobid``/``jobId``, ``lineGrouping``/``linegrouping``)
and on boolean encoding (``true``, ``"True"`` from Python ``requests`` form posts, ``1``), so names are
matched case-insensitively and booleans accept every spelling seen (``shared/pdfco-api.md`` §3.4, §8).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from .errors import ApiError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Params:
    """Case-insensitive view of a request's parameters; body values win over the query string."""

    def __init__(self, values: Mapping[str, Any], files: Mapping[str, UploadFile] | None = None):
        self._values = {key.lower(): value for key, value in values.items()}
        self.files = {key.lower(): value for key, value in (files or {}).items()}

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._values.get(name.lower())
        if value is None:
            return default
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, dict | list):
            return json.dumps(value)
        return str(value)

    def required(self, name: str) -> str:
        value = self.text(name)
        if value is None or not value.strip():
            raise ApiError(400, f"Parameter {name!r} is required.")
        return value

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._values.get(name.lower())
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ApiError(454, f"Parameter {name!r} must be true or false, not {value!r}.")

    def number(self, name: str, default: int) -> int:
        value = self._values.get(name.lower())
        if value is None or value == "":
            return default
        try:
            return int(str(value).strip())
        except ValueError:
            raise ApiError(454, f"Parameter {name!r} must be a whole number, not {value!r}.") from None


async def read_params(request: Request, max_bytes: int) -> Params:
    """Collect query and body parameters, enforcing the API request size limit (413)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"Request body is {declared} bytes; the limit is {max_bytes}.")
    values: dict[str, Any] = dict(request.query_params)
    files: dict[str, UploadFile] = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method in ("POST", "PUT"):
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            # Count the whole body first (a chunked body has no Content-Length), then parse it from memory.
            body = await _read_limited(request, max_bytes)

            async def replay() -> Message:
                return {"type": "http.request", "body": body, "more_body": False}

            form = await Request(request.scope, replay).form(max_part_size=max_bytes)
            for key, item in form.multi_items():
                if isinstance(item, UploadFile):
                    files[key] = item
                else:
                    values[key] = item
        else:
            body = await _read_limited(request, max_bytes)
            if body.strip():
                try:
                    decoded = json.loads(body)
                except json.JSONDecodeError as exc:
                    raise ApiError(400, f"Request body is not valid JSON: {exc.msg}.") from None
                if not isinstance(decoded, dict):
                    raise ApiError(400, "Request body must be a JSON object.")
                values.update(decoded)
    return Params(values, files)


async def _read_limited(request: Request, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"Request body exceeds the limit of {max_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
