"""Conversation storage: turns survive a restart, including those stored by earlier versions."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from qa.conversations import Conversations


def _store(tmp_path: Path) -> Conversations:
    return Conversations(lambda: sqlite3.connect(tmp_path / "chat.sqlite3", isolation_level=None))


def test_a_turn_keeps_its_ranking_and_scores(tmp_path: Path) -> None:
    _store(tmp_path).record("c1", "where will they meet?", None, [7, 3, 9], [0.7, 0.5, 0.1], 1)
    last = _store(tmp_path).load("c1").last
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
        "INSERT INTO conversations (id, created, updated) VALUES ('old', ?, ?)", (now, now)
    )
    conn.execute(
        "INSERT INTO turns VALUES ('old', 1, 'who won?', NULL, ?, 1, ?)",
        (json.dumps([4, 2]), now),
    )
    last = store.load("old").last
    assert last is not None
    assert last.ranked == [4, 2]
    assert last.scores == [0.0, 0.0]


def test_a_turn_remembers_that_nothing_answered_it(tmp_path: Path) -> None:
    _store(tmp_path).record("c1", "boiling point?", None, [5, 6], [0.01, 0.005], 0, abstained=True)
    _store(tmp_path).record("c1", "where will they meet?", None, [7], [0.7], 1)
    turns = _store(tmp_path).load("c1").turns
    assert [turn.abstained for turn in turns] == [True, False]
