"""The models over the embedding model's own vectors: the low-rank question adapter and the
answer-type probes. Both read sentence vectors as the index stores them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.fitting.corpus import Corpus
from qa.fitting.sets import Question
from qa.question import normalise
from qa.ranker import QTYPES, question_type

SEED = 0


@dataclass(frozen=True, slots=True)
class ArticleQuestions:
    """One article's sentence vectors (reading order), its questions' vectors and, per
    question, which sentences answer it."""

    set_name: str
    doc_id: str
    weight: float
    sentences: np.ndarray  # (n, d)
    questions: np.ndarray  # (q, d), unadapted
    answers: np.ndarray  # (q, n) bool
    types: list[str]


def gather(
    corpus: Corpus,
    questions: Sequence[Question],
    set_name: str,
    weight: float,
    encode: Callable[[list[str]], np.ndarray],
) -> list[ArticleQuestions]:
    """Vectors per article of a corpus, for the questions that have an answer in it."""
    by_doc: dict[str, list[Question]] = {}
    for q in questions:
        by_doc.setdefault(q.doc_id, []).append(q)
    out = []
    for doc, asked in sorted(by_doc.items()):
        ids = corpus.index.sentence_ids(doc)
        if len(ids) < 2:
            continue
        masks = np.array([[i in corpus.answers(q) for i in ids] for q in asked], dtype=bool)
        keep: np.ndarray = np.asarray(masks.any(axis=1), dtype=bool)
        if not keep.any():
            continue
        texts = [normalise(q.text) for q, k in zip(asked, keep.tolist(), strict=True) if k]
        out.append(
            ArticleQuestions(
                set_name,
                doc,
                weight,
                corpus.index.sentence_vectors(ids),
                encode(texts),
                masks[keep],
                [question_type(t) for t in texts],
            )
        )
    return out


def fit_adapter(
    data: Sequence[ArticleQuestions],
    dim: int,
    rank: int = 16,
    epochs: int = 3,
    lr: float = 5e-4,
    scale: float = 20.0,
    weight_decay: float = 0.05,
    negatives: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """q' = normalise(q + q A B): softmax over the question's own article's sentences (hard
    negatives) plus random sentences of other articles, AdamW, fixed seeds."""
    import torch

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    pool = torch.from_numpy(np.concatenate([a.sentences for a in data]).astype(np.float32))
    A = torch.nn.Parameter(torch.randn(dim, rank) * 0.01)
    B = torch.nn.Parameter(torch.zeros(rank, dim))
    optimiser = torch.optim.AdamW([A, B], lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        for k in rng.permutation(len(data)):
            article = data[int(k)]
            sentences = torch.from_numpy(article.sentences.astype(np.float32))
            for first in range(0, len(article.questions), 64):
                q = torch.from_numpy(article.questions[first : first + 64].astype(np.float32))
                right = torch.from_numpy(article.answers[first : first + 64])
                drawn = pool[torch.from_numpy(rng.integers(0, len(pool), negatives))]
                candidates = torch.cat([sentences, drawn])
                adapted = torch.nn.functional.normalize(q + (q @ A) @ B, dim=-1)
                logits = scale * adapted @ candidates.T
                mask = torch.cat([right, torch.zeros(len(q), negatives, dtype=torch.bool)], 1)
                loss = (
                    article.weight
                    * (
                        torch.logsumexp(logits, 1)
                        - torch.logsumexp(logits.masked_fill(~mask, -1e4), 1)
                    ).mean()
                )
                optimiser.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                optimiser.step()
    return A.detach().numpy().astype(np.float32), B.detach().numpy().astype(np.float32)


def fit_answer_types(
    data: Sequence[ArticleQuestions], dim: int, per_type: int = 4000, c: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per question type, a logistic regression over a sentence's vector: does it look like
    what that type of question wants (a place, a date, a number)? Positives are a question's
    answering sentences, negatives the rest of its article, every question weighing the same."""
    from sklearn.linear_model import LogisticRegression

    W = np.zeros((len(QTYPES), dim), np.float32)
    b = np.zeros(len(QTYPES), np.float32)
    rows: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {t: [] for t in QTYPES}
    for k in np.random.default_rng(SEED).permutation(len(data)):
        article = data[int(k)]
        for mask, qtype in zip(article.answers, article.types, strict=True):
            if not mask.all() and len(rows[qtype]) < per_type:
                rows[qtype].append((article.sentences, mask))
    for k, qtype in enumerate(QTYPES):
        if not rows[qtype]:
            continue
        X = np.concatenate([x for x, _ in rows[qtype]])
        y = np.concatenate([m for _, m in rows[qtype]])
        w = np.concatenate([np.where(m, 1.0 / m.sum(), 1.0 / (~m).sum()) for _, m in rows[qtype]])
        model = LogisticRegression(C=c, max_iter=2000).fit(X, y, sample_weight=w / w.mean())
        W[k], b[k] = model.coef_[0], model.intercept_[0]
    return W, b
