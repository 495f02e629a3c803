"""Articles from the web for every way in: pages by URL, saved HTML pages, and followed feeds."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from index.articles import ReadResult
from index.store import IngestReport, NewsIndex
from index.web.dupes import Copy, Duplicates
from index.web.fetch import Fetcher, FetchPolicy, check_url
from index.web.ingest import WebIngest
from index.web.pages import WebReader, is_url, sort_inputs
from index.web.state import Feed, WebState
from index.web.watch import PollReport, Watcher
from index.writer import IndexStore
from qa.models import OtherSource
from qa.service import IngestOutcome, QAService

DEFAULT_INTERVAL_S = 30 * 60.0
MIN_INTERVAL_S = 60.0


class WebSources:
    """Pages and feeds feeding one QAService's index."""

    def __init__(
        self,
        service: QAService,
        policy: FetchPolicy | None = None,
        *,
        default_interval_s: float = DEFAULT_INTERVAL_S,
    ) -> None:
        index = service.index
        self.state, duplicates = _web_storage(index)
        self.service = service
        self.fetcher = Fetcher(policy)
        self.reader = WebReader(self.fetcher)
        self.ingester = WebIngest(index, duplicates)
        self.watcher = Watcher(index, self.state, self.reader, ingester=self.ingester)
        self.default_interval_s = default_interval_s

    def close(self) -> None:
        """Close the HTTP connections."""
        self.fetcher.close()

    # ---- pages ----------------------------------------------------------------------------

    def ingest_urls(self, urls: Iterable[str]) -> IngestOutcome:
        """Fetch and ingest article pages; each one that fails is skipped with its reason."""
        return self._ingest_web(self.reader.read(urls))

    def ingest_inputs(self, values: Iterable[str]) -> IngestOutcome:
        """URLs and .html/.htm files through the web reader, every other file through the
        service's own file reader."""
        inputs = sort_inputs(values)
        web = self._ingest_web(self.reader.read(inputs.urls, inputs.html_files))
        if not inputs.paths:
            return web
        files = self.service.ingest_paths(inputs.paths)
        # the file reader passes over the HTML pages of a folder, which the web reader read
        handled = {str(path) for path in inputs.html_files}
        files.skipped[:] = [s for s in files.skipped if s.where not in handled]
        report = IngestReport(
            added=files.report.added + web.report.added,
            replaced=files.report.replaced + web.report.replaced,
            unchanged=files.report.unchanged + web.report.unchanged,
            sentences=files.report.sentences + web.report.sentences,
        )
        return IngestOutcome(
            report,
            files.skipped + web.skipped,
            files.warnings + web.warnings,
            {**files.titles, **web.titles},
            files.superseded,
        )

    def _ingest_web(self, read: ReadResult) -> IngestOutcome:
        report, _ = self.ingester.ingest(read.articles)
        titles = {article.id: article.title for article in read.articles}
        return IngestOutcome(report, read.skipped, read.warnings, titles)

    # ---- feeds ----------------------------------------------------------------------------

    def add_feed(self, url: str, interval_s: float | None = None) -> tuple[Feed, bool]:
        """Follow a feed; polled at once by a running watcher (True when it is new)."""
        interval = self.default_interval_s if interval_s is None else interval_s
        feed, created = self.state.add_feed(check_url(url), max(MIN_INTERVAL_S, interval))
        self.watcher.wake.set()
        return feed, created

    def feeds(self) -> list[Feed]:
        """Followed feeds and their state."""
        return self.state.feeds()

    def remove_feed(self, url_or_id: str) -> Feed:
        """Stop following a feed; its articles stay."""
        return self.state.remove_feed(check_url(url_or_id) if is_url(url_or_id) else url_or_id)

    def poll(self, *, every: bool = False, stop: threading.Event | None = None) -> PollReport:
        """Poll due feeds once (every feed with `every`)."""
        return self.watcher.poll(every=every, stop=stop)

    def watch(self, stop: threading.Event) -> None:
        """Poll feeds as they fall due until `stop` is set (then call `wake.set()` too)."""
        self.watcher.run(stop)


def _web_storage(index: IndexStore) -> tuple[WebState, Duplicates]:
    """Feeds' state and web articles' signatures where the index keeps its rows."""
    if isinstance(index, NewsIndex):
        return WebState(index.db_path), Duplicates(index.db_path)
    from qa.postgres import web_storage  # only with the shared backend: it needs its client

    return web_storage(index)


def other_sources(
    db_path: Path | None = None, duplicates: Duplicates | None = None
) -> Callable[[Sequence[str]], dict[str, list[OtherSource]]]:
    """For QAService: the other outlets that published each article's story (from the
    embedded index's file at db_path, or from the given signatures)."""
    if duplicates is None:
        assert db_path is not None
        duplicates = Duplicates(db_path)

    def lookup(article_ids: Sequence[str]) -> dict[str, list[OtherSource]]:
        return {
            article_id: [_other(copy) for copy in copies]
            for article_id, copies in duplicates.copies_of(article_ids).items()
        }

    return lookup


def _other(copy: Copy) -> OtherSource:
    return OtherSource(title=copy.title, source=copy.source, url=copy.url, published=copy.published)
