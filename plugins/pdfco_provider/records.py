"""The document record: the one small JSON object per document that flows between tasks (DESIGN.md).

``{source, name, size, fingerprint, uploaded_url, job_id, result_url, status, pages, credits, text_path,
error, error_code, timings}``. XCom carries records and paths only, never bytes or text. A record whose
``status`` is ``failed`` or ``skipped`` passes through later steps untouched, so one bad document never
stops the others and never disappears.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

Record = dict[str, Any]

#: Status after each step; ``stored``, ``failed`` and ``skipped`` are final.
PENDING, UPLOADED, SUBMITTED, CONVERTED, STORED, FAILED, SKIPPED = (
    "pending", "uploaded", "submitted", "converted", "stored", "failed", "skipped",
)  # fmt: skip
FINAL = frozenset({STORED, FAILED, SKIPPED})


def as_records(value: Any) -> list[Record]:
    """Accept what users pass: a path or URI, a record, or a list (possibly nested, as mapped XComs are)."""
    if value is None:
        return []
    if isinstance(value, str | os.PathLike):
        return [new_record(os.fspath(value))]
    if isinstance(value, Mapping):
        record = dict(value)
        if "source" not in record:
            raise ValueError(f"A document record needs a 'source': {sorted(record)}")
        record.setdefault("name", default_name(str(record["source"])))
        record.setdefault("status", PENDING)
        return [record]
    if isinstance(value, Iterable):
        return [record for item in value for record in as_records(item)]
    raise TypeError(f"Cannot make document records from {type(value).__name__}")


def new_record(source: str, name: str | None = None) -> Record:
    return {"source": source, "name": name or default_name(source), "status": PENDING, "error": None}


def default_name(source: str) -> str:
    """The output name: the source's file name without ``.pdf``."""
    stem = PurePosixPath(source.split("?")[0].rstrip("/")).name
    return stem[:-4] if stem.lower().endswith(".pdf") else stem or "document"


def active(records: Iterable[Record], status: str | None = None) -> list[Record]:
    """Records still in play (optionally: only those at ``status``)."""
    return [
        r for r in records if r.get("status") not in FINAL and (status is None or r.get("status") == status)
    ]


def fail(record: Record, step: str, message: str, code: int | None = None) -> None:
    record.update(status=FAILED, error=f"{step}: {message}", error_code=code)


def add_timing(record: Record, step: str, seconds: float) -> None:
    record.setdefault("timings", {})[step] = round(seconds, 3)


def describe_failures(records: Iterable[Record]) -> str:
    return "; ".join(
        f"{r['name']} ({r['source']}): {r['error']}" for r in records if r.get("status") == FAILED
    )
