"""The command line as a user runs it, with the real packaged model."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from index.embedding import Encoder
from index.store import NewsIndex
from qa.service import QAService

pytestmark = pytest.mark.model
runner = CliRunner()


@pytest.fixture
def data_dir(samples_index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "data"
    shutil.copytree(samples_index_dir, target)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(target))
    return target


def test_ask_prints_the_quoted_sentence_with_its_source(data_dir: Path) -> None:
    result = runner.invoke(app, ["ask", "How many drones did Russia launch?", "--k", "2"])
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("1. \u201cRussia launched a series of 320 drones")
    assert "Trump et Poutine vont se voir à Budapest" in result.output


def test_ask_json_is_the_answer_object(data_dir: Path) -> None:
    result = runner.invoke(app, ["ask", "How many drones did Russia launch?", "--json"])
    assert result.exit_code == 0, result.output
    answer_set = json.loads(result.output)
    assert answer_set["question"] == "How many drones did Russia launch?"
    assert answer_set["abstained"] is False
    top = answer_set["answers"][0]
    assert set(top) == {
        "article_id", "title", "source", "url", "published", "published_at", "sentence",
        "start", "end", "score", "context", "also_in",
    }  # fmt: skip
    stored = NewsIndex(data_dir).article(top["article_id"])[0]
    assert stored.text[top["start"] : top["end"]] == top["sentence"]
    assert top["context"]["before"] and top["context"]["after"]


def test_empty_and_overlong_questions_are_refused(data_dir: Path) -> None:
    empty = runner.invoke(app, ["ask", "   "])
    assert empty.exit_code == 1
    assert "the question is empty" in empty.output
    long = runner.invoke(app, ["ask", "why " * 200])
    assert long.exit_code == 1
    assert "the limit is 500" in long.output


def test_batch_answers_in_order_with_ids_and_conversations(data_dir: Path, tmp_path: Path) -> None:
    batch = tmp_path / "questions.jsonl"
    lines = [
        {"id": "q1", "question": "How many drones did Russia launch?", "k": 1},
        {"id": "q2", "question": "What did Trump and Putin agree on?", "conversation_id": "c1"},
        {"id": "q3", "question": "where will they meet?", "conversation_id": "c1", "k": 2},
        {"id": "bad", "question": ""},
        {
            "id": "q4",
            "question": "Who wants to be prime minister?",
            "article_id": "cnn-3ctoc39k37qi",
        },
    ]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    result = runner.invoke(app, ["ask", "--batch", str(batch)])
    assert result.exit_code == 3
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["q1", "q2", "q3", "bad", "q4", None]
    assert len(out[0]["answers"]) == 1
    assert out[2]["conversation_id"] == "c1"
    assert len(out[2]["answers"]) == 2
    assert "empty" in out[3]["error"]
    assert {a["article_id"] for a in out[4]["answers"]} == {"cnn-3ctoc39k37qi"}
    assert out[5]["line"] == 6


def test_ingest_reports_the_broken_line_and_keeps_the_good_ones(
    data_dir: Path, tmp_path: Path
) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        json.dumps({"id": "g1", "title": "Grain deal", "text": "Ships left Odesa with grain."})
        + "\n{broken\n"
        + json.dumps({"id": "g2", "title": "Snow", "text": "Snow closed the Alpine passes."})
        + "\n",
        encoding="utf-8",
    )
    before = NewsIndex(data_dir).stats()
    result = runner.invoke(app, ["ingest", str(feed)])
    assert result.exit_code == 3
    assert f"skipped {feed}:2: invalid JSON" in result.stderr
    assert "2 added" in result.stdout
    after = NewsIndex(data_dir).stats()
    assert after.articles == before.articles + 2
    answer = runner.invoke(app, ["ask", "What closed the Alpine passes?", "--k", "1"])
    assert "Snow closed the Alpine passes." in answer.output
    removed = runner.invoke(app, ["remove", "g2"])
    assert removed.exit_code == 0
    assert NewsIndex(data_dir).stats().articles == before.articles + 1
    missing = runner.invoke(app, ["remove", "g2"])
    assert missing.exit_code == 1
    assert "no article with id 'g2'" in missing.output


def test_stats_prints_counts(data_dir: Path) -> None:
    result = runner.invoke(app, ["stats", "--json"])
    figures = json.loads(result.stdout)
    assert figures["articles"] == 7
    assert figures["sentences"] == figures["vectors"] > 100
    assert figures["model"].startswith("all-MiniLM-L6-v2@")


def _cli_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["NEWSQA_DATA_DIR"] = str(data_dir)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def test_killed_rebuild_leaves_the_previous_index_serving(data_dir: Path, encoder: Encoder) -> None:
    before = NewsIndex(data_dir).stats()
    process = subprocess.Popen(
        [sys.executable, "-c", "from bots.cli import main; main()", "rebuild"],
        env=_cli_env(data_dir),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "rebuild: embedding" in line:
            process.send_signal(signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "rebuild never started embedding"
    process.wait(timeout=30)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL, "".join(seen)

    assert NewsIndex(data_dir).stats() == before
    service = QAService(NewsIndex(data_dir, encoder))
    answer = service.ask("How many drones did Russia launch?", k=1)
    assert "320 drones" in answer.answers[0].sentence


def test_crash_between_vector_write_and_commit_keeps_previous_generation(
    data_dir: Path, encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = NewsIndex(data_dir, encoder)
    before = index.stats()

    def crash(*args: object) -> None:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr("index.catalog.insert_sentences", crash)
    with pytest.raises(KeyboardInterrupt):
        index.rebuild()
    monkeypatch.undo()
    reopened = NewsIndex(data_dir, encoder)
    assert reopened.stats() == before
    answer = QAService(reopened).ask("How many drones did Russia launch?", k=1)
    assert "320 drones" in answer.answers[0].sentence
    # The failed write took its own segment files away with it.
    live = {str(row[0]) for row in reopened.connection.execute("SELECT id FROM segments")}
    assert {p.name.split(".")[0] for p in (data_dir / "segments").iterdir()} == live


def test_bench_refuses_a_path_that_does_not_exist(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["bench", str(tmp_path / "no-such-corpus")])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output
    assert "sentences/s" not in result.output


def test_ask_on_an_empty_index_says_to_ingest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "empty"))
    result = runner.invoke(app, ["ask", "where will they meet?"])
    assert result.exit_code == 0, result.output
    assert "Nothing in the indexed articles answers that." in result.stdout
    assert "newsqa ingest" in result.stderr


def test_bench_at_scale_prints_every_figure_and_keeps_its_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = Path(__file__).resolve().parent.parent.parent / "shared" / "train"
    if not (train / "squad-train" / "docs.jsonl.gz").is_file():
        train = Path("/work/shared/train")
    if not (train / "squad-train" / "docs.jsonl.gz").is_file():
        pytest.skip("the training sets are not here")
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "data"))
    args = ["bench", "--scale", "600", "--real", "40", "--questions", "20", "--train", str(train)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    for figure in (
        "600 sentences",
        "sentences/s real",
        "add one article:",
        "remove it:",
        "p99",
        "CPU time a question:",
        "recall@50",
        "peak RSS",
        "opens in",
        "MB vector segments",
    ):
        assert figure in first.stdout, first.stdout
    built = tmp_path / "data" / "bench" / "scale-600"
    assert (built / "built.json").is_file(), "the index is kept for the next run"
    assert NewsIndex(built / "index").stats().sentences == 600
