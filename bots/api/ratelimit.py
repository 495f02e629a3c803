"""Per-client-address rate limits on the read endpoints (the `limits` library, in memory)."""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimitedError(Exception):
    """A client over its rate limit; retry_after says how many seconds until it may ask again."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests from your address; try again in {retry_after} seconds")
        self.retry_after = retry_after


class ClientLimits:
    """Moving-window limits per client address; no limits at all when spec is None."""

    def __init__(self, spec: str | None) -> None:
        self.items = parse_many(spec) if spec else []
        # Entries leave the storage once out of their window, so memory follows recent clients.
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def check(self, client: str) -> None:
        """Count a request from a client; RateLimitedError when it is over a limit."""
        for item in self.items:
            if not self._limiter.hit(item, client):
                reset = self._limiter.get_window_stats(item, client).reset_time
                raise RateLimitedError(max(1, math.ceil(reset - time.time())))
