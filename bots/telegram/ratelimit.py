"""A per-chat moving-window rate limit (the `limits` library, in memory: it protects this
process only)."""

from __future__ import annotations

import time
from enum import Enum

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

MAX_TOLD = 10_000  # above this many refused chats, who was told is forgotten (told again once)


class Verdict(Enum):
    """What to do with one message."""

    ALLOW = "allow"
    REFUSE = "refuse"  # over the limit: say so, once
    DROP = "drop"  # over the limit and already told: stay quiet


class RateLimiter:
    """At most `limit` messages per chat in any `window` seconds (whole seconds, at least 1)."""

    def __init__(self, limit: int, window: float) -> None:
        self.item = RateLimitItemPerSecond(limit, max(1, round(window)))
        # The storage forgets a chat's messages once they leave the window, so memory stays
        # bounded by the chats active within one window.
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._told: set[int] = set()

    def check(self, chat_id: int) -> Verdict:
        """Count a message from a chat and say whether to answer it."""
        if self._limiter.hit(self.item, str(chat_id)):
            self._told.discard(chat_id)
            return Verdict.ALLOW
        if chat_id in self._told:
            return Verdict.DROP
        if len(self._told) >= MAX_TOLD:
            self._told.clear()
        self._told.add(chat_id)
        return Verdict.REFUSE

    def wait_seconds(self, chat_id: int) -> float:
        """How long until the chat may send again."""
        stats = self._limiter.get_window_stats(self.item, str(chat_id))
        if stats.remaining > 0:
            return 0.0
        return max(0.0, stats.reset_time - time.time())
