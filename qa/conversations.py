"""Conversations: the questions asked in one chat and what the engine answered, in SQLite.

Every conversation has an owner, the way in that started it. Owners never see each other's
conversations, so an HTTP client cannot reach a Telegram chat's turns whatever id it sends.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from qa.errors import InvalidQuestionError

_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    owner TEXT NOT NULL,
    id TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    focus_article TEXT,
    PRIMARY KEY (owner, id)
);
CREATE INDEX IF NOT EXISTS conversations_by_age ON conversations (owner, updated);
CREATE TABLE IF NOT EXISTS turns (
    owner TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    turn INTEGER NOT NULL,
    question TEXT NOT NULL,
    article_id TEXT,
    ranked TEXT NOT NULL,
    shown INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (owner, conversation_id, turn),
    FOREIGN KEY (owner, conversation_id) REFERENCES conversations (owner, id) ON DELETE CASCADE
);
"""
# Tables of versions before owners: Telegram's ids were "telegram-<chat>", the rest are
# taken as the command line's (the API's old ids, never capabilities, are not carried over).
_MIGRATE = """
ALTER TABLE conversations RENAME TO conversations_v1;
ALTER TABLE turns RENAME TO turns_v1;
{schema}
INSERT INTO conversations (owner, id, created, updated, focus_article)
    SELECT CASE WHEN id LIKE 'telegram-%' THEN 'telegram' ELSE 'local' END,
           id, created, updated, focus_article FROM conversations_v1;
INSERT INTO turns (owner, conversation_id, turn, question, article_id, ranked, shown, created)
    SELECT CASE WHEN conversation_id LIKE 'telegram-%' THEN 'telegram' ELSE 'local' END,
           conversation_id, turn, question, article_id, ranked, shown, created FROM turns_v1;
DROP TABLE turns_v1;
DROP TABLE conversations_v1;
"""
HISTORY_TURNS = 4
MAX_CONVERSATIONS = 10_000


class Owner(StrEnum):
    """The way in a conversation belongs to."""

    LOCAL = "local"  # the command line: ids are the user's own choice
    TELEGRAM = "telegram"  # one conversation per chat, named after the chat
    API = "api"  # HTTP clients: only ids the service issued, and the id is the capability


# Owners whose clients may only continue conversations the service started for them.
ISSUED_ONLY = frozenset({Owner.API})


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


def from_rows(
    conversation_id: str, focus_article: str | None, turns: Sequence[Sequence[Any]]
) -> Conversation:
    """A conversation from its stored focus and its latest turns' rows (turn, question,
    article_id, ranked as JSON, shown), newest first, as both stores read them."""
    return Conversation(
        conversation_id,
        focus_article=focus_article,
        turns=[_turn(int(t[0]), t[1], t[2], json.loads(t[3]), int(t[4])) for t in reversed(turns)],
    )


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
    """Conversation storage beside the index; idle conversations expire, and each owner keeps
    at most `max_count` (the least recently used go first)."""

    def __init__(
        self,
        connection: Callable[[], sqlite3.Connection],
        idle_seconds: float = 86400.0,
        max_count: int = MAX_CONVERSATIONS,
    ) -> None:
        self._connection = connection
        self.idle_seconds = idle_seconds
        self.max_count = max_count
        self._create()

    def _create(self) -> None:
        conn = self._connection()
        if "owner" in {r[1] for r in conn.execute("PRAGMA table_info(turns)")}:
            return  # already in place: no write lock taken, so readers start beside a writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(conversations)")}
            if columns and "owner" not in columns:
                for statement in _MIGRATE.format(schema=_SCHEMA).split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def new_id(self) -> str:
        """A fresh, unguessable conversation id (128 random bits)."""
        return secrets.token_urlsafe(16)

    def find(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> Conversation | None:
        """The owner's conversation with this id; None when unknown or expired."""
        conn = self._connection()
        row = conn.execute(
            "SELECT updated, focus_article FROM conversations WHERE owner = ? AND id = ?",
            (owner, conversation_id),
        ).fetchone()
        if row is None or time.time() - float(row[0]) > self.idle_seconds:
            return None
        turns = conn.execute(
            "SELECT turn, question, article_id, ranked, shown FROM turns"
            " WHERE owner = ? AND conversation_id = ? ORDER BY turn DESC LIMIT ?",
            (owner, conversation_id, HISTORY_TURNS),
        ).fetchall()
        return from_rows(conversation_id, row[1], turns)

    def load(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> Conversation:
        """The conversation with this id; an unknown or expired one starts empty."""
        return self.find(conversation_id, owner) or Conversation(conversation_id)

    def count(self, owner: Owner) -> int:
        """How many conversations the owner has stored."""
        row = (
            self._connection()
            .execute("SELECT COUNT(*) FROM conversations WHERE owner = ?", (owner,))
            .fetchone()
        )
        return int(row[0])

    @staticmethod
    def _delete(conn: sqlite3.Connection, owner: Owner, ids: list[str]) -> None:
        for conversation_id in ids:
            conn.execute(
                "DELETE FROM turns WHERE owner = ? AND conversation_id = ?",
                (owner, conversation_id),
            )
            conn.execute(
                "DELETE FROM conversations WHERE owner = ? AND id = ?", (owner, conversation_id)
            )

    def _touch(self, conn: sqlite3.Connection, conversation_id: str, owner: Owner) -> None:
        now = time.time()
        row = conn.execute(
            "SELECT updated FROM conversations WHERE owner = ? AND id = ?",
            (owner, conversation_id),
        ).fetchone()
        if row is not None and now - float(row[0]) > self.idle_seconds:
            self._delete(conn, owner, [conversation_id])
            row = None
        if row is not None:
            conn.execute(
                "UPDATE conversations SET updated = ? WHERE owner = ? AND id = ?",
                (now, owner, conversation_id),
            )
            return
        # A new conversation: make room first, so storage stays bounded whatever clients do.
        over = self.count(owner) - self.max_count + 1
        if over > 0:
            oldest = conn.execute(
                "SELECT id FROM conversations WHERE owner = ? ORDER BY updated LIMIT ?",
                (owner, over),
            ).fetchall()
            self._delete(conn, owner, [r[0] for r in oldest])
        conn.execute(
            "INSERT INTO conversations (owner, id, created, updated) VALUES (?, ?, ?, ?)",
            (owner, conversation_id, now, now),
        )

    def record(
        self,
        conversation_id: str,
        question: str,
        article_id: str | None,
        ranked: list[int],
        scores: list[float],
        shown: int,
        owner: Owner = Owner.LOCAL,
        abstained: bool = False,
    ) -> None:
        """Append a turn: the sentence ids ranked for it, their scores, how many were shown,
        and whether nothing answered it."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._touch(conn, conversation_id, owner)
            row = conn.execute(
                "SELECT COALESCE(MAX(turn), 0) FROM turns WHERE owner = ? AND conversation_id = ?",
                (owner, conversation_id),
            ).fetchone()
            conn.execute(
                "INSERT INTO turns (owner, conversation_id, turn, question, article_id, ranked,"
                " shown, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    owner,
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

    def mark_shown(
        self, conversation_id: str, turn: int, shown: int, owner: Owner = Owner.LOCAL
    ) -> None:
        """Remember how many of a turn's answers were shown (for "more answers")."""
        self._connection().execute(
            "UPDATE turns SET shown = ? WHERE owner = ? AND conversation_id = ? AND turn = ?",
            (shown, owner, conversation_id, turn),
        )

    def set_focus(
        self, conversation_id: str, article_id: str | None, owner: Owner = Owner.LOCAL
    ) -> None:
        """Keep asking about one article, or (None) about everything again."""
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._touch(conn, conversation_id, owner)
            conn.execute(
                "UPDATE conversations SET focus_article = ? WHERE owner = ? AND id = ?",
                (article_id, owner, conversation_id),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def reset(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> None:
        """Forget a conversation."""
        self._delete(self._connection(), owner, [conversation_id])

    def expire(self) -> int:
        """Delete idle conversations of every owner; returns how many went."""
        conn = self._connection()
        cutoff = time.time() - self.idle_seconds
        rows = conn.execute(
            "SELECT owner, id FROM conversations WHERE updated < ?", (cutoff,)
        ).fetchall()
        for owner, conversation_id in rows:
            self._delete(conn, Owner(owner), [conversation_id])
        return len(rows)
