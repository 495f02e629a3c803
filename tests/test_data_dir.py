"""The data directory: private files, a full disk, switching models, no orphans."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.settings import get_settings
from index.articles import Article
from index.embedding import default_model_path
from index.errors import IndexWriteError
from index.store import NewsIndex
from tests.disk_support import tmpfs
from tests.fakes import FakeEncoder

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "articles"


def story(n: int, words: int = 40) -> Article:
    body = " ".join(f"word{n}x{i}" for i in range(words))
    return Article(id=f"s{n}", title=f"Story {n}", text=f"Harbour {n} reopened. {body}.")


def test_the_data_directory_and_every_file_in_it_are_private(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    data_dir = tmp_path / "fresh" / "data"
    index = NewsIndex(data_dir, fake_encoder)
    index.ingest([story(1)])
    index.ingest([story(2)])
    index.remove("s1")
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / "segments").stat().st_mode) == 0o700
    found = [p for p in data_dir.rglob("*") if p.is_file()]
    names = {p.name for p in found}
    assert {"newsqa.sqlite3", "newsqa.sqlite3-wal", "newsqa.sqlite3-shm"} <= names
    assert any(name.endswith(".raw.npy") for name in names)
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in found}
    assert set(modes.values()) == {"0o600"}, modes


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB filesystem (tmpfs), so that writes meet ENOSPC as on a full disk."""
    with tmpfs(tmp_path / "tiny", "2m") as mount:
        yield mount


def _fill(mount: Path, leave: int) -> Path:
    """Fill the filesystem until about `leave` bytes are free."""
    filler = mount / "filler"
    free = shutil.disk_usage(mount).free
    with open(filler, "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))
    return filler


def test_a_full_disk_fails_the_ingest_in_one_line_and_keeps_the_index(
    tiny_disk: Path, fake_encoder: FakeEncoder
) -> None:
    data_dir = tiny_disk / "data"
    index = NewsIndex(data_dir, fake_encoder)
    index.ingest([story(0)])
    before = index.stats()
    segment_files = sorted(p.name for p in (data_dir / "segments").iterdir())
    filler = _fill(tiny_disk, 48 * 1024)
    with pytest.raises(IndexWriteError) as failure:
        index.ingest([story(n, words=400) for n in range(1, 31)])
    message = str(failure.value)
    assert "no space left" in message and "\n" not in message
    assert sorted(p.name for p in (data_dir / "segments").iterdir()) == segment_files
    reopened = NewsIndex(data_dir, fake_encoder)
    assert reopened.stats() == before
    [(top, _)] = reopened.search_dense(fake_encoder.encode(["harbour 0 reopened"])[0], 1)
    assert reopened.sentences([top])[top].article_id == "s0"
    # once space is freed, the same ingest goes through
    filler.unlink()
    report = reopened.ingest([story(n, words=400) for n in range(1, 31)])
    assert len(report.added) == 30


@pytest.mark.model
def test_ingest_on_a_full_disk_says_so_in_one_line(
    tiny_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tiny_disk / "data"
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    first = runner.invoke(app, ["ingest", str(SAMPLES / "budapest-summit.jsonl")])
    assert first.exit_code == 0, first.output
    _fill(tiny_disk, 16 * 1024)
    full = runner.invoke(app, ["ingest", str(SAMPLES / "cnn-stories.jsonl")])
    assert full.exit_code == 1
    assert full.stderr.strip().count("\n") == 0, full.stderr
    assert full.stderr.startswith("error: no space left")
    asked = runner.invoke(app, ["ask", "where will they meet?", "--k", "1"])
    assert asked.exit_code == 0
    assert "Budapest" in asked.stdout


@pytest.mark.model
def test_rebuild_switches_to_another_local_model_and_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "data"))
    other = tmp_path / "other-minilm"
    shutil.copytree(default_model_path(), other)
    assert runner.invoke(app, ["ingest", str(SAMPLES / "budapest-summit.jsonl")]).exit_code == 0

    def use(model: Path | None) -> None:
        if model is None:
            monkeypatch.delenv("NEWSQA_MODEL_PATH", raising=False)
        else:
            monkeypatch.setenv("NEWSQA_MODEL_PATH", str(model))
        get_settings.cache_clear()

    def model_of_index() -> str:
        result = runner.invoke(app, ["stats", "--json"])
        return str(json.loads(result.stdout)["model"])

    use(other)
    refused = runner.invoke(app, ["ask", "where will they meet?"])
    assert refused.exit_code == 1 and "newsqa rebuild" in refused.stderr
    rebuilt = runner.invoke(app, ["rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert model_of_index().startswith("other-minilm@")
    manifest = NewsIndex(tmp_path / "data").manifest()
    assert manifest is not None and manifest["model"].startswith("other-minilm@")
    assert manifest["dim"] == 384 and manifest["schema_version"] == 3
    answered = runner.invoke(app, ["ask", "where will they meet?", "--k", "1"])
    assert answered.exit_code == 0 and "Budapest" in answered.stdout

    use(None)
    assert runner.invoke(app, ["rebuild"]).exit_code == 0
    assert model_of_index().startswith("all-MiniLM-L6-v2@")
    answered = runner.invoke(app, ["ask", "where will they meet?", "--k", "1"])
    assert answered.exit_code == 0 and "Budapest" in answered.stdout
