"""Fault injection: make the server misbehave on purpose, deterministically, for client tests.

Off unless configured. Each decision is drawn from one ``random.Random(seed)`` in request order, so a test
that sends requests sequentially sees the same faults every run. Faults apply to ``/v1/`` API paths (the
PDF.co API proper) unless ``paths`` says otherwise; file links (``/files/``) model S3 and are left alone by
default.

Kinds, checked in this order for each matching request:

- ``latency``: sleep ``latency`` seconds before handling (with probability ``latency_rate``).
- ``drop_rate``: send the status line and headers, then close the connection before the body: clients see a
  connection error / incomplete read, like a proxy dying mid-response.
- ``throttle_rate``: answer 429 with ``Retry-After: <retry_after>``.
- ``error_rate``: answer one of ``error_statuses`` (500/503 by default) with a PDF.co error body.
- ``job_fail_rate``: a conversion job ends ``failed`` with error code 500 ("injected fault").
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    latency: float = 0.0
    latency_rate: float = 0.0
    drop_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: int = 1
    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 503)
    job_fail_rate: float = 0.0
    paths: tuple[str, ...] = field(default=("/v1/",))

    @property
    def enabled(self) -> bool:
        return any(
            rate > 0
            for rate in (
                self.latency_rate,
                self.drop_rate,
                self.throttle_rate,
                self.error_rate,
                self.job_fail_rate,
            )
        )

    def applies_to(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.paths)


@dataclass(frozen=True)
class Decision:
    """What to do to one request; all false/None means "behave"."""

    delay: float = 0.0
    drop: bool = False
    throttle: bool = False
    error_status: int | None = None


class FaultInjector:
    """Draws fault decisions from a seeded generator; safe to call from several threads."""

    def __init__(self, config: FaultConfig):
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings and restart the random sequence (tests switch faults on a live server)."""
        self._lock = threading.Lock()
        self.config = config
        self._random = random.Random(config.seed)

    def for_request(self, path: str) -> Decision:
        config = self.config
        if not config.enabled or not config.applies_to(path):
            return Decision()
        with self._lock:
            draws = [self._random.random() for _ in range(4)]
            status_pick = self._random.choice(config.error_statuses) if config.error_statuses else 500
        return Decision(
            delay=config.latency if draws[0] < config.latency_rate else 0.0,
            drop=draws[1] < config.drop_rate,
            throttle=draws[2] < config.throttle_rate,
            error_status=status_pick if draws[3] < config.error_rate else None,
        )

    def job_fails(self) -> bool:
        if self.config.job_fail_rate <= 0:
            return False
        with self._lock:
            return self._random.random() < self.config.job_fail_rate
