"""A per-chat sliding-window rate limit, kept in memory (it only protects this process)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum

MAX_CHATS = 10_000  # above this many tracked chats, quiet ones are forgotten


class Verdict(Enum):
    """What to do with one message."""

    ALLOW = "allow"
    REFUSE = "refuse"  # over the limit: say so, once
    DROP = "drop"  # over the limit and already told: stay quiet


class RateLimiter:
    """At most `limit` messages per chat in any `window` seconds."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._seen: dict[int, deque[float]] = {}
        self._told: set[int] = set()

    def check(self, chat_id: int) -> Verdict:
        """Count a message from a chat and say whether to answer it."""
        if len(self._seen) > MAX_CHATS:
            self.forget_idle()
        now = self._clock()
        seen = self._seen.setdefault(chat_id, deque())
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            self._told.discard(chat_id)
            return Verdict.ALLOW
        if chat_id in self._told:
            return Verdict.DROP
        self._told.add(chat_id)
        return Verdict.REFUSE

    def wait_seconds(self, chat_id: int) -> float:
        """How long until the chat may send again."""
        seen = self._seen.get(chat_id)
        if not seen or len(seen) < self.limit:
            return 0.0
        return max(0.0, self.window - (self._clock() - seen[0]))

    def forget_idle(self) -> None:
        """Drop chats that have been quiet for a whole window (keeps memory bounded)."""
        now = self._clock()
        for chat_id in [
            c for c, seen in self._seen.items() if not seen or now - seen[-1] >= self.window
        ]:
            del self._seen[chat_id]
            self._told.discard(chat_id)
