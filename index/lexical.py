"""Lexical search: BM25 over the catalog's FTS5 table (porter stemming, stop words dropped)."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection

from index.stopwords import STOP_WORDS

_TOKEN = re.compile(r"\w+", re.UNICODE)
# Leaving out common words (see `selective`) starts at this many sentences ...
PRUNE_FROM = 200_000
# ... for words in more than this share of them (and more than COMMON_MIN); measured at a
# million sentences (scripts/scale/lexical.py): BM25 costs about 1.5 us per matching sentence.
COMMON_SHARE = 0.002
COMMON_MIN = 2_000
# When every word is common, the rarest is scored alone, unless it matches more than this many
# times COMMON_MIN sentences: then lexical search proposes nothing and dense search decides.
RAREST_FACTOR = 10


def terms(text: str) -> list[str]:
    """The words of text worth matching: lowercased, stop words dropped, first occurrence kept."""
    seen: dict[str, None] = {}
    for token in _TOKEN.findall(text.lower()):
        if token not in STOP_WORDS and token not in seen:
            seen[token] = None
    return list(seen)


def _phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def search(
    conn: sqlite3.Connection,
    text: str,
    k: int,
    article_id: str | None = None,
    allowed: Collection[int] | None = None,
    words: list[str] | None = None,
) -> list[tuple[int, float]]:
    """Sentence ids and BM25 scores (higher is better) for the words of text.

    With article_id, only that article's sentences; with allowed, only those sentence ids;
    with words, only those of text's words.
    """
    words = terms(text) if words is None else words
    if not words or (allowed is not None and not allowed):
        return []
    query = " OR ".join(_phrase(term) for term in words)
    sql = "SELECT f.rowid, -bm25(sentences_fts) FROM sentences_fts f"
    where = " WHERE sentences_fts MATCH ?"
    params: list[object] = [query]
    if article_id is not None:
        sql += " JOIN sentences s ON s.id = f.rowid"
        where += " AND s.article_id = ?"
        params.append(article_id)
    if allowed is not None:
        where += " AND f.rowid IN (SELECT value FROM json_each(?))"
        params.append(json.dumps(sorted(int(i) for i in allowed)))
    params.append(k)
    rows = conn.execute(sql + where + " ORDER BY bm25(sentences_fts) LIMIT ?", params).fetchall()
    return [(int(row[0]), float(row[1])) for row in rows]


def selective(counts: dict[str, int], total: int) -> list[str]:
    """The words worth scoring in a corpus of `total` sentences.

    FTS5 scores every sentence that matches any word before it can keep the best: at a million
    sentences a common word matches tens of thousands of them and costs hundreds of ms, while
    its low IDF hardly moves the ranking. In a large corpus such words are left out while rarer
    ones remain; a small corpus (every evaluation set) keeps them all.
    """
    if total < PRUNE_FROM:
        return list(counts)
    limit = max(COMMON_MIN, int(COMMON_SHARE * total))
    kept = [term for term, n in counts.items() if 0 < n <= limit]
    if kept:
        return kept
    present = [(n, term) for term, n in counts.items() if 0 < n <= RAREST_FACTOR * limit]
    return [min(present)[1]] if present else []


def count(conn: sqlite3.Connection, term: str) -> int:
    """How many sentences contain a word (as lexical search matches it: stemmed)."""
    row = conn.execute(
        "SELECT COUNT(*) FROM sentences_fts WHERE sentences_fts MATCH ?", (_phrase(term),)
    ).fetchone()
    return int(row[0])


def term_counts(conn: sqlite3.Connection, text: str) -> dict[str, int]:
    """For each word of text that lexical search would use, how many sentences contain it."""
    return {term: count(conn, term) for term in terms(text)}
