"""The server's durable state in one SQLite file: accounts (credits), stored files and jobs.

SQLite in WAL mode survives a SIGKILL, which is what lets a restarted server finish the jobs that were in
flight. Keys are stored as SHA-256 digests only: the data directory never holds an API key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (key_hash TEXT PRIMARY KEY, credits INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
    content_type TEXT NOT NULL, owner TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
    complete INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, status TEXT NOT NULL, request TEXT NOT NULL,
    output_id TEXT NOT NULL, page_count INTEGER, credits INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '', error_code INTEGER, created REAL NOT NULL, finished REAL,
    job_duration INTEGER
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS files_expires ON files(expires);
"""


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class FileRecord:
    id: str
    kind: str  # "input" (uploads) or "output" (results)
    name: str
    path: Path
    content_type: str
    owner: str
    created: float
    expires: float
    complete: bool
    size: int


@dataclass
class JobRecord:
    id: str
    owner: str
    status: str  # working | success | failed | aborted
    request: dict[str, Any]
    output_id: str
    page_count: int | None
    credits: int
    message: str
    error_code: int | None
    created: float
    finished: float | None
    job_duration: int | None


class Store:
    """Thread-safe access to the SQLite file; every call is one short transaction."""

    def __init__(self, path: Path):
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        path.chmod(0o600)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    # accounts -------------------------------------------------------------------------------------------
    def ensure_account(self, owner: str, credits: int) -> None:
        self._run("INSERT OR IGNORE INTO accounts VALUES (?, ?)", (owner, credits))

    def credits(self, owner: str) -> int:
        rows = self._run("SELECT credits FROM accounts WHERE key_hash = ?", (owner,))
        return int(rows[0]["credits"]) if rows else 0

    def charge(self, owner: str, amount: int) -> int | None:
        """Take ``amount`` credits atomically; ``None`` (and nothing taken) when the balance is short."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE accounts SET credits = credits - ? WHERE key_hash = ? AND credits >= ? RETURNING credits",
                (amount, owner, amount),
            )
            row = cursor.fetchone()
            return None if row is None else int(row[0])

    # files ----------------------------------------------------------------------------------------------
    def put_file(self, record: FileRecord) -> None:
        self._run(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.id,
                record.kind,
                record.name,
                str(record.path),
                record.content_type,
                record.owner,
                record.created,
                record.expires,
                int(record.complete),
                record.size,
            ),
        )

    def get_file(self, file_id: str) -> FileRecord | None:
        rows = self._run("SELECT * FROM files WHERE id = ?", (file_id,))
        return _file(rows[0]) if rows else None

    def complete_file(self, file_id: str, size: int, expires: float | None = None) -> None:
        if expires is None:
            self._run("UPDATE files SET complete = 1, size = ? WHERE id = ?", (size, file_id))
        else:
            self._run(
                "UPDATE files SET complete = 1, size = ?, expires = ? WHERE id = ?", (size, expires, file_id)
            )

    def delete_file(self, file_id: str) -> None:
        self._run("DELETE FROM files WHERE id = ?", (file_id,))

    def expired_files(self, now: float) -> list[FileRecord]:
        return [_file(row) for row in self._run("SELECT * FROM files WHERE expires < ?", (now,))]

    # jobs -----------------------------------------------------------------------------------------------
    def add_job(self, job_id: str, owner: str, request: dict[str, Any], output_id: str) -> None:
        self._run(
            "INSERT INTO jobs (id, owner, status, request, output_id, created) VALUES (?, ?, 'working', ?, ?, ?)",
            (job_id, owner, json.dumps(request), output_id, time.time()),
        )

    def get_job(self, job_id: str) -> JobRecord | None:
        rows = self._run("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def finish_job(
        self,
        job_id: str,
        status: str,
        *,
        message: str,
        page_count: int | None = None,
        credits: int = 0,
        error_code: int | None = None,
        job_duration: int | None = None,
    ) -> None:
        self._run(
            "UPDATE jobs SET status = ?, message = ?, page_count = ?, credits = ?, error_code = ?, "
            "finished = ?, job_duration = ? WHERE id = ? AND status = 'working'",
            (status, message, page_count, credits, error_code, time.time(), job_duration, job_id),
        )

    def working_jobs(self) -> list[JobRecord]:
        return [
            _job(row) for row in self._run("SELECT * FROM jobs WHERE status = 'working' ORDER BY created")
        ]

    def purge_jobs(self, finished_before: float) -> int:
        rows = self._run(
            "DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ? RETURNING id", (finished_before,)
        )
        return len(rows)


def _file(row: sqlite3.Row) -> FileRecord:
    return FileRecord(
        id=row["id"],
        kind=row["kind"],
        name=row["name"],
        path=Path(row["path"]),
        content_type=row["content_type"],
        owner=row["owner"],
        created=row["created"],
        expires=row["expires"],
        complete=bool(row["complete"]),
        size=row["size"],
    )


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        owner=row["owner"],
        status=row["status"],
        request=json.loads(row["request"]),
        output_id=row["output_id"],
        page_count=row["page_count"],
        credits=row["credits"],
        message=row["message"],
        error_code=row["error_code"],
        created=row["created"],
        finished=row["finished"],
        job_duration=row["job_duration"],
    )
