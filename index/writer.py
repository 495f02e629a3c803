"""What the service needs of an index besides reading: the interface both backends stand behind
(`NewsIndex`: SQLite and vector segments in a data directory; `PgIndex`: PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from index.articles import Article
from index.catalog import ArticleInfo, Sentence
from index.pipeline import Progress, Work
from index.reader import IndexReader
from index.store import IngestReport, Stats


class IndexStore(IndexReader, Protocol):
    """Articles in and out, rebuilds, listings and counts, on top of the read interface."""

    @property
    def data_dir(self) -> Path:
        """This process's own folder (the index itself may live elsewhere)."""
        ...

    def load(self) -> None:
        """Check the model (and map what needs mapping) before the first question."""
        ...

    def manifest(self) -> dict[str, Any] | None:
        """Model, dimension and context weights of the stored vectors."""
        ...

    def ingest(
        self, articles: Sequence[Article], progress: Progress = ..., work: Work = ...
    ) -> IngestReport:
        """Add new articles, replace changed ones, leave unchanged ones."""
        ...

    def remove(self, article_id: str) -> int:
        """Remove an article; how many sentences went."""
        ...

    def rebuild(self, progress: Progress = ..., *, wait: bool = True, work: Work = ...) -> Stats:
        """Re-embed every article and swap the result in at once."""
        ...

    def compact(self, *, wait: bool = True) -> int:
        """Reclaim what deletions left; how many parts were merged."""
        ...

    def stats(self) -> Stats:
        """Counts of articles, sentences and vectors."""
        ...

    def has_article(self, article_id: str) -> bool:
        """Whether an article with this id is indexed."""
        ...

    def article(self, article_id: str) -> tuple[Article, list[Sentence]]:
        """An article with its sentences in reading order."""
        ...

    def articles(
        self, offset: int = 0, limit: int = 20, title: str | None = None
    ) -> tuple[list[ArticleInfo], int]:
        """A page of articles, newest first, and the total count."""
        ...

    def filter_articles(
        self,
        *,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[str]:
        """Ids of the articles from a source published within a range."""
        ...
