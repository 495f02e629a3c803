"""How a question was typed is set apart from what it asks."""

from __future__ import annotations

import pytest

from qa.question import is_short_follow_up, normalise


@pytest.mark.parametrize(
    "typed",
    [
        "where will they meet?",
        "Where will they meet? Thanks!",
        "where will they meet? (1)",
        "where will they meet",
        "where will they meet??",
        "where will they meet?!",
        '"where will they meet?"',
        "“where will they meet?”",
        "Q: where will they meet?",
        "Q1. where will they meet?",
        "1. where will they meet?",
        "2) where will they meet?",
        "- where will they meet?",
        "Please, where will they meet?",
        "where will they meet please?",
        "Hi, where will they meet? Thank you very much.",
        "  where   will they meet ?  thx ",
    ],
)
def test_courtesy_numbering_quotes_and_punctuation_are_set_apart(typed: str) -> None:
    assert normalise(typed).lower() == "where will they meet?"


def test_the_question_keeps_its_own_words_and_their_case() -> None:
    assert normalise("Who thanked Orban in Budapest?") == "Who thanked Orban in Budapest?"
    assert normalise("How many people said thanks?") == "How many people said thanks?"
    assert normalise("What did the 1990s bring") == "What did the 1990s bring?"


def test_courtesy_alone_is_kept_rather_than_emptied() -> None:
    assert normalise("Thanks!") == "Thanks?"
    assert normalise("???") == "???"
    assert normalise("So many people?") == "So many people?"


@pytest.mark.parametrize(
    "question", ["when?", "and when?", "who said that?", "why?", "how many?", "and who?"]
)
def test_a_few_words_are_a_follow_up(question: str) -> None:
    assert is_short_follow_up(normalise(question))


@pytest.mark.parametrize(
    "question",
    [
        "When does Hungary's withdrawal from the ICC take effect?",
        "How many drones did Russia launch?",
        "Who is running for prime minister?",
    ],
)
def test_a_question_that_stands_alone_is_no_follow_up(question: str) -> None:
    assert not is_short_follow_up(normalise(question))
