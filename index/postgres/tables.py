"""The rows of the PostgreSQL backend: reading and writing articles, sentences with their
vectors, the manifest and the HNSW index, and the SQL pieces searches share."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import psycopg

from index.articles import Article
from index.embedding import Vectors
from index.pipeline import Embedded
from index.splitter import Span

_TOKEN = re.compile(r"\w+", re.UNICODE)  # as FTS5's tokenizer counts a sentence's length


def _words(text: str) -> int:
    return len(_TOKEN.findall(text))


ARTICLE_COLUMNS = ("id", "title", "text", "source", "url", "published")


def array(value: Any) -> Vectors:
    """A stored vector as numpy (pgvector's loader gives its own Vector type)."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, np.float32)


def text_hash(row: dict[str, Any] | None) -> str | None:
    """The stored text hash of an article row (None: not stored)."""
    return None if row is None else str(row["text_hash"])


def existing(conn: psycopg.Connection[Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored articles among ids: hash, source, url and date by id."""
    rows = conn.execute(
        "SELECT id, text_hash, source, url, published FROM articles WHERE id = ANY(%s)", (ids,)
    ).fetchall()
    return {row["id"]: row for row in rows}


def manifest(conn: psycopg.Connection[Any], *, count: bool = True) -> dict[str, Any] | None:
    """The manifest; with count, whether any vector is stored ("count": 0 or 1)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'manifest'").fetchone()
    if row is None:
        return None
    manifest = dict(json.loads(row["value"]))
    if not count:
        return manifest
    stored = conn.execute("SELECT EXISTS (SELECT 1 FROM sentences) AS any").fetchone()
    manifest["count"] = 1 if stored and stored["any"] else 0
    return manifest


def set_manifest(
    conn: psycopg.Connection[Any], model: str, dim: int, context: dict[str, float]
) -> None:
    """Record the model, dimension and context weights of the stored vectors."""
    value = json.dumps({"model": model, "dim": dim, "backend": "pgvector", "context": context})
    conn.execute(
        "INSERT INTO meta VALUES ('manifest', %s) ON CONFLICT (key) DO UPDATE"
        " SET value = excluded.value",
        (value,),
    )


def ensure_ann(conn: psycopg.Connection[Any], dim: int) -> None:
    """The HNSW index for this dimension, and none for another (a vector of another length
    could not be cast to it). Called with the write lock held."""
    name = f"sentences_context_{dim}"
    rows = conn.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
        " AND indexname LIKE 'sentences_context_%%'"
    ).fetchall()
    for row in rows:
        if row["indexname"] != name:
            conn.execute(f'DROP INDEX "{row["indexname"]}"')
    if not any(row["indexname"] == name for row in rows):
        conn.execute(
            f"CREATE INDEX {name} ON sentences USING hnsw ((context::vector({dim})) vector_ip_ops)"
        )


def next_ids(conn: psycopg.Connection[Any], count: int) -> list[int]:
    """Fresh sentence ids from the sequence (never reused)."""
    if count == 0:
        return []
    rows = conn.execute(
        "SELECT nextval('sentence_ids') AS id FROM generate_series(1, %s)", (count,)
    ).fetchall()
    return sorted(int(row["id"]) for row in rows)


def upsert_article(
    conn: psycopg.Connection[Any], article: Article, now: float, title_vector: bytes
) -> None:
    """Insert an article or overwrite the stored one with the same id."""
    conn.execute(
        "INSERT INTO articles (id, title, text, source, url, published, published_at, text_hash,"
        " ingested_at, title_vector) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (id) DO UPDATE SET title = excluded.title, text = excluded.text,"
        " source = excluded.source, url = excluded.url, published = excluded.published,"
        " published_at = excluded.published_at, text_hash = excluded.text_hash,"
        " ingested_at = excluded.ingested_at, title_vector = excluded.title_vector",
        (
            article.id,
            article.title,
            article.text,
            article.source,
            article.url,
            article.published,
            article.published_at,
            article.text_hash,
            now,
            title_vector,
        ),
    )


_COPY_TYPES = ["int8", "text", "int4", "int4", "int4", "text", "bytea", "vector", "vector", "int4"]
SentenceRow = tuple[int, str, int, int, int, str, bytes | None, Vectors, Vectors, int]


def sentence_row(
    sentence_id: int, article_id: str, position: int, span: Span, embedded: Embedded, first: int
) -> SentenceRow:
    """A sentence's row; `first` is where its article's sentences start in `embedded`."""
    at = first + position
    return (
        sentence_id,
        article_id,
        position,
        span.start,
        span.end,
        span.text,
        embedded.clauses[at],
        embedded.raw[at].astype(np.float32),
        embedded.context[at].astype(np.float32),
        _words(span.text),
    )


def insert_sentences(conn: psycopg.Connection[Any], rows: list[SentenceRow]) -> None:
    """Store sentence rows (COPY: one round trip for a whole article batch)."""
    with conn.cursor().copy(
        'COPY sentences (id, article_id, position, start, "end", text, clause_vectors, raw,'
        " context, words) FROM STDIN"
    ) as copy:
        copy.set_types(_COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def scope(
    article_id: str | None, allowed: Collection[int] | None, articles: Sequence[str] | None
) -> tuple[str, list[object]]:
    """SQL conditions (after a WHERE) and their values limiting sentences `s`."""
    where = ""
    params: list[object] = []
    if article_id is not None:
        where += " AND s.article_id = %s"
        params.append(article_id)
    if allowed is not None:
        where += " AND s.id = ANY(%s)"
        params.append([int(i) for i in allowed])
    if articles is not None:
        where += " AND s.article_id = ANY(%s)"
        params.append(list(articles))
    return where, params


def tsquery(lexemes: list[str], joiner: str) -> str:
    """A tsquery of lexemes taken literally (quoted, so no word is read as an operator)."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return joiner.join(quoted)
