"""Choosing the language-neutral fusion's weights on training questions (qa.fitting.fusion)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.fitting.fusion import GRID, Asked, FusionSettings, choose, figures
from qa.fusion import WEIGHTS, FusionRanker, FusionWeights, Signals
from qa.ranker import Candidate
from qa.retrieval import load_ranker
from tests.fakes import FakeEncoder

REPO = Path(__file__).resolve().parent.parent
TOWNS = ["Arlon", "Bastia", "Colmar", "Dinant", "Evora", "Fermo", "Girona"]


def _candidate(text: str, cosine: float, bm25: float | None) -> Candidate:
    return Candidate(
        text=text,
        doc_id="d",
        position=0,
        n_sentences=3,
        dense=cosine,
        dense_raw=cosine,
        bm25=bm25,
    )


# the answer is the lexical top hit but second by cosine; a three-word dateline is closest
CANDIDATES = [
    _candidate("Colmar (AFP) today", 0.62, None),
    _candidate("The Colmar wine festival opens in May this year.", 0.50, 9.0),
    _candidate("Wine festivals draw many visitors to small towns.", 0.55, None),
]
ANSWER = np.array([False, True, False])


def test_the_figures_are_those_of_the_ranking_the_engine_serves_with_those_weights() -> None:
    plain = FusionWeights(context=0.0, lexical=0.0, short_penalty=0.0)
    lexical = FusionWeights(context=0.0, lexical=8.0, short_penalty=1.0)
    asked = [Asked("set article", Signals.of(CANDIDATES), ANSWER)]
    # cosines alone put the dateline and the loose sentence above the answer
    assert figures(asked, plain)["set article"].p_at_1 == 0.0
    assert figures(asked, plain)["set article"].mrr == pytest.approx(1 / 3)
    # the lexical rank and the short-sentence penalty bring it first
    assert figures(asked, lexical)["set article"].p_at_1 == 1.0
    fusion = FusionRanker(load_ranker(), lexical)
    assert int(np.argmax(fusion.score("when does the festival open", CANDIDATES))) == 1
    assert int(np.argmax(FusionRanker(load_ranker(), plain).score("q", CANDIDATES))) == 0


def _write_set(folder: Path, towns: list[str]) -> int:
    """A training set of one article per town, two questions each; returns the questions."""
    folder.mkdir(parents=True)
    (folder / "set.json").write_text(json.dumps({"name": folder.name, "scope": "article"}))
    docs, questions = [], []
    for town in towns:
        answer = f"The {town} wine festival opens in May."
        text = f"{town} (AFP) News. {answer} Visitors praise the quiet streets of {town}."
        start = text.index(answer)
        docs.append({"id": town, "title": f"{town} news", "text": text})
        for n, question in enumerate(
            (f"When does the {town} wine festival open?", f"What opens in {town} in May?")
        ):
            questions.append(
                {
                    "id": f"{town}-{n}",
                    "doc_id": town,
                    "question": question,
                    "gold": [[start, start + len(answer)]],
                }
            )
    for stem, rows in (("docs", docs), ("questions", questions)):
        with gzip.open(folder / f"{stem}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    return len(questions)


@pytest.fixture
def train(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    _write_set(root / "squad-train", TOWNS)
    _write_set(root / "selqa", TOWNS[:4])
    _write_set(root / "trecqa-train", TOWNS[3:])
    return root


def test_every_grid_point_is_scored_on_every_question_asked_through_the_engine(
    tmp_path: Path, train: Path
) -> None:
    lines: list[str] = []
    chosen, points = choose(
        FakeEncoder(), FusionSettings(train=train, cache=tmp_path / "cache"), lines.append
    )
    assert len(points) == len(GRID["context"]) * len(GRID["lexical"]) * len(GRID["short_penalty"])
    counts = {group: f.questions for group, f in chosen.groups.items()}
    assert counts == {
        "squad-train corpus": 14,
        "squad-train article": 14,
        "selqa article": 8,
        "trecqa-train article": 8,
    }
    assert chosen == points[0]
    assert chosen.mean_mrr == max(p.mean_mrr for p in points)
    # the grid is printed, with the weights in use and the chosen ones
    assert len(lines) == 4 + 1 + len(points) + 4
    assert lines[-3].startswith(
        f"chosen: {chosen.weights.context:g} {chosen.weights.lexical:g} "
        f"{chosen.weights.short_penalty:g} |"
    )
    assert lines[-4].startswith(
        f"current (qa.fusion.WEIGHTS): {WEIGHTS.context:g} {WEIGHTS.lexical:g} "
        f"{WEIGHTS.short_penalty:g} |"
    )
    # across languages: the best point that leaves BM25 out
    across = max(
        (p for p in points if p.weights.lexical == 0), key=lambda p: (p.mean_mrr, p.mean_p_at_1)
    )
    assert lines[-1].startswith(
        f"chosen across languages (no BM25): {across.weights.context:g} 0 "
        f"{across.weights.short_penalty:g} |"
    )


@pytest.mark.model
def test_the_fitting_command_chooses_the_fusion_weights_and_writes_nothing(
    tmp_path: Path, train: Path
) -> None:
    out = tmp_path / "artifacts"
    command = ["-m", "qa.fitting", "--fusion-only", "--train", str(train), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, *command, "--cache", str(tmp_path / "cache")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "squad-train corpus: 14 questions over 7 articles" in done.stdout
    assert done.stdout.splitlines()[-3].startswith("chosen: ")
    assert done.stdout.splitlines()[-1].startswith("chosen across languages (no BM25): ")
    assert not out.exists()
