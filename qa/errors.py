"""Errors of the answering layer, and how to recognise a full disk under other errors."""

from __future__ import annotations

import errno
import sqlite3

from index.errors import NewsqaError


class InvalidQuestionError(NewsqaError):
    """The question is empty, too long, or asks for an impossible number of answers."""


class ConversationNotFoundError(NewsqaError, LookupError):
    """No conversation of this caller has this id (never started, forgotten or expired)."""


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether an error (or one it was raised from) means the disk or quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error) and (
            getattr(current, "sqlite_errorname", "") == "SQLITE_FULL"
            or "database or disk is full" in str(current)
        ):
            return True
        # FAISS and other C++ writers report the C library's words in a RuntimeError.
        if isinstance(current, RuntimeError) and "No space left on device" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
