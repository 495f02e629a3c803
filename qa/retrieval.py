"""Finding the sentences that answer a question: dense and lexical search, fused."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from index.embedding import Vectors
from index.store import NewsIndex
from qa.conversations import Conversation

CANDIDATES = 50
RRF_K = 60.0


@dataclass(frozen=True, slots=True)
class Ranked:
    """Sentence ids best first, their scores, and whether none of them answers the question."""

    ids: list[int]
    scores: list[float]
    abstain: bool


class Retriever:
    """Dense search fused with BM25 by reciprocal rank; follow-ups lean on the previous turn."""

    def __init__(self, index: NewsIndex, abstain_below: float = 0.25) -> None:
        self._index = index
        self.abstain_below = abstain_below

    def _query_vector(self, question: str, history: Conversation | None) -> Vectors:
        vector = self._index.encoder.encode([question])[0]
        last = history.last if history else None
        if last is not None:
            previous = self._index.encoder.encode([last.question])[0]
            vector = vector + 0.5 * previous
            vector = vector / np.linalg.norm(vector)
        return np.asarray(vector, dtype=np.float32)

    def rank(
        self, question: str, article_id: str | None, history: Conversation | None = None
    ) -> Ranked:
        """Rank the sentences in scope for a question."""
        vector = self._query_vector(question, history)
        dense = self._index.search_dense(vector, CANDIDATES, article_id)
        lexical_text = question
        if history is not None and history.last is not None:
            lexical_text = f"{question} {history.last.question}"
        lexical = self._index.search_lexical(lexical_text, CANDIDATES, article_id)
        fused: dict[int, float] = {}
        for results in (dense, lexical):
            for rank, (sentence_id, _) in enumerate(results):
                fused[sentence_id] = fused.get(sentence_id, 0.0) + 1.0 / (RRF_K + rank + 1)
        cosine = dict(dense)
        order = sorted(fused, key=lambda i: -fused[i])
        scores = [cosine.get(i, 0.0) for i in order]
        best = max(cosine.values(), default=0.0)
        return Ranked(order, scores, abstain=best < self.abstain_below)
