"""Web articles into the index: near-duplicates of indexed stories are listed, not indexed."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from index.articles import Article
from index.store import IngestReport, NewsIndex, Progress
from index.web.dupes import Duplicates
from index.writer import IndexStore

log = logging.getLogger("newsqa.web")


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class WebIngest:
    """Ingests web articles once per story: copies become other sources of the first one."""

    def __init__(self, index: IndexStore, duplicates: Duplicates | None = None) -> None:
        self.index = index
        if duplicates is None:
            if not isinstance(index, NewsIndex):
                raise TypeError("an index other than NewsIndex needs its Duplicates")
            duplicates = Duplicates(index.db_path)
        self.duplicates = duplicates

    def ingest(
        self,
        articles: Sequence[Article],
        others: Sequence[Article] = (),
        progress: Progress = _no_progress,
    ) -> tuple[IngestReport, list[tuple[Article, str]]]:
        """Index `articles` (checked for copies) and `others` (files, taken as they are).

        Returns the report and the copies found, each with the id of the article it copies.
        """
        keep, found = self.duplicates.split(articles)
        copies: list[tuple[Article, str]] = []
        for article, original in found:
            # an original removed since it was indexed no longer stands for the story
            if self.index.has_article(original) or original in {a.id for a in keep}:
                copies.append((article, original))
            else:
                keep.append(article)
        report = self.index.ingest([*others, *keep], progress)
        # only once the articles are committed: a crash before this re-checks them next time
        self.duplicates.remember(keep, copies)
        for article, original in copies:
            log.info(
                "%s: the same story as article %s; listed there as also in %s",
                article.url or article.id,
                original,
                article.source or article.url or article.id,
            )
        return report, copies
