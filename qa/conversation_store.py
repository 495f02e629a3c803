"""What the service needs of conversation storage: SQLite beside the index (`Conversations`)
or PostgreSQL shared by every replica (`PgConversations`)."""

from __future__ import annotations

from typing import Protocol

from qa.conversations import Conversation, Owner


class ConversationStore(Protocol):
    """Conversations by owner and id: find, append turns, focus, forget, expire."""

    def new_id(self) -> str:
        """A fresh, unguessable conversation id."""
        ...

    def find(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> Conversation | None:
        """The owner's conversation with this id; None when unknown or expired."""
        ...

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
        """Append a turn."""
        ...

    def mark_shown(
        self, conversation_id: str, turn: int, shown: int, owner: Owner = Owner.LOCAL
    ) -> None:
        """Remember how many of a turn's answers were shown."""
        ...

    def set_focus(
        self, conversation_id: str, article_id: str | None, owner: Owner = Owner.LOCAL
    ) -> None:
        """Keep asking about one article, or (None) about everything again."""
        ...

    def reset(self, conversation_id: str, owner: Owner = Owner.LOCAL) -> None:
        """Forget a conversation."""
        ...

    def expire(self) -> int:
        """Delete idle conversations; how many went."""
        ...
