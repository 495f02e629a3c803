"""Domain errors of the index layer; each edge translates them for its users."""

from __future__ import annotations

import errno
import sqlite3


class NewsqaError(Exception):
    """Base class of every error newsqa reports to a user."""


class ModelMismatchError(NewsqaError):
    """The index was built with another embedding model than the one configured."""


class IndexCorruptError(NewsqaError):
    """The index files on disk cannot be read."""


class ArticleNotFoundError(NewsqaError):
    """No article has the given id."""


class InvalidArticleError(NewsqaError):
    """An article record lacks what an article needs (title, text)."""


class IndexBusyError(NewsqaError):
    """Another process or thread is writing to the index."""


class IndexWriteError(NewsqaError):
    """A write could not be completed (a full disk); the index is left as it was."""


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
