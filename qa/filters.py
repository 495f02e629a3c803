"""Asking by time and source: which articles a question may be answered from, decided before
the search. `published` is stored as the source gave it; it is read here as a UTC instant."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime

from index.store import NewsIndex
from qa.errors import InvalidQuestionError


def published_at(value: str | None) -> datetime | None:
    """An article's `published` as an aware UTC datetime (ISO 8601 or RFC 2822), else None."""
    if not value:
        return None
    text = value.strip()
    parsed: datetime | None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_bound(value: str | date | None, *, end: bool = False) -> datetime | None:
    """A `since`/`until` bound: a date (`until` includes that whole day) or a date-time."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
        if end:
            moment += timedelta(days=1) - timedelta(microseconds=1)
    else:
        text = value.strip()
        try:
            if len(text) == 10:
                return parse_bound(date.fromisoformat(text), end=end)
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidQuestionError(
                f"{'until' if end else 'since'} must be a date like 2025-10-01 (got {value!r})"
            ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    """Only articles from a source (case-insensitive), published within [since, until]."""

    source: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(
        cls,
        source: str | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> Filters:
        """Filters from what a user typed; bad dates are an InvalidQuestionError."""
        lower, upper = parse_bound(since), parse_bound(until, end=True)
        if lower is not None and upper is not None and lower > upper:
            raise InvalidQuestionError("since is after until: nothing can match")
        return cls(source=(source or "").strip() or None, since=lower, until=upper)

    @property
    def active(self) -> bool:
        """Whether anything is filtered at all."""
        return self.source is not None or self.since is not None or self.until is not None

    def admits(self, source: str | None, published: datetime | None) -> bool:
        """Whether an article with this source and date is in scope (no date: out of a range)."""
        if self.source is not None and (source or "").casefold() != self.source.casefold():
            return False
        if self.since is not None and (published is None or published < self.since):
            return False
        return not (self.until is not None and (published is None or published > self.until))


class ArticleDates:
    """Every article's source and publication instant, read again when the index changes."""

    def __init__(self, index: NewsIndex) -> None:
        self.index = index
        self._lock = threading.Lock()
        self._generation = -1
        self._rows: list[tuple[str, str | None, datetime | None]] = []

    def _current(self) -> list[tuple[str, str | None, datetime | None]]:
        generation = self.index.stats().generation
        with self._lock:
            if generation != self._generation:
                self._rows = [
                    (article_id, source, published_at(published))
                    for article_id, source, published in self.index.article_dates()
                ]
                self._generation = generation
            return self._rows

    def scope(self, filters: Filters) -> list[str]:
        """The ids of the articles the filters admit."""
        return [
            article_id
            for article_id, source, when in self._current()
            if filters.admits(source, when)
        ]

    def published(self, article_ids: list[str]) -> dict[str, datetime]:
        """Publication instants of these articles (those that have one)."""
        wanted = set(article_ids)
        return {a: when for a, _, when in self._current() if a in wanted and when is not None}
