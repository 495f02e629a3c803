"""Telegram HTML for answers, contexts and lists: every piece escaped, split under the limit."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from qa.models import Answer, AnswerSet
from qa.records import ArticleInfo, Sentence

# Telegram refuses messages over 4096 characters (counted in UTF-16 code units after the
# markup is parsed); raw HTML is never shorter than its parsed text, so measuring it is safe.
MAX_MESSAGE = 4096
MAX_TITLE = 200

# Sources that are where an article was read from, not who published it.
_FILE_SUFFIXES = frozenset({".txt", ".md", ".json", ".jsonl", ".html", ".htm"})
_TOKEN = re.compile(r"<[^>]*>|&(?:#\d+|#x[0-9a-fA-F]+|\w+);|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?([a-zA-Z-]+)")


def text(value: str) -> str:
    """Plain text made safe for Telegram's HTML parse mode."""
    return escape(value, quote=False)


def _one_line(value: str, limit: int | None = None) -> str:
    flat = " ".join(value.split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def _safe_url(url: str | None) -> str | None:
    """Only http(s) addresses become links; anything else would be refused or unsafe."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def source_name(source: str | None) -> str | None:
    """A publisher's name as readers know it; a file name or path (what a file ingest records
    when a record names no source) is no name and is left out."""
    if not source or not source.strip():
        return None
    value = source.strip()
    if "/" in value or "\\" in value or PurePosixPath(value).suffix.lower() in _FILE_SUFFIXES:
        return None
    return value


def source_line(title: str, url: str | None, *extra: str | None) -> str:
    """An article's title (a link when it has a web address) followed by source and date."""
    shown = text(_one_line(title, MAX_TITLE))
    link = _safe_url(url)
    head = f'<a href="{escape(link, quote=True)}">{shown}</a>' if link else f"<b>{shown}</b>"
    rest = [text(_one_line(part, MAX_TITLE)) for part in extra if part]
    return " · ".join([head, *rest])


def _other_source(name: str, url: str | None) -> str:
    shown = text(_one_line(name, MAX_TITLE))
    link = _safe_url(url)
    return f'<a href="{escape(link, quote=True)}">{shown}</a>' if link else shown


def _also_in(answer: Answer) -> str:
    """The other outlets that carried the same story, as a line under its title."""
    if not answer.also_in:
        return ""
    others = ", ".join(_other_source(o.source or o.title, o.url) for o in answer.also_in)
    return f"\nalso in: {others}"


def _quote(number: int, answer: Answer) -> str:
    return f"<blockquote><b>{number}.</b> {text(_one_line(answer.sentence))}</blockquote>"


def render_answers(answer_set: AnswerSet, *, first_number: int = 1) -> list[str]:
    """An answer set as one or more messages; an abstention as a short explanation.

    Quotes from one article sit under one title line, keeping their rank numbers, so that a
    reply with three quotes from one story does not repeat its title three times."""
    if not answer_set.answers:
        if answer_set.abstained:
            return [
                "I found nothing in the articles I know that answers that. "
                "Try other words, or see /sources for what I know."
            ]
        return ["No more answers to that question. Ask another one."]
    groups: dict[str, list[tuple[int, Answer]]] = {}
    for number, answer in enumerate(answer_set.answers, start=first_number):
        groups.setdefault(answer.article_id, []).append((number, answer))
    blocks: list[str] = []
    separators: list[str] = []
    for quotes in groups.values():
        first = quotes[0][1]
        head = source_line(first.title, first.url, source_name(first.source), first.published)
        head += _also_in(first)
        for i, (number, answer) in enumerate(quotes):
            # each quote is a block of its own, so a long reply splits between quotes
            blocks.append(f"{head}\n{_quote(number, answer)}" if i == 0 else _quote(number, answer))
            separators.append("\n\n" if i == 0 else "\n")
    return split_blocks(blocks, separators=separators)


def render_context(sentence: Sentence) -> list[str]:
    """A quoted sentence between its neighbours."""
    parts = [f"<i>{text(_one_line(sentence.before))}</i>"] if sentence.before else []
    parts.append(f"<b>{text(_one_line(sentence.text))}</b>")
    if sentence.after:
        parts.append(f"<i>{text(_one_line(sentence.after))}</i>")
    head = source_line(
        sentence.title, sentence.url, source_name(sentence.source), sentence.published
    )
    return split_blocks([head, "<blockquote>" + "\n".join(parts) + "</blockquote>"])


def render_sources(articles: Sequence[ArticleInfo], total: int) -> list[str]:
    """The most recent articles, one line each."""
    if not articles:
        return ["I know no articles yet."]
    lines = [f"<b>{total} articles</b>, the most recent:"]
    lines += [
        "• " + source_line(info.title, info.url, source_name(info.source), info.published)
        for info in articles
    ]
    return split_blocks(lines, separator="\n")


def utf16_len(value: str) -> int:
    """Length as Telegram counts it."""
    return len(value.encode("utf-16-le")) // 2


def split_blocks(
    blocks: Iterable[str],
    limit: int = MAX_MESSAGE,
    separator: str = "\n\n",
    *,
    separators: Sequence[str] | None = None,
) -> list[str]:
    """Pack whole blocks of HTML into messages under the limit; a too-long block is cut safely.

    `separators`, when given, is what goes before each block (instead of `separator`)."""
    messages: list[str] = []
    current = ""
    for index, block in enumerate(blocks):
        gap = separators[index] if separators is not None else separator
        pieces = [block] if utf16_len(block) <= limit else split_html(block, limit)
        for piece in pieces:
            joined = f"{current}{gap}{piece}" if current else piece
            if utf16_len(joined) <= limit:
                current = joined
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def split_html(html: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Cut well-formed HTML into pieces under the limit, closing and reopening tags at each cut.

    Text is cut at a space where one is near, never inside an entity or a tag.
    """
    messages: list[str] = []
    stack: list[tuple[str, str]] = []  # (name, opening tag) of the tags open right now
    current = ""

    def closers() -> str:
        return "".join(f"</{name}>" for name, _ in reversed(stack))

    def openers() -> str:
        return "".join(tag for _, tag in stack)

    def cut() -> None:
        nonlocal current
        messages.append(current + closers())
        current = openers()

    for token in _TOKEN.findall(html):
        if token.startswith("<") and len(token) > 1:
            match = _TAG_NAME.match(token)
            name = match.group(1).lower() if match else ""
            if token.startswith("</"):
                current += token
                if stack and stack[-1][0] == name:
                    stack.pop()
                continue
            # an opening tag needs room for itself and its own closing tag
            if utf16_len(current + token + closers()) + len(name) + 3 > limit:
                cut()
            current += token
            stack.append((name, token))
            continue
        if token.startswith("&"):
            if utf16_len(current + token + closers()) > limit:
                cut()
            current += token
            continue
        rest = token
        while rest:
            room = limit - utf16_len(current + closers())
            if utf16_len(rest) <= room:
                current += rest
                break
            take = _fit(rest, room)
            if take == 0:
                if current == openers():
                    raise ValueError("the limit is too small for the markup")
                cut()
                continue
            current += rest[:take]
            rest = rest[take:]
            cut()
    if current and current != openers():
        messages.append(current + closers())
    return [message for message in messages if message.strip()]


def _fit(value: str, room: int) -> int:
    """How many characters of value fit in room UTF-16 units, preferring to end after a space."""
    if room <= 0:
        return 0
    count = 0
    used = 0
    for char in value:
        width = 2 if ord(char) > 0xFFFF else 1
        if used + width > room:
            break
        used += width
        count += 1
    if count < len(value):
        space = value.rfind(" ", 0, count)
        if space > count // 2:
            return space + 1
    return count
