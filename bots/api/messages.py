"""Request errors as sentences a person reads: 'the question is empty', not a regex."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# What each field is called in a sentence; others go by their own name.
_NAMES = {
    "question": "the question",
    "k": "k (how many answers)",
    "article_id": "the article id",
    "conversation_id": "the conversation id",
    "title": "the title",
    "text": "the text",
    "file": "the file",
    "offset": "offset",
    "limit": "limit",
    "q": "the search",
}
# The fixed forms of the patterns the schemas use, said in words.
_PATTERNS = {
    r"\S": "is empty",
    r"^[A-Za-z0-9_.:\-]{1,100}$": "may hold only letters, digits and _ . : - (up to 100)",
}


def size(count: int) -> str:
    """A byte count as people say it: 10 MB, 512 KB."""
    for unit, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if count >= factor:
            return f"{round(count / factor, 1):g} {unit}"
    return f"{count} bytes"


def _field(loc: Sequence[Any]) -> str:
    names = [
        part for part in loc if isinstance(part, str) and part not in ("body", "query", "path")
    ]
    indexes = [part for part in loc if isinstance(part, int)]
    if not names:
        return "the request body"
    name = _NAMES.get(names[-1], names[-1])
    return f"{name} of item {indexes[0] + 1}" if indexes else name


def sentence(error: dict[str, Any]) -> str:
    """One pydantic or FastAPI validation error as a sentence."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    field = _field(error.get("loc", ()))
    if kind == "missing":
        return f"{field} is missing"
    if kind == "string_too_short":
        return (
            f"{field} is empty"
            if ctx.get("min_length") == 1
            else (f"{field} is shorter than {ctx.get('min_length')} characters")
        )
    if kind == "string_too_long":
        return f"{field} is longer than the limit of {ctx.get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return f"{field} {_PATTERNS.get(str(ctx.get('pattern')), 'is not in the expected form')}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{field} must be at least {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"{field} must be at most {ctx.get('le', ctx.get('lt'))}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{field} must be a whole number"
    if kind.startswith("bool"):
        return f"{field} must be true or false"
    if kind == "string_type":
        return f"{field} must be text"
    if kind == "string_unicode":
        return (
            f"{field} contains a character that is not text (a lone UTF-16 surrogate such as"
            " \\ud800); send plain UTF-8 text"
        )
    if kind == "extra_forbidden":
        return f"{field} is not something this request takes"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        return f"{field} must be a JSON object"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return f"{field}: {message[:1].lower()}{message[1:]}" if field else message


def readable(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's 422 items with `msg` rewritten as a sentence (loc and type kept for programs)."""
    out = []
    for error in errors:
        item = dict(error)
        if "input" not in item:  # raised by our own code, already worded for people
            out.append(item)
            continue
        item.pop("url", None)
        item.pop("input", None)  # an echo of a long body helps nobody and may hold secrets
        # ctx may hold an exception object, which JSON cannot carry
        item.pop("ctx", None)
        item["msg"] = sentence(dict(error))
        item["loc"] = list(item.get("loc", ()))
        out.append(item)
    return out
