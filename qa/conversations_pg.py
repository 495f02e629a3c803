"""Conversations in PostgreSQL: a conversation started on one replica continues on any other.

Turns of one conversation arriving at two replicas at once are numbered one after the other:
each write locks the conversation's row first.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg_pool import ConnectionPool

from qa.conversations import HISTORY_TURNS, MAX_CONVERSATIONS, Conversation, Owner, from_rows

if TYPE_CHECKING:
    from qa.conversation_store import ConversationStore


class PgConversations:
    """Conversation storage in the shared database; idle conversations expire, and each owner
    keeps at most `max_count` (the least recently used go first)."""

    def __init__(
        self,
        pool: ConnectionPool[Any],
        idle_seconds: float = 86400.0,
        max_count: int = MAX_CONVERSATIONS,
    ) -> None:
        self._pool = pool
        self.idle_seconds = idle_seconds
        self.max_count = max_count

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction, committed on leaving."""
        with self._pool.connection() as conn:
            conn.row_factory = psycopg.rows.tuple_row
            yield conn

    def new_id(self) -> str:
        """A fresh, unguessable conversation id (128 random bits)."""
        return secrets.token_urlsafe(16)

    def find(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> Conversation | None:
        """The owner's conversation with this id; None when unknown or expired."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT updated, focus_article FROM conversations WHERE owner = %s AND id = %s",
                (owner.value, conversation_id),
            ).fetchone()
            if row is None or time.time() - float(row[0]) > self.idle_seconds:
                return None
            turns = conn.execute(
                "SELECT turn, question, article_id, ranked, shown FROM turns"
                " WHERE owner = %s AND conversation_id = %s ORDER BY turn DESC LIMIT %s",
                (owner.value, conversation_id, HISTORY_TURNS),
            ).fetchall()
        return from_rows(conversation_id, row[1], turns)

    def load(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> Conversation:
        """The conversation with this id; an unknown or expired one starts empty."""
        return self.find(conversation_id, owner) or Conversation(conversation_id)

    def count(self, owner: Owner) -> int:
        """How many conversations the owner has stored."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM conversations WHERE owner = %s", (owner.value,)
            ).fetchone()
        return int(row[0]) if row else 0

    def _touch(self, conn: psycopg.Connection[Any], conversation_id: str, owner: Owner) -> None:
        """Make the conversation current (new, or renewed) and hold its row's lock."""
        now = time.time()
        row = conn.execute(
            "SELECT updated FROM conversations WHERE owner = %s AND id = %s FOR UPDATE",
            (owner.value, conversation_id),
        ).fetchone()
        if row is not None and now - float(row[0]) > self.idle_seconds:
            conn.execute(
                "DELETE FROM conversations WHERE owner = %s AND id = %s",
                (owner.value, conversation_id),
            )
            row = None
        if row is None:
            # A new conversation: make room first, so storage stays bounded whatever clients do.
            conn.execute(
                "DELETE FROM conversations WHERE (owner, id) IN (SELECT owner, id FROM"
                " conversations WHERE owner = %s ORDER BY updated"
                " LIMIT GREATEST(0, (SELECT COUNT(*) FROM conversations WHERE owner = %s) - %s))",
                (owner.value, owner.value, self.max_count - 1),
            )
        # Two replicas starting the same conversation at once: one inserts, the other updates.
        conn.execute(
            "INSERT INTO conversations (owner, id, created, updated) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (owner, id) DO UPDATE SET updated = excluded.updated",
            (owner.value, conversation_id, now, now),
        )
        conn.execute(
            "SELECT 1 FROM conversations WHERE owner = %s AND id = %s FOR UPDATE",
            (owner.value, conversation_id),
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
        with self._conn() as conn:
            self._touch(conn, conversation_id, owner)
            conn.execute(
                "INSERT INTO turns (owner, conversation_id, turn, question, article_id, ranked,"
                " shown, created) SELECT %s, %s, COALESCE(MAX(turn), 0) + 1, %s, %s, %s, %s, %s"
                " FROM turns WHERE owner = %s AND conversation_id = %s",
                (
                    owner.value,
                    conversation_id,
                    question,
                    article_id,
                    json.dumps({"ids": ranked, "scores": scores, "abstained": abstained}),
                    shown,
                    time.time(),
                    owner.value,
                    conversation_id,
                ),
            )

    def mark_shown(
        self, conversation_id: str, turn: int, shown: int, owner: Owner = Owner.LOCAL
    ) -> None:
        """Remember how many of a turn's answers were shown (for "more answers")."""
        with self._conn() as conn:
            conn.execute(
                "UPDATE turns SET shown = %s WHERE owner = %s AND conversation_id = %s"
                " AND turn = %s",
                (shown, owner.value, conversation_id, turn),
            )

    def set_focus(
        self, conversation_id: str, article_id: str | None, owner: Owner = Owner.LOCAL
    ) -> None:
        """Keep asking about one article, or (None) about everything again."""
        with self._conn() as conn:
            self._touch(conn, conversation_id, owner)
            conn.execute(
                "UPDATE conversations SET focus_article = %s WHERE owner = %s AND id = %s",
                (article_id, owner.value, conversation_id),
            )

    def reset(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> None:
        """Forget a conversation (its turns go with it)."""
        with self._conn() as conn:
            conn.execute(
                "DELETE FROM conversations WHERE owner = %s AND id = %s",
                (owner.value, conversation_id),
            )

    def expire(self) -> int:
        """Delete idle conversations of every owner; returns how many went."""
        with self._conn() as conn:
            cursor = conn.execute(
                "DELETE FROM conversations WHERE updated < %s", (time.time() - self.idle_seconds,)
            )
            return cursor.rowcount


if TYPE_CHECKING:

    def _store(conversations: PgConversations) -> ConversationStore:
        return conversations
