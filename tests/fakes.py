"""A deterministic stand-in for the embedding model, where the model is beside the point."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from index.embedding import Vectors

_WORD = re.compile(r"\w+")


class FakeEncoder:
    """Bag of hashed lowercase words: texts sharing words are similar, others are not."""

    def __init__(self, dim: int = 64, model_id: str = "fake-hash@1") -> None:
        self._dim = dim
        self._model_id = model_id
        self.calls = 0
        self.encoded = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        self.calls += 1
        self.encoded += len(texts)
        return self._vectors(texts)

    def encode_queries(self, texts: list[str]) -> Vectors:
        return self.encode(texts)

    def encode_with_spans(
        self, texts: list[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[Vectors, list[Vectors | None]]:
        """Each span's vector is its text's own: the real model pools them in the same pass."""
        vectors = self.encode(texts)
        parts = [
            self._vectors([text[s:e] for s, e in cut]) if cut else None
            for text, cut in zip(texts, spans, strict=True)
        ]
        return vectors, parts

    def _vectors(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim
                out[row, bucket] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out
