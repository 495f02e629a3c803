"""Fitting through the engine: a tiny training set in, a ranker the engine serves with out."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.articles import Article
from index.embedding import Encoder
from index.store import NewsIndex
from qa.fitting.__main__ import command_line, settings_from
from qa.fitting.encoding import CachedEncoder
from qa.fitting.fit import DOC_SEED, Settings, fit, with_sample
from qa.fitting.heldout import write_sets
from qa.fitting.sets import load_set
from qa.retrieval import DATA_DIR, Retriever, load_ranker, load_ranker_for, model_key
from tests.fakes import FakeEncoder

PEOPLE = ["Anders", "Beatrix", "Casimir", "Dolores", "Emeric", "Florian", "Gertrud", "Hilmar"]
MONTHS = ["January", "March", "May", "July", "September", "November", "April", "June"]
TOWNS = ["Arlon", "Bastia", "Colmar", "Dinant", "Evora", "Fermo", "Girona", "Hamar", "Imola"]
FILLER = [
    "Visitors praise the quiet old streets near the harbour.",
    "Local bakers sell rye bread every morning before dawn.",
    "The weather there is usually mild and rather windy.",
]


def _article(i: int) -> tuple[dict[str, Any], list[tuple[str, tuple[int, int]]]]:
    """An article about one town and the (question, answer span) pairs it answers."""
    town, person, month = TOWNS[i], PEOPLE[i % len(PEOPLE)], MONTHS[i % len(MONTHS)]
    facts = [
        (f"The mayor of {town} is {person}.", f"Who is the mayor of {town}?"),
        (
            f"{town} has {i + 3} stone bridges over the river.",
            f"How many bridges does {town} have?",
        ),
        (
            f"The {town} wine festival opens in {month}.",
            f"When does the {town} wine festival open?",
        ),
    ]
    text, pairs = "", []
    for n, (sentence, question) in enumerate(facts):
        start = len(text)
        text += sentence + " "
        pairs.append((question, (start, start + len(sentence))))
        text += FILLER[n] + " "
    return {"id": f"town-{i}", "title": f"{town} news", "text": text.strip()}, pairs


def _write_set(folder: Path, name: str, scope: str, conversational: bool, docs: range) -> None:
    folder.mkdir(parents=True)
    meta = {"name": name, "scope": scope, "conversational": conversational}
    (folder / "set.json").write_text(json.dumps(meta))
    records, questions = [], []
    for i in docs:
        record, pairs = _article(i)
        records.append(record)
        for turn, (question, gold) in enumerate(pairs, start=1):
            questions.append(
                {
                    "id": f"{record['id']}-q{turn}",
                    "doc_id": record["id"],
                    "question": question,
                    "gold": [list(gold)],
                    "conversation": record["id"] if conversational else None,
                    "turn": turn if conversational else None,
                }
            )
    for stem, rows in (("docs", records), ("questions", questions)):
        with gzip.open(folder / f"{stem}.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)


def _tiny(train: Path, out: Path, cache: Path, **sizes: int) -> Settings:
    """Settings for a fit of the tiny sets in seconds: few draws, trees and folds."""
    small: dict[str, int] = {"abstain_draws": 3, "draw_articles": 6} | sizes
    return Settings(
        train=train,
        out=out,
        cache=cache,
        fit_vector_models=True,
        adapter_epochs=1,
        ranking_trees=30,
        decision_rounds=20,
        folds=2,
        **small,  # type: ignore[arg-type]
    )


@pytest.fixture
def train(tmp_path: Path) -> Path:
    """The four training sets in the shared format, a handful of articles each."""
    root = tmp_path / "train"
    _write_set(root / "squad-train", "squad-train", "corpus", False, range(9))
    _write_set(root / "selqa", "selqa", "article", False, range(0, 9, 2))
    _write_set(root / "trecqa-train", "trecqa-train", "article", False, range(1, 9, 2))
    _write_set(root / "coqa-wiki-lit", "coqa-wiki-lit", "article", True, range(9))
    return root


def test_a_fit_on_a_tiny_training_set_gives_the_ranker_the_engine_serves_for_that_model(
    tmp_path: Path, train: Path
) -> None:
    encoder = FakeEncoder(model_id="tiny-hash@7")
    artifacts = tmp_path / "artifacts"
    settings = _tiny(train, artifacts / model_key(encoder.model_id), tmp_path / "cache")
    path = fit(encoder, settings)
    assert path == artifacts / "tiny_hash" / "ranker.json"
    assert path.stat().st_size < 5_000_000
    params = json.loads(path.read_text())
    assert params["model"] == "tiny-hash@7"
    assert set(params["models"]) == {"corpus", "article", "conversation"}
    assert set(params["abstain_scope"]["thresholds"]) == {"article", "conversation"}
    assert {p.name for p in path.parent.iterdir()} == {"ranker.json", "adapter.npz", "atype.npz"}

    # an index built with that model is served with that ranker
    index = NewsIndex(tmp_path / "index", encoder)
    index.ingest(
        [
            Article(id="colmar", title="Colmar news", text=_article(2)[0]["text"]),
            Article(id="evora", title="Evora news", text=_article(4)[0]["text"]),
        ]
    )
    retriever = Retriever(index, artifacts=artifacts)
    ranked = retriever.rank("Who is the mayor of Colmar?", None)
    assert retriever.fitted_model
    assert retriever.ranker.params["model"] == "tiny-hash@7"
    assert retriever.ranker.adapter is not None and retriever.ranker.atype is not None
    assert index.sentences(ranked.ids[:1])[ranked.ids[0]].text == "The mayor of Colmar is Casimir."
    assert not ranked.abstain
    # about one article: answered from the right one, abstained on in the wrong one
    assert not retriever.rank("Who is the mayor of Colmar?", "colmar").abstain
    assert retriever.rank("Who is the mayor of Colmar?", "evora").abstain


def test_a_model_without_its_own_artifacts_is_served_with_the_packaged_models_ranker(
    tmp_path: Path,
) -> None:
    ranker = load_ranker_for("some-other-model@1", root=tmp_path)
    assert ranker.params["model"].startswith("all-MiniLM-L6-v2@")


def test_serving_never_imports_the_fitting_libraries() -> None:
    code = (
        "import sys, bots.cli, bots.wiring, qa.service, qa.retrieval\n"
        "heavy = sorted(m for m in ('sklearn', 'lightgbm', 'qa.fitting') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_vector_models_can_be_fitted_on_a_sample_that_keeps_the_trees_articles(
    tmp_path: Path, train: Path
) -> None:
    # for a model too slow to embed all of squad-train: the articles the trees use, plus a
    # seeded sample of the others
    squad = load_set(train / "squad-train")
    kept = {"town-1", "town-5"}
    sample = with_sample(squad, kept, 5, seed=0)
    assert kept < {a.id for a in sample.articles} and len(sample.articles) == 5
    assert {q.doc_id for q in sample.questions} == {a.id for a in sample.articles}
    assert with_sample(squad, kept, 5, seed=0) == sample
    assert with_sample(squad, kept, None, seed=0) == squad  # the default: all of it
    assert Settings(train=train, out=tmp_path, cache=tmp_path).vector_docs is None

    settings = _tiny(
        train,
        tmp_path / "artifacts",
        tmp_path / "cache",
        squad_docs=4,
        vector_docs=6,
        abstain_draws=2,
        draw_articles=4,
    )
    path = fit(FakeEncoder(model_id="tiny-hash@7"), settings)
    assert {p.name for p in path.parent.iterdir()} == {"ranker.json", "adapter.npz", "atype.npz"}


def test_every_shipped_models_artifacts_stay_under_5_mb_and_name_their_model() -> None:
    shipped = {folder.name: folder for folder in DATA_DIR.iterdir() if folder.is_dir()}
    assert {"all_minilm_l6_v2", "multilingual_e5_small"} <= shipped.keys()
    for key, folder in shipped.items():
        assert sum(f.stat().st_size for f in folder.iterdir()) < 5_000_000, key
        params = json.loads((folder / "ranker.json").read_text())
        assert model_key(params["model"]) == key  # served only to indexes of that model


@pytest.mark.model
def test_a_training_question_is_embedded_as_serving_embeds_it(
    tmp_path: Path, encoder: Encoder
) -> None:
    """The int8 model quantises a batch's activations together, so a question embedded among
    others is not the vector the retriever computes for it alone; the fit must see the latter."""
    questions = [
        "Where will they meet?",
        "How many drones did Russia launch overnight?",
        "Who said Hungary is ready to host the leaders of both countries at the summit?",
        "When?",
    ] + [f"What did the mayor of {town} say about the {n} bridges?" for n, town in enumerate(TOWNS)]
    cache = CachedEncoder(encoder, tmp_path / "cache", queries_alone=True)
    try:
        cache.encode_queries(questions)  # as the fit warms its cache: all at once
        cached = cache.encode_queries(questions[:4])  # read back
    finally:
        cache.close()
    index = NewsIndex(tmp_path / "index", encoder)
    index.ingest([Article(id="colmar", title="Colmar news", text=_article(2)[0]["text"])])
    ranker = load_ranker()
    ranker.adapter = None  # the raw vector, before the adapter (applied alike at both ends)
    retriever = Retriever(index, ranker)
    for question, vector in zip(questions[:4], cached, strict=True):
        assert np.array_equal(vector, retriever.question_vector(question)), question
    # and embedded in a batch it would not have been
    batched = encoder.encode_queries(questions)[:4]
    assert not np.array_equal(batched, cached)


def test_held_out_sets_hold_only_articles_no_fit_of_those_sizes_drew(
    train: Path, tmp_path: Path
) -> None:
    out = tmp_path / "held-out"
    write_sets(out, train, squad_docs=[3, 5], selqa_docs=[2])
    drawn = {
        name: {a.id for size in sizes for a in load_set(train / name, size, DOC_SEED).articles}
        for name, sizes in (("squad-train", (3, 5)), ("selqa", (2,)))
    }
    for name, source in (
        ("ho-squad-article", "squad-train"),
        ("ho-squad-corpus", "squad-train"),
        ("ho-selqa", "selqa"),
    ):
        meta = json.loads((out / name / "set.json").read_text())
        docs = [json.loads(line) for line in (out / name / "docs.jsonl").read_text().splitlines()]
        questions = (out / name / "questions.jsonl").read_text().splitlines()
        ids = {d["id"] for d in docs}
        assert ids and not ids & drawn[source], f"{name} holds an article a fit saw"
        assert all(json.loads(q)["doc_id"] in ids for q in questions)
        assert meta["scope"] == ("corpus" if name.endswith("corpus") else "article")


def test_the_command_line_can_still_ask_for_an_earlier_fits_sample(tmp_path: Path) -> None:
    """e5-small's shipped ranker was fitted when 8,000 corpus questions were the default: its
    README command names them, and gets the settings it was fitted with."""
    args = command_line().parse_args(
        ["--squad-docs", "50", "--selqa-docs", "450", "--corpus-questions", "8000"]
    )
    settings = settings_from(args, tmp_path)
    assert (settings.squad_docs, settings.selqa_docs) == (50, 450)
    assert settings.corpus_questions == 8000
    assert dict(settings.article_questions) == {
        "squad-train": 4000,
        "selqa": 2000,
        "trecqa-train": 1000,
    }
    default = settings_from(command_line().parse_args([]), tmp_path)
    assert (default.squad_docs, default.selqa_docs, default.corpus_questions) == (220, 1800, 16000)
