"""The catalog: articles, sentences and the index's bookkeeping rows in one SQLite database.

The database is the single point of truth: a write is live exactly when its transaction commits
(the rows, the list of live vector segments and the deletions together), so a process killed at
any point leaves either the old or the new state, never a mixture.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index import quantize
from index.articles import Article
from index.dates import iso, parse_published
from index.embedding import Vectors

# 3: clause vectors as 8-bit blobs in their own table, FTS5 over the sentences table (no copy
# of the text), sentences' own vectors as 8-bit codes in new segments. `upgrade` converts 2.
SCHEMA_VERSION = 3
DB_NAME = "newsqa.sqlite3"
# Private to its owner: the database holds conversations as well as articles.
FILE_MODE = 0o600
MMAP_BYTES = 256 * 1024 * 1024

# External content: the index reads the text from `sentences` instead of keeping its own copy
# (159 MB at a million sentences); a row's words must be deleted while its text is still there.
_FTS = """
    text, content = 'sentences', content_rowid = 'id',
    tokenize = 'porter unicode61 remove_diacritics 2'"""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT,
    url TEXT,
    published TEXT,
    published_at REAL,
    text_hash TEXT NOT NULL,
    ingested_at REAL NOT NULL,
    title_vector BLOB
);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sentences_by_article ON sentences(article_id, position);
CREATE TABLE IF NOT EXISTS clauses (sentence_id INTEGER PRIMARY KEY, vectors BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5({_FTS}
);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    ann INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tombstones (sentence_id INTEGER PRIMARY KEY);
"""


@dataclass(frozen=True, slots=True)
class Sentence:
    """A stored sentence with its article's metadata and neighbouring sentences."""

    id: int
    article_id: str
    position: int
    start: int
    end: int
    text: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    before: str | None
    after: str | None
    before_id: int | None
    after_id: int | None
    article_sentences: int
    published_at: str | None = None  # `published` as ISO 8601 UTC, None when it is not a date


@dataclass(frozen=True, slots=True)
class ArticleInfo:
    """An article's metadata and sentence count."""

    id: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    ingested_at: float
    sentences: int
    published_at: str | None = None  # `published` as ISO 8601 UTC, None when it is not a date


SentenceRow = tuple[int, str, int, int, int, str, bytes | None]


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (BEGIN for transactions), WAL, foreign keys on."""
    if not path.exists():
        # SQLite gives its -wal and -shm files the database's own mode.
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE))
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # A question reads ~100 scattered rows; read through a memory map instead of a syscall per
    # page (measured at 100,000 sentences: p50 3.5 -> 1.5 ms for those rows).
    conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
    return conn


def create(conn: sqlite3.Connection) -> None:
    """Create the tables an index needs (idempotent)."""
    conn.executescript(_SCHEMA)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def add_published_at(conn: sqlite3.Connection) -> None:
    """Give a database from before dates were parsed its `published_at` column, filled from
    `published` where that is a date."""
    if "published_at" in _columns(conn, "articles"):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "published_at" in _columns(conn, "articles"):  # another process was first
            conn.execute("COMMIT")
            return
        conn.execute("ALTER TABLE articles ADD COLUMN published_at REAL")
        rows = conn.execute("SELECT id, published FROM articles WHERE published IS NOT NULL")
        conn.executemany(
            "UPDATE articles SET published_at = ? WHERE id = ?",
            [(parse_published(row["published"]), row["id"]) for row in rows.fetchall()],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _fts_is_external(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'sentences_fts'").fetchone()
    return row is not None and "content = 'sentences'" in str(row[0])


def upgrade(conn: sqlite3.Connection) -> bool:
    """Convert a catalog written before schema 3 in place (one transaction; 101 s at a million
    sentences here): clause vectors from float16 blobs in the sentences' rows to 8-bit
    blobs in `clauses`, the FTS5 index from its own copy of the text to one over `sentences`.
    Returns whether its sentences had no clause vectors at all (an index older still)."""
    if _fts_is_external(conn) and "clause_vectors" not in _columns(conn, "sentences"):
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        if _fts_is_external(conn) and "clause_vectors" not in _columns(conn, "sentences"):
            conn.execute("COMMIT")  # another process was first
            return False
        had_clauses = "clause_vectors" in _columns(conn, "sentences")
        if had_clauses:
            found = manifest(conn)
            dim = int(found["dim"]) if found else 0
            rows = conn.execute(
                "SELECT id, clause_vectors FROM sentences WHERE clause_vectors IS NOT NULL"
            )
            while chunk := rows.fetchmany(10_000):
                conn.executemany(
                    "INSERT OR REPLACE INTO clauses (sentence_id, vectors) VALUES (?, ?)",
                    [
                        (
                            row[0],
                            quantize.to_bytes(np.frombuffer(row[1], np.float16).reshape(-1, dim)),
                        )
                        for row in chunk
                    ],
                )
            conn.execute("ALTER TABLE sentences DROP COLUMN clause_vectors")
        if not _fts_is_external(conn):
            conn.execute("DROP TABLE sentences_fts")
            conn.execute(f"CREATE VIRTUAL TABLE sentences_fts USING fts5({_FTS})")
            conn.execute("INSERT INTO sentences_fts (sentences_fts) VALUES ('rebuild')")
        set_meta(conn, "schema_version", str(SCHEMA_VERSION))
        empty = conn.execute("SELECT 1 FROM sentences LIMIT 1").fetchone() is None
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return not had_clauses and not empty


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    """One bookkeeping value."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set one bookkeeping value (inside the caller's transaction)."""
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


def manifest(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """Model, dimension, backend and schema of the vectors, once any were written."""
    raw = meta(conn, "manifest")
    return None if raw is None else dict(json.loads(raw))


def generation(conn: sqlite3.Connection) -> int:
    """A counter moved by every committed write; readers reload when it moves."""
    raw = meta(conn, "generation")
    return 0 if raw is None else int(raw)


def next_ids(conn: sqlite3.Connection, count: int) -> list[int]:
    """Fresh sentence ids; they are never reused, so a stale reader cannot mistake them."""
    raw = meta(conn, "next_sentence_id")
    first = 1 if raw is None else int(raw)
    return list(range(first, first + count))


def rows_in(conn: sqlite3.Connection, sql: str, keys: Sequence[object]) -> list[sqlite3.Row]:
    """Rows of sql whose `IN ({})` takes keys, in chunks under SQLite's variable limit."""
    out: list[sqlite3.Row] = []
    for first in range(0, len(keys), 500):
        chunk = keys[first : first + 500]
        out.extend(conn.execute(sql.format(",".join("?" * len(chunk))), chunk))
    return out


def upsert_article(
    conn: sqlite3.Connection, article: Article, now: float, title_vector: bytes
) -> None:
    """Insert an article or overwrite the stored one with the same id."""
    conn.execute(
        "INSERT INTO articles (id, title, text, source, url, published, published_at, text_hash,"
        " ingested_at, title_vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(id) DO UPDATE SET title = excluded.title, text = excluded.text,"
        " source = excluded.source, url = excluded.url, published = excluded.published,"
        " published_at = excluded.published_at, text_hash = excluded.text_hash,"
        " ingested_at = excluded.ingested_at,"
        " title_vector = excluded.title_vector",
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


def article_filter(
    source: str | None, since: float | None, until: float | None, param: str = "?"
) -> tuple[str, list[object]]:
    """The WHERE clause (empty without conditions) and its values for the articles from
    `source` (any case) published within [since, until]; `param` is the driver's placeholder
    (SQLite `?`, PostgreSQL `%s`). An article without a date is outside any range."""
    clauses: list[str] = []
    values: list[object] = []
    if source is not None:
        clauses.append(f"lower(source) = lower({param})")
        values.append(source)
    if since is not None:
        clauses.append(f"published_at >= {param}")
        values.append(since)
    if until is not None:
        clauses.append(f"published_at <= {param}")
        values.append(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), values


def insert_sentences(conn: sqlite3.Connection, rows: Sequence[SentenceRow]) -> None:
    """Store sentences with their clause vectors (8-bit blobs, see `quantize.to_bytes`) and
    make them findable by their words."""
    conn.executemany(
        "INSERT INTO sentences (id, article_id, position, start, end, text)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [r[:6] for r in rows],
    )
    conn.executemany(
        "INSERT INTO clauses (sentence_id, vectors) VALUES (?, ?)",
        [(r[0], r[6]) for r in rows if r[6] is not None],
    )
    conn.executemany(
        "INSERT INTO sentences_fts (rowid, text) VALUES (?, ?)", [(r[0], r[5]) for r in rows]
    )


def delete_all_sentences(conn: sqlite3.Connection) -> None:
    """Delete every sentence, its words and clause vectors (inside the caller's transaction)."""
    conn.execute("INSERT INTO sentences_fts (sentences_fts) VALUES ('delete-all')")
    conn.execute("DELETE FROM clauses")
    conn.execute("DELETE FROM sentences")


def delete_sentences(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    """Delete sentences and their words; their vectors become tombstones until compaction."""
    for first in range(0, len(ids), 500):
        chunk = list(ids[first : first + 500])
        marks = ",".join("?" * len(chunk))
        # The words are found by the text they were indexed with: delete them first.
        conn.execute(
            "INSERT INTO sentences_fts (sentences_fts, rowid, text)"
            f" SELECT 'delete', id, text FROM sentences WHERE id IN ({marks})",
            chunk,
        )
        conn.execute(f"DELETE FROM clauses WHERE sentence_id IN ({marks})", chunk)
        conn.execute(f"DELETE FROM sentences WHERE id IN ({marks})", chunk)
    conn.executemany(
        "INSERT OR IGNORE INTO tombstones (sentence_id) VALUES (?)", [(i,) for i in ids]
    )


def sentence_ids(conn: sqlite3.Connection, article_id: str) -> list[int]:
    """Ids of an article's sentences, in reading order."""
    rows = conn.execute(
        "SELECT id FROM sentences WHERE article_id = ? ORDER BY position", (article_id,)
    )
    return [int(row[0]) for row in rows]


def sentences(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Sentence]:
    """Stored sentences with article metadata and neighbours; missing ids are left out."""
    if not ids:
        return {}
    rows = rows_in(
        conn,
        "SELECT s.id, s.article_id, s.position, s.start, s.end, s.text,"
        " a.title, a.source, a.url, a.published, a.published_at,"
        " p.text AS before, n.text AS after, p.id AS before_id, n.id AS after_id,"
        " (SELECT COUNT(*) FROM sentences c WHERE c.article_id = s.article_id)"
        "   AS article_sentences"
        " FROM sentences s JOIN articles a ON a.id = s.article_id"
        " LEFT JOIN sentences p ON p.article_id = s.article_id AND p.position = s.position - 1"
        " LEFT JOIN sentences n ON n.article_id = s.article_id AND n.position = s.position + 1"
        " WHERE s.id IN ({})",
        list(ids),
    )
    return {
        int(row["id"]): Sentence(**{**dict(row), "published_at": iso(row["published_at"])})
        for row in rows
    }


def clause_vectors(conn: sqlite3.Connection, ids: Sequence[int], dim: int) -> dict[int, Vectors]:
    """The clause vectors of those of these sentences that have more than one clause."""
    rows = rows_in(
        conn, "SELECT sentence_id, vectors FROM clauses WHERE sentence_id IN ({})", list(ids)
    )
    return {int(row[0]): quantize.from_bytes(row[1], dim) for row in rows}


def title_vectors(conn: sqlite3.Connection, article_ids: Sequence[str]) -> dict[str, Vectors]:
    """The vectors of articles' titles."""
    rows = rows_in(
        conn,
        "SELECT id, title_vector FROM articles WHERE id IN ({})",
        list(dict.fromkeys(article_ids)),
    )
    return {row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows if row[1] is not None}


def has_article(conn: sqlite3.Connection, article_id: str) -> bool:
    """Whether an article with this id is stored."""
    row = conn.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone()
    return row is not None


def article(conn: sqlite3.Connection, article_id: str) -> Article | None:
    """An article as it was ingested."""
    row = conn.execute(
        "SELECT id, title, text, source, url, published FROM articles WHERE id = ?",
        (article_id,),
    ).fetchone()
    return None if row is None else Article(**dict(row))


def all_articles(conn: sqlite3.Connection) -> list[Article]:
    """Every stored article, by id."""
    return [
        Article(**dict(row))
        for row in conn.execute(
            "SELECT id, title, text, source, url, published FROM articles ORDER BY id"
        )
    ]


def articles(
    conn: sqlite3.Connection, offset: int, limit: int, title: str | None = None
) -> tuple[list[ArticleInfo], int]:
    """A page of articles, newest first, and the total count; with `title`, only those whose
    title contains it (case-insensitive for ASCII letters)."""
    where, args = "", []
    if title:
        escaped = title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where, args = " WHERE a.title LIKE ? ESCAPE '\\'", [f"%{escaped}%"]
    rows = conn.execute(
        "SELECT a.id, a.title, a.source, a.url, a.published, a.published_at, a.ingested_at,"
        " (SELECT COUNT(*) FROM sentences s WHERE s.article_id = a.id) AS sentences"
        f" FROM articles a{where}"
        " ORDER BY a.published_at IS NULL, a.published_at DESC, a.ingested_at DESC, a.id"
        " LIMIT ? OFFSET ?",
        (*args, limit, offset),
    ).fetchall()
    total = conn.execute(f"SELECT COUNT(*) FROM articles a{where}", args).fetchone()[0]
    return [
        ArticleInfo(**{**dict(row), "published_at": iso(row["published_at"])}) for row in rows
    ], int(total)
