"""Sentence splitting keeps exact spans and copes with news text."""

from __future__ import annotations

import json
from pathlib import Path

from index.splitter import split_sentences, trailing_chrome

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "articles" / "budapest-summit.jsonl"


def texts(text: str) -> list[str]:
    return [span.text for span in split_sentences(text)]


def test_spans_index_the_text_exactly() -> None:
    text = "  First one. Second one!\n\nThird, after a blank line?  \n"
    for span in split_sentences(text):
        assert text[span.start : span.end] == span.text
        assert span.text == span.text.strip()
    assert texts(text) == ["First one.", "Second one!", "Third, after a blank line?"]


def test_abbreviations_and_numbers_do_not_split() -> None:
    text = "The U.S. Army paid $3.5 million on Jan. 5. It was 5 p.m. Monday when it hit."
    assert texts(text) == [
        "The U.S. Army paid $3.5 million on Jan. 5.",
        "It was 5 p.m. Monday when it hit.",
    ]


def test_quotes_stay_with_their_sentence() -> None:
    text = '"We are ready!" commented the prime minister on Thursday. "Go!" he said.'
    assert texts(text) == [
        '"We are ready!" commented the prime minister on Thursday.',
        '"Go!" he said.',
    ]


def test_a_quote_running_across_sentences_splits_at_its_full_stops() -> None:
    text = '"We have decided. The meetings will be led by Rubio" at a place, he wrote.'
    assert texts(text) == [
        '"We have decided.',
        'The meetings will be led by Rubio" at a place, he wrote.',
    ]


def test_line_breaks_are_hard_boundaries() -> None:
    assert texts("A headline without a full stop\nThe body starts here.") == [
        "A headline without a full stop",
        "The body starts here.",
    ]


def test_stray_closing_quote_joins_the_sentence_before() -> None:
    assert texts("He said it was over . ''") == ["He said it was over . ''"]


def test_trailing_site_chrome_is_detected_and_prose_is_not() -> None:
    text = json.loads(SAMPLE.read_text(encoding="utf-8"))["text"]
    spans = split_sentences(text)
    chrome = [spans[i].text for i in sorted(trailing_chrome(text, spans))]
    assert chrome == ["AFP", "Commentaires (0)", "Participer à la Discussion"]


def test_short_prose_at_the_end_is_not_chrome() -> None:
    text = "The summit ended.\nBoth sides said they were satisfied."
    assert trailing_chrome(text, split_sentences(text)) == set()
