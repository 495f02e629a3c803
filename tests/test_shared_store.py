"""Several writers on one index (threads with indexes of their own, as separate processes have),
one rebuild at a time, scoped searches, and the PostgreSQL backend's migrations and settings."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from bots.cli import app
from bots.settings import SettingsError, get_settings
from index.articles import Article
from index.errors import IndexBusyError
from tests.conftest import REPO, OpenIndex
from tests.fakes import FakeEncoder
from tests.pg_support import Server


def _story(i: int, version: int = 0) -> Article:
    return Article(
        id=f"story-{i}",
        title=f"Story {i}",
        text=f"Version {version} of story {i} says the harbour{i} reopened. "
        f"Boats of fleet{i} sailed in {version} times.",
        source="wire" if i % 2 else "Coast News",
    )


def test_concurrent_writers_never_lose_or_duplicate_an_article(open_index: OpenIndex) -> None:
    writers = [open_index(FakeEncoder()) for _ in range(4)]
    changed = {3, 7}  # two writers race to store different versions of these

    def write(n: int) -> None:
        order = list(range(12))
        random.Random(n).shuffle(order)
        for first in range(0, 12, 3):
            writers[n].ingest(
                [_story(i, n % 2 if i in changed else 0) for i in order[first : first + 3]]
            )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    reader = open_index(FakeEncoder())
    stats = reader.stats()
    assert (stats.articles, stats.sentences) == (12, 24)
    for i in range(12):
        article, sentences = reader.article(f"story-{i}")
        # whichever version won, its sentences and nothing else
        assert [s.text for s in sentences] == [
            article.text.split(". ")[0] + ".",
            article.text.split(". ")[1],
        ]


def test_a_rebuild_runs_once_however_many_ask(open_index: OpenIndex) -> None:
    first, second = open_index(FakeEncoder()), open_index(FakeEncoder())
    first.ingest([_story(i) for i in range(3)])
    holding, release = threading.Event(), threading.Event()

    def slow(stage: str, done: int, total: int) -> None:
        holding.set()
        release.wait(30)

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(first.rebuild, slow, wait=False)
        assert holding.wait(30)
        with pytest.raises(IndexBusyError):
            second.rebuild(wait=False)
        release.set()
        stats = running.result(60)
    assert stats.sentences == 6
    assert second.rebuild(wait=False).sentences == 6  # once the first is over, it may run


def test_articles_written_while_a_rebuild_embeds_keep_their_sentences(
    open_index: OpenIndex,
) -> None:
    rebuilder, writer = open_index(FakeEncoder()), open_index(FakeEncoder())
    rebuilder.ingest([_story(i) for i in range(3)])
    holding, release = threading.Event(), threading.Event()

    def slow(stage: str, done: int, total: int) -> None:
        holding.set()
        release.wait(30)

    with ThreadPoolExecutor(2) as pool:
        rebuilt = pool.submit(rebuilder.rebuild, slow)
        assert holding.wait(30)

        # one article added, one changed, one removed while the rebuild embeds
        def write() -> None:
            writer.ingest([_story(3), _story(1, version=5)])
            writer.remove("story-2")

        written = pool.submit(write)
        threading.Timer(0.5, release.set).start()  # SQLite's writer waits for the rebuild
        written.result(60)
        rebuilt.result(60)
    reader = open_index(FakeEncoder())
    assert reader.stats().articles == 3
    assert reader.stats().sentences == 6
    _, sentences = reader.article("story-1")
    assert sentences[0].text.startswith("Version 5 of story 1")
    _, sentences = reader.article("story-3")
    assert sentences[0].text.startswith("Version 0 of story 3")


def test_an_empty_index_rebuilds_to_the_configured_model(open_index: OpenIndex) -> None:
    open_index(FakeEncoder()).rebuild()
    other = open_index(FakeEncoder(dim=32, model_id="other@1"))
    stats = other.rebuild()
    assert (stats.articles, stats.model, stats.dim) == (0, "other@1", 32)
    other.ingest([_story(1)])
    assert other.stats().sentences == 2


def test_a_scoped_search_finds_the_scope_however_far_it_is(open_index: OpenIndex) -> None:
    encoder = FakeEncoder()
    index = open_index(encoder)
    index.ingest([_story(i) for i in range(60)])
    query = encoder.encode(["harbour5 reopened fleet5 boats"])[0]
    far = ["story-41", "story-52"]
    found = index.search_dense(query, 3, articles=far)
    assert len(found) == 3
    assert {index.sentences([i])[i].article_id for i, _ in found} <= set(far)
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True)
    source = index.filter_articles(source="COAST NEWS")
    assert len(source) == 30
    lexical = index.search_lexical("harbour5 fleet41", 10, articles=source)
    assert lexical == []  # story-5 and story-41 are from the wire
    assert index.search_lexical("harbour5 fleet41", 10)


def test_an_unmigrated_database_is_refused_with_the_command_to_run(pg_server: Server) -> None:
    from index.postgres.migrate import SchemaOutdatedError, migrate, migrations
    from index.postgres.store import PgIndex

    with pytest.raises(SchemaOutdatedError, match="newsqa migrate"):
        PgIndex(pg_server.url, FakeEncoder(), schema="never_migrated")
    # many replicas migrating at once: one applies, the others find nothing to do
    with ThreadPoolExecutor(4) as pool:
        applied = list(pool.map(lambda _: migrate(pg_server.url, "raced"), range(4)))
    assert sorted(len(names) for names in applied) == [0, 0, 0, len(migrations())]
    with psycopg.connect(pg_server.url) as conn:
        rows = conn.execute("SELECT version FROM raced.schema_migrations ORDER BY 1").fetchall()
    assert rows == [(m.version,) for m in migrations()]
    index = PgIndex(pg_server.url, FakeEncoder(), schema="raced")
    index.close()
    pg_server.drop("raced")
    pg_server.drop("never_migrated")


def test_the_database_setting_is_checked_and_its_password_never_shown(
    monkeypatch: pytest.MonkeyPatch, pg_server: Server, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEWSQA_DATABASE_URL", "mysql://u:hunter2@db/news")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="NEWSQA_DATABASE_URL") as caught:
        get_settings()
    assert "hunter2" not in str(caught.value)

    monkeypatch.delenv("NEWSQA_DATABASE_URL")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 2
    assert "NEWSQA_DATABASE_URL is not set" in result.output

    schema = "cli_" + random.Random().randbytes(4).hex()
    monkeypatch.setenv("NEWSQA_DATABASE_URL", pg_server.url)
    monkeypatch.setenv("NEWSQA_DATABASE_SCHEMA", schema)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "0001_initial.sql" in result.output
    result = CliRunner().invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert '"articles": 0' in result.output
    pg_server.drop(schema)

    monkeypatch.setenv("NEWSQA_DATABASE_URL", "postgresql://newsqa:hunter2@127.0.0.1:1/none")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code == 1
    assert "cannot migrate the database" in result.output
    assert "hunter2" not in result.output


def test_without_a_database_url_no_postgresql_client_is_even_imported() -> None:
    code = (
        "import sys, bots.cli, bots.api.app, bots.wiring, qa.service, index.store; "
        "assert not [m for m in sys.modules if m.startswith(('psycopg', 'pgvector'))]"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
