"""What a user asking the bundled samples sees, with the real model."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.models import AnswerSet
from qa.service import MORE_MIN_PROBABILITY, QAService

pytestmark = pytest.mark.model

CHROME = {"AFP", "Commentaires (0)", "Participer à la Discussion"}


def test_where_will_they_meet_names_budapest_first(samples_service: QAService) -> None:
    answer = samples_service.ask("where will they meet?")
    assert not answer.abstained
    top = answer.answers[0]
    assert "Budapest" in top.sentence
    assert "meet" in top.sentence
    assert top.title == "Trump et Poutine vont se voir à Budapest"


def test_drones_question_gives_the_320_drones_sentence(samples_service: QAService) -> None:
    answer = samples_service.ask("How many drones did Russia launch?")
    assert answer.answers[0].sentence.startswith("Russia launched a series of 320 drones")


def test_icc_withdrawal_question_gives_the_june_2_sentence(samples_service: QAService) -> None:
    answer = samples_service.ask("When does Hungary's withdrawal from the ICC take effect?")
    assert "June 2, 2026" in answer.answers[0].sentence


def test_quotes_are_exact_and_carry_their_context(samples_service: QAService) -> None:
    answer = samples_service.ask("How many drones did Russia launch?", k=3)
    for quoted in answer.answers:
        article, _ = samples_service.article(quoted.article_id)
        assert quoted.start is not None and quoted.end is not None
        assert article.text[quoted.start : quoted.end] == quoted.sentence
    top = answer.answers[0]
    assert top.context.before is not None and "terror" in top.context.before
    assert top.context.after == "The American president left doubts about his intentions."


@pytest.mark.parametrize(
    "question",
    [
        "AFP",
        "Who wrote this article?",
        "Which news agency reported this?",
        "How many comments are there?",
        "Commentaires",
        "Participer à la Discussion",
        "Where can I join the discussion?",
    ],
)
def test_site_chrome_is_never_an_answer(samples_service: QAService, question: str) -> None:
    answer = samples_service.ask(question, k=20, include_closest=True)
    assert answer.answers, "closest sentences were asked for"
    assert not {a.sentence for a in answer.answers} & CHROME


def test_unrelated_question_is_abstained_on(samples_service: QAService) -> None:
    answer = samples_service.ask("What is the boiling point of liquid nitrogen?")
    assert answer.abstained
    assert answer.answers == []
    closest = samples_service.ask(
        "What is the boiling point of liquid nitrogen?", include_closest=True
    )
    assert closest.abstained and closest.answers


def test_follow_up_uses_the_conversation(samples_service: QAService) -> None:
    first = samples_service.ask("What did Trump and Putin agree on?", start_conversation=True)
    assert first.conversation_id
    follow_up = samples_service.ask("where will they meet?", conversation_id=first.conversation_id)
    assert "Budapest" in follow_up.answers[0].sentence
    more = samples_service.more(first.conversation_id, k=2)
    assert more.answers
    shown = {a.sentence for a in follow_up.answers}
    assert not shown & {a.sentence for a in more.answers}, "more gives the next answers"
    scores = [a.score for a in follow_up.answers + more.answers]
    assert scores == sorted(scores, reverse=True), "more continues the ranking, with its scores"
    assert more.answers[0].score > 0


def test_article_filter_keeps_to_one_article(samples_service: QAService) -> None:
    answer = samples_service.ask(
        "Who is running for prime minister?", k=5, article_id="cnn-3ctoc39k37qi"
    )
    assert answer.answers
    assert {a.article_id for a in answer.answers} == {"cnn-3ctoc39k37qi"}


SUMMITS = Path(__file__).resolve().parent / "data" / "summits.jsonl"


def test_follow_up_across_a_corpus_of_summits_stays_with_the_conversation(
    samples_service: QAService,
) -> None:
    outcome = samples_service.ingest_paths([SUMMITS])
    assert not outcome.skipped and len(outcome.report.added) == 4
    first = samples_service.ask("What did Trump and Putin agree on?", start_conversation=True)
    assert first.answers[0].title == "Trump et Poutine vont se voir à Budapest"
    follow_up = samples_service.ask("where will they meet?", conversation_id=first.conversation_id)
    assert follow_up.answers[0].title == "Trump et Poutine vont se voir à Budapest"
    assert any("Budapest, Hungary" in answer.sentence for answer in follow_up.answers)


SUMMIT = "Trump et Poutine vont se voir à Budapest"


def _top(answer_set: AnswerSet) -> tuple[bool, str | None]:
    return answer_set.abstained, answer_set.answers[0].sentence if answer_set.answers else None


@pytest.mark.parametrize(
    "typed",
    [
        "Where will they meet? Thanks!",
        "where will they meet? (1)",
        "WHERE WILL THEY MEET",
        "Q: where will they meet??",
        "Please, where will they meet",
    ],
)
def test_how_a_question_is_typed_changes_neither_answer_nor_decision(
    samples_service: QAService, typed: str
) -> None:
    plain = samples_service.ask("where will they meet?")
    answer = samples_service.ask(typed)
    assert _top(answer) == _top(plain)
    assert not answer.abstained and "Budapest" in answer.answers[0].sentence
    assert answer.question == " ".join(typed.split()), "the user's own words are echoed"


def _summit_id(service: QAService) -> str:
    return service.ask("where will they meet?").answers[0].article_id


def test_article_scope_abstains_when_the_article_does_not_answer(
    samples_service: QAService,
) -> None:
    summit = _summit_id(samples_service)
    cake = samples_service.ask("what is the recipe for chocolate cake?", article_id=summit)
    assert cake.abstained and cake.answers == []
    closest = samples_service.ask(
        "what is the recipe for chocolate cake?", article_id=summit, include_closest=True
    )
    assert closest.abstained and closest.answers
    orban = samples_service.ask("Who is the prime minister of Hungary?", article_id=summit)
    assert not orban.abstained and "Orban" in orban.answers[0].sentence


def test_a_focused_conversation_abstains_on_what_its_article_does_not_answer(
    samples_service: QAService,
) -> None:
    first = samples_service.ask("where will they meet?", start_conversation=True)
    assert first.conversation_id
    samples_service.focus(first.conversation_id, first.answers[0].article_id)
    cake = samples_service.ask(
        "what is the recipe for chocolate cake?", conversation_id=first.conversation_id
    )
    assert cake.abstained and cake.answers == []


@pytest.mark.parametrize("follow_up", ["when?", "and when?", "how many?", "who said that?"])
def test_a_follow_up_of_a_few_words_is_answered_from_the_article_in_focus(
    samples_service: QAService, follow_up: str
) -> None:
    first = samples_service.ask("where will they meet?", start_conversation=True)
    assert first.answers[0].title == SUMMIT
    answer = samples_service.ask(follow_up, conversation_id=first.conversation_id)
    assert not answer.abstained
    assert {a.title for a in answer.answers} == {SUMMIT}


@pytest.mark.xfail(
    strict=True,
    reason="the ranker refitted through the engine (seed 0) puts the ICC sentence (June 2, 2026) "
    "first, at probability 0.014 against 0.010 for the 'next week' one; the harness's ranker "
    "(0.018 against 0.004), the same fit with batched questions and the seed-1 fit put 'next "
    "week' first: an order among near-ties that moves with the fit (issue 15, item 3)",
)
def test_when_after_where_will_they_meet_names_a_time(samples_service: QAService) -> None:
    first = samples_service.ask("where will they meet?", start_conversation=True)
    answer = samples_service.ask("when?", conversation_id=first.conversation_id)
    assert "next week" in answer.answers[0].sentence


def test_a_short_question_about_something_else_leaves_the_article(
    samples_service: QAService,
) -> None:
    first = samples_service.ask("where will they meet?", start_conversation=True)
    answer = samples_service.ask("who is Saakashvili?", conversation_id=first.conversation_id)
    assert not answer.abstained
    assert "Saakashvili" in answer.answers[0].sentence


def test_more_after_an_abstention_abstains_too(samples_service: QAService) -> None:
    first = samples_service.ask(
        "What is the boiling point of liquid nitrogen?", start_conversation=True
    )
    assert first.abstained and first.conversation_id
    more = samples_service.more(first.conversation_id)
    assert more.abstained and more.answers == []
    closest = samples_service.more(first.conversation_id, include_closest=True)
    assert closest.abstained and closest.answers


def test_more_stops_where_the_answers_stop(samples_service: QAService) -> None:
    first = samples_service.ask("How many drones did Russia launch?", start_conversation=True)
    assert first.conversation_id and not first.abstained
    shown = []
    for _ in range(10):
        more = samples_service.more(first.conversation_id)
        if more.abstained:
            break
        shown += [a.score for a in more.answers]
    assert more.abstained and more.answers == [], "the ranking runs out of answers"
    assert all(score >= MORE_MIN_PROBABILITY for score in shown)


# A conversation that walks through one story, as in CoQA: every question has its answer there.
MOORE_CONVERSATION = [
    ("Who was freed?", "Michael Scott Moore"),
    ("by whom was he held?", "pirates"),
    ("for how long?", "two years"),
    ("who is his mother?", "Marlis Saunders"),
    ("where does she live?", "Redondo Beach"),
    ("who negotiated his release?", "elders"),
    ("where did he board a plane?", "Galkayo"),
    ("what did he write about?", "Somalia"),
]


def test_a_conversation_over_one_story_answers_what_the_story_answers(
    samples_service: QAService,
) -> None:
    answered = [
        samples_service.ask(question, article_id="cnn-33isqzvxppm1", conversation_id="moore")
        for question, _ in MOORE_CONVERSATION
    ]
    abstained = [q for (q, _), a in zip(MOORE_CONVERSATION, answered, strict=True) if a.abstained]
    assert abstained == []
    right = [
        expected in a.answers[0].sentence
        for (_, expected), a in zip(MOORE_CONVERSATION, answered, strict=True)
    ]
    assert sum(right) >= 6, right
