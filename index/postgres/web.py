"""Feeds' state and web articles' signatures in PostgreSQL, so that every replica polls the same
feeds without repeating work and finds the same copies of a story.

Both classes are the SQLite ones (index.web.state, index.web.dupes) with their storage replaced:
the watcher and the web ingest take either.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from datasketch import MinHash
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from index.articles import Article
from index.web.dupes import NUM_PERM, SCHEME, THRESHOLD, Copy, Duplicates, signature
from index.web.state import Entry, Feed, FeedNotFoundError, WebState, backoff

_FEED_COUNTS = (
    "SELECT f.*,"
    " (SELECT COUNT(*) FROM web_feed_entries e WHERE e.feed_id = f.id) AS entries,"
    " (SELECT COUNT(*) FROM web_feed_entries e WHERE e.feed_id = f.id"
    "  AND e.state = 'pending') AS pending,"
    " (SELECT COUNT(*) FROM web_feed_entries e WHERE e.feed_id = f.id"
    "  AND e.state = 'failed') AS failed"
    " FROM web_feeds f"
)


class PgWebState(WebState):
    """Feed and entry state in the shared database (the same methods as WebState)."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        # no SQLite file: the tables come from `newsqa migrate`
        self._pool = pool

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as conn:
            conn.row_factory = dict_row
            yield conn

    def add_feed(self, url: str, interval_s: float) -> tuple[Feed, bool]:
        """Follow a feed (due at once); an already followed one gets the new interval."""
        now = time.time()
        with self._tx() as conn:
            row = conn.execute(
                "INSERT INTO web_feeds (url, interval_s, added_at, next_poll)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (url) DO UPDATE"
                " SET interval_s = excluded.interval_s RETURNING (xmax = 0) AS created",
                (url, interval_s, now, now),
            ).fetchone()
        assert row is not None
        return self.feed(url), bool(row["created"])

    def feeds(self) -> list[Feed]:
        """Every followed feed with counts of its entries."""
        with self._tx() as conn:
            rows = conn.execute(_FEED_COUNTS + " ORDER BY f.id").fetchall()
        return [_feed(row) for row in rows]

    def remove_feed(self, url_or_id: str | int) -> Feed:
        """Stop following a feed (its articles stay in the index)."""
        feed = self.feed(url_or_id)
        with self._tx() as conn:
            conn.execute("DELETE FROM web_feeds WHERE id = %s", (feed.id,))
        return feed

    def feed(self, url_or_id: str | int) -> Feed:
        """One feed by its URL or id."""
        for feed in self.feeds():
            if str(feed.id) == str(url_or_id) or feed.url == url_or_id:
                return feed
        raise FeedNotFoundError(f"no feed {url_or_id!r} (see `newsqa feeds list`)")

    def next_due(self) -> float | None:
        """When the next feed is due (None without feeds)."""
        with self._tx() as conn:
            row = conn.execute("SELECT MIN(next_poll) AS due FROM web_feeds").fetchone()
        return None if row is None or row["due"] is None else float(row["due"])

    def feed_polled(self, feed: Feed, now: float) -> None:
        """The poll succeeded: next one after the feed's interval."""
        with self._tx() as conn:
            conn.execute(
                "UPDATE web_feeds SET last_poll = %s, last_ok = %s, next_poll = %s,"
                " last_error = NULL, failures = 0 WHERE id = %s",
                (now, now, now + feed.interval_s, feed.id),
            )

    def feed_failed(self, feed: Feed, now: float, error: str, max_backoff_s: float) -> float:
        """The poll failed: the wait doubles with each failure in a row, up to a limit."""
        failures, wait = backoff(feed, max_backoff_s)
        with self._tx() as conn:
            conn.execute(
                "UPDATE web_feeds SET last_poll = %s, next_poll = %s, last_error = %s,"
                " failures = %s WHERE id = %s",
                (now, now + wait, error, failures, feed.id),
            )
        return wait

    def record_entries(
        self,
        feed: Feed,
        entries: Sequence[Entry],
        *,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
    ) -> int:
        """Note what the feed announced (new and changed entries become pending), with the
        validators of the response they came from, in one transaction."""
        now = time.time()
        changed = 0
        with self._tx() as conn:
            for entry in entries:
                row = conn.execute(
                    "SELECT version, link FROM web_feed_entries WHERE feed_id = %s AND key = %s",
                    (feed.id, entry.key),
                ).fetchone()
                if row is not None and (row["version"], row["link"]) == (entry.version, entry.link):
                    continue
                changed += 1
                conn.execute(
                    "INSERT INTO web_feed_entries (feed_id, key, link, version, published, state,"
                    " seen_at) VALUES (%s, %s, %s, %s, %s, 'pending', %s)"
                    " ON CONFLICT (feed_id, key) DO UPDATE SET link = excluded.link,"
                    " version = excluded.version, published = excluded.published,"
                    " state = 'pending', attempts = 0, last_error = NULL,"
                    " seen_at = excluded.seen_at",
                    (feed.id, entry.key, entry.link, entry.version, entry.published, now),
                )
            conn.execute(
                "UPDATE web_feeds SET etag = %s, last_modified = %s,"
                " title = COALESCE(%s, title) WHERE id = %s",
                (etag, last_modified, title, feed.id),
            )
        return changed

    def pending(self, feed: Feed) -> list[Entry]:
        """Entries still to fetch, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT * FROM web_feed_entries WHERE feed_id = %s AND state = 'pending'"
                " ORDER BY seen_at, seq",
                (feed.id,),
            ).fetchall()
        return [
            Entry(
                feed_id=int(row["feed_id"]),
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
        with self._tx() as conn, conn.cursor() as cur:
            cur.executemany(
                "UPDATE web_feed_entries SET state = 'done', article_id = %s, done_at = %s,"
                " last_error = NULL WHERE feed_id = %s AND key = %s AND version = %s",
                [(article_id, now, e.feed_id, e.key, e.version) for e, article_id in done],
            )

    def entry_failed(self, entry: Entry, error: str, max_attempts: int) -> bool:
        """An entry that could not be read; given up after max_attempts polls (True)."""
        attempts = entry.attempts + 1
        gave_up = attempts >= max_attempts
        with self._tx() as conn:
            conn.execute(
                "UPDATE web_feed_entries SET attempts = %s, last_error = %s, state = %s"
                " WHERE feed_id = %s AND key = %s AND version = %s",
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


class PgDuplicates(Duplicates):
    """Signatures of web articles and the copies found of them, in the shared database."""

    def __init__(self, pool: ConnectionPool[Any], threshold: float = THRESHOLD) -> None:
        # the LSH index and its bookkeeping as Duplicates keeps them; no SQLite file
        super().__init__(Path("/nonexistent"), threshold)
        self._pool = pool

    def _ensure(self) -> None:
        """The tables come from `newsqa migrate`."""

    def _refresh(self) -> None:
        """Take in signatures written since the last look (by any replica)."""
        with self._pool.connection() as conn:
            conn.row_factory = dict_row
            rows = conn.execute(
                "SELECT seq, article_id, minhash FROM web_signatures WHERE seq > %s ORDER BY seq",
                (self._seen_rowid,),
            ).fetchall()
        for row in rows:
            hashvalues = np.frombuffer(row["minhash"], dtype=np.uint64)
            minhash = MinHash(num_perm=NUM_PERM, hashvalues=hashvalues, scheme=SCHEME)
            self._put(row["article_id"], minhash)
            self._seen_rowid = max(self._seen_rowid, int(row["seq"]))

    def remember(self, articles: Sequence[Article], copies: Sequence[tuple[Article, str]]) -> None:
        """Store the signatures of articles now committed, and the copies of them."""
        now = time.time()
        with self._pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO web_signatures (article_id, minhash) VALUES (%s, %s)"
                " ON CONFLICT (article_id) DO UPDATE SET minhash = excluded.minhash,"
                " seq = nextval(pg_get_serial_sequence('web_signatures', 'seq'))",
                [
                    (a.id, np.asarray(signature(a.text).hashvalues, dtype=np.uint64).tobytes())
                    for a in articles
                ],
            )
            cur.executemany(
                "INSERT INTO web_copies VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (article_id, copy_id) DO UPDATE SET title = excluded.title,"
                " source = excluded.source, url = excluded.url, published = excluded.published,"
                " seen_at = excluded.seen_at",
                [
                    (original, c.id, c.title, c.source, c.url, c.published, now)
                    for c, original in copies
                ],
            )

    def copies_of(self, article_ids: Sequence[str]) -> dict[str, list[Copy]]:
        """The other outlets' copies of each article."""
        if not article_ids:
            return {}
        with self._pool.connection() as conn:
            conn.row_factory = dict_row
            rows = conn.execute(
                "SELECT article_id, copy_id, title, source, url, published FROM web_copies"
                " WHERE article_id = ANY(%s) ORDER BY seen_at, copy_id",
                (list(dict.fromkeys(article_ids)),),
            ).fetchall()
        found: dict[str, list[Copy]] = {}
        for row in rows:
            found.setdefault(row["article_id"], []).append(
                Copy(row["copy_id"], row["title"], row["source"], row["url"], row["published"])
            )
        return found


def _feed(row: dict[str, Any]) -> Feed:
    return Feed(
        id=int(row["id"]),
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
        entries=int(row["entries"]),
        pending=int(row["pending"]),
        failed=int(row["failed"]),
    )
