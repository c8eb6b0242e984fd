"""Server settings, in one frozen object shared by the app, the job runner and the CLI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .faults import FaultConfig

#: Credits given to a key configured without an explicit balance.
DEFAULT_CREDITS = 1_000_000


@dataclass(frozen=True)
class ServerConfig:
    """Everything pdfco-local can be told. Defaults mirror api.pdf.co where its documentation says.

    ``api_keys`` maps each accepted key to its starting credit balance; the balance then lives in the data
    directory, so a restart does not refill it.
    """

    data_dir: Path
    api_keys: dict[str, int] = field(default_factory=dict)
    #: Requests per second per key on ``/v1/`` endpoints; 0 disables the limit (PDF.co: 2 free, 10 paid).
    rate_limit: float = 0.0
    #: Largest body accepted by the presigned PUT (PDF.co: 2 GB).
    max_upload_bytes: int = 2 * 1024**3
    #: Largest body of an API request such as ``/file/upload`` or base64 (PDF.co: 4 MB).
    max_request_bytes: int = 4 * 1024**2
    #: Lifetime of uploaded files (PDF.co: 1 hour) and of presigned PUT URLs (example URL: 900 s).
    upload_ttl: float = 3600.0
    presign_ttl: float = 900.0
    #: Default and largest ``expiration`` (minutes) of result links.
    default_expiration_minutes: int = 60
    max_expiration_minutes: int = 1440
    #: How long a finished job stays queryable through ``job/check``.
    job_retention: float = 24 * 3600.0
    #: Extraction worker processes, and the limits each job runs under.
    workers: int = field(default_factory=lambda: os.cpu_count() or 2)
    job_time_limit: float = 300.0
    job_memory_limit: int = 1024 * 1024**2
    #: A synchronous conversion longer than this answers 445, as api.pdf.co does past ~30 s.
    sync_timeout: float = 30.0
    #: How often expired files and jobs are swept.
    sweep_interval: float = 30.0
    #: ``tesseract`` executable for OCR of pages without a text layer; missing means no OCR.
    tesseract_cmd: str = "tesseract"
    ocr_dpi: int = 300
    #: Base URL written into upload/result links; ``None`` derives it from each request's Host header, so
    #: the links work under whatever name clients reached the server (``localhost``, a compose service name).
    public_url: str | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if self.job_time_limit <= 0 or self.sync_timeout <= 0:
            raise ValueError("time limits must be positive")
