"""What a question says, apart from how it was typed: normalisation and short follow-ups.

People wrap the same question in courtesy ("thanks!", "please"), number it ("(1)", "2.", "Q:"),
quote it, double its punctuation or drop its question mark. None of that changes what is asked,
so none of it may change which sentences answer or whether anything does. The ranker and the
abstention model were fitted on plain questions ending in one question mark; this module brings
every question to that form before retrieval and ranking.
"""

from __future__ import annotations

import re

from index.stopwords import STOP_WORDS

# Courtesy that can open or close a question; longest first so "thank you very much" wins over
# "thank you". Words only: what is around them (commas, "!", ".") is stripped with them.
_COURTESY = (
    "thank you very much",
    "thank you so much",
    "thanks a lot",
    "thanks so much",
    "many thanks",
    "thanks in advance",
    "thank you",
    "thank u",
    "thanks",
    "thx",
    "ty",
    "cheers",
    "please",
    "pls",
    "plz",
    "kindly",
)
_GREETING = ("hello", "hi", "hey", "ok", "okay")
_WORDS = r"(?:" + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in _COURTESY) + r")"
_GREET = r"(?:" + "|".join(re.escape(c).replace(r"\ ", r"\s+") for c in _GREETING) + r")"
# After the question, courtesy follows a mark ("...meet? Thanks!", "...meet, thank you");
# only "please" also comes straight after its words ("...meet please?"), while "who said
# thanks?" asks about thanks.
_TRAILING_COURTESY = re.compile(
    rf"(?:[\s]*[,;:.!?-]+\s*{_WORDS}|\s+(?:please|pls|plz))\b[\s,;:.!?)(-]*$", re.IGNORECASE
)
_LEADING_COURTESY = re.compile(rf"^(?:{_WORDS}|{_GREET})\b[\s,;:.!-]+", re.IGNORECASE)
# Numbering: "(1)", "[2]", "1.", "2)", "#3", "Q:", "Q1:", "Question 4:", bullets.
_LEADING_NUMBER = re.compile(
    r"^(?:\(\s*\d+\s*\)|\[\s*\d+\s*\]|#?\d+\s*[.):]|q(?:uestion)?\s*\d*\s*[:.)-]|[-*•·–—>]+)\s*",
    re.IGNORECASE,
)
_TRAILING_NUMBER = re.compile(r"\s*(?:\(\s*\d+\s*\)|\[\s*\d+\s*\]|#\d+)\s*$")
_QUOTES = "\"'“”‘’«»„‚`"
_END = re.compile(r"[\s?!.…,;:]+$")
_TOKEN = re.compile(r"\w+", re.UNICODE)

# A follow-up of at most this many content words leans on the question before it ("when?",
# "and who?", "who said that?", "how many?").
FOLLOW_UP_CONTENT_WORDS = 1
FOLLOW_UP_WORDS = 4


def normalise(question: str) -> str:
    """The question without courtesy, numbering, surrounding quotes or repeated punctuation,
    beginning with a capital and ending in one question mark. Its words (and the case of all
    but the first letter) are kept."""
    text = " ".join(question.split())
    previous = None
    while text != previous:
        previous = text
        text = text.strip().strip(_QUOTES).strip()
        text = _LEADING_NUMBER.sub("", text)
        text = _TRAILING_NUMBER.sub("", text)
        stripped = _TRAILING_COURTESY.sub("", text)
        text = stripped if _TOKEN.search(stripped) else text
        stripped = _LEADING_COURTESY.sub("", text)
        text = stripped if _TOKEN.search(stripped) else text
        text = _END.sub("", text)
    if not _TOKEN.search(text):
        # nothing but courtesy or punctuation: keep what was typed rather than nothing
        return " ".join(question.split())
    # Questions begin with a capital; the first word's case says nothing (the model is uncased
    # and the ranker reads names only after the first word).
    return text[:1].upper() + text[1:] + "?"


def content_words(question: str) -> list[str]:
    """The question's words that are not function words."""
    return [t for t in _TOKEN.findall(question.lower()) if t not in STOP_WORDS]


def is_short_follow_up(question: str) -> bool:
    """Whether a question is too short to stand alone: it needs the one asked before it."""
    words = _TOKEN.findall(question)
    return len(words) <= FOLLOW_UP_WORDS and len(content_words(question)) <= FOLLOW_UP_CONTENT_WORDS
