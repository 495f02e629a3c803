"""Asking by time and source: what `source`, `since` and `until` mean. The articles they admit
are looked up before the search (NewsIndex.filter_articles, over the parsed `published_at`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from qa.errors import InvalidQuestionError


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
