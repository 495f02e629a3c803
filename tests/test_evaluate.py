"""`newsqa eval` reports how answers hold up when a question is typed differently."""

from __future__ import annotations

import json
from pathlib import Path

from index.store import NewsIndex
from qa.evaluate import PERTURBATIONS, evaluate_set
from qa.service import QAService
from tests.fakes import FakeEncoder

DOCS = [
    ("vienna", "Talks", "The ministers will meet in Vienna on Monday. Talks are expected to last."),
    ("harvest", "Farming", "The wheat harvest doubled. Farmers sold 300 tonnes of grain."),
    ("storm", "Weather", "A storm closed the airport for two days. Flights resumed on Friday."),
]
QUESTIONS = [
    ("q1", "vienna", "Where will the ministers meet?", "Vienna"),
    ("q2", "harvest", "How much grain did farmers sell?", "300 tonnes"),
    ("q3", "storm", "When did flights resume?", "Friday"),
    ("q4", "storm", "What closed the airport?", "A storm"),
]


def _set(folder: Path) -> Path:
    folder.mkdir()
    (folder / "set.json").write_text(json.dumps({"name": "tiny", "scope": "corpus"}))
    (folder / "docs.jsonl").write_text(
        "".join(json.dumps({"id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS)
    )
    texts = {doc_id: text for doc_id, _, text in DOCS}
    lines = []
    for qid, doc_id, question, answer in QUESTIONS:
        start = texts[doc_id].index(answer)
        gold = [[start, start + len(answer)]]
        lines.append(
            json.dumps({"id": qid, "doc_id": doc_id, "question": question, "gold": gold}) + "\n"
        )
    (folder / "questions.jsonl").write_text("".join(lines))
    return folder


def test_eval_reports_robustness_and_article_scope_abstention(tmp_path: Path) -> None:
    encoder = FakeEncoder()
    result = evaluate_set(
        _set(tmp_path / "tiny"), lambda scratch: QAService(NewsIndex(scratch, encoder))
    )
    robustness = result.robustness
    assert robustness is not None and robustness.questions == len(QUESTIONS)
    assert set(robustness.by_variant) == set(PERTURBATIONS)
    # courtesy, numbering and a missing question mark are set aside before anything is ranked
    for variant in ("thanks", "numbered", "no-mark", "first-case"):
        assert robustness.by_variant[variant] == 1.0, variant
    assert 0.0 <= robustness.wrong_article_abstained <= 1.0
    assert 0.0 <= robustness.right_article_answered <= 1.0
    line = result.line()
    assert "robustness (4 questions sampled by id, x5 variants)" in line
    assert "wrong article abstained=" in line and "right article answered=" in line
