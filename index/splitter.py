"""Sentence splitting for news text, keeping every sentence's exact character span."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from syntok import segmenter

_TERMINAL = re.compile(r"[.!?…:;\"'”’»]\s*$")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Span:
    """One sentence: its text and its [start, end) span in the article text."""

    start: int
    end: int
    text: str


def _lines(text: str) -> Iterator[tuple[int, str]]:
    offset = 0
    for line in text.splitlines(keepends=True):
        yield offset, line
        offset += len(line)


def split_sentences(text: str) -> list[Span]:
    """Split text into sentences; line breaks are hard boundaries.

    syntok handles abbreviations ("U.S.", "p.m."), numbers and quotes that close after the
    sentence's full stop; its token offsets keep the spans exact.
    """
    spans: list[Span] = []
    for line_start, line in _lines(text):
        if not line.strip():
            continue
        first_of_line = len(spans)
        for paragraph in segmenter.analyze(line):
            for sentence in paragraph:
                tokens = list(sentence)
                if not tokens:
                    continue
                start = line_start + tokens[0].offset
                end = line_start + tokens[-1].offset + len(tokens[-1].value)
                while end > start and text[end - 1].isspace():
                    end -= 1
                if end <= start:
                    continue
                if not _WORD.search(text[start:end]) and len(spans) > first_of_line:
                    # A stray closing quote or bracket belongs to the sentence before it.
                    start = spans.pop().start
                spans.append(Span(start, end, text[start:end]))
    return spans


def trailing_chrome(text: str, spans: list[Span]) -> set[int]:
    """Indexes of sentences that are site chrome trailing a plain-text article.

    Copied web articles end with bylines ("AFP"), comment counters and buttons: short lines
    without sentence punctuation. Walking back from the end, every such line is chrome until
    the first line that reads like prose.
    """
    chrome: set[int] = set()
    for i in range(len(spans) - 1, -1, -1):
        line = _line_of(text, spans[i])
        if len(_WORD.findall(line)) > 6 or _TERMINAL.search(line):
            break
        chrome.add(i)
    return chrome


def _line_of(text: str, span: Span) -> str:
    start = text.rfind("\n", 0, span.start) + 1
    end = text.find("\n", span.end)
    return text[start : (len(text) if end < 0 else end)].strip()
