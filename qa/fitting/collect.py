"""Asking training questions through the engine's retriever: features, labels, decisions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.conversations import HISTORY_TURNS, Conversation, Turn
from qa.fitting.corpus import Corpus
from qa.fitting.sets import Question
from qa.question import normalise
from qa.ranker import Candidate, ConversationState
from qa.retrieval import Candidates, Retriever

# How earlier turns of a conversation were ranked: the engine's own top sentence of each turn
# is what the conversation features read, so the scorer is the model being fitted (RRF first).
Scorer = Callable[[str, list[Candidate], str, ConversationState | None], np.ndarray]


def rrf(
    question: str, cands: list[Candidate], mode: str, state: ConversationState | None
) -> np.ndarray:
    """Reciprocal-rank fusion of the dense and lexical ranks (the ranker's fallback)."""
    return np.array(
        [
            (1 / (61 + c.dense_rank) if c.dense_rank is not None else 0.0)
            + (1 / (61 + c.bm25_rank) if c.bm25_rank is not None else 0.0)
            for c in cands
        ],
        np.float32,
    )


@dataclass(slots=True)
class Rows:
    """Per question: its candidates' feature rows and which candidates answer it."""

    features: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # the question's article


@dataclass(frozen=True, slots=True)
class Asked:
    """One question as the engine saw it."""

    question: Question
    text: str  # normalised, as the retriever ranks it
    article_id: str | None  # the article asked about (None: the whole corpus)
    found: Candidates
    labels: np.ndarray


def ask_all(
    retriever: Retriever,
    corpus: Corpus,
    questions: Sequence[Question],
    mode: str,
    *,
    history_scorer: Scorer = rrf,
    against: Mapping[str, str] | None = None,
) -> Iterator[Asked]:
    """Ask every question in mode "corpus", "article" or "conversation" (turns of a
    conversation in order, each remembering the engine's ranking of the turns before).
    `against` maps a question's id to the article it is asked about (default: its own).
    Yielded one at a time: candidates carry their vectors."""
    histories: dict[str, Conversation] = {}
    ordered = list(questions)
    if mode == "conversation":
        ordered.sort(key=lambda q: (q.conversation or q.id, q.turn or 0))
    for question in ordered:
        text = normalise(question.text)
        article_id = None if mode == "corpus" else (against or {}).get(question.id, question.doc_id)
        history = None
        if mode == "conversation":
            key = f"{question.conversation or question.id}@{article_id}"
            history = histories.setdefault(key, Conversation(id=key))
            history.turns = history.turns[-HISTORY_TURNS:]
        found = retriever.candidates(text, article_id, history)
        gold = corpus.answers(question) if article_id in (None, question.doc_id) else frozenset()
        labels = np.array([i in gold for i in found.ids], dtype=bool)
        yield Asked(question, text, article_id, found, labels)
        if history is not None:
            scores = (
                history_scorer(text, found.items, mode, found.state)
                if found.ids
                else np.zeros(0, np.float32)
            )
            order = np.argsort(-scores, kind="stable")
            history.turns.append(
                Turn(
                    turn=len(history.turns) + 1,
                    question=question.text,
                    article_id=article_id,
                    ranked=[found.ids[i] for i in order],
                    scores=[float(scores[i]) for i in order],
                    shown=1,
                )
            )


def ranking_rows(retriever: Retriever, asked: Iterable[Asked]) -> Rows:
    """The ranker's features of every candidate, and whether it answers."""
    rows = Rows()
    for one in asked:
        found = one.found
        rows.features.append(
            retriever.ranker.features(one.text, found.items, found.mode, found.state)
        )
        rows.labels.append(one.labels)
        rows.groups.append(one.question.doc_id)
    return rows


def abstention_rows(
    retriever: Retriever, asked: Iterable[Asked]
) -> tuple[np.ndarray, list[Question]]:
    """The abstention features of every question (corpus model in corpus mode, the scope
    model's features elsewhere), over the ranker's own scores: what serving decides on."""
    ranker = retriever.ranker
    out = []
    questions = []
    for one in asked:
        questions.append(one.question)
        found = one.found
        scores = ranker.score(one.text, found.items, found.mode, found.state)
        counts = retriever.term_counts(one.text, found)
        if found.mode == "corpus":
            out.append(ranker.abstain_features(one.text, scores, found.items, counts))
        else:
            out.append(
                ranker.scope_abstain_features(
                    one.text, scores, found.items, found.mode, counts, found.state
                )
            )
    return (np.stack(out) if out else np.zeros((0, 0), np.float32)), questions
