"""Errors of the answering layer."""

from __future__ import annotations

from index.errors import NewsqaError


class InvalidQuestionError(NewsqaError):
    """The question is empty, too long, or asks for an impossible number of answers."""
