"""Reading an article's `published` text as a moment in time, so lists sort by date, not string."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

# Longer than any date in a format we read; a longer value is not parsed at all.
_MAX_DATE_CHARS = 64


def parse_published(value: str | None) -> float | None:
    """The UTC timestamp of an ISO 8601 or RFC 2822 date, or None when it is neither.

    A date without a time is midnight UTC; a time without an offset is taken as UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _MAX_DATE_CHARS:
        return None
    moment = _iso(text) or _rfc2822(text)
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        # Through UTC first: a moment whose UTC form leaves years 1-9999 cannot be shown.
        return moment.astimezone(UTC).timestamp()
    except (OverflowError, ValueError, OSError):
        return None


def iso(timestamp: float | None) -> str | None:
    """A stored timestamp as ISO 8601 in UTC ("2025-10-18T07:12:00+00:00")."""
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return None


def _iso(text: str) -> datetime | None:
    # Python 3.11 reads ISO 8601 dates, times, offsets and "Z"; a space may separate them.
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _rfc2822(text: str) -> datetime | None:
    # The form of e-mail and RSS: "Sat, 18 Oct 2025 09:12:00 +0200".
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
