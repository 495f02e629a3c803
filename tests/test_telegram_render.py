"""Telegram HTML rendering and splitting: pure functions, checked by parsing what they produce."""

from __future__ import annotations

import pytest

from bots.telegram import render
from index.store import ArticleInfo, Sentence
from qa.models import Answer, AnswerSet
from tests.telegram_fakes import check_telegram_html, visible_text

NASTY = 'Tom & Jerry <b>bold</b> <script>alert("x")</script> a < b > c &amp;'


def _answer(sentence: str, **fields: object) -> Answer:
    values: dict[str, object] = {
        "article_id": "a1",
        "title": NASTY,
        "url": "https://example.com/story?a=1&b=<2>",
        "published": "2025-10-16",
        "sentence": sentence,
        "start": 0,
        "end": len(sentence),
        "score": 0.5,
    }
    values.update(fields)
    return Answer.model_validate(values)


def test_every_piece_is_escaped() -> None:
    messages = render.render_answers(AnswerSet(question="q", answers=[_answer(NASTY)]))
    assert messages == [
        '<a href="https://example.com/story?a=1&amp;b=&lt;2&gt;">'
        'Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert("x")&lt;/script&gt; '
        "a &lt; b &gt; c &amp;amp;</a> · 2025-10-16\n"
        "<blockquote><b>1.</b> Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; "
        '&lt;script&gt;alert("x")&lt;/script&gt; a &lt; b &gt; c &amp;amp;</blockquote>'
    ]
    check_telegram_html(messages[0])
    assert NASTY in visible_text(messages[0])


@pytest.mark.parametrize("url", [None, "javascript:alert(1)", "ftp://x.org/a", "not a url"])
def test_only_web_addresses_become_links(url: str | None) -> None:
    [message] = render.render_answers(AnswerSet(question="q", answers=[_answer("S.", url=url)]))
    assert "<a " not in message
    assert message.startswith("<b>Tom &amp; Jerry")
    check_telegram_html(message)


def test_abstention_and_exhausted_answers_say_so() -> None:
    [nothing] = render.render_answers(AnswerSet(question="q", abstained=True))
    assert "found nothing" in nothing
    [no_more] = render.render_answers(AnswerSet(question="q"))
    assert "No more answers" in no_more


def test_many_answers_split_between_blocks_never_inside_one() -> None:
    sentences = [f"Sentence {i} & <{i}> " + "word " * 300 for i in range(6)]
    answer_set = AnswerSet(question="q", answers=[_answer(s) for s in sentences])
    messages = render.render_answers(answer_set)
    assert len(messages) >= 2
    for message in messages:
        check_telegram_html(message)
    # each answer arrives whole, in order, numbered on
    seen = "\n".join(visible_text(m) for m in messages)
    for i, sentence in enumerate(sentences):
        assert " ".join(sentence.split()) in seen
        assert f"{i + 1}. " in seen
    assert sum(m.count("<blockquote>") for m in messages) == 6


def test_one_enormous_sentence_is_cut_with_its_markup_reopened() -> None:
    sentence = "Ünïcode & <tags> 😀 " * 700  # about 14,000 characters, astral emoji included
    messages = render.render_answers(AnswerSet(question="q", answers=[_answer(sentence)]))
    assert len(messages) >= 4
    for message in messages:
        check_telegram_html(message)
        assert render.utf16_len(message) <= render.MAX_MESSAGE
    assert messages[1].startswith("<blockquote>")
    assert "<b>1.</b>" in messages[0]
    joined = "".join(visible_text(m) for m in messages)
    assert " ".join(sentence.split()) in " ".join(joined.split())


def test_split_html_keeps_entities_whole_and_nesting_right() -> None:
    html = "<b>" + "&amp;" * 50 + "<i>" + "x &lt; y " * 40 + "</i></b>"
    pieces = render.split_html(html, limit=60)
    assert len(pieces) > 5
    for piece in pieces:
        check_telegram_html(piece, limit=60)
    assert "".join(visible_text(p) for p in pieces) == visible_text(html)


def test_split_blocks_packs_small_blocks_together() -> None:
    assert render.split_blocks(["a", "b", "c"], limit=4) == ["a\n\nb", "c"]


def test_context_puts_the_sentence_between_its_neighbours() -> None:
    sentence = Sentence(
        id=7,
        article_id="a1",
        position=3,
        start=10,
        end=20,
        text="Middle <one> & only.",
        title="Title & co",
        source="AFP",
        url=None,
        published="2025-10-16",
        before="Before.",
        after="After.",
        before_id=6,
        after_id=8,
        article_sentences=9,
    )
    [message] = render.render_context(sentence)
    assert message == (
        "<b>Title &amp; co</b> · AFP · 2025-10-16\n\n<blockquote><i>Before.</i>\n"
        "<b>Middle &lt;one&gt; &amp; only.</b>\n<i>After.</i></blockquote>"
    )
    check_telegram_html(message)


def test_sources_lists_articles() -> None:
    info = ArticleInfo("a1", "A <title>", "AFP", "https://x.org/1", "2025-10-16", 0.0, 12)
    [message] = render.render_sources([info], total=7)
    assert message == (
        "<b>7 articles</b>, the most recent:\n"
        '• <a href="https://x.org/1">A &lt;title&gt;</a> · AFP · 2025-10-16'
    )
    check_telegram_html(message)


def test_quotes_from_one_article_share_one_title_and_keep_their_numbers() -> None:
    answers = [
        _answer("First from A.", title="Story A", source="AFP", url=None),
        _answer("Only from B.", article_id="b", title="Story B", source="CNN", url=None),
        _answer("Second from A.", title="Story A", source="AFP", url=None),
    ]
    [message] = render.render_answers(AnswerSet(question="q", answers=answers))
    assert message == (
        "<b>Story A</b> · AFP · 2025-10-16\n"
        "<blockquote><b>1.</b> First from A.</blockquote>\n"
        "<blockquote><b>3.</b> Second from A.</blockquote>\n\n"
        "<b>Story B</b> · CNN · 2025-10-16\n"
        "<blockquote><b>2.</b> Only from B.</blockquote>"
    )
    assert message.count("Story A") == 1
    check_telegram_html(message)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("AFP", "AFP"),
        ("budapest-summit.txt", None),
        ("samples/articles/cnn-stories.jsonl", None),
        ("notes.MD", None),
        ("  ", None),
        (None, None),
        ("Le Monde", "Le Monde"),
    ],
)
def test_the_source_is_a_name_never_a_file_name(source: str | None, shown: str | None) -> None:
    assert render.source_name(source) == shown
    [message] = render.render_answers(
        AnswerSet(question="q", answers=[_answer("S.", title="T", url=None, source=source)])
    )
    head = message.split("\n")[0]
    assert head == " · ".join(part for part in ("<b>T</b>", shown, "2025-10-16") if part)
