"""Stored files (uploads and results) on disk, with their signed links and expiry.

Uploads and downloads stream in chunks and are written to a ``.part`` file renamed into place when complete,
so memory does not grow with file size and a reader never sees half a file. Expired files are deleted from
disk by ``sweep``, which the app runs periodically.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import string
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ApiError
from .signing import Signer
from .store import FileRecord, Store

_ID_ALPHABET = string.ascii_uppercase + string.digits
_LINK = re.compile(r"^/files/(input|output)/([A-Z0-9]{32})/[^/]+$")
_UNSAFE = re.compile(r"[^\w.\- ]+")


def new_id() -> str:
    """32 upper-case alphanumerics, the shape of PDF.co job ids and temp-file folders."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def safe_name(name: str | None, default: str) -> str:
    """A file name usable as the last URL segment: no slashes, no control characters."""
    cleaned = _UNSAFE.sub("_", os.path.basename(name or "")).strip(" .")
    return cleaned[:200] or default


class FileStorage:
    def __init__(self, root: Path, store: Store, signer: Signer):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.signer = signer

    def create(
        self, kind: str, owner: str, name: str, content_type: str, lifetime: float, file_id: str | None = None
    ) -> FileRecord:
        now = time.time()
        file_id = file_id or new_id()
        record = FileRecord(
            id=file_id,
            kind=kind,
            name=name,
            path=self.root / file_id,
            content_type=content_type,
            owner=owner,
            created=now,
            expires=now + lifetime,
            complete=False,
            size=0,
        )
        self.store.put_file(record)
        return record

    async def write_stream(self, record: FileRecord, chunks: AsyncIterator[bytes], max_bytes: int) -> int:
        """Write an upload chunk by chunk; 413 (and nothing kept) past ``max_bytes``."""
        partial = record.path.with_suffix(".part")
        size = 0
        try:
            with partial.open("wb") as handle:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise ApiError(413, f"The upload exceeds the limit of {max_bytes} bytes.")
                    handle.write(chunk)
            os.replace(partial, record.path)
        finally:
            partial.unlink(missing_ok=True)
        self.store.complete_file(record.id, size)
        return size

    def write_bytes(self, record: FileRecord, data: bytes) -> None:
        partial = record.path.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, record.path)
        self.store.complete_file(record.id, len(data))

    def link(self, base_url: str, record: FileRecord, expires: float | None = None) -> str:
        expires = record.expires if expires is None else expires
        return base_url + self.signer.sign("GET", record.kind, record.id, record.name, expires)

    def upload_link(self, base_url: str, record: FileRecord, expires: float, content_type: str) -> str:
        return base_url + self.signer.sign("PUT", record.kind, record.id, record.name, expires, content_type)

    def resolve(self, url: str, method: str = "GET", content_type: str = "") -> FileRecord | None:
        """The stored file a link of ours points to, verified; ``None`` if the URL is not one of our links.

        Any host is accepted: the signature, not the host name, proves the link is ours, and clients may
        reach this server under several names.
        """
        parts = urlsplit(url)
        match = _LINK.match(unquote(parts.path))
        if match is None:
            return None
        kind, file_id = match.groups()
        self.signer.verify(method, kind, file_id, dict(parse_qsl(parts.query)), content_type)
        record = self.store.get_file(file_id)
        if record is None or record.kind != kind or record.expires < time.time():
            raise ApiError(404, "The file has expired or was deleted.")
        return record

    def delete(self, record: FileRecord) -> None:
        with contextlib.suppress(FileNotFoundError):
            record.path.unlink()
        self.store.delete_file(record.id)

    def sweep(self, now: float | None = None) -> int:
        """Delete expired files from disk and from the store; returns how many."""
        expired = self.store.expired_files(time.time() if now is None else now)
        for record in expired:
            self.delete(record)
        return len(expired)
