"""Conversation storage: turns survive a restart, including those stored by earlier versions.

Tests taking `open_store` run on both backends (SQLite beside the index, PostgreSQL)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qa.conversations import Conversations, Owner
from tests.pg_support import Server

OpenStore = Callable[..., Conversations]


def _store(tmp_path: Path) -> Conversations:
    return Conversations(lambda: sqlite3.connect(tmp_path / "chat.sqlite3", isolation_level=None))


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens this test's conversation store (again: as another process would)."""
    if request.param == "sqlite":
        yield lambda **options: Conversations(
            lambda: sqlite3.connect(tmp_path / "chat.sqlite3", isolation_level=None), **options
        )
        return
    from psycopg_pool import ConnectionPool

    from index.postgres.connect import pool
    from qa.conversations_pg import PgConversations

    server: Server = request.getfixturevalue("pg_server")
    schema = server.fresh_schema()
    pools: list[ConnectionPool[object]] = []

    def make(**options: object) -> PgConversations:
        pools.append(pool(server.url, schema, max_size=2))
        return PgConversations(pools[-1], **options)

    yield make
    for opened in pools:
        opened.close()
    server.drop(schema)


def test_a_turn_keeps_its_ranking_and_scores(open_store: OpenStore) -> None:
    open_store().record("c1", "where will they meet?", None, [7, 3, 9], [0.7, 0.5, 0.1], 1)
    last = open_store().load("c1").last
    assert last is not None
    assert (last.question, last.ranked, last.scores, last.shown) == (
        "where will they meet?",
        [7, 3, 9],
        [0.7, 0.5, 0.1],
        1,
    )


def test_a_turn_stored_before_scores_were_kept_still_loads(tmp_path: Path) -> None:
    store = _store(tmp_path)
    conn = sqlite3.connect(tmp_path / "chat.sqlite3", isolation_level=None)
    now = time.time()
    conn.execute(
        "INSERT INTO conversations (owner, id, created, updated) VALUES ('local', 'old', ?, ?)",
        (now, now),
    )
    conn.execute(
        "INSERT INTO turns VALUES ('local', 'old', 1, 'who won?', NULL, ?, 1, ?)",
        (json.dumps([4, 2]), now),
    )
    last = store.load("old").last
    assert last is not None
    assert last.ranked == [4, 2]
    assert last.scores == [0.0, 0.0]


_V1 = """
CREATE TABLE conversations (
    id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL NOT NULL, focus_article TEXT
);
CREATE TABLE turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    turn INTEGER NOT NULL, question TEXT NOT NULL, article_id TEXT, ranked TEXT NOT NULL,
    shown INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (conversation_id, turn)
);
"""


def test_conversations_of_earlier_versions_keep_their_turns_and_get_an_owner(
    tmp_path: Path,
) -> None:
    conn = sqlite3.connect(tmp_path / "chat.sqlite3", isolation_level=None)
    conn.executescript(_V1)
    now = time.time()
    for cid in ("telegram-77", "mine"):
        conn.execute("INSERT INTO conversations VALUES (?, ?, ?, NULL)", (cid, now, now))
        ranked = json.dumps({"ids": [1], "scores": [0.5]})
        conn.execute("INSERT INTO turns VALUES (?, 1, 'who?', NULL, ?, 1, ?)", (cid, ranked, now))
    store = _store(tmp_path)
    chat = store.find("telegram-77", Owner.TELEGRAM)
    assert chat is not None and [t.question for t in chat.turns] == ["who?"]
    assert store.find("telegram-77", Owner.API) is None
    assert store.find("telegram-77", Owner.LOCAL) is None
    local = store.find("mine", Owner.LOCAL)
    assert local is not None and local.last is not None
    assert store.find("mine", Owner.API) is None


def test_each_owner_keeps_at_most_the_cap_and_the_least_recent_go_first(
    open_store: OpenStore,
) -> None:
    store = open_store(max_count=3)
    store.record("chat", "q", None, [1], [0.5], 1, Owner.TELEGRAM)
    for cid in ("a", "b", "c"):
        store.record(cid, "q", None, [1], [0.5], 1, Owner.API)
    store.record("a", "again", None, [1], [0.5], 1, Owner.API)  # a is now the most recent
    store.record("d", "q", None, [1], [0.5], 1, Owner.API)
    assert store.count(Owner.API) == 3
    assert store.find("b", Owner.API) is None  # the least recently used went
    assert all(store.find(cid, Owner.API) is not None for cid in ("a", "c", "d"))
    # another owner's conversations are not pushed out by these
    assert store.find("chat", Owner.TELEGRAM) is not None
    store.record("b", "q", None, [1], [0.5], 1, Owner.API)
    renewed = store.find("b", Owner.API)
    assert renewed is not None and [t.turn for t in renewed.turns] == [1], "no orphan turns"


def test_issued_ids_carry_at_least_128_random_bits(tmp_path: Path) -> None:
    store = _store(tmp_path)
    ids = {store.new_id() for _ in range(1000)}
    assert len(ids) == 1000
    # token_urlsafe: 6 bits a character
    assert all(len(i) * 6 >= 128 for i in ids)


def test_a_turn_remembers_that_nothing_answered_it(open_store: OpenStore) -> None:
    open_store().record("c1", "boiling point?", None, [5, 6], [0.01, 0.005], 0, abstained=True)
    open_store().record("c1", "where will they meet?", None, [7], [0.7], 1)
    turns = open_store().load("c1").turns
    assert [turn.abstained for turn in turns] == [True, False]
