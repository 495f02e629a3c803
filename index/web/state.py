"""Feeds and their entries, kept in the index's SQLite file (own tables, own connections), so a
restart neither loses nor repeats work: an entry is marked done only after its article is
committed, and the feed's ETag is stored in the same transaction as the entries it announced."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from index.errors import NewsqaError

SCHEMA = """
CREATE TABLE IF NOT EXISTS web_feeds (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    title TEXT,
    interval_s REAL NOT NULL,
    added_at REAL NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_poll REAL,
    last_ok REAL,
    next_poll REAL NOT NULL,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS web_feed_entries (
    feed_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    link TEXT NOT NULL,
    version TEXT NOT NULL,
    published TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    article_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    seen_at REAL NOT NULL,
    done_at REAL,
    PRIMARY KEY (feed_id, key)
);
CREATE INDEX IF NOT EXISTS web_feed_entries_pending ON web_feed_entries (feed_id, state);
"""


class FeedNotFoundError(NewsqaError):
    """No feed has the given URL or id."""


@dataclass(frozen=True, slots=True)
class Feed:
    """A followed feed and how its polling goes."""

    id: int
    url: str
    title: str | None
    interval_s: float
    etag: str | None
    last_modified: str | None
    last_poll: float | None
    last_ok: float | None
    next_poll: float
    last_error: str | None
    failures: int
    entries: int = 0
    pending: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a feed: where its article is and which version of it was seen."""

    feed_id: int
    key: str
    link: str
    version: str
    published: str | None = None
    attempts: int = 0


class WebState:
    """Feed and entry state in the index's database file."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = Path(db_path)
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A short-lived connection per call: the watcher thread and request threads share this.
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        conn.row_factory = sqlite3.Row
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # ---- feeds ----------------------------------------------------------------------------

    def add_feed(self, url: str, interval_s: float) -> tuple[Feed, bool]:
        """Follow a feed (due at once); an already followed one gets the new interval."""
        now = time.time()
        with self._transaction() as conn:
            row = conn.execute("SELECT id FROM web_feeds WHERE url = ?", (url,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO web_feeds (url, interval_s, added_at, next_poll) "
                    "VALUES (?, ?, ?, ?)",
                    (url, interval_s, now, now),
                )
                created = True
            else:
                conn.execute(
                    "UPDATE web_feeds SET interval_s = ? WHERE id = ?", (interval_s, row[0])
                )
                created = False
        return self.feed(url), created

    def feed(self, url_or_id: str | int) -> Feed:
        """One feed by its URL or id."""
        for feed in self.feeds():
            if str(feed.id) == str(url_or_id) or feed.url == url_or_id:
                return feed
        raise FeedNotFoundError(f"no feed {url_or_id!r} (see `newsqa feeds list`)")

    def feeds(self) -> list[Feed]:
        """Every followed feed with counts of its entries."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT f.*, "
                "(SELECT COUNT(*) FROM web_feed_entries e WHERE e.feed_id = f.id) AS entries, "
                "(SELECT COUNT(*) FROM web_feed_entries e WHERE e.feed_id = f.id "
                " AND e.state = 'pending') AS pending, "
                "(SELECT COUNT(*) FROM web_feed_entries e WHERE e.feed_id = f.id "
                " AND e.state = 'failed') AS failed "
                "FROM web_feeds f ORDER BY f.id"
            ).fetchall()
        return [_feed(row) for row in rows]

    def remove_feed(self, url_or_id: str | int) -> Feed:
        """Stop following a feed (its articles stay in the index)."""
        feed = self.feed(url_or_id)
        with self._transaction() as conn:
            conn.execute("DELETE FROM web_feed_entries WHERE feed_id = ?", (feed.id,))
            conn.execute("DELETE FROM web_feeds WHERE id = ?", (feed.id,))
        return feed

    def due(self, now: float) -> list[Feed]:
        """Feeds whose next poll has come."""
        return [feed for feed in self.feeds() if feed.next_poll <= now]

    def next_due(self) -> float | None:
        """When the next feed is due (None without feeds)."""
        with self._connect() as conn:
            row = conn.execute("SELECT MIN(next_poll) FROM web_feeds").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def feed_polled(self, feed: Feed, now: float) -> None:
        """The poll succeeded: next one after the feed's interval."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE web_feeds SET last_poll = ?, last_ok = ?, next_poll = ?, "
                "last_error = NULL, failures = 0 WHERE id = ?",
                (now, now, now + feed.interval_s, feed.id),
            )

    def feed_failed(self, feed: Feed, now: float, error: str, max_backoff_s: float) -> float:
        """The poll failed: the wait doubles with each failure in a row, up to a limit."""
        failures, wait = backoff(feed, max_backoff_s)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE web_feeds SET last_poll = ?, next_poll = ?, last_error = ?, failures = ? "
                "WHERE id = ?",
                (now, now + wait, error, failures, feed.id),
            )
        return wait

    # ---- entries --------------------------------------------------------------------------

    def record_entries(
        self,
        feed: Feed,
        entries: Sequence[Entry],
        *,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> int:
        """Note what the feed announced: new entries and changed ones become pending. Stored
        with the validators of the response they came from, in one transaction."""
        now = time.time()
        changed = 0
        with self._transaction() as conn:
            for entry in entries:
                row = conn.execute(
                    "SELECT version, link FROM web_feed_entries WHERE feed_id = ? AND key = ?",
                    (feed.id, entry.key),
                ).fetchone()
                if row is not None and (row["version"], row["link"]) == (entry.version, entry.link):
                    continue
                changed += 1
                conn.execute(
                    "INSERT INTO web_feed_entries (feed_id, key, link, version, published, state, "
                    "seen_at) VALUES (?, ?, ?, ?, ?, 'pending', ?) "
                    "ON CONFLICT (feed_id, key) DO UPDATE SET link = excluded.link, "
                    "version = excluded.version, published = excluded.published, "
                    "state = 'pending', attempts = 0, last_error = NULL, "
                    "seen_at = excluded.seen_at",
                    (feed.id, entry.key, entry.link, entry.version, entry.published, now),
                )
            conn.execute(
                "UPDATE web_feeds SET etag = ?, last_modified = ?, title = COALESCE(?, title) "
                "WHERE id = ?",
                (etag, last_modified, title, feed.id),
            )
        return changed

    def pending(self, feed: Feed) -> list[Entry]:
        """Entries still to fetch, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM web_feed_entries WHERE feed_id = ? AND state = 'pending' "
                "ORDER BY seen_at, rowid",
                (feed.id,),
            ).fetchall()
        return [
            Entry(
                feed_id=row["feed_id"],
                key=row["key"],
                link=row["link"],
                version=row["version"],
                published=row["published"],
                attempts=row["attempts"],
            )
            for row in rows
        ]

    def entries_done(self, done: Sequence[tuple[Entry, str]]) -> None:
        """Entries whose articles are committed to the index."""
        now = time.time()
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE web_feed_entries SET state = 'done', article_id = ?, done_at = ?, "
                "last_error = NULL WHERE feed_id = ? AND key = ? AND version = ?",
                [(article_id, now, e.feed_id, e.key, e.version) for e, article_id in done],
            )

    def entry_failed(self, entry: Entry, error: str, max_attempts: int) -> bool:
        """An entry that could not be read; it is given up after max_attempts polls (True)."""
        attempts = entry.attempts + 1
        gave_up = attempts >= max_attempts
        with self._transaction() as conn:
            conn.execute(
                "UPDATE web_feed_entries SET attempts = ?, last_error = ?, state = ? "
                "WHERE feed_id = ? AND key = ? AND version = ?",
                (
                    attempts,
                    error,
                    "failed" if gave_up else "pending",
                    entry.feed_id,
                    entry.key,
                    entry.version,
                ),
            )
        return gave_up


def backoff(feed: Feed, max_backoff_s: float) -> tuple[int, float]:
    """After one more failed poll: the failures in a row, and the wait before the next poll
    (doubling with each failure, up to max_backoff_s, never shorter than the feed's interval)."""
    failures = feed.failures + 1
    wait = min(feed.interval_s * 2 ** min(failures, 20), max(max_backoff_s, feed.interval_s))
    return failures, float(wait)


def _feed(row: sqlite3.Row) -> Feed:
    return Feed(
        id=row["id"],
        url=row["url"],
        title=row["title"],
        interval_s=row["interval_s"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_poll=row["last_poll"],
        last_ok=row["last_ok"],
        next_poll=row["next_poll"],
        last_error=row["last_error"],
        failures=row["failures"],
        entries=row["entries"],
        pending=row["pending"],
        failed=row["failed"],
    )
