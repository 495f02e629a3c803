"""The index facade: one data directory holding the catalog (SQLite) and vector segments.

Every write puts its new vectors in a new segment file first, then commits the catalog rows, the
list of live segments and the deletions in one SQLite transaction. A process killed at any point
leaves the catalog pointing at complete segments that agree with its rows; files of a write that
never committed are removed by the next writer. Readers keep the snapshot they loaded until a
newer generation is committed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index import catalog, lexical, pipeline, segments, vectors
from index.articles import Article
from index.catalog import DB_NAME, SCHEMA_VERSION, ArticleInfo, Sentence
from index.embedding import Encoder, Vectors
from index.errors import (
    ArticleNotFoundError,
    IndexBusyError,
    IndexCorruptError,
    IndexWriteError,
    ModelMismatchError,
    is_disk_full,
)
from index.pipeline import Embedded, Progress, no_progress
from index.reader import IndexReader
from index.segments import Segment, Snapshot
from index.splitter import Span
from index.vectors import ContextWeights

__all__ = [
    "DB_NAME",
    "SCHEMA_VERSION",
    "ArticleInfo",
    "IngestReport",
    "NewsIndex",
    "Progress",
    "Sentence",
    "Stats",
]

log = logging.getLogger("newsqa.index")
# Small segments are merged once this many of about the same size (same power of ten) pile up,
# so each vector is rewritten a few times over its life, not at every write.
MERGE_FAN_IN = 8
DIR_MODE = 0o700
TERM_COUNTS_KEPT = 100_000
SENTENCES_KEPT = 20_000


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


@dataclass(slots=True)
class _TermCounts:
    generation: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _SentenceRows:
    generation: int
    rows: dict[int, Sentence] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _NewSegment:
    id: int
    count: int
    ann: bool


def _insert_articles(
    conn: sqlite3.Connection,
    articles: Sequence[tuple[Article, Sequence[Span]]],
    ids: Sequence[int],
    embedded: Embedded,
) -> None:
    """Upsert articles and insert their sentences, which take `ids` and `embedded`'s clause
    vectors in reading order, article after article."""
    now = time.time()
    rows: list[catalog.SentenceRow] = []
    for article, spans in articles:
        catalog.upsert_article(conn, article, now, embedded.titles[article.id])
        for position, span in enumerate(spans):
            cursor = len(rows)
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
    catalog.insert_sentences(conn, rows)


class NewsIndex:
    """Articles, sentences and their vectors under one data directory."""

    def __init__(
        self,
        data_dir: Path,
        encoder: Encoder | None = None,
        context: ContextWeights | None = None,
    ) -> None:
        """Opening never checks the model: writes and searches do, and rebuild replaces it."""
        self.data_dir = Path(data_dir)
        self.context = context or ContextWeights()
        if not self.data_dir.is_dir():
            self.data_dir.mkdir(mode=DIR_MODE, parents=True)
            self.data_dir.chmod(DIR_MODE)  # mkdir's mode is filtered by the umask
        self.db_path = self.data_dir / DB_NAME
        self._segment_dir = self.data_dir / segments.FOLDER
        self._encoder = encoder
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._term_counts = _TermCounts(-1)
        self._sentence_rows = _SentenceRows(-1)
        conn = self.connection
        catalog.create(conn)
        if catalog.upgrade(conn):
            # An index from before clause vectors: its sentences rank on their whole-sentence
            # vectors alone until `newsqa rebuild` embeds their clauses.
            log.warning(
                "the index in %s has no clause vectors; run `newsqa rebuild` for the best answers",
                self.data_dir,
            )
        catalog.add_published_at(conn)
        conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        self._tidy()

    # ---- connections and metadata -------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """This thread's connection to the index database (autocommit; BEGIN for transactions)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = catalog.connect(self.db_path)
            self._local.conn = conn
        return conn

    @property
    def model_id(self) -> str | None:
        """The model that built the vectors, if any were built."""
        manifest = catalog.manifest(self.connection)
        return None if manifest is None else str(manifest["model"])

    def manifest(self) -> dict[str, Any] | None:
        """Model, dimension, backend, schema version and context weights of the vectors."""
        return catalog.manifest(self.connection)

    def _check_model(self, manifest: dict[str, Any] | None, *, growing: bool = False) -> None:
        if self._encoder is None or manifest is None:
            return
        if growing and int(manifest.get("count", 0)) == 0:
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

    def _current(self) -> Snapshot:
        """The segments of the committed generation, reloaded when a writer moved it."""
        generation = catalog.generation(self.connection)
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._load_lock:
            for attempt in range(20):
                try:
                    return self._load_snapshot()
                except IndexCorruptError:
                    # A compaction may have just replaced a segment of the list read; read again.
                    if attempt == 19:
                        raise
                    time.sleep(0.05)
        raise AssertionError("unreachable")

    def _load_snapshot(self, *, check: bool = True) -> Snapshot:
        conn = self.connection
        conn.execute("BEGIN")
        try:
            generation = catalog.generation(conn)
            manifest = catalog.manifest(conn)
            rows = conn.execute("SELECT id, ann FROM segments ORDER BY id").fetchall()
            dead = np.fromiter(
                (row[0] for row in conn.execute("SELECT sentence_id FROM tombstones")),
                dtype=np.int64,
            )
        finally:
            conn.execute("COMMIT")
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        if check:
            self._check_model(manifest)
        dim = int(manifest["dim"]) if manifest else (self._encoder.dim if self._encoder else 1)
        cached = {s.id: s for s in snapshot.segments} if snapshot is not None else {}
        opened = tuple(
            cached.get(int(row[0])) or Segment.open(self._segment_dir, int(row[0]), bool(row[1]))
            for row in rows
        )
        loaded = Snapshot(generation, dim, opened, np.sort(dead))
        if check:  # only a snapshot checked against the model may answer questions
            self._snapshot = loaded
        return loaded

    def snapshot(self) -> Snapshot:
        """The committed segments as this process sees them (for measuring search)."""
        return self._current()

    def load(self) -> None:
        """Check the model and map the vectors now rather than at the first question."""
        self._current()

    # ---- writing ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, wait: bool = True) -> Iterator[None]:
        """One writer at a time, across threads and processes."""
        if not self._write_lock.acquire(blocking=wait):
            raise IndexBusyError("another write to the index is in progress")
        try:
            fd = os.open(self.data_dir / ".write.lock", os.O_CREAT | os.O_RDWR, catalog.FILE_MODE)
            with open(fd, "a+") as lock_file:
                flags = fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB)
                try:
                    fcntl.flock(lock_file, flags)
                except BlockingIOError as exc:
                    raise IndexBusyError("another process is writing to the index") from exc
                try:
                    self._remove_orphans()
                    yield
                except (OSError, RuntimeError, sqlite3.OperationalError) as exc:
                    if is_disk_full(exc):
                        raise IndexWriteError(
                            f"no space left on the device holding {self.data_dir}: "
                            "nothing was written, the index is unchanged"
                        ) from exc
                    raise
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        finally:
            self._write_lock.release()

    def _tidy(self) -> None:
        """At open: convert an index of the previous layout and remove files a killed write left,
        unless another process is writing right now (then that writer tidies)."""
        with contextlib.suppress(IndexBusyError), self._writing(wait=False):
            self._migrate_generation_files()

    def _remove_orphans(self) -> None:
        live = {int(row[0]) for row in self.connection.execute("SELECT id FROM segments")}
        for path in segments.remove_orphans(self._segment_dir, live):
            log.info("removed %s, left by a write that did not complete", path.name)

    def _next_segment(self, conn: sqlite3.Connection) -> int:
        raw = catalog.meta(conn, "next_segment_id")
        return 1 if raw is None else int(raw)

    def _write_segment(
        self, segment_id: int, ids: list[int], raw: Any, context: Any
    ) -> _NewSegment:
        order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
        sorted_ids = np.asarray(ids, dtype=np.int64)[order]
        ann = len(ids) >= segments.ANN_MIN
        segments.write(
            self._segment_dir, segment_id, sorted_ids, raw[order], context[order], ann=ann
        )
        return _NewSegment(segment_id, len(ids), ann)

    def _commit(
        self,
        apply: Any,
        new: Sequence[_NewSegment],
        drop: Collection[int],
        model: str | None,
        dim: int,
    ) -> None:
        """Commit rows, segment list and deletions at once; on failure remove the new files."""
        conn = self.connection
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                apply(conn)
                for segment_id in drop:
                    conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
                conn.executemany(
                    "INSERT INTO segments (id, count, ann, created) VALUES (?, ?, ?, ?)",
                    [(s.id, s.count, int(s.ann), time.time()) for s in new],
                )
                stored = conn.execute("SELECT COALESCE(SUM(count), 0) FROM segments").fetchone()
                dead = conn.execute("SELECT COUNT(*) FROM tombstones").fetchone()
                manifest = {
                    "model": model,
                    "dim": dim,
                    "backend": getattr(self._encoder, "backend", None),
                    # how questions and sentences were told apart (E5's "query: "/"passage: ")
                    "roles": getattr(self._encoder, "roles", None),
                    "count": int(stored[0]) - int(dead[0]),
                    "schema_version": SCHEMA_VERSION,
                    "metric": "inner_product",
                    "context": self._context_manifest(),
                }
                catalog.set_meta(conn, "manifest", json.dumps(manifest))
                generation = catalog.generation(conn) + 1
                catalog.set_meta(conn, "generation", str(generation))
                if new:
                    catalog.set_meta(conn, "next_segment_id", str(max(s.id for s in new) + 1))
                segments.crash_point("before-commit")
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except BaseException:
            segments.delete(self._segment_dir, [s.id for s in new])
            raise
        segments.crash_point("after-commit")
        # Readers that mapped these keep their maps; new readers never see them.
        segments.delete(self._segment_dir, drop)
        log.info("generation %d is live", generation)

    def ingest(
        self,
        articles: Sequence[Article],
        progress: Progress = no_progress,
        work: pipeline.Work = pipeline.LOCAL,
    ) -> IngestReport:
        """Add new articles, replace changed ones, leave unchanged ones alone (split and
        embedded by `work`: here, or on a cluster)."""
        report = IngestReport()
        latest: dict[str, Article] = {}
        for article in articles:
            latest[article.id] = article
        with self._writing():
            conn = self.connection
            manifest = catalog.manifest(conn)
            self._check_model(manifest, growing=True)
            existing = {
                row["id"]: row
                for row in catalog.rows_in(
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

            spans_of = dict(zip([a.id for a in to_embed], work.split_all(to_embed), strict=True))
            split = [(article, [s.text for s in spans_of[article.id]]) for article in to_embed]
            log.info(
                "embedding %d sentences of %d articles",
                sum(len(t) for _, t in split),
                len(split),
            )
            embedded = pipeline.vectors_for(self.encoder, self.context, split, progress, work)
            report.sentences = len(embedded.raw)
            ids = catalog.next_ids(conn, len(embedded.raw))
            replaced = set(report.replaced)
            old_ids = [
                int(row[0])
                for row in catalog.rows_in(
                    conn,
                    "SELECT id FROM sentences WHERE article_id IN ({})",
                    [a.id for a in to_embed if a.id in replaced],
                )
            ]
            model, dim = self.encoder.model_id, self.encoder.dim
            # The first write with another model (allowed only once nothing is left) starts over.
            drop: list[int] = []
            if manifest is not None and manifest.get("model") != model:
                drop = [int(row[0]) for row in conn.execute("SELECT id FROM segments")]
            new = []
            if ids:
                new.append(
                    self._write_segment(
                        self._next_segment(conn), ids, embedded.raw, embedded.context
                    )
                )
            segments.crash_point("ingest-written")

            def apply(conn: sqlite3.Connection) -> None:
                if drop:
                    conn.execute("DELETE FROM tombstones")
                catalog.delete_sentences(conn, old_ids)
                _insert_articles(conn, [(a, spans_of[a.id]) for a, _ in split], ids, embedded)
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
                    catalog.set_meta(conn, "next_sentence_id", str(ids[-1] + 1))

            self._commit(apply, new, drop, model, dim)
            self._merge_small()
        return report

    def add_embedded(
        self,
        split: Sequence[tuple[Article, Sequence[Span]]],
        embedded: Embedded,
        model: str,
    ) -> list[int]:
        """Store new articles whose vectors were made elsewhere, in one segment and one
        transaction (bulk loading: `newsqa bench --scale`); returns their sentence ids."""
        with self._writing():
            conn = self.connection
            ids = catalog.next_ids(conn, len(embedded.raw))
            new = []
            if ids:
                new.append(
                    self._write_segment(
                        self._next_segment(conn), ids, embedded.raw, embedded.context
                    )
                )

            def apply(conn: sqlite3.Connection) -> None:
                _insert_articles(conn, split, ids, embedded)
                if ids:
                    catalog.set_meta(conn, "next_sentence_id", str(ids[-1] + 1))

            self._commit(apply, new, [], model, embedded.raw.shape[1])
            return ids

    def remove(self, article_id: str) -> int:
        """Remove an article and its sentences; returns how many sentences went.

        Only catalog rows change: the sentences' vectors stay in their segments as tombstones,
        skipped by search, until a compaction drops them.
        """
        with self._writing():
            conn = self.connection
            if not catalog.has_article(conn, article_id):
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
            old_ids = catalog.sentence_ids(conn, article_id)
            manifest = catalog.manifest(conn) or {}

            def apply(conn: sqlite3.Connection) -> None:
                catalog.delete_sentences(conn, old_ids)
                conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))

            self._commit(
                apply,
                [],
                [],
                manifest.get("model"),
                int(manifest.get("dim", self._encoder.dim if self._encoder else 1)),
            )
            return len(old_ids)

    def rebuild(
        self,
        progress: Progress = no_progress,
        *,
        wait: bool = True,
        work: pipeline.Work = pipeline.LOCAL,
    ) -> Stats:
        """Re-split and re-embed every article into a fresh segment, then swap it in at once.

        This is also how the index moves to another model. Sentences whose span did not change
        keep their ids, so questions answered from the old index while this runs still find
        their rows.
        """
        with self._writing(wait=wait):
            conn = self.connection
            known = {
                (row["article_id"], row["start"], row["end"]): int(row["id"])
                for row in conn.execute("SELECT id, article_id, start, end FROM sentences")
            }
            articles = catalog.all_articles(conn)
            progress("splitting", 0, len(articles))
            rows: list[tuple[int | None, str, int, int, int, str]] = []
            split: list[tuple[Article, list[str]]] = []
            for article, spans in zip(articles, work.split_all(articles), strict=True):
                split.append((article, [span.text for span in spans]))
                for position, span in enumerate(spans):
                    key = (article.id, span.start, span.end)
                    rows.append((known.get(key), article.id, position, *key[1:], span.text))
            fresh = catalog.next_ids(conn, sum(1 for row in rows if row[0] is None))
            fresh_iter = iter(fresh)
            final_ids = [row[0] if row[0] is not None else next(fresh_iter) for row in rows]
            log.info(
                "rebuild: embedding %d sentences of %d articles", len(final_ids), len(articles)
            )
            embedded = pipeline.vectors_for(self.encoder, self.context, split, progress, work)
            final_rows = [
                (sentence_id, *row[1:], blob)
                for sentence_id, row, blob in zip(final_ids, rows, embedded.clauses, strict=True)
            ]
            old = [int(row[0]) for row in conn.execute("SELECT id FROM segments")]
            new = []
            if final_rows:
                new.append(
                    self._write_segment(
                        self._next_segment(conn), final_ids, embedded.raw, embedded.context
                    )
                )

            def apply(conn: sqlite3.Connection) -> None:
                catalog.delete_all_sentences(conn)
                conn.execute("DELETE FROM tombstones")
                catalog.insert_sentences(conn, final_rows)
                conn.executemany(
                    "UPDATE articles SET title_vector = ? WHERE id = ?",
                    [(vector, article_id) for article_id, vector in embedded.titles.items()],
                )
                if fresh:
                    catalog.set_meta(conn, "next_sentence_id", str(fresh[-1] + 1))

            self._commit(apply, new, old, self.encoder.model_id, self.encoder.dim)
        return self.stats()

    def compact(self, *, wait: bool = True) -> int:
        """Merge every segment into one without the deleted sentences' vectors (building its
        approximate index when large); returns how many segments were merged."""
        with self._writing(wait=wait):
            rows = self.connection.execute("SELECT id FROM segments").fetchall()
            return self._merge([int(row[0]) for row in rows], force=True)

    def _merge_small(self) -> None:
        """Merge small exact segments of about the same size once enough have piled up."""
        rows = self.connection.execute("SELECT id, count FROM segments WHERE ann = 0").fetchall()
        tiers: dict[int, list[int]] = {}
        for row in rows:
            tiers.setdefault(int(math.log10(max(int(row[1]), 1))), []).append(int(row[0]))
        for tier in sorted(tiers):
            if len(tiers[tier]) >= MERGE_FAN_IN:
                self._merge(tiers[tier])
                return

    def _merge(self, chosen: list[int], *, force: bool = False) -> int:
        """Write chosen segments' live vectors as one segment and swap it in (write lock held)."""
        conn = self.connection
        snapshot = self._load_snapshot_unchecked()
        parts = [s for s in snapshot.segments if s.id in set(chosen)]
        if not parts or (len(parts) == 1 and not force):
            return 0
        keep_ids: list[Any] = []
        raws: list[Any] = []
        contexts: list[Any] = []
        gone: list[Any] = []
        for part in parts:
            ids_part, raw_part, context_part, gone_part = part.live(snapshot.dead)
            keep_ids.append(ids_part)
            raws.append(raw_part)
            contexts.append(context_part)
            gone.append(gone_part)
        ids = np.concatenate(keep_ids)
        if force and len(parts) == 1 and len(ids) == len(parts[0].ids):
            return 0  # one segment, nothing deleted: nothing to gain
        manifest = catalog.manifest(conn) or {}
        new = []
        if len(ids):
            new.append(
                self._write_segment(
                    self._next_segment(conn),
                    [int(i) for i in ids],
                    np.concatenate(raws),
                    np.concatenate(contexts),
                )
            )
        segments.crash_point("compact-written")
        dropped = [int(i) for i in np.concatenate(gone)]

        def apply(conn: sqlite3.Connection) -> None:
            for first in range(0, len(dropped), 500):
                chunk = dropped[first : first + 500]
                conn.execute(
                    f"DELETE FROM tombstones WHERE sentence_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )

        self._commit(
            apply,
            new,
            [p.id for p in parts],
            manifest.get("model"),
            int(manifest.get("dim", snapshot.dim)),
        )
        log.info("merged %d segments into one of %d vectors", len(parts), len(ids))
        return len(parts)

    def _load_snapshot_unchecked(self) -> Snapshot:
        """The current segments whatever the configured model (compaction needs no model)."""
        with self._load_lock:
            return self._load_snapshot(check=False)

    def _migrate_generation_files(self) -> None:
        """Move the vectors of an index written before segments (one FAISS file per generation)
        into a first segment; the database rows stay as they are."""
        conn = self.connection
        old_dir = self.data_dir / "vectors"
        if not old_dir.is_dir() or conn.execute("SELECT 1 FROM segments LIMIT 1").fetchone():
            return
        found = vectors.read_generation(old_dir, catalog.generation(conn))
        if found is None:
            return
        log.info("moving the vectors in %s into a segment", old_dir)
        ids, raw_vectors, context_vectors = found
        manifest = catalog.manifest(conn) or {}
        new = (
            [self._write_segment(1, ids.tolist(), raw_vectors, context_vectors)] if len(ids) else []
        )

        def apply(conn: sqlite3.Connection) -> None:
            catalog.set_meta(conn, "schema_version", str(SCHEMA_VERSION))

        self._commit(
            apply, new, [], manifest.get("model"), int(manifest.get("dim") or raw_vectors.shape[1])
        )
        for path in old_dir.iterdir():
            path.unlink()
        old_dir.rmdir()

    # ---- reading ------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Counts of articles, sentences and vectors."""
        conn = self.connection
        articles = conn.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
        sentences = conn.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]
        manifest = catalog.manifest(conn) or {}
        return Stats(
            articles=int(articles),
            sentences=int(sentences),
            vectors=int(manifest.get("count", 0)),
            generation=catalog.generation(conn),
            model=manifest.get("model"),
            dim=manifest.get("dim"),
            data_dir=str(self.data_dir),
        )

    def search_dense(
        self,
        query: Vectors,
        k: int,
        article_id: str | None = None,
        allowed: Collection[int] | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Sentence ids and cosine similarities, best first; within one article, among
        `articles` or among allowed sentence ids when given."""
        snapshot = self._current()
        scope = self._scope(article_id, allowed, articles)
        if scope is not None and not scope:
            return []
        return snapshot.search(query, k, None if scope is None else list(scope))

    def _scope(
        self,
        article_id: str | None,
        allowed: Collection[int] | None,
        articles: Sequence[str] | None,
    ) -> Collection[int] | None:
        """The sentence ids a search may return (None: all)."""
        scope: Collection[int] | None = allowed
        for ids in (
            None if article_id is None else self.sentence_ids(article_id),
            None if articles is None else self._sentence_ids_of(articles),
        ):
            if ids is not None:
                scope = ids if scope is None else set(scope) & set(ids)
        return scope

    def sentence_vectors(self, ids: Sequence[int], *, context: bool = False) -> Vectors:
        """The sentences' own vectors (or their searched context vectors), in the order given."""
        return self._current().vectors(ids, context=context)

    def clause_vectors(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """The clause vectors of those of these sentences that have more than one clause."""
        return catalog.clause_vectors(self.connection, ids, self._current().dim)

    def title_vectors(self, article_ids: Sequence[str]) -> dict[str, Vectors]:
        """The vectors of articles' titles."""
        return catalog.title_vectors(self.connection, article_ids)

    def lexical_terms(self, text: str) -> list[str]:
        """The words of text worth matching: lowercased, stop words dropped."""
        return lexical.terms(text)

    def search_lexical(
        self,
        text: str,
        k: int,
        article_id: str | None = None,
        allowed: Collection[int] | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Sentence ids and BM25 scores (higher is better) for the words of text."""
        if articles is not None:
            allowed = self._scope(None, allowed, articles)
        words = None
        if article_id is None and allowed is None:
            total = int((catalog.manifest(self.connection) or {}).get("count", 0))
            if total >= lexical.PRUNE_FROM:
                words = lexical.selective(self.term_counts(text), total)
        return lexical.search(self.connection, text, k, article_id, allowed, words)

    def term_counts(self, text: str) -> dict[str, int]:
        """For each word of text that lexical search would use, how many sentences contain it.

        Counting a common word's sentences takes milliseconds at a million sentences, and the
        same words come back question after question: counts are kept until the next write.
        """
        conn = self.connection
        generation = catalog.generation(conn)
        counts = self._term_counts
        if counts.generation != generation or len(counts.counts) > TERM_COUNTS_KEPT:
            counts = self._term_counts = _TermCounts(generation)
        out: dict[str, int] = {}
        for term in lexical.terms(text):
            known = counts.counts.get(term)
            if known is None:
                known = counts.counts[term] = lexical.count(conn, term)
            out[term] = known
        return out

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
        where, values = catalog.article_filter(source, since, until)
        rows = self.connection.execute(f"SELECT id FROM articles{where}", values)
        return [row[0] for row in rows]

    def sentence_ids(self, article_id: str) -> list[int]:
        """Ids of an article's sentences, in reading order."""
        return catalog.sentence_ids(self.connection, article_id)

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentence]:
        """Stored sentences with article metadata and neighbours; missing ids are left out.

        A question reads its candidates' rows three times (ranking, ordering twins, answering):
        rows are kept until the next write, so the database is read once (at a million
        sentences those reads took a quarter of a question's time).
        """
        conn = self.connection
        generation = catalog.generation(conn)
        kept = self._sentence_rows
        if kept.generation != generation or len(kept.rows) > SENTENCES_KEPT:
            kept = self._sentence_rows = _SentenceRows(generation)
        missing = [i for i in ids if i not in kept.rows]
        if missing:
            kept.rows.update(catalog.sentences(conn, missing))
        return {i: kept.rows[i] for i in ids if i in kept.rows}

    def has_article(self, article_id: str) -> bool:
        """Whether an article with this id is indexed."""
        return catalog.has_article(self.connection, article_id)

    def article(self, article_id: str) -> tuple[Article, list[Sentence]]:
        """An article with its sentences in reading order."""
        found = catalog.article(self.connection, article_id)
        if found is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        sentences = self.sentences(self.sentence_ids(article_id))
        return found, sorted(sentences.values(), key=lambda s: s.position)

    def articles(
        self, offset: int = 0, limit: int = 20, title: str | None = None
    ) -> tuple[list[ArticleInfo], int]:
        """A page of articles, newest first, and the total count; with `title`, only those
        whose title contains it (case-insensitive for ASCII letters)."""
        return catalog.articles(self.connection, offset, limit, title)


if TYPE_CHECKING:  # mypy holds NewsIndex to the read interface the retriever relies on

    def _reader(index: NewsIndex) -> IndexReader:
        return index
