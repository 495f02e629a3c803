"""The engine's records the ways in show or hand back, re-exported so `bots` needs only `qa`."""

from __future__ import annotations

from index.articles import (
    MAX_ID_LENGTH,
    SUFFIXES,
    Article,
    Skipped,
    article_from_record,
    pasted_article,
)
from index.store import ArticleInfo, IngestReport, Progress, Sentence, Stats
from index.web.pages import HTML_SUFFIXES, is_url
from index.web.state import Feed

__all__ = [
    "HTML_SUFFIXES",
    "MAX_ID_LENGTH",
    "SUFFIXES",
    "Article",
    "ArticleInfo",
    "Feed",
    "IngestReport",
    "Progress",
    "Sentence",
    "Skipped",
    "Stats",
    "article_from_record",
    "is_url",
    "pasted_article",
]
