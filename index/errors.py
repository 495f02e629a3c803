"""Domain errors of the index layer; each edge translates them for its users."""

from __future__ import annotations


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
