"""A long sentence's clauses: each says one thing, and is matched on its own."""

from __future__ import annotations

from index.clauses import MIN_WORDS, clauses

BUDAPEST = (
    '"Then President Putin and I will meet at a previously agreed upon location, Budapest, '
    'Hungary, to see if we can bring this "inglorious" war between Russia and Ukraine to an '
    'end," the US president added.'
)


def texts(sentence: str) -> list[str]:
    return [sentence[start:end] for start, end in clauses(sentence)]


def test_a_place_in_apposition_stays_with_its_clause() -> None:
    parts = texts(BUDAPEST)
    assert parts[0] == (
        "Then President Putin and I will meet at a previously agreed upon location, "
        "Budapest, Hungary"
    )
    assert len(parts) >= 2
    assert not any(part.startswith(("war", "Budapest")) for part in parts[:1])


def test_spans_index_the_sentence_and_drop_surrounding_quotes() -> None:
    for start, end in clauses(BUDAPEST):
        part = BUDAPEST[start:end]
        assert part == part.strip(" \"',.")
        assert len(part.split()) >= MIN_WORDS


def test_a_sentence_saying_one_thing_has_no_clauses() -> None:
    assert clauses("The ministers will meet in Vienna on Monday.") == []
    assert clauses('He said, "We have decided that our advisers will meet next week."') == []


def test_quoted_words_are_not_clause_breaks() -> None:
    sentence = (
        "As Russia steps up strikes in Ukraine, causing power cuts, the Tomahawk will be the "
        '"main topic" of the meeting with Donald Trump on Friday, an official told AFP.'
    )
    assert texts(sentence) == [
        "As Russia steps up strikes in Ukraine, causing power cuts",
        'the Tomahawk will be the "main topic" of the meeting with Donald Trump on Friday, '
        "an official told AFP",
    ]
