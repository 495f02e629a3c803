"""Scoring the engine on evaluation sets in the shared format (see shared/eval/README.md)."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.articles import article_from_record
from qa.models import AnswerSet
from qa.service import QAService

ServiceFactory = Callable[[Path], QAService]
TOP = 10


@dataclass(slots=True)
class SetResult:
    """Figures for one evaluation set."""

    name: str
    scope: str
    questions: int = 0
    p_at_1: float = 0.0
    hit_at_5: float = 0.0
    mrr_at_10: float = 0.0
    map: float | None = None
    abstained: float = 0.0
    seconds: float = 0.0
    abstention: dict[str, float] = field(default_factory=dict)
    robustness: Robustness | None = None

    def line(self) -> str:
        """One line of figures."""
        parts = [
            f"{self.name:<10}",
            f"scope={self.scope:<7}",
            f"questions={self.questions:<5}",
            f"P@1={self.p_at_1:.3f}",
            f"Hit@5={self.hit_at_5:.3f}",
            f"MRR@10={self.mrr_at_10:.3f}",
        ]
        if self.map is not None:
            parts.append(f"MAP={self.map:.3f}")
        parts.append(f"abstained={self.abstained:.1%}")
        if self.abstention:
            parts.append(
                f"| abstention: unanswerable abstained={self.abstention['unanswerable']:.1%}"
                f" answerable answered={self.abstention['answerable']:.1%}"
            )
        parts.append(f"({self.seconds:.0f} s)")
        line = "  ".join(parts)
        if self.robustness is not None:
            line += "\n" + self.robustness.line()
        return line


# How a user may type the same question: none of these may change the answer or the decision.
PERTURBATIONS: dict[str, Callable[[str], str]] = {
    "thanks": lambda q: f"{q} Thanks!",
    "numbered": lambda q: f"{q} (1)",
    "first-case": lambda q: q[:1].lower() + q[1:] if q[:1].isupper() else q[:1].upper() + q[1:],
    "lowercase": str.lower,
    "no-mark": lambda q: q.rstrip().rstrip("?").rstrip(),
}
ROBUSTNESS_SAMPLE = 500


@dataclass(slots=True)
class Robustness:
    """Whether answers survive how a question is typed, and abstention about one article."""

    questions: int = 0
    unchanged: float = 0.0
    by_variant: dict[str, float] = field(default_factory=dict)
    wrong_article_abstained: float = 0.0
    right_article_answered: float = 0.0

    def line(self) -> str:
        """One line of figures."""
        variants = " ".join(f"{name}={share:.1%}" for name, share in self.by_variant.items())
        return (
            f"{'':<10}  robustness ({self.questions} questions sampled by id, "
            f"x{len(self.by_variant)} variants): decision and top answer unchanged="
            f"{self.unchanged:.1%} ({variants})  | article scope: wrong article abstained="
            f"{self.wrong_article_abstained:.1%} right article answered="
            f"{self.right_article_answered:.1%}"
        )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _right(
    answer_article: str, start: int | None, end: int | None, question: dict[str, Any]
) -> bool:
    if answer_article != question["doc_id"] or start is None or end is None:
        return False
    return any(start < g_end and g_start < end for g_start, g_end in question["gold"])


def _ask_all(
    service: QAService, questions: list[dict[str, Any]], article_scope: bool, k: int
) -> Iterator[tuple[dict[str, Any], AnswerSet]]:
    for question in questions:
        conversation = question.get("conversation")
        yield (
            question,
            service.ask(
                question["question"],
                k=k,
                article_id=question["doc_id"] if article_scope else None,
                conversation_id=f"eval-{conversation}" if conversation else None,
                include_closest=True,
            ),
        )


def evaluate_set(folder: Path, make_service: ServiceFactory, abstention: bool = True) -> SetResult:
    """Ingest a set's documents into a scratch index, ask every question, score the answers."""
    started = time.perf_counter()
    meta = json.loads((folder / "set.json").read_text(encoding="utf-8"))
    scope = str(meta.get("scope", "corpus"))
    article_scope = scope == "article"
    docs = [article_from_record(record) for record in _jsonl(folder / "docs.jsonl")]
    questions = list(_jsonl(folder / "questions.jsonl"))
    result = SetResult(name=str(meta.get("name", folder.name)), scope=scope)
    with tempfile.TemporaryDirectory(prefix="newsqa-eval-") as scratch:
        service = make_service(Path(scratch))
        service.max_k = 1000
        service.ingest(docs)
        # Article scope ranks the whole article, so MAP sees every candidate.
        k = 1000 if article_scope else TOP
        p1 = hit5 = mrr = average_precision = abstained = 0.0
        for question, answer_set in _ask_all(service, questions, article_scope, k):
            right = [_right(a.article_id, a.start, a.end, question) for a in answer_set.answers]
            p1 += float(bool(right) and right[0])
            hit5 += float(any(right[:5]))
            first = next((i for i, r in enumerate(right[:TOP]) if r), None)
            mrr += 0.0 if first is None else 1.0 / (first + 1)
            average_precision += _average_precision(right)
            abstained += float(answer_set.abstained)
        n = max(len(questions), 1)
        result.questions = len(questions)
        result.p_at_1, result.hit_at_5, result.mrr_at_10 = p1 / n, hit5 / n, mrr / n
        result.abstained = abstained / n
        if article_scope:
            result.map = average_precision / n
        elif abstention and not meta.get("conversational"):
            result.robustness = _robustness(service, questions, [doc.id for doc in docs])
    if abstention and not article_scope and not meta.get("conversational"):
        result.abstention = _abstention(docs, questions, make_service)
    result.seconds = time.perf_counter() - started
    return result


def _sample(questions: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    """Every n-th question in id order: the same sample on every run."""
    ordered = sorted(questions, key=lambda q: str(q["id"]))
    step = max(len(ordered) / size, 1.0)
    return [ordered[int(i * step)] for i in range(min(size, len(ordered)))]


def _top(answer_set: AnswerSet) -> tuple[bool, str | None, int | None]:
    if not answer_set.answers:
        return answer_set.abstained, None, None
    first = answer_set.answers[0]
    return answer_set.abstained, first.article_id, first.start


def _robustness(
    service: QAService,
    questions: list[dict[str, Any]],
    doc_ids: list[str],
    size: int = ROBUSTNESS_SAMPLE,
) -> Robustness:
    """Ask a fixed sample of questions as typed differently, and about a wrong article (the
    next one in id order) and their own."""
    sample = _sample(questions, size)
    order = sorted(set(doc_ids))
    other = {doc: order[(i + 1) % len(order)] for i, doc in enumerate(order)}
    same = dict.fromkeys(PERTURBATIONS, 0)
    wrong = right = 0
    for question in sample:
        text = question["question"]
        base = _top(service.ask(text, k=1, include_closest=True))
        for name, perturb in PERTURBATIONS.items():
            same[name] += int(_top(service.ask(perturb(text), k=1, include_closest=True)) == base)
        doc = question["doc_id"]
        right += int(not service.ask(text, k=1, article_id=doc).abstained)
        if len(order) > 1:
            wrong += int(service.ask(text, k=1, article_id=other[doc]).abstained)
    n = max(len(sample), 1)
    return Robustness(
        questions=len(sample),
        unchanged=sum(same.values()) / (n * len(PERTURBATIONS)),
        by_variant={name: count / n for name, count in same.items()},
        wrong_article_abstained=wrong / n,
        right_article_answered=right / n,
    )


def _average_precision(right: list[bool]) -> float:
    hits = 0
    total = 0.0
    for i, is_right in enumerate(right):
        if is_right:
            hits += 1
            total += hits / (i + 1)
    return total / hits if hits else 0.0


def _abstention(
    docs: list[Any], questions: list[dict[str, Any]], make_service: ServiceFactory
) -> dict[str, float]:
    """Index every other article; questions about the rest should be abstained on."""
    kept = {doc.id for i, doc in enumerate(sorted(docs, key=lambda d: d.id)) if i % 2 == 0}
    with tempfile.TemporaryDirectory(prefix="newsqa-abstain-") as scratch:
        service = make_service(Path(scratch))
        service.ingest([doc for doc in docs if doc.id in kept])
        answered = answerable = abstained = unanswerable = 0
        for question in questions:
            answer_set = service.ask(question["question"], k=1)
            if question["doc_id"] in kept:
                answerable += 1
                answered += int(not answer_set.abstained)
            else:
                unanswerable += 1
                abstained += int(answer_set.abstained)
    return {
        "answerable": answered / max(answerable, 1),
        "unanswerable": abstained / max(unanswerable, 1),
    }
