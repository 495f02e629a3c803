"""A long sentence's clauses, each embedded on its own beside the whole sentence.

A long sentence's vector is an average of everything it says. "Then Putin and I will meet at
a previously agreed upon location, Budapest, Hungary, to see if we can bring this war to an
end," the president added' is about a war as much as about a meeting, so a question about only
one of those matches it weakly. Its clauses ("Then Putin and I will meet at a previously agreed
upon location, Budapest, Hungary") each say one thing, and the best of them matches well.
"""

from __future__ import annotations

import re

# Where a clause may end: commas, semicolons, colons, brackets and dashes. Quotation marks
# are not breaks: a quoted phrase ("the main topic") is part of its clause, and quoted speech
# is set off by commas anyway.
_BREAK = re.compile(r"[,;:()\[\]\u2013\u2014]|\s-{1,2}\s")
_WORD = re.compile(r"\w+")
_EDGE = " \t\n'\u2018\u2019.,;:!?`\"\u201c\u201d\u00ab\u00bb-\u2013\u2014()[]"
MIN_WORDS = 5  # a shorter piece ("Budapest", "the president added") joins the clause before it
MAX_CLAUSES = 8


def clauses(sentence: str) -> list[tuple[int, int]]:
    """The [start, end) spans of a sentence's clauses, or none when it has only one.

    The sentence is cut at clause punctuation; a piece shorter than MIN_WORDS words joins the
    piece before it (an appositive, a place, an attribution), or the one after it at the
    start. Spans are trimmed of surrounding quotes and punctuation.
    """
    pieces: list[list[int]] = []  # [start, end, words]
    start = 0
    for cut in [*_BREAK.finditer(sentence), None]:
        end = len(sentence) if cut is None else cut.start()
        words = len(_WORD.findall(sentence, start, end))
        if words:
            if pieces and (words < MIN_WORDS or pieces[-1][2] < MIN_WORDS):
                pieces[-1][1] = end
                pieces[-1][2] += words
            else:
                pieces.append([start, end, words])
        start = end if cut is None else cut.end()
    if len(pieces) > 1 and pieces[-1][2] < MIN_WORDS:
        last = pieces.pop()
        pieces[-1][1] = last[1]
    if len(pieces) > MAX_CLAUSES:
        pieces[MAX_CLAUSES - 1][1] = pieces[-1][1]
        del pieces[MAX_CLAUSES:]
    if len(pieces) < 2:
        return []
    return [_trim(sentence, s, e) for s, e, _ in pieces]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _EDGE:
        start += 1
    while end > start and text[end - 1] in _EDGE:
        end -= 1
    return start, end
