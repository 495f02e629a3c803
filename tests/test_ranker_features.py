"""What the ranker reads in a sentence for a question's expected answer type."""

from __future__ import annotations

import pytest

from qa.ranker import Candidate, Ranker, feature_names


def _time_features(question: str, sentence: str) -> tuple[float, float]:
    ranker = Ranker({"models": {}})
    candidate = Candidate(
        text=sentence, doc_id="a", position=0, n_sentences=1, dense=0, dense_raw=0
    )
    row = ranker.features(question, [candidate], "article")[0]
    names = feature_names("article")
    return row[names.index("when_x_time")], row[names.index("when_x_none")]


@pytest.mark.parametrize(
    "sentence",
    [
        "A meeting of their advisors will take place next week.",
        "The talks resume on Thursday.",
        "The ministers met two days ago in private.",
        "Polls open at 7 a.m. across the country.",
        "The ceasefire could be signed later this month.",
        "The vote is expected within three weeks.",
        "Hungary leaves the court on June 2, 2026.",
    ],
)
def test_a_time_told_as_news_tells_it_answers_a_when_question(sentence: str) -> None:
    assert _time_features("When will they meet?", sentence) == (1.0, 0.0)


@pytest.mark.parametrize(
    "sentence",
    [
        "Then the two presidents will meet in Budapest.",
        "The Kremlin described the call as extremely frank.",
        "The week was a weak one for the markets.",
    ],
)
def test_a_sentence_without_a_time_does_not(sentence: str) -> None:
    when_x_time, _ = _time_features("When will they meet?", sentence)
    assert when_x_time == 0.0
