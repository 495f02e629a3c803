"""Training sets in the shared format (docs.jsonl[.gz], questions.jsonl[.gz], set.json)."""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from index.articles import Article, article_from_record


@dataclass(frozen=True, slots=True)
class Question:
    """A training question, the article that answers it and the answer's character spans."""

    id: str
    doc_id: str
    text: str
    gold: tuple[tuple[int, int], ...]
    conversation: str | None = None
    turn: int | None = None


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """A set's articles and the questions about them (only questions with an answer span)."""

    name: str
    scope: str
    conversational: bool
    articles: list[Article]
    questions: list[Question]

    def subset(self, doc_ids: set[str]) -> TrainingSet:
        """The same set restricted to some of its articles."""
        return TrainingSet(
            self.name,
            self.scope,
            self.conversational,
            [a for a in self.articles if a.id in doc_ids],
            [q for q in self.questions if q.doc_id in doc_ids],
        )


def read_rows(folder: Path, stem: str) -> Iterator[dict[str, Any]]:
    """The rows of a set's docs or questions file, plain or gzip-compressed."""
    plain = folder / f"{stem}.jsonl"
    path = plain if plain.is_file() else folder / f"{stem}.jsonl.gz"
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def sample_records(
    records: list[dict[str, Any]], doc_limit: int | None, seed: int
) -> list[dict[str, Any]]:
    """A seeded sample of records, in id order (all of them without a limit)."""
    if doc_limit is None or len(records) <= doc_limit:
        return records
    return sorted(random.Random(seed).sample(records, doc_limit), key=lambda r: r["id"])


def default_train() -> Path:
    """`$NEWSQA_SHARED/train`, or else the `shared/train` folder beside the repository."""
    beside = Path(__file__).resolve().parents[3] / "shared"
    return Path(os.environ.get("NEWSQA_SHARED", beside)) / "train"


def load_set(folder: Path, doc_limit: int | None = None, seed: int = 1234) -> TrainingSet:
    """A training set; with doc_limit, a seeded sample of that many of its articles."""
    meta = json.loads((folder / "set.json").read_text(encoding="utf-8"))
    records = sample_records(list(read_rows(folder, "docs")), doc_limit, seed)
    articles = [article_from_record(record) for record in records]
    known = {a.id for a in articles}
    questions = [
        Question(
            id=str(row["id"]),
            doc_id=str(row["doc_id"]),
            text=str(row["question"]),
            gold=tuple((int(a), int(b)) for a, b in row["gold"]),
            conversation=row.get("conversation"),
            turn=row.get("turn"),
        )
        for row in read_rows(folder, "questions")
        if row["doc_id"] in known and row.get("gold")
    ]
    return TrainingSet(
        name=str(meta.get("name", folder.name)),
        scope=str(meta.get("scope", "corpus")),
        conversational=bool(meta.get("conversational", False)),
        articles=articles,
        questions=questions,
    )
