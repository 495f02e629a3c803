"""Conversations: the questions asked in one chat and what the engine answered, in SQLite."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from qa.errors import InvalidQuestionError

_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    focus_article TEXT
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    turn INTEGER NOT NULL,
    question TEXT NOT NULL,
    article_id TEXT,
    ranked TEXT NOT NULL,
    shown INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (conversation_id, turn)
);
"""
HISTORY_TURNS = 4


@dataclass(frozen=True, slots=True)
class Turn:
    """One question of a conversation and the sentence ids the engine ranked for it."""

    turn: int
    question: str
    article_id: str | None
    ranked: list[int]
    scores: list[float]
    shown: int
    abstained: bool = False  # nothing answered it (its ranking holds the closest sentences)


@dataclass(slots=True)
class Conversation:
    """A conversation's id, the article it is focused on, and its latest turns (oldest first)."""

    id: str
    focus_article: str | None = None
    turns: list[Turn] = field(default_factory=list)

    @property
    def last(self) -> Turn | None:
        """The latest turn, if any."""
        return self.turns[-1] if self.turns else None


def _turn(
    number: int,
    question: str,
    article_id: str | None,
    ranked: dict[str, Any] | list[int],
    shown: int,
) -> Turn:
    ids: list[int] | list[float]
    abstained = False
    if isinstance(ranked, list):
        # a turn stored before scores were kept: its ids alone, their scores unknown
        ids, scores = ranked, [0.0] * len(ranked)
    else:
        ids, scores = ranked["ids"], ranked["scores"]
        abstained = bool(ranked.get("abstained", False))
    return Turn(
        number,
        question,
        article_id,
        [int(i) for i in ids],
        [float(x) for x in scores],
        shown,
        abstained,
    )


def check_id(conversation_id: str) -> str:
    """Conversation ids are short and plain, since they travel in URLs and chat commands."""
    if not _ID.match(conversation_id):
        raise InvalidQuestionError(
            "conversation_id must be 1-100 characters of letters, digits and _ . : -"
        )
    return conversation_id


class Conversations:
    """Conversation storage beside the index; idle conversations expire."""

    def __init__(
        self, connection: Callable[[], sqlite3.Connection], idle_seconds: float = 86400.0
    ) -> None:
        self._connection = connection
        self.idle_seconds = idle_seconds
        self._connection().executescript(_SCHEMA)

    def new_id(self) -> str:
        """A fresh, unguessable conversation id."""
        return secrets.token_urlsafe(12)

    def load(self, conversation_id: str) -> Conversation:
        """The conversation with this id; an unknown or expired one starts empty."""
        conn = self._connection()
        row = conn.execute(
            "SELECT updated, focus_article FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None or time.time() - float(row[0]) > self.idle_seconds:
            return Conversation(conversation_id)
        turns = conn.execute(
            "SELECT turn, question, article_id, ranked, shown FROM turns"
            " WHERE conversation_id = ? ORDER BY turn DESC LIMIT ?",
            (conversation_id, HISTORY_TURNS),
        ).fetchall()
        return Conversation(
            conversation_id,
            focus_article=row[1],
            turns=[
                _turn(int(t[0]), t[1], t[2], json.loads(t[3]), int(t[4])) for t in reversed(turns)
            ],
        )

    def _touch(self, conn: sqlite3.Connection, conversation_id: str) -> None:
        now = time.time()
        row = conn.execute(
            "SELECT updated FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is not None and now - float(row[0]) > self.idle_seconds:
            conn.execute("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))
            conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            row = None
        if row is None:
            conn.execute(
                "INSERT INTO conversations (id, created, updated) VALUES (?, ?, ?)",
                (conversation_id, now, now),
            )
        else:
            conn.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id)
            )

    def record(
        self,
        conversation_id: str,
        question: str,
        article_id: str | None,
        ranked: list[int],
        scores: list[float],
        shown: int,
        abstained: bool = False,
    ) -> None:
        """Append a turn: the sentence ids ranked for it, their scores, how many were shown,
        and whether nothing answered it."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._touch(conn, conversation_id)
            row = conn.execute(
                "SELECT COALESCE(MAX(turn), 0) FROM turns WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            conn.execute(
                "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    conversation_id,
                    int(row[0]) + 1,
                    question,
                    article_id,
                    json.dumps({"ids": ranked, "scores": scores, "abstained": abstained}),
                    shown,
                    time.time(),
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def mark_shown(self, conversation_id: str, turn: int, shown: int) -> None:
        """Remember how many of a turn's answers were shown (for "more answers")."""
        self._connection().execute(
            "UPDATE turns SET shown = ? WHERE conversation_id = ? AND turn = ?",
            (shown, conversation_id, turn),
        )

    def set_focus(self, conversation_id: str, article_id: str | None) -> None:
        """Keep asking about one article, or (None) about everything again."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._touch(conn, conversation_id)
            conn.execute(
                "UPDATE conversations SET focus_article = ? WHERE id = ?",
                (article_id, conversation_id),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def reset(self, conversation_id: str) -> None:
        """Forget a conversation."""
        conn = self._connection()
        conn.execute("DELETE FROM turns WHERE conversation_id = ?", (conversation_id,))
        conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def expire(self) -> int:
        """Delete idle conversations; returns how many went."""
        conn = self._connection()
        cutoff = time.time() - self.idle_seconds
        ids = [
            r[0] for r in conn.execute("SELECT id FROM conversations WHERE updated < ?", (cutoff,))
        ]
        for conversation_id in ids:
            self.reset(conversation_id)
        return len(ids)
