"""The index in PostgreSQL: every process reads and writes the same rows, so a write committed by
one replica is what the next question on any other replica searches.

A write embeds outside any transaction, then applies its rows in one short transaction under
one advisory lock (writers queue there, readers never wait): it re-reads what it decided on,
so two replicas adding the same article store it once. Dense search is pgvector's HNSW index
over the context vectors with the scope in the same query; lexical search is BM25 computed
over PostgreSQL's full-text index, so the ranker's features mean what they mean on SQLite.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from index import lexical, pipeline, quantize
from index.articles import Article
from index.catalog import ArticleInfo, Sentence, article_filter
from index.dates import iso
from index.embedding import Encoder, Vectors
from index.errors import ArticleNotFoundError, IndexBusyError, ModelMismatchError
from index.pipeline import Embedded, Progress, no_progress
from index.postgres import tables
from index.postgres.connect import EF_SEARCH, pool, redact
from index.splitter import Span
from index.store import IngestReport, Stats
from index.vectors import ContextWeights

if TYPE_CHECKING:
    from index.reader import IndexReader
    from index.writer import IndexStore

log = logging.getLogger("newsqa.index")

# Advisory lock keys (any fixed numbers): one writer applies at a time; one rebuild runs.
WRITE_LOCK = 7_391_004_002
REBUILD_LOCK = 7_391_004_003
# BM25 as SQLite's FTS5 computes it, so lexical scores have the scale the ranker was fitted on.
K1 = 1.2
B = 0.75
TERM_COUNTS_KEPT = 100_000
_SENTENCE_COLUMNS = (
    's.id, s.article_id, s.position, s.start, s."end", s.text, a.title, a.source, a.url,'
    " a.published, a.published_at"
)


class PgIndex:
    """Articles, sentences and their vectors in one PostgreSQL schema."""

    def __init__(
        self,
        url: str,
        encoder: Encoder | None = None,
        context: ContextWeights | None = None,
        *,
        schema: str = "public",
        data_dir: Path | None = None,
        max_connections: int = 10,
    ) -> None:
        """Opening never checks the model: writes and searches do, and rebuild replaces it."""
        self.url = url
        self.schema = schema
        self.context = context or ContextWeights()
        # Where this process keeps its own files (the API's admin key): not the index.
        self.data_dir = Path(data_dir) if data_dir is not None else Path.cwd()
        self._encoder = encoder
        self._pool: ConnectionPool[Any] = pool(url, schema, max_connections)
        self._cache_lock = threading.Lock()
        self._cache_generation = -1
        self._term_counts: dict[str, int] = {}
        self._corpus: tuple[int, float] = (0, 1.0)
        self._lexemes: dict[str, list[str]] = {}

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The process's connections to the database (conversations share them)."""
        return self._pool

    def close(self) -> None:
        """Close the connections."""
        self._pool.close()

    @property
    def where(self) -> str:
        """The database and schema, without the password."""
        return f"{redact(self.url)} (schema {self.schema})"

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection in one transaction, committed on leaving (rolled back on an error)."""
        with self._pool.connection() as conn:
            conn.row_factory = dict_row
            yield conn

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection outside any transaction: each statement sees the latest commit, and
        no COMMIT round trip follows a read."""
        with self._pool.connection() as conn:
            conn.autocommit = True
            conn.row_factory = dict_row
            try:
                yield conn
            finally:
                conn.autocommit = False

    # ---- the model ----------------------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        """The embedding model; only writes and questions need it."""
        if self._encoder is None:
            raise RuntimeError("this index was opened without an encoder")
        return self._encoder

    @property
    def model_id(self) -> str | None:
        """The model that built the vectors, if any were built."""
        manifest = self.manifest()
        return None if manifest is None else str(manifest["model"])

    def manifest(self) -> dict[str, Any] | None:
        """Model, dimension and context weights of the vectors."""
        with self._read() as conn:
            return tables.manifest(conn)

    def _context_manifest(self) -> dict[str, float]:
        return {"title": self.context.title, "neighbour": self.context.neighbour}

    def _check_model(self, manifest: dict[str, Any] | None, *, growing: bool = False) -> None:
        if self._encoder is None or manifest is None:
            return
        if growing and int(manifest.get("count", 0)) == 0:
            return
        if manifest.get("context") != self._context_manifest():
            raise ModelMismatchError(
                f"the index in {self.where} was built with context weights "
                f"{manifest.get('context')}, not with the configured {self._context_manifest()};"
                " run `newsqa rebuild`"
            )
        if manifest["model"] != self._encoder.model_id:
            raise ModelMismatchError(
                f"the index in {self.where} was built with {manifest['model']}, not with the "
                f"configured {self._encoder.model_id}; run `newsqa rebuild` to re-embed every "
                "article with the configured model"
            )

    def load(self) -> None:
        """Check the model now rather than at the first question."""
        self._check_model(self.manifest())

    def _dim(self, conn: psycopg.Connection[Any]) -> int:
        if self._encoder is not None:  # searches checked the stored vectors are its own
            return self._encoder.dim
        manifest = tables.manifest(conn, count=False)
        if manifest is not None:
            return int(manifest["dim"])
        return self._encoder.dim if self._encoder is not None else 1

    # ---- writing ------------------------------------------------------------------------

    @contextmanager
    def _applying(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction holding the write lock: writers apply one after another."""
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield conn
            conn.execute(
                "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'"
            )

    def ingest(
        self,
        articles: Sequence[Article],
        progress: Progress = no_progress,
        work: pipeline.Work = pipeline.LOCAL,
    ) -> IngestReport:
        """Add new articles, replace changed ones, skip unchanged ones (by text hash)."""
        latest = {article.id: article for article in articles}
        report = IngestReport()
        if not latest:
            return report
        with self._conn() as conn:
            self._check_model(tables.manifest(conn), growing=True)
            existing = tables.existing(conn, list(latest))
        to_embed = [
            a for a in latest.values() if tables.text_hash(existing.get(a.id)) != a.text_hash
        ]
        if not to_embed and all(
            (row["source"], row["url"], row["published"]) == (a.source, a.url, a.published)
            for a in latest.values()
            for row in [existing[a.id]]
        ):
            report.unchanged.extend(latest)  # nothing to write: no lock, no new generation
            return report
        spans_of = dict(zip([a.id for a in to_embed], work.split_all(to_embed), strict=True))
        split = [(article, [s.text for s in spans_of[article.id]]) for article in to_embed]
        embedded = (
            pipeline.vectors_for(self.encoder, self.context, split, progress, work)
            if split
            else None
        )
        with self._applying() as conn:
            manifest = tables.manifest(conn)
            self._check_model(manifest, growing=True)
            # What another writer committed meanwhile decides, not what was read before.
            existing = tables.existing(conn, list(latest))
            first = 0
            rows: list[tuple[Article, list[Span], int]] = []
            for article, texts in split:
                rows.append((article, spans_of[article.id], first))
                first += len(texts)
            for article in latest.values():
                old = existing.get(article.id)
                if old is None or old["text_hash"] != article.text_hash:
                    continue
                if (old["source"], old["url"], old["published"]) != (
                    article.source,
                    article.url,
                    article.published,
                ):
                    conn.execute(
                        "UPDATE articles SET source = %s, url = %s, published = %s,"
                        " published_at = %s WHERE id = %s",
                        (
                            article.source,
                            article.url,
                            article.published,
                            article.published_at,
                            article.id,
                        ),
                    )
                    report.replaced.append(article.id)
                else:
                    report.unchanged.append(article.id)
            fresh = [
                row for row in rows if tables.text_hash(existing.get(row[0].id)) != row[0].text_hash
            ]
            if embedded is not None and fresh:
                model, dim = self.encoder.model_id, self.encoder.dim
                if manifest is not None and manifest.get("model") != model:
                    conn.execute("TRUNCATE sentences")  # nothing is left of the old model
                tables.ensure_ann(conn, dim)
                replaced = [a.id for a, _, _ in fresh if a.id in existing]
                conn.execute("DELETE FROM sentences WHERE article_id = ANY(%s)", (replaced,))
                count = sum(len(spans) for _, spans, _ in fresh)
                ids = tables.next_ids(conn, count)
                now = time.time()
                sentence_rows = []
                taken = iter(ids)
                for article, spans, at in fresh:
                    tables.upsert_article(conn, article, now, embedded.titles[article.id])
                    for position, span in enumerate(spans):
                        sentence_rows.append(
                            tables.sentence_row(
                                next(taken), article.id, position, span, embedded, at
                            )
                        )
                    (report.replaced if article.id in existing else report.added).append(article.id)
                tables.insert_sentences(conn, sentence_rows)
                report.sentences = count
                tables.set_manifest(conn, model, dim, self._context_manifest())
        return report

    def add_embedded(
        self,
        split: Sequence[tuple[Article, Sequence[Span]]],
        embedded: Embedded,
        model: str,
    ) -> list[int]:
        """Store new articles whose vectors were made elsewhere, in one transaction."""
        dim = int(embedded.raw.shape[1])
        with self._applying() as conn:
            tables.ensure_ann(conn, dim)
            ids = tables.next_ids(conn, len(embedded.raw))
            taken = iter(ids)
            now = time.time()
            rows = []
            at = 0
            for article, spans in split:
                tables.upsert_article(conn, article, now, embedded.titles[article.id])
                for position, span in enumerate(spans):
                    row = tables.sentence_row(next(taken), article.id, position, span, embedded, at)
                    rows.append(row)
                at += len(spans)
            tables.insert_sentences(conn, rows)
            tables.set_manifest(conn, model, dim, self._context_manifest())
        return ids

    def remove(self, article_id: str) -> int:
        """Remove an article and its sentences; returns how many sentences went."""
        with self._applying() as conn:
            row = conn.execute(
                "SELECT COUNT(s.id) AS n FROM articles a LEFT JOIN sentences s"
                " ON s.article_id = a.id WHERE a.id = %s GROUP BY a.id",
                (article_id,),
            ).fetchone()
            if row is None:
                raise ArticleNotFoundError(f"no article with id {article_id!r}")
            conn.execute("DELETE FROM articles WHERE id = %s", (article_id,))
            return int(row["n"])

    def rebuild(
        self,
        progress: Progress = no_progress,
        *,
        wait: bool = True,
        work: pipeline.Work = pipeline.LOCAL,
    ) -> Stats:
        """Re-split and re-embed every article, then swap the sentences in at once.

        One rebuild runs at a time across every process sharing the database: asked while
        one runs, IndexBusyError (or, with wait, after it). Articles written while it embeds
        keep what their writer stored; sentences whose span did not change keep their ids.
        """
        with self._pool.connection() as holder:
            holder.row_factory = tuple_row
            holder.autocommit = True
            try:
                if wait:
                    holder.execute("SELECT pg_advisory_lock(%s)", (REBUILD_LOCK,))
                else:
                    got = holder.execute(
                        "SELECT pg_try_advisory_lock(%s)", (REBUILD_LOCK,)
                    ).fetchone()
                    if not got or not got[0]:
                        raise IndexBusyError("a rebuild is already running (on some replica)")
                try:
                    self._rebuild(progress, work)
                finally:
                    holder.execute("SELECT pg_advisory_unlock(%s)", (REBUILD_LOCK,))
            finally:
                holder.autocommit = False
        return self.stats()

    def _rebuild(self, progress: Progress, work: pipeline.Work) -> None:
        with self._conn() as conn:
            articles = [
                (Article(**{k: row[k] for k in tables.ARTICLE_COLUMNS}), str(row["text_hash"]))
                for row in conn.execute(
                    "SELECT id, title, text, source, url, published, text_hash FROM articles"
                    " ORDER BY id"
                )
            ]
            known = {
                (row["article_id"], row["start"], row["end"]): int(row["id"])
                for row in conn.execute('SELECT id, article_id, start, "end" FROM sentences')
            }
        progress("splitting", 0, len(articles))
        spans_of = dict(
            zip([a.id for a, _ in articles], work.split_all([a for a, _ in articles]), strict=True)
        )
        split = [(article, [s.text for s in spans_of[article.id]]) for article, _ in articles]
        log.info("rebuild: embedding %d articles", len(split))
        model, dim = self.encoder.model_id, self.encoder.dim
        embedded = (
            pipeline.vectors_for(self.encoder, self.context, split, progress, work)
            if split
            else Embedded(np.zeros((0, dim), np.float32), np.zeros((0, dim), np.float32), {}, [])
        )
        with self._applying() as conn:
            current = {
                row["id"]: row["text_hash"]
                for row in conn.execute("SELECT id, text_hash FROM articles")
            }
            manifest = tables.manifest(conn)
            if manifest is not None and manifest.get("model") != model:
                # another model's vectors cannot stay beside these: articles written
                # meanwhile with it go and must be ingested again. TRUNCATE, not DELETE:
                # an index built for the new length must not see the old rows, even dead ones.
                conn.execute("TRUNCATE sentences")
            tables.ensure_ann(conn, dim)
            rows = []
            at = 0
            fresh_needed = 0
            plan: list[tuple[Article, list[Span], int]] = []
            for article, text_hash in articles:
                spans = spans_of[article.id]
                if current.get(article.id) == text_hash:
                    plan.append((article, spans, at))
                    fresh_needed += sum((article.id, s.start, s.end) not in known for s in spans)
                at += len(spans)
            kept = [article.id for article, _, _ in plan]
            conn.execute("DELETE FROM sentences WHERE article_id = ANY(%s)", (kept,))
            fresh = iter(tables.next_ids(conn, fresh_needed))
            for article, spans, first in plan:
                for position, span in enumerate(spans):
                    key = (article.id, span.start, span.end)
                    sentence_id = known[key] if key in known else next(fresh)
                    rows.append(
                        tables.sentence_row(
                            sentence_id, article.id, position, span, embedded, first
                        )
                    )
            tables.insert_sentences(conn, rows)
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE articles SET title_vector = %s WHERE id = %s",
                    [(embedded.titles[article.id], article.id) for article, _, _ in plan],
                )
            tables.set_manifest(conn, model, dim, self._context_manifest())

    def compact(self, *, wait: bool = True) -> int:
        """Nothing to merge: PostgreSQL reclaims deleted rows itself (autovacuum)."""
        return 0

    # ---- reading ------------------------------------------------------------------------

    def stats(self) -> Stats:
        """Counts of articles, sentences and vectors."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT (SELECT COUNT(*) FROM articles) AS articles,"
                " (SELECT COUNT(*) FROM sentences) AS sentences,"
                " (SELECT value FROM meta WHERE key = 'generation') AS generation"
            ).fetchone()
            manifest = tables.manifest(conn) or {}
        assert row is not None
        return Stats(
            articles=int(row["articles"]),
            sentences=int(row["sentences"]),
            vectors=int(row["sentences"]),
            generation=int(row["generation"]),
            model=manifest.get("model"),
            dim=manifest.get("dim"),
            data_dir=self.where,
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
        """Sentence ids and cosine similarities, best first; the scope is applied inside the
        vector search (HNSW's iterative scan goes on until k rows of the scope are found)."""
        if (allowed is not None and not allowed) or (articles is not None and not articles):
            return []
        with self._read() as conn:
            manifest = tables.manifest(conn, count=False)
            self._check_model(manifest)
            if manifest is None:
                return []
            dim = int(manifest["dim"])
            where, params = tables.scope(article_id, allowed, articles)
            if k > EF_SEARCH:  # a deeper search than the session's for this query only
                conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(k),))
            vector = np.asarray(query, dtype=np.float32).reshape(-1)
            rows = conn.execute(
                f"SELECT s.id, -(s.context::vector({dim}) <#> %s::vector({dim})) AS score"
                f" FROM sentences s WHERE TRUE{where}"
                f" ORDER BY s.context::vector({dim}) <#> %s::vector({dim}) LIMIT %s",
                [vector, *params, vector, k],
                binary=True,
            ).fetchall()
            if k > EF_SEARCH:
                conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(EF_SEARCH),))
        return [(int(row["id"]), float(row["score"])) for row in rows]

    def _refresh(self, conn: psycopg.Connection[Any]) -> None:
        """Forget counts kept from before the latest write (by any process)."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        generation = int(row["value"]) if row else 0
        with self._cache_lock:
            if generation == self._cache_generation and len(self._term_counts) < TERM_COUNTS_KEPT:
                return
        totals = conn.execute(
            "SELECT COUNT(*) AS n, COALESCE(AVG(words), 1) AS avg FROM sentences"
        ).fetchone()
        assert totals is not None
        with self._cache_lock:
            self._cache_generation = generation
            self._term_counts = {}
            self._corpus = (int(totals["n"]), max(float(totals["avg"]), 1e-9))

    def _lexemes_of(self, conn: psycopg.Connection[Any], terms: list[str]) -> dict[str, list[str]]:
        missing = [term for term in terms if term not in self._lexemes]
        if missing:
            for row in conn.execute(
                "SELECT t, tsvector_to_array(to_tsvector('english', t)) AS lexemes"
                " FROM unnest(%s::text[]) AS t",
                (missing,),
            ):
                self._lexemes[row["t"]] = list(row["lexemes"])
        return {term: self._lexemes[term] for term in terms}

    def _counts(self, conn: psycopg.Connection[Any], terms: list[str]) -> dict[str, int]:
        lexemes = self._lexemes_of(conn, terms)
        out: dict[str, int] = {}
        for term in terms:
            with self._cache_lock:
                known = self._term_counts.get(term)
            if known is None:
                if not lexemes[term]:
                    known = 0
                else:
                    row = conn.execute(
                        "SELECT COUNT(*) AS n FROM sentences WHERE tsv @@ %s::tsquery",
                        (tables.tsquery(lexemes[term], " & "),),
                    ).fetchone()
                    known = int(row["n"]) if row else 0
                with self._cache_lock:
                    self._term_counts[term] = known
            out[term] = known
        return out

    def term_counts(self, text: str) -> dict[str, int]:
        """For each word of text that lexical search would use, how many sentences contain it
        (kept until the next write by any process)."""
        with self._read() as conn:
            self._refresh(conn)
            return self._counts(conn, lexical.terms(text))

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
        if (allowed is not None and not allowed) or (articles is not None and not articles):
            return []
        terms = lexical.terms(text)
        if not terms:
            return []
        with self._read() as conn:
            self._refresh(conn)
            counts = self._counts(conn, terms)
            total, average = self._corpus
            if article_id is None and allowed is None and articles is None:
                terms = lexical.selective(counts, total)
            lexemes = self._lexemes_of(conn, terms)
            weights: dict[str, float] = {}
            for term in terms:
                n = counts[term]
                idf = math.log((total - n + 0.5) / (n + 0.5)) if total else 0.0
                for lexeme in lexemes[term]:
                    weights[lexeme] = max(weights.get(lexeme, 0.0), idf if idf > 0 else 1e-6)
            if not weights:
                return []
            where, params = tables.scope(article_id, allowed, articles)
            rows = conn.execute(
                "WITH q AS (SELECT * FROM unnest(%s::text[], %s::float8[]) AS q(lexeme, idf))"
                " SELECT s.id, SUM(q.idf * cardinality(u.positions) * %s"
                "   / (cardinality(u.positions) + %s * (1 - %s + %s * s.words / %s))) AS score"
                " FROM sentences s CROSS JOIN LATERAL unnest(s.tsv) AS u"
                " JOIN q ON q.lexeme = u.lexeme"
                f" WHERE s.tsv @@ %s::tsquery{where}"
                " GROUP BY s.id ORDER BY score DESC, s.id LIMIT %s",
                [
                    list(weights),
                    list(weights.values()),
                    K1 + 1,
                    K1,
                    B,
                    B,
                    average,
                    tables.tsquery(list(weights), " | "),
                    *params,
                    k,
                ],
            ).fetchall()
        return [(int(row["id"]), float(row["score"])) for row in rows]

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentence]:
        """Stored sentences with article metadata and neighbours; missing ids are left out."""
        if not ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_SENTENCE_COLUMNS},"
                " p.text AS before, n.text AS after, p.id AS before_id, n.id AS after_id,"
                " (SELECT COUNT(*) FROM sentences c WHERE c.article_id = s.article_id)"
                "   AS article_sentences"
                " FROM sentences s JOIN articles a ON a.id = s.article_id"
                " LEFT JOIN sentences p ON p.article_id = s.article_id"
                "   AND p.position = s.position - 1"
                " LEFT JOIN sentences n ON n.article_id = s.article_id"
                "   AND n.position = s.position + 1"
                " WHERE s.id = ANY(%s)",
                ([int(i) for i in ids],),
            ).fetchall()
        return {
            int(row["id"]): Sentence(
                **{
                    **row,
                    "id": int(row["id"]),
                    "before_id": None if row["before_id"] is None else int(row["before_id"]),
                    "after_id": None if row["after_id"] is None else int(row["after_id"]),
                    "article_sentences": int(row["article_sentences"]),
                    "published_at": iso(row["published_at"]),
                }
            )
            for row in rows
        }

    def sentence_vectors(self, ids: Sequence[int], *, context: bool = False) -> Vectors:
        """Sentence vectors (or searched context vectors) in the order given (zeros for an id
        not stored)."""
        column = "context" if context else "raw"
        with self._read() as conn:
            dim = self._dim(conn)
            rows = conn.execute(
                f"SELECT id, {column} AS v FROM sentences WHERE id = ANY(%s)",
                ([int(i) for i in ids],),
                binary=True,  # pgvector's binary form: parsing text vectors cost ~30 ms
            ).fetchall()
        found = {int(row["id"]): tables.array(row["v"]) for row in rows}
        out = np.zeros((len(ids), dim), dtype=np.float32)
        for place, sentence_id in enumerate(ids):
            vector = found.get(int(sentence_id))
            if vector is not None:
                out[place] = vector
        return out

    def clause_vectors(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """The clause vectors of those of these sentences that have more than one clause."""
        with self._read() as conn:
            dim = self._dim(conn)
            rows = conn.execute(
                "SELECT id, clause_vectors FROM sentences WHERE id = ANY(%s)"
                " AND clause_vectors IS NOT NULL",
                ([int(i) for i in ids],),
            ).fetchall()
        # the blobs the ingest pipeline makes: 8-bit codes with one scale a vector
        return {int(row["id"]): quantize.from_bytes(row["clause_vectors"], dim) for row in rows}

    def title_vectors(self, article_ids: Sequence[str]) -> dict[str, Vectors]:
        """The vectors of articles' titles."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, title_vector FROM articles WHERE id = ANY(%s)",
                (list(dict.fromkeys(article_ids)),),
            ).fetchall()
        return {
            row["id"]: np.frombuffer(row["title_vector"], dtype=np.float32)
            for row in rows
            if row["title_vector"] is not None
        }

    def sentence_ids(self, article_id: str) -> list[int]:
        """An article's sentence ids in reading order."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id FROM sentences WHERE article_id = %s ORDER BY position", (article_id,)
            ).fetchall()
        return [int(row["id"]) for row in rows]

    def filter_articles(
        self,
        *,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[str]:
        """Ids of the articles from `source` (any case) published within [since, until]."""
        where, values = article_filter(source, since, until, "%s")
        with self._read() as conn:
            rows = conn.execute(f"SELECT id FROM articles{where}", values).fetchall()
        return [row["id"] for row in rows]

    def has_article(self, article_id: str) -> bool:
        """Whether an article with this id is indexed."""
        with self._read() as conn:
            row = conn.execute("SELECT 1 FROM articles WHERE id = %s", (article_id,)).fetchone()
        return row is not None

    def article(self, article_id: str) -> tuple[Article, list[Sentence]]:
        """An article with its sentences in reading order."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT id, title, text, source, url, published FROM articles WHERE id = %s",
                (article_id,),
            ).fetchone()
        if row is None:
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        found = self.sentences(self.sentence_ids(article_id))
        return Article(**row), sorted(found.values(), key=lambda s: s.position)

    def articles(
        self, offset: int = 0, limit: int = 20, title: str | None = None
    ) -> tuple[list[ArticleInfo], int]:
        """A page of articles, newest first, and the total count; with `title`, only those
        whose title contains it (any case)."""
        where, args = "", []
        if title:
            escaped = title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where, args = " WHERE a.title ILIKE %s", [f"%{escaped}%"]
        with self._read() as conn:
            rows = conn.execute(
                "SELECT a.id, a.title, a.source, a.url, a.published, a.published_at,"
                " a.ingested_at,"
                " (SELECT COUNT(*) FROM sentences s WHERE s.article_id = a.id) AS sentences"
                f" FROM articles a{where}"
                " ORDER BY a.published_at IS NULL, a.published_at DESC, a.ingested_at DESC, a.id"
                " LIMIT %s OFFSET %s",
                (*args, limit, offset),
            ).fetchall()
            total = conn.execute(f"SELECT COUNT(*) AS n FROM articles a{where}", args).fetchone()
        assert total is not None
        return [
            ArticleInfo(
                **{
                    **row,
                    "sentences": int(row["sentences"]),
                    "published_at": iso(row["published_at"]),
                }
            )
            for row in rows
        ], int(total["n"])


if TYPE_CHECKING:  # mypy holds PgIndex to the interfaces the engine reads and writes through

    def _reader(index: PgIndex) -> IndexReader:
        return index

    def _store(index: PgIndex) -> IndexStore:
        return index
