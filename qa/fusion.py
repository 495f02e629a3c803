"""Ranking without a fitted ranker: cosines and BM25 ranks combined, no English-only features.

Used where the fitted ranker cannot be trusted: for a model it was not fitted on (its trees read
cosines on another model's scale), and for a question that is not in English (its features count
English stop words, stems, month names and question words, so a French question looks like one
that nothing answers). Only language-neutral signals are read: the candidate's best cosine to the
question (its best clause, or the whole sentence), its context cosine (title and neighbours),
its BM25 rank, and whether it is too short to say anything (a dateline such as "Paris (CNN)").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from qa.ranker import Candidate, ConversationState, Ranker

# The weights, chosen on seven questions over the samples (French, German, Spanish, English;
# tests/test_multilingual.py) among a small grid, and measured on the eval sets (README,
# "Choosing the model"): the best clause decides, the context breaks near ties.
CONTEXT_WEIGHT = 0.25
# BM25 by reciprocal rank (constant 60, Cormack et al. 2009): a question in another language
# than the article shares few words with it, mostly names, so its lexical rank only nudges.
LEXICAL_WEIGHT = 2.0
RRF_K = 60
# Fewer words than this: a dateline or a caption, never an answer on its own.
SHORT_WORDS = 4
_WORD = re.compile(r"\w+")


def _ranks(values: np.ndarray) -> np.ndarray:
    """0-based rank of each value, highest first."""
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
    return ranks


class FusionRanker(Ranker):
    """Orders candidates by their best cosine, context and BM25; never abstains when anything
    was found (no threshold was fitted for it)."""

    def __init__(self, fitted: Ranker) -> None:
        # same context weights (the index was built with them); no trees, adapter or probes
        super().__init__({"ctx_title": fitted.ctx_title, "ctx_nb": fitted.ctx_nb})

    def score(
        self,
        question: str,
        cands: Sequence[Candidate],
        mode: str = "article",
        history: ConversationState | None = None,
    ) -> np.ndarray:
        if not cands:
            return np.zeros(0, np.float32)
        best = np.array(
            [max(c.dense_raw, c.clause_cos if c.clause_cos is not None else -1.0) for c in cands],
            np.float64,
        )
        context = np.array([c.dense for c in cands], np.float64)
        lexical = np.array([c.bm25 if c.bm25 is not None else -np.inf for c in cands])
        hits = np.isfinite(lexical)
        reciprocal = np.where(hits, 1.0 / (RRF_K + 1 + _ranks(lexical)), 0.0)
        short = np.array([len(_WORD.findall(c.text)) < SHORT_WORDS for c in cands])
        fused = best + CONTEXT_WEIGHT * context + LEXICAL_WEIGHT * reciprocal - 1.0 * short
        return fused.astype(np.float32)

    def probability(self, scores: np.ndarray, mode: str) -> np.ndarray:
        """The score brought to [0, 1] (about the best cosine): nothing was fitted to make it a
        probability, but it orders and compares like one."""
        out: np.ndarray = np.clip(np.asarray(scores, np.float64) / (1.0 + CONTEXT_WEIGHT), 0, 1)
        return out

    def should_abstain(
        self,
        question: str,
        scores: np.ndarray,
        cands: Sequence[Candidate],
        mode: str = "corpus",
        term_df: dict[str, int] | None = None,
    ) -> bool:
        return len(cands) == 0
