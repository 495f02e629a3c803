"""Every error the ways in (command line, HTTP, Telegram) may meet, and the full-disk test.

The engine's own errors are re-exported here so that `bots` reaches the engine only through `qa`.
"""

from __future__ import annotations

from index.errors import (
    ArticleNotFoundError,
    IndexBusyError,
    IndexCorruptError,
    IndexWriteError,
    InvalidArticleError,
    ModelMismatchError,
    NewsqaError,
    is_disk_full,
)
from index.web.fetch import FetchError
from index.web.state import FeedNotFoundError

__all__ = [
    "ArticleNotFoundError",
    "ConversationNotFoundError",
    "FeedNotFoundError",
    "FetchError",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexWriteError",
    "InvalidArticleError",
    "InvalidQuestionError",
    "ModelMismatchError",
    "NewsqaError",
    "is_disk_full",
]


class InvalidQuestionError(NewsqaError):
    """The question is empty, too long, or asks for an impossible number of answers."""


class ConversationNotFoundError(NewsqaError, LookupError):
    """No conversation of this caller has this id (never started, forgotten or expired)."""
