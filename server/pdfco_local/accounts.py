"""API keys, credit balances and the per-key rate limit.

Keys are accepted in the ``x-api-key`` header (preferred) or query parameter, as api.pdf.co does
(``shared/pdfco-api.md`` §1). Only SHA-256 digests are kept; the key itself never reaches the store or
the log. The rate limit is a token bucket per key (capacity = one second's worth of requests), answering
429 with ``Retry-After`` in whole seconds.
"""

from __future__ import annotations

import math
import threading
import time

from starlette.requests import Request

from .errors import ApiError
from .store import Store, key_hash


class Accounts:
    def __init__(self, api_keys: dict[str, int], store: Store, rate_limit: float):
        if not api_keys:
            raise ValueError("pdfco-local needs at least one API key")
        self._owners = {key_hash(key) for key in api_keys}
        for key, credits in api_keys.items():
            store.ensure_account(key_hash(key), credits)
        self.store = store
        self.rate_limit = rate_limit
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def authenticate(self, request: Request) -> str:
        """The caller's account id (key digest); 401 without a valid key."""
        key = request.headers.get("x-api-key") or request.query_params.get("x-api-key")
        if not key:
            raise ApiError(401, "Send your API key in the x-api-key header.")
        owner = key_hash(key)
        if owner not in self._owners:
            raise ApiError(401, "The API key is not valid.")
        return owner

    def throttle(self, owner: str) -> None:
        """Take one request from the key's bucket; 429 with ``Retry-After`` when it is empty."""
        if self.rate_limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(owner, (self.rate_limit, now))
            tokens = min(self.rate_limit, tokens + (now - last) * self.rate_limit)
            if tokens < 1:
                self._buckets[owner] = (tokens, now)
                wait = math.ceil((1 - tokens) / self.rate_limit)
                raise ApiError(
                    429, f"The limit is {self.rate_limit:g} requests per second.", {"Retry-After": str(wait)}
                )
            self._buckets[owner] = (tokens - 1, now)

    def balance(self, owner: str) -> int:
        return self.store.credits(owner)
