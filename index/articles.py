"""Reading articles from text, Markdown, JSON and JSONL files, reporting what cannot be read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.errors import InvalidArticleError

TEXT_SUFFIXES = frozenset({".txt", ".md"})
JSON_SUFFIXES = frozenset({".json", ".jsonl"})
SUFFIXES = TEXT_SUFFIXES | JSON_SUFFIXES
MAX_ID_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Article:
    """An article as given: `text` is kept exactly, since sentence spans index it."""

    id: str
    title: str
    text: str
    source: str | None = None
    url: str | None = None
    published: str | None = None

    @property
    def text_hash(self) -> str:
        """Hash of what the sentences are made from; a change means re-splitting."""
        return _hash(self.title, self.text)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not ingested, and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(slots=True)
class ReadResult:
    """Articles read from some inputs, and the inputs that had to be skipped."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def content_id(title: str, text: str) -> str:
    """The id of an article given without one: a hash of its content."""
    return _hash(title, text)[:16]


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise InvalidArticleError(f"field {key!r} must be a string")
    text = str(value).strip()
    return text or None


def article_from_record(record: Any, default_source: str | None = None) -> Article:
    """Validate one JSON record `{"id"?, "title", "text", "source"?, "url"?, "published"?}`."""
    if not isinstance(record, dict):
        raise InvalidArticleError("a record must be a JSON object")
    title = record.get("title")
    text = record.get("text")
    if not isinstance(title, str) or not title.strip():
        raise InvalidArticleError("missing or empty 'title'")
    if not isinstance(text, str) or not text.strip():
        raise InvalidArticleError("missing or empty 'text'")
    given_id = _optional_str(record, "id")
    if given_id is not None and len(given_id) > MAX_ID_LENGTH:
        raise InvalidArticleError(f"'id' is longer than {MAX_ID_LENGTH} characters")
    return Article(
        id=given_id or content_id(title.strip(), text),
        title=title.strip(),
        text=text,
        source=_optional_str(record, "source") or default_source,
        url=_optional_str(record, "url"),
        published=_optional_str(record, "published"),
    )


def article_from_text(content: str, source: str | None = None) -> Article:
    """A plain-text or Markdown article: the first non-empty line is the title."""
    lines = content.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip():
            title = line.strip().lstrip("#").strip()
            body = "".join(lines[i + 1 :])
            if not title or not body.strip():
                break
            return Article(id=content_id(title, body), title=title, text=body, source=source)
    raise InvalidArticleError("needs a title line followed by the article text")


def read_text_payload(name: str, payload: bytes) -> ReadResult:
    """Read one uploaded or on-disk file's bytes by its name's suffix."""
    result = ReadResult()
    suffix = Path(name).suffix.lower()
    try:
        content = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        result.skipped.append(Skipped(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})"))
        return result
    if suffix in TEXT_SUFFIXES:
        try:
            result.articles.append(article_from_text(content, source=Path(name).name))
        except InvalidArticleError as exc:
            result.skipped.append(Skipped(name, str(exc)))
    elif suffix == ".jsonl":
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            _add_record(result, f"{name}:{number}", line)
    elif suffix == ".json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            result.skipped.append(Skipped(f"{name}:{exc.lineno}", f"invalid JSON: {exc.msg}"))
            return result
        records = data if isinstance(data, list) else [data]
        for number, record in enumerate(records, start=1):
            _add_parsed(result, f"{name}[{number}]", record)
    else:
        result.skipped.append(
            Skipped(name, f"unsupported file type {suffix or '(none)'}; use {_suffix_list()}")
        )
    return result


def _suffix_list() -> str:
    return ", ".join(sorted(SUFFIXES))


def _add_record(result: ReadResult, where: str, line: str) -> None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        result.skipped.append(Skipped(where, f"invalid JSON: {exc.msg} (column {exc.colno})"))
        return
    _add_parsed(result, where, record)


def _add_parsed(result: ReadResult, where: str, record: Any) -> None:
    try:
        result.articles.append(article_from_record(record))
    except InvalidArticleError as exc:
        result.skipped.append(Skipped(where, str(exc)))


def _files(paths: Iterable[Path]) -> Iterator[Path | Skipped]:
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
            )
            if not found:
                yield Skipped(str(path), f"folder holds no {_suffix_list()} files")
            yield from found
        elif path.is_file():
            yield path
        else:
            yield Skipped(str(path), "no such file or folder")


def read_paths(paths: Iterable[Path]) -> ReadResult:
    """Read every article in files and folders; what cannot be read is reported, not raised."""
    result = ReadResult()
    for item in _files(paths):
        if isinstance(item, Skipped):
            result.skipped.append(item)
            continue
        try:
            payload = item.read_bytes()
        except OSError as exc:
            result.skipped.append(Skipped(str(item), f"cannot read: {exc.strerror or exc}"))
            continue
        one = read_text_payload(str(item), payload)
        result.articles.extend(one.articles)
        result.skipped.extend(one.skipped)
    return result
