"""Writing to any ``ObjectStoragePath`` so that a reader never sees half a file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from airflow.sdk import ObjectStoragePath


def write_atomically(target: ObjectStoragePath, write: Callable[[Any], Any], tag: str = "") -> int:
    """Write through a hidden ``.part`` sibling, then rename it into place; returns the size written.

    On a local file system the rename is atomic; object stores have no rename, but the copy appears
    whole when it completes, which is what readers need.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.{tag or 'tmp'}.part"
    try:
        with partial.open("wb") as out:  # type: ignore[no-untyped-call]
            write(out)
        size = int(partial.stat().st_size)
        partial.rename(target)
    finally:
        if partial.exists():
            partial.unlink()
    return size


def write_json(target: ObjectStoragePath, data: Any, tag: str = "") -> int:
    payload = json.dumps(data, indent=2).encode()
    return write_atomically(target, lambda out: out.write(payload), tag)
