"""Polling feeds: conditional requests, only new or changed entries fetched, state kept so that
a restart neither loses nor repeats work."""

from __future__ import annotations

import calendar
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser

from index.articles import Article, Skipped
from index.errors import NewsqaError
from index.web.fetch import FetchError
from index.web.ingest import WebIngest
from index.web.pages import WebReader
from index.web.state import Entry, Feed, WebState
from index.writer import IndexStore

log = logging.getLogger("newsqa.web.feeds")

MAX_ATTEMPTS = 5
MAX_BACKOFF_S = 6 * 3600.0
# pages ingested per commit: fewer index generations than one per entry, little work lost
BATCH = 10


@dataclass(slots=True)
class PollReport:
    """What polling did."""

    feeds: int = 0
    not_modified: int = 0
    new_entries: int = 0
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[Skipped] = field(default_factory=list)

    def merge(self, other: PollReport) -> None:
        """Add another report's figures to this one."""
        self.feeds += other.feeds
        self.not_modified += other.not_modified
        self.new_entries += other.new_entries
        self.added += other.added
        self.replaced += other.replaced
        self.unchanged += other.unchanged
        self.failed += other.failed


def _iso(parsed: Any) -> str | None:
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC).isoformat()


def parse_entries(feed: Feed, body: bytes, base_url: str) -> tuple[str | None, list[Entry]]:
    """A feed document's title and entries (feedparser is given bytes, so it fetches nothing)."""
    parsed = feedparser.parse(body, response_headers={"content-location": base_url})
    if parsed.bozo and not parsed.entries:
        raise NewsqaError(f"not an RSS or Atom feed ({parsed.get('bozo_exception')})")
    entries: list[Entry] = []
    for item in parsed.entries:
        link = item.get("link")
        if not isinstance(link, str) or not link.strip():
            continue
        key = str(item.get("id") or link)
        stamp = item.get("updated") or item.get("published")
        content = "\x00".join(str(item.get(k) or "") for k in ("title", "summary", "link"))
        version = str(stamp) if stamp else hashlib.sha256(content.encode()).hexdigest()[:16]
        published = _iso(item.get("published_parsed") or item.get("updated_parsed"))
        entries.append(Entry(feed.id, key, link.strip(), version, published))
    title = parsed.feed.get("title")
    return (title if isinstance(title, str) else None), entries


class Watcher:
    """Polls the feeds in a WebState and ingests their new and changed entries."""

    def __init__(
        self,
        index: IndexStore,
        state: WebState,
        reader: WebReader,
        *,
        clock: Callable[[], float] = time.time,
        max_attempts: int = MAX_ATTEMPTS,
        ingester: WebIngest | None = None,
    ) -> None:
        self.index = index
        self.ingester = ingester or WebIngest(index)
        self.state = state
        self.reader = reader
        self.clock = clock
        self.max_attempts = max_attempts
        self.wake = threading.Event()

    def poll(self, *, every: bool = False, stop: threading.Event | None = None) -> PollReport:
        """Poll the feeds that are due (every feed with `every`)."""
        report = PollReport()
        now = self.clock()
        feeds = self.state.feeds() if every else self.state.due(now)
        for feed in feeds:
            if stop is not None and stop.is_set():
                break
            try:
                report.merge(self.poll_feed(feed, stop))
            except Exception:  # one feed's surprise must not stop the others
                log.exception("feed %s: polling failed", feed.url)
        return report

    def poll_feed(self, feed: Feed, stop: threading.Event | None = None) -> PollReport:
        """One feed: fetch it (conditionally), note its entries, ingest the pending ones."""
        report = PollReport(feeds=1)
        headers = {}
        reachable = True
        if feed.etag:
            headers["If-None-Match"] = feed.etag
        if feed.last_modified:
            headers["If-Modified-Since"] = feed.last_modified
        try:
            fetched = self.reader.fetcher.fetch(feed.url, "feed", headers=headers)
            if fetched.not_modified:
                report.not_modified = 1
                log.info("feed %s: not modified", feed.url)
            else:
                title, entries = parse_entries(feed, fetched.body, fetched.final_url)
                report.new_entries = self.state.record_entries(
                    feed,
                    entries,
                    title=title,
                    etag=fetched.headers.get("etag"),
                    last_modified=fetched.headers.get("last-modified"),
                )
                log.info(
                    "feed %s: %d entries, %d new or changed",
                    feed.url,
                    len(entries),
                    report.new_entries,
                )
        except NewsqaError as exc:
            reason = exc.reason if isinstance(exc, FetchError) else str(exc)
            wait = self.state.feed_failed(feed, self.clock(), reason, MAX_BACKOFF_S)
            log.warning("feed %s: %s (next try in %.0f s)", feed.url, reason, wait)
            report.failed.append(Skipped(feed.url, reason))
            reachable = False
            # entries announced earlier are still tried: they are not this failure's fault
        self._ingest_pending(feed, report, stop)
        if reachable:
            self.state.feed_polled(feed, self.clock())
        return report

    def _ingest_pending(self, feed: Feed, report: PollReport, stop: threading.Event | None) -> None:
        batch: list[tuple[Entry, Article]] = []
        for entry in self.state.pending(feed):
            if stop is not None and stop.is_set():
                break
            try:
                page = self.reader.read_url(entry.link, published=entry.published)
            except NewsqaError as exc:
                reason = exc.reason if isinstance(exc, FetchError) else str(exc)
                gave_up = self.state.entry_failed(entry, reason, self.max_attempts)
                log.warning(
                    "feed %s: entry %s: %s%s",
                    feed.url,
                    entry.link,
                    reason,
                    " (given up)" if gave_up else " (tried again next poll)",
                )
                report.failed.append(Skipped(entry.link, reason))
                continue
            batch.append((entry, page.article))
            if len(batch) >= BATCH:
                self._commit(feed, batch, report)
                batch = []
        if batch:
            self._commit(feed, batch, report)

    def _commit(self, feed: Feed, batch: list[tuple[Entry, Article]], report: PollReport) -> None:
        ingested, copies = self.ingester.ingest([article for _, article in batch])
        original = {article.id: kept for article, kept in copies}
        # only now, with the articles committed, are the entries done
        self.state.entries_done(
            [(entry, original.get(article.id, article.id)) for entry, article in batch]
        )
        report.added += ingested.added
        report.replaced += ingested.replaced
        report.unchanged += ingested.unchanged
        for entry, article in batch:
            log.info(
                "feed %s: entry %s -> %s (%s)", feed.url, entry.link, article.id, article.title
            )

    def run(self, stop: threading.Event, *, idle_s: float = 60.0) -> None:
        """Poll due feeds until stopped; sleeps until the next feed is due (or a wake-up)."""
        while not stop.is_set():
            try:
                self.poll(stop=stop)
                next_due = self.state.next_due()
            except Exception:
                log.exception("polling feeds failed")
                next_due = None
            wait = idle_s if next_due is None else min(idle_s, next_due - self.clock())
            self.wake.wait(max(1.0, wait))
            self.wake.clear()
