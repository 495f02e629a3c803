"""Telegram: an admin sends a link and gets back the title that was indexed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.settings import Settings
from bots.telegram.app import build_application
from index.web.urls import url_id
from qa.service import QAService
from tests.fakes import FakeEncoder
from tests.telegram_fakes import FakeBotAPI, bot_service, check_telegram_html, message_update
from tests.test_telegram_handlers import ADMIN, drive
from tests.web_support import NewsSite, Reply, news_site


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as running:
        yield running


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    return bot_service(tmp_path / "bot-data", fake_encoder)


def _bot(service: QAService) -> tuple[FakeBotAPI, Any]:
    settings = Settings.model_validate(
        {
            "telegram_bot_token": "123:ABC",
            "telegram_admins": str(ADMIN),
            "telegram_answers": 1,
            "fetch_allow": "127.0.0.1",
        }
    )
    api = FakeBotAPI()
    app = build_application(settings, service, request=api, get_updates_request=FakeBotAPI())
    return api, app


def test_an_admin_link_is_fetched_and_its_title_sent_back(
    site: NewsSite, service: QAService
) -> None:
    urls = site.all_pages()
    site.routes["/photo.png"] = Reply(body=b"\x89PNG", content_type="image/png")
    api, app = _bot(service)
    drive(
        app,
        message_update(urls[3], ADMIN),
        message_update(urls[3] + "?utm_campaign=tg", ADMIN),
        message_update(site.url("/photo.png"), ADMIN),
    )
    added, again, refused = [m["text"] for m in api.sent()]
    assert added.startswith("Added: <b>Trump et Poutine vont se voir à Budapest</b>\n")
    assert "Le Courrier du Matin · 2025-10-16" in added
    assert again.startswith("Already had: <b>Trump et Poutine vont se voir à Budapest</b>")
    assert refused.startswith("I could not add that page: content type image/png is not")
    for text in (added, again, refused):
        check_telegram_html(text)
    assert service.index.has_article(url_id(urls[3]))


def test_a_link_from_anyone_else_is_a_question_and_fetches_nothing(
    site: NewsSite, service: QAService
) -> None:
    urls = site.all_pages()
    api, app = _bot(service)
    before = service.stats().articles
    drive(app, message_update(urls[0], 501, user_id=501))
    assert len(api.sent()) == 1
    assert service.stats().articles == before
    assert site.count(urls[0].removeprefix(site.base)) == 0


def test_a_link_to_another_outlets_copy_is_listed_not_indexed(service: QAService) -> None:
    french = "/international/2025/10/16/trump-et-poutine-vont-se-voir-a-budapest_4521.html"
    with news_site() as first, news_site() as second:
        first.page(french, "french-news-budapest.html")
        second.page("/world/trump-putin-budapest-meeting", "wire-copy-budapest.html")
        api, app = _bot(service)
        before = service.stats().articles
        drive(
            app,
            message_update(first.url(french), ADMIN),
            message_update(second.url("/world/trump-putin-budapest-meeting"), ADMIN),
        )
    added, copy = [m["text"] for m in api.sent()]
    assert added.startswith("Added: <b>Trump et Poutine vont se voir à Budapest</b>")
    assert copy == (
        "I already had this story as <b>Trump et Poutine vont se voir à Budapest</b>; "
        "The Northern Post is now listed as another source of it."
    )
    assert service.stats().articles == before + 1
