"""Choosing the fusion's weights (qa.fusion) on the training sets, through the engine's retriever.

The fusion ranks where no fitted ranker can (questions not in English, a model without its own
ranker), so its three weights are chosen the way the rest is fitted: training questions asked
through `Retriever.candidates` over real indexes of training articles, in corpus and article
scope, and a small grid scored by P@1 and MRR of the fusion's own score.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.embedding import Encoder
from index.vectors import ContextWeights
from qa.fitting.collect import ask_all
from qa.fitting.corpus import Corpus
from qa.fitting.encoding import CachedEncoder
from qa.fitting.sets import Question, load_set
from qa.fusion import ACROSS_LANGUAGES, WEIGHTS, FusionWeights, Signals
from qa.question import normalise
from qa.retrieval import Retriever, load_ranker

Log = Callable[[str], None]

GRID: dict[str, tuple[float, ...]] = {
    "context": (0.0, 0.1, 0.25, 0.5),
    "lexical": (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
    "short_penalty": (0.0, 0.5, 1.0),
}


@dataclass(frozen=True, slots=True)
class FusionSettings:
    """Which training questions to ask, and where the vectors are cached."""

    train: Path
    cache: Path
    # the same seeded article samples as the ranker's fit (qa.fitting.fit), so vectors are shared
    squad_docs: int = 110
    selqa_docs: int = 900
    corpus_questions: int = 1500  # squad-train, over all the sampled articles
    article_questions: tuple[tuple[str, int], ...] = (
        ("squad-train", 1500),
        ("selqa", 1000),
        ("trecqa-train", 10**9),
    )
    context: ContextWeights = field(default_factory=ContextWeights)
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Asked:
    """One training question's candidates as the fusion reads them, and which answer it."""

    group: str  # "<set> <scope>", e.g. "squad-train corpus"
    signals: Signals
    labels: np.ndarray


@dataclass(frozen=True, slots=True)
class Figures:
    """P@1 and MRR of one group of questions (0 where no candidate answers)."""

    questions: int
    p_at_1: float
    mrr: float


@dataclass(frozen=True, slots=True)
class GridPoint:
    """One choice of weights and its figures per group."""

    weights: FusionWeights
    groups: dict[str, Figures]

    @property
    def mean_mrr(self) -> float:
        """MRR averaged over groups (each set and scope counts alike)."""
        return float(np.mean([f.mrr for f in self.groups.values()]))

    @property
    def mean_p_at_1(self) -> float:
        """P@1 averaged over groups."""
        return float(np.mean([f.p_at_1 for f in self.groups.values()]))


def figures(asked: Sequence[Asked], weights: FusionWeights) -> dict[str, Figures]:
    """P@1 and MRR of the fusion under weights, per group, ties broken as the engine breaks
    them (candidate order)."""
    reciprocal: dict[str, list[float]] = {}
    for one in asked:
        rank = 0.0
        if one.labels.any():
            order = np.argsort(-one.signals.fused(weights), kind="stable")
            rank = 1.0 / (1 + int(np.flatnonzero(one.labels[order])[0]))
        reciprocal.setdefault(one.group, []).append(rank)
    return {
        group: Figures(len(ranks), float(np.mean(np.array(ranks) == 1.0)), float(np.mean(ranks)))
        for group, ranks in reciprocal.items()
    }


def search(asked: Sequence[Asked], grid: dict[str, tuple[float, ...]] = GRID) -> list[GridPoint]:
    """Every point of the grid, best first (mean MRR, then mean P@1, then grid order)."""
    points = [
        GridPoint(
            FusionWeights(context, lexical, short),
            figures(asked, FusionWeights(context, lexical, short)),
        )
        for context, lexical, short in itertools.product(
            grid["context"], grid["lexical"], grid["short_penalty"]
        )
    ]
    return sorted(points, key=lambda p: (-round(p.mean_mrr, 6), -round(p.mean_p_at_1, 6)))


def _sample(questions: Sequence[Question], size: int, seed: int) -> list[Question]:
    if len(questions) <= size:
        return list(questions)
    keep = sorted(np.random.default_rng(seed).choice(len(questions), size, replace=False).tolist())
    return [questions[i] for i in keep]


def collect(encoder: Encoder, settings: FusionSettings, log: Log) -> list[Asked]:
    """Ask the sampled training questions through the engine; keep the fusion's signals.
    The question vectors are not adapted (the packaged ranker's adapter is left out), as
    for a model without a fitted ranker."""
    ranker = load_ranker().for_other_model()
    limits = {"squad-train": settings.squad_docs, "selqa": settings.selqa_docs}
    out: list[Asked] = []
    for k, (name, size) in enumerate(settings.article_questions):
        data = load_set(settings.train / name, limits.get(name))
        plan = [("article", _sample(data.questions, size, settings.seed + 2 + k))]
        if name == "squad-train":
            plan.insert(
                0, ("corpus", _sample(data.questions, settings.corpus_questions, settings.seed + 1))
            )
        texts = sorted({normalise(q.text) for _, questions in plan for q in questions})
        for first in range(0, len(texts), 2048):  # batched once, then read from the cache
            encoder.encode_queries(texts[first : first + 2048])
        with Corpus(data.articles, encoder, settings.context) as corpus:
            retriever = Retriever(corpus.index, ranker)
            for mode, questions in plan:
                for one in ask_all(retriever, corpus, questions, mode):
                    out.append(Asked(f"{name} {mode}", Signals.of(one.found.items), one.labels))
                log(f"{name} {mode}: {len(questions)} questions over {len(data.articles)} articles")
    return out


def choose(
    encoder: Encoder, settings: FusionSettings, log: Log = print
) -> tuple[GridPoint, list[GridPoint]]:
    """Collect, search the grid, print it; returns the chosen point and the whole grid."""
    cached = CachedEncoder(encoder, settings.cache)
    try:
        asked = collect(cached, settings, log)
    finally:
        cached.close()
    points = search(asked)
    groups = list(points[0].groups)
    log("context lexical short | " + " | ".join(groups) + " | mean P@1 / MRR")
    for point in points:
        log(_row(point, groups))
    current = GridPoint(WEIGHTS, figures(asked, WEIGHTS))
    log(f"current (qa.fusion.WEIGHTS): {_row(current, groups)}")
    log(f"chosen: {_row(points[0], groups)}")
    # Across languages BM25 has only names to match: the best point that leaves it out.
    across = next(p for p in points if p.weights.lexical == 0)
    current = GridPoint(ACROSS_LANGUAGES, figures(asked, ACROSS_LANGUAGES))
    log(f"current (qa.fusion.ACROSS_LANGUAGES): {_row(current, groups)}")
    log(f"chosen across languages (no BM25): {_row(across, groups)}")
    return points[0], points


def _row(point: GridPoint, groups: Sequence[str]) -> str:
    w = point.weights
    cells = [f"{point.groups[g].p_at_1:.3f} / {point.groups[g].mrr:.3f}" for g in groups]
    return (
        f"{w.context:g} {w.lexical:g} {w.short_penalty:g} | "
        + " | ".join(cells)
        + f" | {point.mean_p_at_1:.3f} / {point.mean_mrr:.3f}"
    )
