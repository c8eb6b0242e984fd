"""Batch bookkeeping for pipelines: discover documents, skip converted ones, split batches, write manifests.

Used by the ``pdf_to_text`` DAG; kept here (not in the DAG file) so it is importable, typed and tested.

A document is *converted* when ``<destination>/<name>.json`` (the sidecar the store step writes after the
text) carries the same ``fingerprint`` as the source now has. The fingerprint is built from what listing
the source already returns (size, modification time, ETag where the store has one), so discovering
thousands of documents reads no document, and touching a source makes it convert again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import ObjectStoragePath

from .records import FAILED, FINAL, SKIPPED, STORED, Record, new_record

#: ``[core] max_map_length`` defaults to 1024: stay below it whatever the number of documents.
MAX_BATCHES = 1000
_INFO_KEYS = (
    "size",
    "mtime",
    "LastModified",
    "last_modified",
    "updated",
    "ETag",
    "etag",
    "md5Hash",
    "crc32c",
)


def fingerprint(info: Mapping[str, Any]) -> str:
    """A stable digest of a listing entry (size, modification time, ETag/MD5 when the store gives them)."""
    kept = {key: str(info[key]) for key in _INFO_KEYS if info.get(key) is not None}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:32]


def case_insensitive(pattern: str) -> str:
    """``**/*.pdf`` -> ``**/*.[pP][dD][fF]``: scanned folders mix ``.pdf`` and ``.PDF``."""
    head, _, last = pattern.rpartition("/")
    last = re.sub(r"[A-Za-z]", lambda m: f"[{m.group().lower()}{m.group().upper()}]", last)
    return f"{head}/{last}" if head else last


def discover(source: str, pattern: str = "**/*.pdf") -> list[Record]:
    """Every document under ``source`` matching ``pattern``, as pending records with fingerprints.

    Names are paths relative to ``source`` without ``.pdf``, so ``a/x.pdf`` and ``b/x.pdf`` do not collide.
    """
    base = ObjectStoragePath(source)
    if base.is_file():
        paths = [base]
        base = base.parent
    else:
        paths = sorted(p for p in base.glob(case_insensitive(pattern)) if p.is_file())
    records = []
    for path in paths:
        relative = str(path.relative_to(base))
        name = relative[:-4] if relative.lower().endswith(".pdf") else relative
        record = new_record(str(path), name)
        info = path.stat()
        record["fingerprint"] = fingerprint(
            info if isinstance(info, Mapping) else {"size": info.st_size, "mtime": info.st_mtime}
        )
        records.append(record)
    return records


def sidecar(destination: str, name: str) -> dict[str, Any] | None:
    path = ObjectStoragePath(destination) / f"{name}.json"
    try:
        with path.open("r") as handle:  # type: ignore[no-untyped-call]
            data = json.load(handle)
    except (FileNotFoundError, json.JSONDecodeError, OSError):
        return None
    return data if isinstance(data, dict) else None


def skip_converted(
    records: Iterable[Record], destination: str, reason: str, status: str = SKIPPED
) -> list[Record]:
    """Records whose sidecar fingerprint matches get ``status`` (``skipped`` by default) and ``reason``.

    ``discover`` marks them ``skipped`` (converted by an earlier run); a batch that is cleared and run again
    marks them ``stored`` (converted by an earlier try of this same run, which the manifest must count).
    Pages, credits and the job id come from the sidecar, so the manifest stays complete either way.
    """
    result = []
    for record in records:
        record = dict(record)
        if record.get("status") not in FINAL:
            existing = sidecar(destination, record["name"])
            if existing is not None and existing.get("fingerprint") == record.get("fingerprint"):
                record.update(
                    status=status,
                    reason=reason,
                    text_path=str(ObjectStoragePath(destination) / f"{record['name']}.txt"),
                    job_id=existing.get("job_id"),
                    pages=existing.get("pages"),
                    credits=existing.get("credits"),
                )
        result.append(record)
    return result


def split(records: list[Record], batch_size: int, max_batches: int = MAX_BATCHES) -> list[list[Record]]:
    """Batches of ``batch_size`` (grown if needed so there are at most ``max_batches``)."""
    if not records:
        return []
    size = max(1, batch_size, math.ceil(len(records) / max_batches))
    return [records[i : i + size] for i in range(0, len(records), size)]


def manifest(
    run_id: str, source: str, destination: str, documents: list[Record], started: str | None = None
) -> dict[str, Any]:
    """What a run did, document by document; written next to the text by the report step."""
    counts = {
        "converted": sum(d.get("status") == STORED for d in documents),
        "skipped": sum(d.get("status") == SKIPPED for d in documents),
        "failed": sum(d.get("status") == FAILED for d in documents),
    }
    keep = ("name", "source", "status", "reason", "error", "error_code", "pages", "credits", "text_path",
            "text_bytes", "job_id", "size", "timings")  # fmt: skip
    return {
        "v": 1,
        "run_id": run_id,
        "source": source,
        "destination": destination,
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "counts": {**counts, "total": len(documents)},
        "pages": sum(int(d.get("pages") or 0) for d in documents if d.get("status") == STORED),
        "credits": sum(int(d.get("credits") or 0) for d in documents if d.get("status") == STORED),
        "documents": [{key: d[key] for key in keep if d.get(key) is not None} for d in documents],
    }
