"""The span reader: where in a sentence the answer to a question lies, and how likely it is there.

A small head fitted on SQuAD (scripts/reader/train_reader.py, qa/data/<model key>/reader.npz)
over the packaged MiniLM's own token states: start and end logits for every token of a candidate
sentence from a low-rank bilinear form of the question's vector and the token's state. A
sentence's score is the log-sum-exp of its spans' start + end logits (fitted so that, among
sentences close to a question, the one holding the answer scores highest): a where-question
should score higher on a sentence that names a place than on one about meeting "in person".

numpy only; the token states come from the engine's own encoder (one forward pass over the few
sentences read, `TransformerEncoder.token_states`).

Not wired into the retriever: measured as a second stage over the ranker's best 3 to 5 it moved
squad P@1 by +.006 and trecqa by -.015 while costing a second model pass per question
(scripts/reader/README.md). It stays for the measurement to be repeated on a better head.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
# In a model's artifact folder (qa/data/<model key>/, beside its ranker).
WEIGHTS = "reader.npz"
# The longest answer considered, in tokens (SQuAD answers: 99% under 30).
LONGEST = 30


@dataclass(frozen=True, slots=True)
class Reading:
    """A sentence's score (all its spans) and its best span's characters."""

    score: float
    start: int
    end: int


class SpanReader:
    """The fitted head; `read` scores sentences from their token states."""

    def __init__(self, weights: dict[str, Floats], model: str) -> None:
        self.model = model
        self._start = (weights["Qs"], weights["Hs"], weights["ws"])
        self._end = (weights["Qe"], weights["He"], weights["we"])
        self._rank = weights["Qs"].shape[1]

    @classmethod
    def load(cls, path: Path) -> SpanReader:
        with np.load(path) as data:
            weights = {k: data[k].astype(np.float32) for k in data.files if k != "model"}
            model = str(data["model"])
        return cls(weights, model)

    def logits(self, question: Floats, hidden: Floats) -> tuple[Floats, Floats]:
        """Start and end logits of one sentence's tokens."""
        out = []
        for wq, wh, w in (self._start, self._end):
            z = (hidden @ wh) @ (question @ wq) / np.float32(self._rank**0.5) + hidden @ w
            out.append(z.astype(np.float32))
        return out[0], out[1]

    def read(
        self, question: Floats, states: Sequence[tuple[Floats, Sequence[tuple[int, int]]]]
    ) -> list[Reading]:
        """The score and best span of each sentence, given the question's (raw, unit) vector and
        each sentence's token states with their character offsets ([CLS] and [SEP], with empty
        offsets, are never part of a span)."""
        readings = []
        for hidden, offsets in states:
            start, end = self.logits(question, hidden)
            real = np.array([e > s for s, e in offsets], dtype=bool)
            if not real.any():
                readings.append(Reading(float("-inf"), 0, 0))
                continue
            s = np.where(real, start, -np.inf)
            e = np.where(real, end, -np.inf)
            # pair (i, j): start i, end j, with i <= j < i + LONGEST
            pairs = s[:, None] + e[None, :]
            size = len(s)
            i, j = np.indices((size, size))
            pairs[(j < i) | (j >= i + LONGEST)] = -np.inf
            best = int(np.argmax(pairs))
            first, last = divmod(best, size)
            top = float(pairs[first, last])
            score = top + float(np.log(np.exp(pairs[np.isfinite(pairs)] - top).sum()))
            readings.append(Reading(score, offsets[first][0], offsets[last][1]))
        return readings


@runtime_checkable
class TokenEncoder(Protocol):
    """An encoder that gives each text's token states (index.embedding.TransformerEncoder)."""

    def token_states(self, texts: list[str]) -> list[tuple[Floats, list[tuple[int, int]]]]: ...


@dataclass(frozen=True, slots=True)
class ReaderStage:
    """The reader as a second stage over the ranker's best `top` sentences: they are reordered
    by logit(ranker probability) + weight[mode] * reader score; modes without a weight are left
    as the ranker ordered them. scripts/reader/measure.py fits weights and `top` on squad-train
    articles neither the ranker nor the reader was fitted on (var/reader-cache/reader.json)."""

    reader: SpanReader
    top: int
    weight: dict[str, float]

    def reorder(
        self,
        mode: str,
        question: Floats,
        texts: Sequence[str],
        probabilities: Sequence[float],
        encoder: TokenEncoder,
    ) -> list[int]:
        """The new order of the first `top` of texts (ranked best first, with the ranker's
        probabilities); positions beyond them stay where they are."""
        weight = self.weight.get(mode)
        top = min(self.top, len(texts))
        if not weight or top < 2:
            return list(range(len(texts)))
        readings = self.reader.read(question, encoder.token_states(list(texts[:top])))
        p = np.clip(np.asarray(probabilities[:top], np.float64), 1e-6, 1 - 1e-6)
        fused = np.log(p / (1 - p)) + weight * np.array([r.score for r in readings])
        # a sentence the reader cannot read at all (-inf) keeps its place at the end
        fused = np.where(np.isfinite(fused), fused, -np.inf)
        order = [int(i) for i in np.argsort(-fused, kind="stable")]
        return order + list(range(top, len(texts)))
