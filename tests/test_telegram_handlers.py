"""The bot's handlers, driven through the real Application with a Bot API that stays in-process.

Every test asserts the Bot API calls a user would notice: the exact sendMessage payloads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bots.settings import Settings
from bots.telegram import handlers
from bots.telegram.app import COMMANDS, BotApplication, build_application
from bots.telegram.ratelimit import RateLimiter
from index.articles import Article
from index.errors import ArticleNotFoundError, IndexBusyError, IndexCorruptError
from index.store import NewsIndex
from qa.conversations import Owner
from qa.errors import InvalidQuestionError
from qa.service import QAService
from tests.fakes import FakeEncoder
from tests.telegram_fakes import (
    BOT_USER,
    FakeBotAPI,
    bot_service,
    callback_update,
    check_telegram_html,
    message_update,
    visible_text,
)

HTML = "HTML"
NO_PREVIEW = {"is_disabled": True}
ADMIN = 777
QUESTION = "Where will the <b>summit</b> & <script> take place?"
# Both summit sentences name Budapest, so this question has a second answer for /more to show,
# not one that happens to clear the "more" floor with one fitted artifact: both score well
# above it (0.6-0.7) with every artifact fitted so far.
TWO_ANSWERS = "Where in Budapest?"


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    """A small index with the fake encoder: answers here are about plumbing, not meaning."""
    return bot_service(tmp_path / "bot-data", fake_encoder)


Factory = Callable[..., tuple[FakeBotAPI, BotApplication]]


@pytest.fixture
def make_bot(service: QAService) -> Factory:
    def make(
        limiter: RateLimiter | None = None, svc: QAService | None = None, **fields: Any
    ) -> tuple[FakeBotAPI, BotApplication]:
        values: dict[str, Any] = {
            "telegram_bot_token": "123:ABC",
            "telegram_admins": str(ADMIN),
            "telegram_answers": 1,
        }
        values.update(fields)
        api = FakeBotAPI()
        app = build_application(
            Settings.model_validate(values),
            svc or service,
            request=api,
            get_updates_request=FakeBotAPI(),
            limiter=limiter,
        )
        return api, app

    return make


def drive(app: BotApplication, *updates: dict[str, Any]) -> None:
    """Initialise the application (getMe) and hand it updates one after another."""

    async def scenario() -> None:
        async with app:
            for data in updates:
                await app.process_update(Update.de_json(data, app.bot))

    asyncio.run(scenario())


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def sentence_id(service: QAService, article_id: str, position: int) -> int:
    _, sentences = service.article(article_id)
    return sentences[position].id


def message(
    text: str, chat_id: int = 501, buttons: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The sendMessage payload the bot is expected to make."""
    payload: dict[str, Any] = {
        "chat_id": chat_id,
        "text": text,
        "parse_mode": HTML,
        "link_preview_options": NO_PREVIEW,
    }
    if buttons:
        payload["reply_markup"] = {
            "inline_keyboard": [[{"text": t, "callback_data": d} for t, d in buttons]]
        }
    return payload


SUMMIT_HEAD = (
    '<a href="https://example.com/summit?id=1&amp;lang=en">'
    "Tom &amp; Jerry &lt;b&gt;summit&lt;/b&gt;</a> · 2025-10-16"
)

# Answers name the source too (a publisher's name; never a file name).
ANSWER_HEAD = SUMMIT_HEAD.replace(" · 2025-10-16", " · AFP · 2025-10-16")


# ---- asking -----------------------------------------------------------------------------


def test_a_question_with_markup_in_it_is_answered_with_valid_html(
    make_bot: Factory, service: QAService
) -> None:
    api, app = make_bot()
    drive(app, message_update(QUESTION))
    sid = sentence_id(service, "summit", 1)
    assert api.sent() == [
        message(
            f"{ANSWER_HEAD}\n<blockquote><b>1.</b> The summit &lt;b&gt;will&lt;/b&gt; take place "
            "in Budapest &amp; Vienna, said &lt;script&gt;officials&lt;/script&gt;.</blockquote>",
            buttons=[("Context 1", f"ctx:{sid}")],
        )
    ]
    check_telegram_html(api.sent()[0]["text"])
    assert api.methods() == ["getMe", "sendChatAction", "sendMessage"]
    # the engine recorded the question in this chat's conversation
    turns = service.conversation("telegram-501", owner=Owner.TELEGRAM).turns
    assert [t.question for t in turns] == [" ".join(QUESTION.split())]


def test_a_reply_over_4096_characters_arrives_as_several_valid_messages(
    make_bot: Factory, tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    long_sentences = [
        f"Budapest summit sentence {i} & <more> " + "details of the meeting " * 80 + "end."
        for i in range(4)
    ]
    service = QAService(NewsIndex(tmp_path / "long", fake_encoder))
    service.ingest(
        [
            Article(
                id="long", title="Long & <wide>", text=" ".join(long_sentences), url="https://x.org"
            )
        ]
    )
    api, app = make_bot(svc=service, telegram_answers=4)
    drive(app, message_update("budapest summit meeting details?"))
    sent = api.sent()
    assert len(sent) >= 2
    assert sum(len(m["text"]) for m in sent) > 4096
    for payload in sent:
        check_telegram_html(payload["text"])
        assert payload["chat_id"] == 501 and payload["parse_mode"] == HTML
    # the buttons come once, under the last message; every sentence arrives whole
    assert ["reply_markup" in m for m in sent] == [False] * (len(sent) - 1) + [True]
    buttons = sent[-1]["reply_markup"]["inline_keyboard"][0]
    assert [b["text"] for b in buttons] == ["Context 1", "Context 2", "Context 3", "Context 4"]
    shown = "".join(visible_text(m["text"]) for m in sent)
    for sentence in long_sentences:
        assert " ".join(sentence.split()) in shown


def test_nothing_relevant_gets_an_abstention(make_bot: Factory) -> None:
    api, app = make_bot()
    drive(app, message_update("xylophone quantum zebra?"))
    [sent] = api.sent()
    assert sent == message(
        "I found nothing in the articles I know that answers that. "
        "Try other words, or see /sources for what I know."
    )


def test_a_too_long_question_is_refused_politely(make_bot: Factory) -> None:
    api, app = make_bot()
    drive(app, message_update("why " * 200))
    assert api.sent() == [message("The question is 799 characters long; the limit is 500.")]


# ---- conversation commands ---------------------------------------------------------------


def test_more_context_article_and_reset(make_bot: Factory, service: QAService) -> None:
    api, app = make_bot()
    drive(
        app,
        message_update(TWO_ANSWERS),
        message_update("/more"),
        message_update("/context 2"),
        message_update("/article"),
        message_update("/reset"),
        message_update("/more"),
    )
    first, more, context, article, reset, nothing = api.sent()
    assert first["text"].startswith(f"{ANSWER_HEAD}\n<blockquote><b>1.</b>")
    assert more["text"].startswith(f"{ANSWER_HEAD}\n<blockquote><b>2.</b> ")
    assert more["reply_markup"]["inline_keyboard"][0][0]["text"] == "Context 2"
    # /context 2 shows the second answer between its neighbours
    second = int(more["reply_markup"]["inline_keyboard"][0][0]["callback_data"][4:])
    sentence = service.context(second)
    assert f"<b>{handlers.render.text(sentence.text)}</b>" in context["text"]
    check_telegram_html(context["text"])
    assert article == message(
        f"From now on I answer from {SUMMIT_HEAD} only. /article off to ask about all articles."
    )
    assert reset == message("Forgotten. Ask me something new.")
    assert nothing == message("Ask me a question first.")
    assert service.conversation("telegram-501", owner=Owner.TELEGRAM).turns == []


def test_article_focus_keeps_answers_in_one_article_until_off(
    make_bot: Factory, service: QAService
) -> None:
    api, app = make_bot()
    drive(
        app,
        message_update("heavy rain in Paris?"),
        message_update("/article"),
        message_update("who will meet in Budapest?"),
        message_update("/article off"),
        message_update("who will meet in Budapest?"),
    )
    rain, focused, inside, off, outside = api.sent()
    assert "Heavy rain fell on Paris" in rain["text"]
    assert focused["text"].startswith("From now on I answer from <b>Weather report</b> only.")
    # the weather report does not say who meets in Budapest: the bot says so, quoting nothing
    assert inside["text"].startswith("I found nothing") and "Budapest" not in inside["text"]
    assert off == message("I answer from all articles again.")
    assert "Budapest" in outside["text"]


def test_the_context_button_answers_the_press_and_shows_neighbours(
    make_bot: Factory, service: QAService
) -> None:
    api, app = make_bot()
    sid = sentence_id(service, "summit", 1)
    drive(app, callback_update(f"ctx:{sid}"))
    assert api.methods() == ["getMe", "answerCallbackQuery", "sendMessage"]
    assert api.sent() == [
        message(
            '<a href="https://example.com/summit?id=1&amp;lang=en">'
            "Tom &amp; Jerry &lt;b&gt;summit&lt;/b&gt;</a> · AFP · 2025-10-16\n\n"
            "<blockquote><i>Putin and Trump will meet in Budapest next month.</i>\n"
            "<b>The summit &lt;b&gt;will&lt;/b&gt; take place in Budapest &amp; Vienna, said "
            "&lt;script&gt;officials&lt;/script&gt;.</b>\n"
            "<i>Orban said Hungary is ready to host the leaders.</i></blockquote>"
        )
    ]


def test_a_conversation_survives_a_restart(
    make_bot: Factory, tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    _, app = make_bot()
    drive(app, message_update(TWO_ANSWERS))
    # a new process: a new service over the same data directory, a new application
    reopened = QAService(NewsIndex(tmp_path / "bot-data", fake_encoder))
    api2, app2 = make_bot(svc=reopened)
    drive(app2, message_update("/more"))
    [more] = api2.sent()
    assert more["text"].startswith(f"{ANSWER_HEAD}\n<blockquote><b>2.</b> ")


def test_help_sources_unknown_commands_and_stickers(make_bot: Factory) -> None:
    api, app = make_bot()
    drive(
        app,
        message_update("/start"),
        message_update("/sources"),
        message_update("/frobnicate"),
        message_update(
            None,
            sticker={
                "file_id": "s1",
                "file_unique_id": "s1",
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
        ),
        message_update(
            None, photo=[{"file_id": "p1", "file_unique_id": "p1", "width": 9, "height": 9}]
        ),
    )
    help_, sources, unknown, sticker, photo = api.sent()
    assert "I know <b>2</b> articles (7 sentences)" in help_["text"]
    assert "You are an admin" not in help_["text"]
    check_telegram_html(help_["text"])
    assert sources == message(
        "<b>2 articles</b>, the most recent:\n"
        f"• {SUMMIT_HEAD.replace('</a> ·', '</a> · AFP ·')}\n"
        "• <b>Weather report</b>"
    )
    assert unknown == message("I don't know that command. See /help.")
    assert sticker == photo == message(handlers.HINT)


def test_commands_are_registered_at_start(make_bot: Factory) -> None:
    api, app = make_bot()

    async def scenario() -> None:
        async with app:
            assert app.post_init is not None
            await app.post_init(app)

    run(scenario())
    [(_, params)] = [c for c in api.calls if c[0] == "setMyCommands"]
    assert [c["command"] for c in params["commands"]] == [c.command for c in COMMANDS]
    assert [c.command for c in COMMANDS] == [
        "help",
        "more",
        "context",
        "article",
        "sources",
        "reset",
    ]


# ---- groups ------------------------------------------------------------------------------


def test_in_a_group_only_mentions_and_replies_are_answered(make_bot: Factory) -> None:
    api, app = make_bot()
    group = -100123
    username = BOT_USER["username"]
    mention = f"@{username} where will the summit take place?"
    drive(
        app,
        message_update(
            "where will the summit take place?", group, user_id=5, chat_type="supergroup"
        ),
        message_update(
            mention,
            group,
            user_id=5,
            chat_type="supergroup",
            entities=[{"type": "mention", "offset": 0, "length": len(username) + 1}],
        ),
        message_update(
            "and heavy rain in Paris?",
            group,
            user_id=6,
            chat_type="supergroup",
            reply_to_message={
                "message_id": 1000,
                "date": 0,
                "chat": {"id": group, "type": "supergroup", "title": "Newsroom"},
                "from": BOT_USER,
                "text": "an earlier answer",
            },
        ),
        message_update(
            None,
            group,
            user_id=5,
            chat_type="supergroup",
            photo=[{"file_id": "p1", "file_unique_id": "p1", "width": 9, "height": 9}],
        ),
    )
    mentioned, replied = api.sent()
    assert mentioned["chat_id"] == group and "Budapest" in mentioned["text"]
    assert mentioned["reply_parameters"]["message_id"] > 0  # quotes the question it answers
    assert "Heavy rain fell on Paris" in replied["text"]
    # both questions were turns of the group's one conversation
    assert len({m["chat_id"] for m in (mentioned, replied)}) == 1


# ---- admins --------------------------------------------------------------------------------


def _document(file_id: str, name: str, size: int = 100) -> dict[str, Any]:
    return {"file_id": file_id, "file_unique_id": file_id, "file_name": name, "file_size": size}


def test_a_non_admin_document_is_refused(make_bot: Factory, service: QAService) -> None:
    api, app = make_bot()
    drive(app, message_update(None, 501, user_id=501, document=_document("d1", "news.txt")))
    assert api.sent() == [message(handlers.NOT_ADMIN)]
    assert "getFile" not in api.methods()
    assert service.stats().articles == 2


def test_an_admin_adds_articles_by_document_and_by_add(
    make_bot: Factory, service: QAService
) -> None:
    api, app = make_bot()
    api.files["d1"] = b"Lunar <mission> news\nThe lunar rover found ice & rocks near the pole.\n"
    drive(
        app,
        message_update(None, ADMIN, document=_document("d1", "moon.txt")),
        message_update(None, ADMIN, document=_document("d2", "moon.pdf")),
        message_update("/add Ocean report\nThe ocean rover found whales near the reef.", ADMIN),
        message_update("/add", ADMIN),
        message_update("/add Sneaky\nText from a stranger.", 502),
        message_update("what did the lunar rover find?", ADMIN),
    )
    added, pdf, added2, usage, refused, answer = api.sent()
    assert added == message(
        "Added 1 article, replaced 0, 0 unchanged (1 sentence embedded).", ADMIN
    )
    assert pdf == message("I can read .txt, .md and .jsonl files. Send one of those.", ADMIN)
    assert added2 == added
    assert usage == message("Send /add, then a title line, then the article text below it.", ADMIN)
    assert refused == message(handlers.NOT_ADMIN, 502)
    assert "ice &amp; rocks" in answer["text"] and "Lunar &lt;mission&gt; news" in answer["text"]
    assert service.stats().articles == 4


def test_admin_jsonl_upload_reports_skipped_lines(make_bot: Factory) -> None:
    api, app = make_bot()
    api.files["j1"] = (
        b'{"title": "One", "text": "First story text."}\nnot json\n{"title": "", "text": "x"}\n'
    )
    drive(app, message_update(None, ADMIN, document=_document("j1", "feed.jsonl")))
    [report] = api.sent()
    assert report == message(
        "Added 1 article, replaced 0, 0 unchanged (1 sentence embedded).\nSkipped 2:\n"
        "• feed.jsonl:2: invalid JSON: Expecting value (column 1)\n"
        "• feed.jsonl:3: missing or empty 'title'",
        ADMIN,
    )
    check_telegram_html(report["text"])


# ---- good manners --------------------------------------------------------------------------


def test_the_rate_limit_trips_politely_once_then_recovers(make_bot: Factory) -> None:
    limiter = RateLimiter(limit=2, window=2.0)
    api, app = make_bot(limiter=limiter)

    async def scenario() -> None:
        async with app:
            for text in ("heavy rain?", "heavy rain?", "heavy rain?", "heavy rain?"):
                await app.process_update(Update.de_json(message_update(text), app.bot))
            # another chat is not affected
            await app.process_update(Update.de_json(message_update("heavy rain?", 502), app.bot))
            await asyncio.sleep(2.05)
            await app.process_update(Update.de_json(message_update("/reset"), app.bot))

    run(scenario())
    sent = api.sent()
    assert [m["chat_id"] for m in sent] == [501, 501, 501, 502, 501]
    assert sent[2] == message(
        "You are asking faster than I can read. Please wait 2 seconds and ask again."
    )
    assert sent[4] == message("Forgotten. Ask me something new.")


def test_a_failure_is_logged_and_the_user_is_told(
    make_bot: Factory,
    service: QAService,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "ask", broken)
    api, app = make_bot()
    with caplog.at_level(logging.ERROR, logger="bots.telegram.handlers"):
        drive(app, message_update("heavy rain?"))
    assert api.sent() == [message(handlers.FAILED)]
    [record] = [r for r in caplog.records if r.name == "bots.telegram.handlers"]
    assert "failed" in record.getMessage() and record.exc_info is not None
    assert "disk on fire" in str(record.exc_info[1])


@pytest.mark.parametrize(
    ("error", "told"),
    [
        (ArticleNotFoundError("no article with id 'summit'"), handlers.GONE),
        (IndexBusyError("another process is writing to the index"), handlers.BUSY),
        (IndexCorruptError("vectors/7.faiss: bad magic number"), handlers.BROKEN),
        (InvalidQuestionError("the question is empty"), "The question is empty."),
    ],
)
def test_errors_are_told_in_words_a_reader_understands(
    make_bot: Factory,
    service: QAService,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    told: str,
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(service, "ask", failing)
    api, app = make_bot()
    drive(app, message_update("heavy rain?"))
    assert api.sent() == [message(told)]
    # nothing of the engine's internals (ids, file names) reaches the chat
    assert "faiss" not in told and "'summit'" not in told


def test_one_slow_question_does_not_hold_up_other_chats(
    make_bot: Factory, service: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = threading.Event()
    real_ask = service.ask

    def ask(question: str, **kwargs: Any) -> Any:
        if "slow" in question:
            assert release.wait(timeout=20), "the slow question was never released"
        return real_ask(question, **kwargs)

    monkeypatch.setattr(service, "ask", ask)
    api, app = make_bot()

    async def wait_for(predicate: Callable[[], bool]) -> None:
        for _ in range(400):
            if predicate():
                return
            await asyncio.sleep(0.025)
        raise AssertionError("timed out")

    async def scenario() -> None:
        async with app:
            await app.start()
            try:
                await app.update_queue.put(
                    Update.de_json(message_update("slow heavy rain?", 601), app.bot)
                )
                await app.update_queue.put(Update.de_json(message_update("/reset", 601), app.bot))
                await app.update_queue.put(
                    Update.de_json(message_update("heavy rain?", 602), app.bot)
                )
                # chat 602 is answered while chat 601's question is still being worked on
                await wait_for(lambda: any(m["chat_id"] == 602 for m in api.sent()))
                assert not any(m["chat_id"] == 601 for m in api.sent())
                release.set()
                await wait_for(lambda: len(api.sent()) == 3)
            finally:
                release.set()
                await app.stop()

    run(scenario())
    chats = [m["chat_id"] for m in api.sent()]
    assert chats == [602, 601, 601]
    # within one chat, order is kept: the answer comes before the /reset reply
    assert "Heavy rain" in api.sent()[1]["text"]
    assert api.sent()[2]["text"] == "Forgotten. Ask me something new."


def test_add_again_with_the_same_title_replaces_the_pasted_article(
    make_bot: Factory, service: QAService
) -> None:
    api, app = make_bot()
    before = service.stats().articles
    drive(
        app,
        message_update("/add Ocean report\nThe ocean rover found whales near the reef.", ADMIN),
        message_update("/add Ocean report\nThe ocean rover found dolphins near the reef.", ADMIN),
    )
    first, second = api.sent()
    assert first == message(
        "Added 1 article, replaced 0, 0 unchanged (1 sentence embedded).", ADMIN
    )
    assert second == message(
        "Added 0 articles, replaced 1, 0 unchanged (1 sentence embedded).", ADMIN
    )
    assert service.stats().articles == before + 1
    [info] = [a for a in service.articles(0, 50)[0] if a.title == "Ocean report"]
    article, _ = service.article(info.id)
    assert article.text == "The ocean rover found dolphins near the reef."
