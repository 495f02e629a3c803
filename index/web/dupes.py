"""One story, many outlets: near-duplicate articles found by MinHash (datasketch) over word
shingles. The first copy is indexed; later copies are listed as other sources of it."""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from index.articles import Article

# Estimated Jaccard similarity of word 5-shingles above which two texts are one story: a wire
# story republished with its own headline, a line added or cut, stays well above it.
THRESHOLD = 0.7
NUM_PERM = 128
SHINGLE = 5
# datasketch's hashing scheme; stored signatures are only comparable under the same one
SCHEME = "affine32"
_WORD = re.compile(r"\w+")

SCHEMA = """
CREATE TABLE IF NOT EXISTS web_signatures (
    article_id TEXT PRIMARY KEY,
    minhash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS web_copies (
    article_id TEXT NOT NULL,
    copy_id TEXT NOT NULL,
    title TEXT NOT NULL,
    source TEXT,
    url TEXT,
    published TEXT,
    seen_at REAL NOT NULL,
    PRIMARY KEY (article_id, copy_id)
);
"""


@dataclass(frozen=True, slots=True)
class Copy:
    """Another outlet's copy of an indexed story."""

    copy_id: str
    title: str
    source: str | None
    url: str | None
    published: str | None


def signature(text: str) -> MinHash:
    """MinHash of the text's lower-cased word 5-shingles (its words, when shorter)."""
    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}
    minhash = MinHash(num_perm=NUM_PERM, scheme=SCHEME)
    minhash.update_batch([s.encode("utf-8") for s in shingles])
    return minhash


class Duplicates:
    """Signatures of indexed web articles and the copies found of them, in the index's file."""

    def __init__(self, db_path: Path, threshold: float = THRESHOLD) -> None:
        self.db_path = Path(db_path)
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._known: dict[str, MinHash] = {}
        self._seen_rowid = 0
        self._lock = threading.Lock()
        self._ready = False

    def _ensure(self) -> None:
        """The tables, made on first use by a writer (answering questions writes nothing)."""
        if not self._ready:
            with self._connect() as conn:
                conn.executescript(SCHEMA)
            self._ready = True

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            yield conn
        finally:
            conn.close()

    def _refresh(self) -> None:
        """Take in signatures written since the last look (by this or another process)."""
        self._ensure()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT rowid, article_id, minhash FROM web_signatures WHERE rowid > ? "
                "ORDER BY rowid",
                (self._seen_rowid,),
            ).fetchall()
        for rowid, article_id, blob in rows:
            hashvalues = np.frombuffer(blob, dtype=np.uint64)
            self._put(article_id, MinHash(num_perm=NUM_PERM, hashvalues=hashvalues, scheme=SCHEME))
            self._seen_rowid = max(self._seen_rowid, rowid)

    def _put(self, article_id: str, minhash: MinHash) -> None:
        if article_id in self._known:
            self._lsh.remove(article_id)
        self._lsh.insert(article_id, minhash)
        self._known[article_id] = minhash

    def original_of(self, article: Article, minhash: MinHash | None = None) -> str | None:
        """The id of an indexed article this one is a copy of (never itself), if any."""
        minhash = minhash or signature(article.text)
        with self._lock:
            self._refresh()
            best: tuple[float, str] | None = None
            for candidate in self._lsh.query(minhash):
                if candidate == article.id:
                    continue
                similarity = minhash.jaccard(self._known[candidate])
                if similarity >= self.threshold and (best is None or similarity > best[0]):
                    best = (similarity, candidate)
        return None if best is None else best[1]

    def split(self, articles: Sequence[Article]) -> tuple[list[Article], list[tuple[Article, str]]]:
        """Articles to index, and copies (with the id of their original) to list instead."""
        keep: list[Article] = []
        copies: list[tuple[Article, str]] = []
        batch = MinHashLSH(threshold=self.threshold, num_perm=NUM_PERM)
        batch_known: dict[str, MinHash] = {}
        for article in articles:
            minhash = signature(article.text)
            original = self.original_of(article, minhash)
            if original is None:
                # within one batch too: two outlets' copies fetched together
                for candidate in batch.query(minhash):
                    if candidate != article.id and (
                        minhash.jaccard(batch_known[candidate]) >= self.threshold
                    ):
                        original = candidate
                        break
            if original is None:
                keep.append(article)
                if article.id not in batch_known:
                    batch.insert(article.id, minhash)
                    batch_known[article.id] = minhash
            else:
                copies.append((article, original))
        return keep, copies

    def remember(self, articles: Sequence[Article], copies: Sequence[tuple[Article, str]]) -> None:
        """Store the signatures of articles now committed, and the copies of them."""
        now = time.time()
        self._ensure()
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT OR REPLACE INTO web_signatures VALUES (?, ?)",
                [
                    (a.id, np.asarray(signature(a.text).hashvalues, dtype=np.uint64).tobytes())
                    for a in articles
                ],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO web_copies VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (original, c.id, c.title, c.source, c.url, c.published, now)
                    for c, original in copies
                ],
            )
            conn.execute("COMMIT")

    def copies_of(self, article_ids: Sequence[str]) -> dict[str, list[Copy]]:
        """The other outlets' copies of each article."""
        if not article_ids:
            return {}
        unique = list(dict.fromkeys(article_ids))
        marks = ",".join("?" * len(unique))
        try:
            with self._connect() as conn:
                rows = conn.execute(
                    f"SELECT article_id, copy_id, title, source, url, published FROM web_copies "
                    f"WHERE article_id IN ({marks}) ORDER BY seen_at, copy_id",
                    unique,
                ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # nothing from the web was ever ingested here
                return {}
            raise
        found: dict[str, list[Copy]] = {}
        for article_id, copy_id, title, source, url, published in rows:
            found.setdefault(article_id, []).append(Copy(copy_id, title, source, url, published))
        return found
