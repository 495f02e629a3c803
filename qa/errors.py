"""Errors of the answering layer (and the index's full-disk test, for the edges)."""

from __future__ import annotations

from index.errors import NewsqaError, is_disk_full

__all__ = ["ConversationNotFoundError", "InvalidQuestionError", "is_disk_full"]


class InvalidQuestionError(NewsqaError):
    """The question is empty, too long, or asks for an impossible number of answers."""


class ConversationNotFoundError(NewsqaError, LookupError):
    """No conversation of this caller has this id (never started, forgotten or expired)."""
