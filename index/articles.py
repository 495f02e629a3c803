"""Reading articles from text, Markdown, JSON and JSONL files, reporting what cannot be read.

What identifies an article (so that an edited one replaces its earlier version, never sits beside
it): the record's `id`; else its canonical `url`; else where it came from (a file's path, a
pasted text's title). A hash of its content is the last resort, only for records handed over
without any of these.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from charset_normalizer import from_bytes
from w3lib.url import canonicalize_url, url_query_cleaner

from index.dates import parse_published
from index.errors import InvalidArticleError

TEXT_SUFFIXES = frozenset({".txt", ".md"})
JSON_SUFFIXES = frozenset({".json", ".jsonl"})
SUFFIXES = TEXT_SUFFIXES | JSON_SUFFIXES
MAX_ID_LENGTH = 200
DEFAULT_MAX_ARTICLE_BYTES = 2_000_000
# A file that is not JSON lines at all would otherwise report every one of its lines.
MAX_REPORTED_LINES = 100

# Query parameters that say how a reader arrived, not which article it is.
_TRACKING_PARAMS = frozenset(
    {"fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga"}
)
_TRACKING_PREFIXES = ("utm_",)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Bytes that start a UTF-16 or UTF-32 text, whose NUL bytes do not make it binary.
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")
_SNIFF_BYTES = 8192


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

    @property
    def published_at(self) -> float | None:
        """`published` as a UTC timestamp, None when absent or not a date."""
        return parse_published(self.published)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not ingested (or was, with a warning), and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(slots=True)
class ReadResult:
    """Articles read from some inputs, the inputs that had to be skipped, and warnings about
    articles that were read all the same."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[Skipped] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        """Add another result's articles, skips and warnings to this one."""
        self.articles.extend(other.articles)
        self.skipped.extend(other.skipped)
        self.warnings.extend(other.warnings)


def _hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def content_id(title: str, text: str) -> str:
    """The id of an article given with nothing else to know it by: a hash of its content."""
    return _hash(title, text)[:16]


def key_id(key: str) -> str:
    """A short stable id for a key (a URL, a path); keys may be longer than an id may be."""
    return _hash("key", key)[:16]


def canonical_url(url: str) -> str | None:
    """The URL that names the same page however it was linked: scheme and host lowercased,
    default port, fragment and tracking parameters (utm_*, fbclid, gclid...) dropped, query
    sorted. None for anything that is not an http(s) address."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    tracking = [
        name
        for name, _ in parse_qsl(parts.query, keep_blank_values=True)
        if name.lower() in _TRACKING_PARAMS or name.lower().startswith(_TRACKING_PREFIXES)
    ]
    try:
        cleaned = url_query_cleaner(url.strip(), tracking, remove=True) if tracking else url
        canonical = canonicalize_url(cleaned.strip(), keep_blank_values=True, keep_fragments=False)
    except (ValueError, UnicodeError):  # a host no IDNA encoding takes: not an address to keep
        return None
    if port == _DEFAULT_PORTS[scheme]:
        again = urlsplit(canonical)
        host = again.netloc.rsplit(":", 1)[0]
        canonical = urlunsplit((again.scheme, host, again.path, again.query, ""))
    return canonical


def _optional_str(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidArticleError(f"field {key!r} must be a string")
    text = str(value).strip()
    return text or None


def _encoded_size(name: str, value: str, max_bytes: int) -> int:
    """The UTF-8 size of a field; a lone surrogate (say "\\ud800" from a JSON escape) is not
    text and is refused here rather than failing deep in the sentence splitter."""
    if len(value) > max_bytes:  # at least one byte a character: too large without encoding
        raise InvalidArticleError(_too_large(f"at least {len(value):,}", max_bytes))
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        bad = value[exc.start].encode("unicode_escape").decode("ascii")
        raise InvalidArticleError(
            f"{name!r} holds a lone surrogate ({bad} at character {exc.start}), which is not text"
        ) from None


def _too_large(size: str, max_bytes: int) -> str:
    return (
        f"the article is {size} bytes, larger than the limit of {max_bytes:,} bytes "
        "(NEWSQA_MAX_ARTICLE_BYTES)"
    )


def _checked(article: Article, max_bytes: int) -> Article:
    """The article, if every field is real text and it is not too large."""
    size = 0
    for name in ("id", "title", "text", "source", "url", "published"):
        value = getattr(article, name)
        if value is not None:
            size += _encoded_size(name, value, max_bytes)
    if size > max_bytes:
        raise InvalidArticleError(_too_large(f"{size:,}", max_bytes))
    return article


def _record_article(
    record: Any,
    default_source: str | None,
    fallback_key: Callable[[str], str] | None,
    max_bytes: int,
) -> Article:
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
    url = _optional_str(record, "url")
    article = _checked(
        Article(
            id=given_id or "",
            title=title.strip(),
            text=text,
            source=_optional_str(record, "source") or default_source,
            url=url,
            published=_optional_str(record, "published"),
        ),
        max_bytes,
    )
    canonical = canonical_url(url) if url else None
    if given_id is not None:
        article_id = given_id
    elif canonical is not None:
        article_id = key_id("url:" + canonical)
    elif fallback_key is not None:
        article_id = key_id("file:" + fallback_key(article.title))
    else:
        article_id = content_id(article.title, text)
    return replace(article, id=article_id)


def article_from_record(
    record: Any,
    default_source: str | None = None,
    *,
    key: str | None = None,
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
) -> Article:
    """Validate one JSON record `{"id"?, "title", "text", "source"?, "url"?, "published"?}`.

    Its id is the record's `id`, else its canonical `url`, else `key` (where the record came
    from), else a hash of its content. Raises InvalidArticleError and nothing else.
    """
    return _record_article(
        record, default_source, None if key is None else (lambda title: key), max_bytes
    )


def article_from_text(
    content: str,
    source: str | None = None,
    *,
    key: str | None = None,
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
) -> Article:
    """A plain-text or Markdown article: the first non-empty line is the title.

    Its id comes from `key` (the file's path, say), else from its content.
    """
    if len(content) > max_bytes:
        raise InvalidArticleError(_too_large(f"at least {len(content):,}", max_bytes))
    lines = content.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip():
            title = line.strip().lstrip("#").strip()
            body = "".join(lines[i + 1 :])
            if not title or not body.strip():
                break
            article_id = content_id(title, body) if key is None else key_id("file:" + key)
            return _checked(
                Article(id=article_id, title=title, text=body, source=source), max_bytes
            )
    raise InvalidArticleError("needs a title line followed by the article text")


def pasted_article(
    content: str, source: str, *, max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
) -> Article:
    """Text pasted into a chat: a title line, then the article. A pasted text has no file name
    or address, and its title is what the sender sees and sends again with a corrected text, so
    the title within its source identifies it."""
    article = article_from_text(content, source, max_bytes=max_bytes)
    return replace(article, id=key_id(f"pasted:{source}/{article.title}"))


def decode_text(payload: bytes) -> str:
    """A file's bytes as text: UTF-8 when it is, else the encoding charset-normalizer finds.

    Raises InvalidArticleError for binary content.
    """
    head = payload[:_SNIFF_BYTES]
    if b"\x00" in head and not head.startswith(_WIDE_BOMS):
        raise InvalidArticleError("unsupported: binary file")
    try:
        return payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    matches = from_bytes(payload)
    best = matches.best()
    if best is None:
        raise InvalidArticleError("unsupported: binary file (no text encoding fits it)")
    # Short Western texts often fit cp1250 and cp1252 equally well; cp1252 is by far the more
    # common (browsers read "latin-1" as cp1252), so it wins a tie.
    for match in matches:
        if (
            match.encoding == "cp1252"
            and match.chaos == best.chaos
            and match.coherence == best.coherence
        ):
            best = match
            break
    return str(best)


def read_text_payload(
    name: str,
    payload: bytes,
    *,
    key: str | None = None,
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
) -> ReadResult:
    """Read one uploaded or on-disk file's bytes by its name's suffix.

    `key` says where the file came from (default: its file name); its articles without an id or
    url are known by it. What cannot be read is reported in the result, never raised.
    """
    result = ReadResult()
    suffix = Path(name).suffix.lower()
    key = key or Path(name).name
    if suffix not in SUFFIXES:
        result.skipped.append(
            Skipped(name, f"unsupported file type {suffix or '(none)'}; use {_suffix_list()}")
        )
        return result
    # A JSONL file holds many articles; its lines are measured one by one instead.
    if suffix != ".jsonl" and len(payload) > max_bytes:
        result.skipped.append(Skipped(name, _too_large(f"{len(payload):,}", max_bytes)))
        return result
    try:
        content = decode_text(payload)
    except InvalidArticleError as exc:
        result.skipped.append(Skipped(name, str(exc)))
        return result
    if suffix in TEXT_SUFFIXES:
        try:
            article = article_from_text(
                content, source=Path(name).name, key=key, max_bytes=max_bytes
            )
        except InvalidArticleError as exc:
            result.skipped.append(Skipped(name, str(exc)))
        else:
            _add(result, name, article)
    elif suffix == ".jsonl":
        _read_lines(result, name, key, content, max_bytes)
    else:
        _read_json(result, name, key, content, max_bytes)
    return result


def _suffix_list() -> str:
    return ", ".join(sorted(SUFFIXES))


def _parse(text: str) -> Any:
    """JSON, or InvalidArticleError saying why not."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArticleError(f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise InvalidArticleError("JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more digits than Python will convert
        raise InvalidArticleError(f"invalid JSON: {exc}") from None


def _read_lines(result: ReadResult, name: str, key: str, content: str, max_bytes: int) -> None:
    seen: set[str] = set()
    reported = 0
    lines = content.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        before = len(result.skipped)
        if len(line) > max_bytes:
            result.skipped.append(
                Skipped(f"{name}:{number}", _too_large(f"at least {len(line):,}", max_bytes))
            )
        else:
            try:
                record = _parse(line)
            except InvalidArticleError as exc:
                result.skipped.append(Skipped(f"{name}:{number}", str(exc)))
            else:
                _add_record(result, f"{name}:{number}", key, record, max_bytes, seen)
        if len(result.skipped) > before:
            reported += 1
            if reported == MAX_REPORTED_LINES:
                result.skipped.append(
                    Skipped(
                        name,
                        f"not JSON lines: stopped after {reported} bad lines "
                        f"({len(lines) - number} lines not read)",
                    )
                )
                return


def _read_json(result: ReadResult, name: str, key: str, content: str, max_bytes: int) -> None:
    try:
        data = _parse(content)
    except InvalidArticleError as exc:
        result.skipped.append(Skipped(name, str(exc)))
        return
    if isinstance(data, list):
        seen: set[str] = set()
        for number, record in enumerate(data, start=1):
            _add_record(result, f"{name}[{number}]", key, record, max_bytes, seen)
    else:
        # One article in the file: the file is what identifies it, as for a text file.
        try:
            article = _record_article(data, None, lambda title: key, max_bytes)
        except InvalidArticleError as exc:
            result.skipped.append(Skipped(name, str(exc)))
        else:
            _add(result, name, article)


def _add_record(
    result: ReadResult, where: str, key: str, record: Any, max_bytes: int, seen: set[str]
) -> None:
    """One record of a file of many: without an id or url, its title within the file is what
    identifies it, so two such records of one file may not share a title."""
    try:
        article = _record_article(record, None, lambda title: f"{key}#{title}", max_bytes)
    except InvalidArticleError as exc:
        result.skipped.append(Skipped(where, str(exc)))
        return
    if article.id in seen:
        result.skipped.append(
            Skipped(
                where,
                "an earlier record of this file has the same id (or the same title, and neither "
                "has an id or url)",
            )
        )
        return
    seen.add(article.id)
    _add(result, where, article)


def _add(result: ReadResult, where: str, article: Article) -> None:
    result.articles.append(article)
    if article.published is not None and article.published_at is None:
        result.warnings.append(
            Skipped(
                where,
                f"{article.title!r}: published {article.published!r} is not a date "
                "(ISO 8601 or RFC 2822); kept as text and listed last",
            )
        )


def _visible_files(folder: Path) -> Iterator[Path]:
    """The files under a folder, not descending into hidden folders (.git and the like)."""
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if not name.startswith(".") and (Path(root) / name).is_file():
                yield Path(root) / name


def input_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str] | Skipped]:
    """Each file to read with the key that identifies it: for a folder, its name and the path
    inside it; for a file given alone, its folder's name and its own, so that a file read alone
    or with its folder is the same article. Hidden files and folders are passed over."""
    for path in paths:
        if path.is_dir():
            base = path.resolve().name
            found = sorted(_visible_files(path))
            readable = [p for p in found if p.suffix.lower() in SUFFIXES]
            if not readable:
                yield Skipped(str(path), f"folder holds no {_suffix_list()} files")
            for p in found:
                if p.suffix.lower() in SUFFIXES:
                    yield p, f"{base}/{p.relative_to(path).as_posix()}"
                else:
                    yield Skipped(
                        str(p),
                        f"unsupported file type {p.suffix or '(none)'}; use {_suffix_list()}",
                    )
        elif path.is_file():
            yield path, f"{path.resolve().parent.name}/{path.name}"
        else:
            yield Skipped(str(path), "no such file or folder")


def read_paths(paths: Iterable[Path], *, max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES) -> ReadResult:
    """Read every article in files and folders; what cannot be read is reported, not raised."""
    result = ReadResult()
    for item in input_files(paths):
        if isinstance(item, Skipped):
            result.skipped.append(item)
        else:
            result.extend(read_file(*item, max_bytes=max_bytes))
    return result


def read_file(
    path: Path,
    key: str,
    *,
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    name: str | None = None,
) -> ReadResult:
    """Read the articles of one file known by key (see `input_files`); reports name the file
    as `name` (default: its path)."""
    name = name or str(path)
    try:
        # Measured before reading: a huge file is refused at once, not read and split.
        size = path.stat().st_size
        if path.suffix.lower() != ".jsonl" and size > max_bytes:
            return ReadResult(skipped=[Skipped(name, _too_large(f"{size:,}", max_bytes))])
        payload = path.read_bytes()
    except OSError as exc:
        return ReadResult(skipped=[Skipped(name, f"cannot read: {exc.strerror or exc}")])
    return read_text_payload(name, payload, key=key, max_bytes=max_bytes)
