"""An encoder whose vectors are kept on disk: a refit embeds each training text once."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.embedding import Encoder, Span, Vectors


def _key(text: str, spans: Sequence[Span] | None) -> str:
    extra = "" if spans is None else json.dumps([list(s) for s in spans])
    return hashlib.sha256(f"{text}\x00{extra}".encode()).hexdigest()


class CachedEncoder:
    """Another encoder's vectors, cached by text (and clause spans) in one SQLite file per
    model; vectors are the same whichever backend of those weights made them up to rounding,
    so the cache is keyed by the full model id, backend included.

    queries_alone: embed each question on its own, as serving does (qa.retrieval embeds one
    question at a time). The int8 backend quantises a batch's activations together, so a
    question embedded among others is only at cosine 0.993 on average (0.980 at worst, 400
    squad-train questions) to the same question alone: features fitted on batched questions
    are not the features served. Such vectors are cached under keys of their own."""

    def __init__(self, encoder: Encoder, folder: Path, *, queries_alone: bool = False) -> None:
        self._encoder = encoder
        self._queries_alone = queries_alone
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256(encoder.model_id.encode()).hexdigest()[:16]
        # two fits may share the cache: a writer waits for the other's short transaction
        self._db = sqlite3.connect(folder / f"vectors-{name}.sqlite3", timeout=120)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB, parts BLOB)"
        )

    @property
    def model_id(self) -> str:
        """The wrapped encoder's model id."""
        return self._encoder.model_id

    @property
    def dim(self) -> int:
        """The wrapped encoder's dimension."""
        return self._encoder.dim

    def _lookup(self, keys: list[str]) -> dict[str, tuple[bytes, bytes | None]]:
        found: dict[str, tuple[bytes, bytes | None]] = {}
        for first in range(0, len(keys), 500):
            chunk = keys[first : first + 500]
            rows = self._db.execute(
                "SELECT key, vector, parts FROM vectors WHERE key IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update({row[0]: (row[1], row[2]) for row in rows})
        return found

    def _vector(self, blob: bytes) -> Vectors:
        return np.frombuffer(blob, dtype=np.float32).copy()

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        """Unit vectors of texts, from the cache where known."""
        return self._cached(texts, query=False)

    def encode_queries(self, texts: list[str]) -> Vectors:
        """Unit vectors of questions (the query role, for a model with roles), cached apart."""
        return self._cached(texts, query=True)

    def _cached(self, texts: list[str], *, query: bool) -> Vectors:
        # a question's key differs from the same text's as a passage: E5 embeds them apart
        alone = query and self._queries_alone
        suffix = (":query:alone" if alone else ":query") if query else ""
        keys = [_key(text, None) + suffix for text in texts]
        found = self._lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing:
            chosen = [texts[i] for i in missing]
            if alone:
                vectors = np.concatenate([self._encoder.encode_queries([t]) for t in chosen])
            else:
                encode = self._encoder.encode_queries if query else self._encoder.encode
                vectors = encode(chosen)
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO vectors VALUES (?, ?, NULL)",
                    [
                        (keys[i], v.astype(np.float32).tobytes())
                        for i, v in zip(missing, vectors, strict=True)
                    ],
                )
            found.update(
                {
                    keys[i]: (v.astype(np.float32).tobytes(), None)
                    for i, v in zip(missing, vectors, strict=True)
                }
            )
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = self._vector(found[key][0])
        return out

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[Vectors, list[Vectors | None]]:
        """Vectors of texts and of their spans, from the cache where known."""
        keys = [_key(text, cut) for text, cut in zip(texts, spans, strict=True)]
        found = self._lookup(keys)
        missing = [i for i, key in enumerate(keys) if key not in found]
        if missing:
            vectors, parts = self._encoder.encode_with_spans(
                [texts[i] for i in missing], [spans[i] for i in missing]
            )
            rows = [
                (
                    keys[i],
                    v.astype(np.float32).tobytes(),
                    None if part is None else part.astype(np.float32).tobytes(),
                )
                for i, v, part in zip(missing, vectors, parts, strict=True)
            ]
            with self._db:
                self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            found.update({key: (vector, blob) for key, vector, blob in rows})
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled: list[Vectors | None] = []
        for row, key in enumerate(keys):
            vector, blob = found[key]
            out[row] = self._vector(vector)
            pooled.append(None if blob is None else self._vector(blob).reshape(-1, self.dim))
        return out, pooled

    def close(self) -> None:
        """Close the cache file."""
        self._db.close()
