"""The index: articles and sentences in SQLite, their vectors in FAISS, kept consistent.

Every write builds a new FAISS file for a new generation, then commits the database rows and the
generation number in one SQLite transaction. A process killed at any point leaves the database
pointing at a complete previous generation, so the index always loads and agrees with its rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index import vectors
from index.articles import Article
from index.clauses import clauses
from index.dates import iso, parse_published
from index.embedding import Encoder, Vectors
from index.errors import ArticleNotFoundError, IndexBusyError, ModelMismatchError
from index.splitter import Span, split_sentences, trailing_chrome
from index.stopwords import STOP_WORDS
from index.vectors import ContextWeights, FaissIndex

log = logging.getLogger("newsqa.index")
SCHEMA_VERSION = 1
DB_NAME = "newsqa.sqlite3"
_TOKEN = re.compile(r"\w+", re.UNICODE)

Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


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


@dataclass(slots=True)
class IngestReport:
    """What an ingest did with each article."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    sentences: int = 0


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts of what the index holds."""

    articles: int
    sentences: int
    vectors: int
    generation: int
    model: str | None
    dim: int | None
    data_dir: str


@dataclass(frozen=True, slots=True)
class _Embedded:
    raw: Vectors
    context: Vectors
    titles: dict[str, bytes]
    clauses: list[bytes | None]  # per sentence: its clauses' vectors, None for a single clause


@dataclass(frozen=True, slots=True)
class _Snapshot:
    generation: int
    index: FaissIndex  # context vectors, searched
    raw: FaissIndex  # sentence vectors alone, for the ranker's features


_SCHEMA = """
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
    text TEXT NOT NULL,
    clause_vectors BLOB
);
CREATE INDEX IF NOT EXISTS sentences_by_article ON sentences(article_id, position);
CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5(
    text, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""


class NewsIndex:
    """Articles, sentences and their vectors under one data directory."""

    def __init__(
        self,
        data_dir: Path,
        encoder: Encoder | None = None,
        context: ContextWeights | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.context = context or ContextWeights()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / DB_NAME
        self._vector_dir = self.data_dir / "vectors"
        self._encoder = encoder
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._stop_words = STOP_WORDS
        conn = self.connection
        conn.executescript(_SCHEMA)
        columns = {row["name"] for row in conn.execute("PRAGMA table_info(sentences)")}
        if "clause_vectors" not in columns:
            # An index from before clause vectors: its sentences rank on their whole-sentence
            # vectors alone until `newsqa rebuild` embeds their clauses.
            conn.execute("ALTER TABLE sentences ADD COLUMN clause_vectors BLOB")
            if conn.execute("SELECT 1 FROM sentences LIMIT 1").fetchone() is not None:
                log.warning(
                    "the index in %s has no clause vectors; run `newsqa rebuild` for the best "
                    "answers",
                    self.data_dir,
                )
        _add_published_at(conn)
        conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._check_model()

    # ---- connections and metadata -------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection to the index database (autocommit; BEGIN for transactions)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    def _meta(self, conn: sqlite3.Connection, key: str) -> str | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _manifest(self, conn: sqlite3.Connection) -> dict[str, Any] | None:
        raw = self._meta(conn, "manifest")
        return None if raw is None else dict(json.loads(raw))

    def _generation(self, conn: sqlite3.Connection) -> int:
        raw = self._meta(conn, "generation")
        return 0 if raw is None else int(raw)

    @property
    def model_id(self) -> str | None:
        """The model that built the vectors, if any were built."""
        manifest = self._manifest(self.connection)
        return None if manifest is None else str(manifest["model"])

    def _check_model(self, *, growing: bool = False) -> None:
        if self._encoder is None:
            return
        manifest = self._manifest(self.connection)
        if manifest is None or (growing and int(manifest.get("count", 0)) == 0):
            return
        context = manifest.get("context")
        if context != self._context_manifest():
            raise ModelMismatchError(
                f"the index in {self.data_dir} was built with context weights {context}, "
                f"not with the configured {self._context_manifest()}; run `newsqa rebuild`"
            )
        if manifest["model"] == self._encoder.model_id:
            return
        raise ModelMismatchError(
            f"the index in {self.data_dir} was built with {manifest['model']}, "
            f"not with the configured {self._encoder.model_id}; "
            "run `newsqa rebuild` to re-embed every article with the configured model"
        )

    def _context_manifest(self) -> dict[str, float]:
        return {"title": self.context.title, "neighbour": self.context.neighbour}

    @property
    def encoder(self) -> Encoder:
        """The embedding model; only writes and questions need it."""
        if self._encoder is None:
            raise RuntimeError("this index was opened without an encoder")
        return self._encoder

    # ---- the current vectors ------------------------------------------------------------

    def _current(self) -> _Snapshot:
        """The vectors of the committed generation, reloaded when another writer moved it."""
        generation = self._generation(self.connection)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._load_lock:
            for _ in range(20):
                generation = self._generation(self.connection)
                snapshot = self._snapshot
                if snapshot is not None and snapshot.generation == generation:
                    return snapshot
                if generation == 0:
                    dim = self._encoder.dim if self._encoder else 1
                    manifest = self._manifest(self.connection)
                    if manifest is not None:
                        dim = int(manifest["dim"])
                    self._snapshot = _Snapshot(0, vectors.empty(dim), vectors.empty(dim))
                    return self._snapshot
                try:
                    self._snapshot = self._read(generation)
                    return self._snapshot
                except Exception:
                    # A writer may have just replaced this generation; read the pointer again.
                    time.sleep(0.05)
            self._snapshot = self._read(generation)
            return self._snapshot

    def _read(self, generation: int) -> _Snapshot:
        return _Snapshot(
            generation,
            vectors.read(self._vector_dir, generation),
            vectors.read(self._vector_dir, generation, "raw"),
        )

    def load(self) -> None:
        """Load the vectors now rather than at the first question."""
        self._check_model()
        self._current()

    # ---- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, wait: bool = True) -> Iterator[None]:
        """One writer at a time, across threads and processes."""
        if not self._write_lock.acquire(blocking=wait):
            raise IndexBusyError("another write to the index is in progress")
        try:
            with open(self.data_dir / ".write.lock", "a+") as lock_file:
                flags = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
                try:
                    fcntl.flock(lock_file, flags)
                except BlockingIOError as exc:
                    raise IndexBusyError("another process is writing to the index") from exc
                try:
                    yield
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _split(self, article: Article) -> list[Span]:
        spans = split_sentences(article.text)
        chrome = trailing_chrome(article.text, spans)
        return [span for i, span in enumerate(spans) if i not in chrome]

    def _commit(
        self,
        index: FaissIndex,
        raw: FaissIndex,
        generation: int,
        apply: Callable[[sqlite3.Connection], None],
        model: str | None,
        dim: int,
    ) -> None:
        log.info("writing vectors of generation %d (%d vectors)", generation, index.ntotal)
        vectors.write(index, self._vector_dir, generation)
        vectors.write(raw, self._vector_dir, generation, "raw")
        log.info("committing generation %d", generation)
        conn = self.connection
        conn.execute("BEGIN IMMEDIATE")
        try:
            apply(conn)
            manifest = {
                "model": model,
                "dim": dim,
                "count": int(index.ntotal),
                "schema_version": SCHEMA_VERSION,
                "metric": "inner_product",
                "context": self._context_manifest(),
            }
            conn.execute(
                "INSERT OR REPLACE INTO meta VALUES ('manifest', ?)", (json.dumps(manifest),)
            )
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (str(generation),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._snapshot = _Snapshot(generation, index, raw)
        vectors.remove_stale(self._vector_dir, keep=generation)
        log.info("generation %d is live", generation)

    def _next_ids(self, conn: sqlite3.Connection, count: int) -> list[int]:
        raw = self._meta(conn, "next_sentence_id")
        first = 1 if raw is None else int(raw)
        return list(range(first, first + count))

    def ingest(
        self, articles: Sequence[Article], progress: Progress = _no_progress
    ) -> IngestReport:
        """Add new articles, replace changed ones, leave unchanged ones alone."""
        report = IngestReport()
        latest: dict[str, Article] = {}
        for article in articles:
            latest[article.id] = article
        with self._writing():
            self._check_model(growing=True)
            conn = self.connection
            existing = {
                row["id"]: row
                for row in _rows_in(
                    conn,
                    "SELECT id, text_hash, source, url, published FROM articles WHERE id IN ({})",
                    list(latest),
                )
            }
            to_embed: list[Article] = []
            metadata_only: list[Article] = []
            for article in latest.values():
                old = existing.get(article.id)
                if old is None:
                    to_embed.append(article)
                    report.added.append(article.id)
                elif old["text_hash"] != article.text_hash:
                    to_embed.append(article)
                    report.replaced.append(article.id)
                elif (old["source"], old["url"], old["published"]) != (
                    article.source,
                    article.url,
                    article.published,
                ):
                    metadata_only.append(article)
                    report.replaced.append(article.id)
                else:
                    report.unchanged.append(article.id)
            if not to_embed and not metadata_only:
                return report

            spans_of = {article.id: self._split(article) for article in to_embed}
            split = [(article, [s.text for s in spans_of[article.id]]) for article in to_embed]
            log.info(
                "embedding %d sentences of %d articles",
                sum(len(t) for _, t in split),
                len(split),
            )
            embedded = self._vectors_for(split, progress)
            report.sentences = len(embedded.raw)
            ids = self._next_ids(conn, len(embedded.raw))

            old_ids = [
                int(row[0])
                for row in _rows_in(
                    conn,
                    "SELECT id FROM sentences WHERE article_id IN ({})",
                    [a.id for a in report_replaced(to_embed, report)],
                )
            ]
            current = self._current()
            dim = self.encoder.dim
            index, raw = vectors.empty(dim), vectors.empty(dim)
            if current.index.ntotal and current.index.d == dim:
                index, raw = faiss.clone_index(current.index), faiss.clone_index(current.raw)
            if old_ids:
                index.remove_ids(vectors.ids_array(old_ids))
                raw.remove_ids(vectors.ids_array(old_ids))
            if ids:
                index.add_with_ids(embedded.context, vectors.ids_array(ids))
                raw.add_with_ids(embedded.raw, vectors.ids_array(ids))

            def apply(conn: sqlite3.Connection) -> None:
                _delete_sentences(conn, old_ids)
                now = time.time()
                cursor = 0
                for article, _ in split:
                    spans = spans_of[article.id]
                    _upsert_article(conn, article, now, embedded.titles[article.id])
                    rows = []
                    for position, span in enumerate(spans):
                        rows.append(
                            (
                                ids[cursor],
                                article.id,
                                position,
                                span.start,
                                span.end,
                                span.text,
                                embedded.clauses[cursor],
                            )
                        )
                        cursor += 1
                    _insert_sentences(conn, rows)
                for article in metadata_only:
                    conn.execute(
                        "UPDATE articles SET source = ?, url = ?, published = ?, published_at = ?"
                        " WHERE id = ?",
                        (
                            article.source,
                            article.url,
                            article.published,
                            article.published_at,
                            article.id,
                        ),
                    )
                if ids:
                    conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('next_sentence_id', ?)",
                        (str(ids[-1] + 1),),
                    )

            self._commit(index, raw, current.generation + 1, apply, self.encoder.model_id, dim)
        return report

    def _vectors_for(
        self, articles: Sequence[tuple[Article, list[str]]], progress: Progress
    ) -> _Embedded:
        """Sentence, clause, context and title vectors of whole articles (sentences in reading
        order)."""
        texts = [text for _, sentences in articles for text in sentences]
        spans = [clauses(text) for text in texts]
        clause_texts = [text[s:e] for text, cut in zip(texts, spans, strict=True) for s, e in cut]
        titles = [article.title for article, _ in articles]
        everything = self._embed(texts + clause_texts + titles, progress)
        raw = everything[: len(texts)]
        clause_vectors = everything[len(texts) : len(texts) + len(clause_texts)]
        title_vectors = everything[len(texts) + len(clause_texts) :]
        clause_blobs: list[bytes | None] = []
        first = 0
        for cut in spans:
            last = first + len(cut)
            # half precision: a clause vector only ever feeds a cosine, and it halves their size
            clause_blobs.append(
                clause_vectors[first:last].astype(np.float16).tobytes() if cut else None
            )
            first = last
        context = np.empty_like(raw)
        first = 0
        for (_, sentences), title in zip(articles, title_vectors, strict=True):
            last = first + len(sentences)
            context[first:last] = self.context.apply(raw[first:last], title)
            first = last
        return _Embedded(
            raw=raw,
            context=context,
            titles={
                article.id: title.astype(np.float32).tobytes()
                for (article, _), title in zip(articles, title_vectors, strict=True)
            },
            clauses=clause_blobs,
        )

    def _embed(self, texts: list[str], progress: Progress) -> Vectors:
        """Vectors of texts, in their order. They are encoded shortest first, so that each
        batch pads little: sentences, clauses and titles differ a lot in length."""
        batch = 256
        out = np.zeros((len(texts), self.encoder.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for first in range(0, len(texts), batch):
            chunk = order[first : first + batch]
            out[chunk] = self.encoder.encode([texts[i] for i in chunk])
            progress("embedding", min(first + batch, len(texts)), len(texts))
        return out

    def remove(self, article_id: str) -> int:
        """Remove an article and its sentences; returns how many sentences went."""
        with self._writing():
            conn = self.connection
            if (
                conn.execute("SELECT 1 FROM articles WHERE id = ?", (article_id,)).fetchone()
                is None
            ):
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
            old_ids = [
                int(row[0])
                for row in conn.execute(
                    "SELECT id FROM sentences WHERE article_id = ?", (article_id,)
                )
            ]
            current = self._current()
            index: FaissIndex = faiss.clone_index(current.index)
            raw: FaissIndex = faiss.clone_index(current.raw)
            if old_ids:
                index.remove_ids(vectors.ids_array(old_ids))
                raw.remove_ids(vectors.ids_array(old_ids))
            manifest = self._manifest(conn) or {}

            def apply(conn: sqlite3.Connection) -> None:
                _delete_sentences(conn, old_ids)
                conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))

            self._commit(
                index,
                raw,
                current.generation + 1,
                apply,
                manifest.get("model"),
                int(manifest.get("dim", index.d)),
            )
            return len(old_ids)

    def rebuild(self, progress: Progress = _no_progress, *, wait: bool = True) -> Stats:
        """Re-split and re-embed every article into a fresh index, then swap it in at once.

        Sentences whose span did not change keep their ids, so questions answered from the old
        index while this runs still find their rows.
        """
        with self._writing(wait=wait):
            conn = self.connection
            known = {
                (row["article_id"], row["start"], row["end"]): int(row["id"])
                for row in conn.execute("SELECT id, article_id, start, end FROM sentences")
            }
            articles = [
                Article(
                    id=row["id"],
                    title=row["title"],
                    text=row["text"],
                    source=row["source"],
                    url=row["url"],
                    published=row["published"],
                )
                for row in conn.execute(
                    "SELECT id, title, text, source, url, published FROM articles ORDER BY id"
                )
            ]
            progress("splitting", 0, len(articles))
            rows: list[tuple[int | None, str, int, int, int, str]] = []
            split: list[tuple[Article, list[str]]] = []
            for article in articles:
                spans = self._split(article)
                split.append((article, [span.text for span in spans]))
                for position, span in enumerate(spans):
                    key = (article.id, span.start, span.end)
                    rows.append((known.get(key), article.id, position, *key[1:], span.text))
            fresh = self._next_ids(conn, sum(1 for row in rows if row[0] is None))
            fresh_iter = iter(fresh)
            final_ids = [row[0] if row[0] is not None else next(fresh_iter) for row in rows]
            log.info(
                "rebuild: embedding %d sentences of %d articles", len(final_ids), len(articles)
            )
            embedded = self._vectors_for(split, progress)
            final_rows = [
                (sentence_id, *row[1:], blob)
                for sentence_id, row, blob in zip(final_ids, rows, embedded.clauses, strict=True)
            ]
            dim = self.encoder.dim
            index, raw = vectors.empty(dim), vectors.empty(dim)
            if final_rows:
                ids = vectors.ids_array([r[0] for r in final_rows])
                index.add_with_ids(embedded.context, ids)
                raw.add_with_ids(embedded.raw, ids)
            current_generation = self._generation(conn)

            def apply(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM sentences")
                conn.execute("DELETE FROM sentences_fts")
                _insert_sentences(conn, final_rows)
                conn.executemany(
                    "UPDATE articles SET title_vector = ? WHERE id = ?",
                    [(vector, article_id) for article_id, vector in embedded.titles.items()],
                )
                if fresh:
                    conn.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('next_sentence_id', ?)",
                        (str(fresh[-1] + 1),),
                    )

            self._commit(index, raw, current_generation + 1, apply, self.encoder.model_id, dim)
        return self.stats()

    # ---- reading ------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Counts of articles, sentences and vectors."""
        conn = self.connection
        articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        sentences = conn.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]
        manifest = self._manifest(conn) or {}
        return Stats(
            articles=int(articles),
            sentences=int(sentences),
            vectors=int(manifest.get("count", 0)),
            generation=self._generation(conn),
            model=manifest.get("model"),
            dim=manifest.get("dim"),
            data_dir=str(self.data_dir),
        )

    def search_dense(
        self,
        query: Vectors,
        k: int,
        article_id: str | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Sentence ids and cosine similarities, best first (only within `articles` if given)."""
        snapshot = self._current()
        if snapshot.index.ntotal == 0:
            return []
        params = None
        if article_id is not None or articles is not None:
            ids = (
                self.sentence_ids(article_id)
                if article_id is not None
                else self._sentence_ids_of(articles or [])
            )
            if not ids:
                return []
            selector = faiss.IDSelectorBatch(vectors.ids_array(ids))
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]
            k = min(k, len(ids))
        k = min(k, int(snapshot.index.ntotal))
        scores, found = snapshot.index.search(query.reshape(1, -1), k, params=params)
        return [(int(i), float(s)) for i, s in zip(found[0], scores[0], strict=True) if i >= 0]

    def sentence_vectors(self, ids: Sequence[int], *, context: bool = False) -> Vectors:
        """The sentences' own vectors (or their searched context vectors), in the order given."""
        snapshot = self._current()
        source = snapshot.index if context else snapshot.raw
        if not ids:
            return np.zeros((0, source.d), dtype=np.float32)
        out: Vectors = source.reconstruct_batch(vectors.ids_array(list(ids)))
        return out

    def clause_vectors(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """The clause vectors of those of these sentences that have more than one clause."""
        rows = _rows_in(
            self.connection,
            "SELECT id, clause_vectors FROM sentences"
            " WHERE id IN ({}) AND clause_vectors IS NOT NULL",
            list(ids),
        )
        dim = self._current().raw.d
        return {
            int(row[0]): np.frombuffer(row[1], dtype=np.float16).reshape(-1, dim).astype(np.float32)
            for row in rows
        }

    def title_vectors(self, article_ids: Sequence[str]) -> dict[str, Vectors]:
        """The vectors of articles' titles."""
        rows = _rows_in(
            self.connection,
            "SELECT id, title_vector FROM articles WHERE id IN ({})",
            list(dict.fromkeys(article_ids)),
        )
        return {
            row[0]: np.frombuffer(row[1], dtype=np.float32) for row in rows if row[1] is not None
        }

    def lexical_terms(self, text: str) -> list[str]:
        """The words of text worth matching: lowercased, stop words dropped."""
        seen: dict[str, None] = {}
        for token in _TOKEN.findall(text.lower()):
            if token not in self._stop_words and token not in seen:
                seen[token] = None
        return list(seen)

    def search_lexical(
        self,
        text: str,
        k: int,
        article_id: str | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Sentence ids and BM25 scores (higher is better) for the words of text."""
        terms = self.lexical_terms(text)
        if not terms:
            return []
        query = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        conn = self.connection
        if article_id is None and articles is not None:
            sql = (
                "SELECT f.rowid, -bm25(sentences_fts) FROM sentences_fts f"
                " JOIN sentences s ON s.id = f.rowid"
                " WHERE sentences_fts MATCH ?"
                " AND s.article_id IN (SELECT value FROM json_each(?))"
                " ORDER BY bm25(sentences_fts) LIMIT ?"
            )
            rows = conn.execute(sql, (query, json.dumps(list(articles)), k)).fetchall()
        elif article_id is None:
            sql = (
                "SELECT rowid, -bm25(sentences_fts) FROM sentences_fts WHERE sentences_fts MATCH ?"
                " ORDER BY bm25(sentences_fts) LIMIT ?"
            )
            rows = conn.execute(sql, (query, k)).fetchall()
        else:
            sql = (
                "SELECT f.rowid, -bm25(sentences_fts) FROM sentences_fts f"
                " JOIN sentences s ON s.id = f.rowid"
                " WHERE sentences_fts MATCH ? AND s.article_id = ?"
                " ORDER BY bm25(sentences_fts) LIMIT ?"
            )
            rows = conn.execute(sql, (query, article_id, k)).fetchall()
        return [(int(row[0]), float(row[1])) for row in rows]

    def term_counts(self, text: str) -> dict[str, int]:
        """For each word of text that lexical search would use, how many sentences contain it."""
        conn = self.connection
        return {
            term: int(
                conn.execute(
                    "SELECT COUNT(*) FROM sentences_fts WHERE sentences_fts MATCH ?",
                    ('"' + term.replace('"', '""') + '"',),
                ).fetchone()[0]
            )
            for term in self.lexical_terms(text)
        }

    def _sentence_ids_of(self, article_ids: Sequence[str]) -> list[int]:
        rows = self.connection.execute(
            "SELECT id FROM sentences WHERE article_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(article_ids)),),
        )
        return [int(row[0]) for row in rows]

    def filter_articles(
        self,
        *,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[str]:
        """Ids of the articles from `source` (any case) published within [since, until] (UTC
        timestamps; an article without a date is outside any range)."""
        clauses: list[str] = []
        values: list[object] = []
        if source is not None:
            clauses.append("lower(source) = lower(?)")
            values.append(source)
        if since is not None:
            clauses.append("published_at >= ?")
            values.append(since)
        if until is not None:
            clauses.append("published_at <= ?")
            values.append(until)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self.connection.execute(f"SELECT id FROM articles{where}", values)
        return [row[0] for row in rows]

    def sentence_ids(self, article_id: str) -> list[int]:
        """Ids of an article's sentences, in reading order."""
        rows = self.connection.execute(
            "SELECT id FROM sentences WHERE article_id = ? ORDER BY position", (article_id,)
        )
        return [int(row[0]) for row in rows]

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentence]:
        """Stored sentences with article metadata and neighbours; missing ids are left out."""
        if not ids:
            return {}
        conn = self.connection
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "SELECT s.id, s.article_id, s.position, s.start, s.end, s.text,"
            " a.title, a.source, a.url, a.published, a.published_at,"
            " p.text AS before, n.text AS after, p.id AS before_id, n.id AS after_id,"
            " (SELECT COUNT(*) FROM sentences c WHERE c.article_id = s.article_id)"
            "   AS article_sentences"
            " FROM sentences s JOIN articles a ON a.id = s.article_id"
            " LEFT JOIN sentences p ON p.article_id = s.article_id AND p.position = s.position - 1"
            " LEFT JOIN sentences n ON n.article_id = s.article_id AND n.position = s.position + 1"
            f" WHERE s.id IN ({marks})",
            list(ids),
        ).fetchall()
        return {
            int(row["id"]): Sentence(**{**dict(row), "published_at": iso(row["published_at"])})
            for row in rows
        }

    def has_article(self, article_id: str) -> bool:
        """Whether an article with this id is indexed."""
        row = self.connection.execute(
            "SELECT 1 FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return row is not None

    def article(self, article_id: str) -> tuple[Article, list[Sentence]]:
        """An article with its sentences in reading order."""
        row = self.connection.execute(
            "SELECT id, title, text, source, url, published FROM articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        if row is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        sentences = self.sentences(self.sentence_ids(article_id))
        ordered = sorted(sentences.values(), key=lambda s: s.position)
        return Article(**dict(row)), ordered

    def articles(self, offset: int = 0, limit: int = 20) -> tuple[list[ArticleInfo], int]:
        """A page of articles, newest first, and the total count."""
        conn = self.connection
        rows = conn.execute(
            "SELECT a.id, a.title, a.source, a.url, a.published, a.published_at, a.ingested_at,"
            " (SELECT COUNT(*) FROM sentences s WHERE s.article_id = a.id) AS sentences"
            " FROM articles a"
            " ORDER BY a.published_at IS NULL, a.published_at DESC, a.ingested_at DESC, a.id"
            " LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        total = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        return [
            ArticleInfo(**{**dict(row), "published_at": iso(row["published_at"])}) for row in rows
        ], int(total)


def report_replaced(articles: list[Article], report: IngestReport) -> list[Article]:
    """The articles of this ingest that replace stored ones."""
    replaced = set(report.replaced)
    return [article for article in articles if article.id in replaced]


def _rows_in(conn: sqlite3.Connection, sql: str, keys: Sequence[object]) -> list[sqlite3.Row]:
    """Rows of sql whose `IN ({})` takes keys, in chunks under SQLite's variable limit."""
    out: list[sqlite3.Row] = []
    for first in range(0, len(keys), 500):
        chunk = keys[first : first + 500]
        out.extend(conn.execute(sql.format(",".join("?" * len(chunk))), chunk))
    return out


def _upsert_article(
    conn: sqlite3.Connection, article: Article, now: float, title_vector: bytes
) -> None:
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


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def _add_published_at(conn: sqlite3.Connection) -> None:
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


def _insert_sentences(
    conn: sqlite3.Connection,
    rows: Sequence[tuple[int, str, int, int, int, str, bytes | None]],
) -> None:
    conn.executemany(
        "INSERT INTO sentences (id, article_id, position, start, end, text, clause_vectors)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO sentences_fts (rowid, text) VALUES (?, ?)", [(r[0], r[5]) for r in rows]
    )


def _delete_sentences(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    for first in range(0, len(ids), 500):
        chunk = list(ids[first : first + 500])
        marks = ",".join("?" * len(chunk))
        conn.execute(f"DELETE FROM sentences_fts WHERE rowid IN ({marks})", chunk)
        conn.execute(f"DELETE FROM sentences WHERE id IN ({marks})", chunk)
