"""When to retry and how long to wait: one policy for the sync hook and the async trigger.

Exponential backoff with "full jitter" (a random delay between half and all of the exponential step), capped,
and ``Retry-After`` honoured when the server sends it. Only ``retryable`` errors are retried.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .errors import PdfCoError


@dataclass(frozen=True)
class RetryPolicy:
    #: Total attempts, the first included.
    max_attempts: int = 5
    #: First backoff step in seconds; doubles every attempt.
    base_delay: float = 1.0
    #: Longest wait between attempts, ``Retry-After`` included.
    max_delay: float = 60.0

    @classmethod
    def from_extra(cls, extra: dict[str, Any]) -> RetryPolicy:
        """Read the connection extras ``max_retries``, ``backoff`` and ``max_backoff``."""
        return cls(
            max_attempts=1 + int(extra.get("max_retries", cls.max_attempts - 1)),
            base_delay=float(extra.get("backoff", cls.base_delay)),
            max_delay=float(extra.get("max_backoff", cls.max_delay)),
        )

    def should_retry(self, error: PdfCoError, attempt: int) -> bool:
        return error.retryable and attempt < self.max_attempts

    def delay(self, attempt: int, error: PdfCoError | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if error is not None and error.retry_after is not None:
            return min(self.max_delay, error.retry_after + random.uniform(0, 0.1 * self.base_delay))
        step = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(step / 2, step)
