"""The web page shows where a web answer came from: its date, a link to the original, and the
other outlets that ran the same story. Headless Chromium and the real model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.api.app import create_app
from bots.settings import Settings
from bots.wiring import build_service
from index.embedding import Encoder
from index.web.fetch import FetchPolicy
from qa.web import WebSources
from tests.api_support import KEY, live_server
from tests.test_web_page import ARGS, CHROMIUM, _ask
from tests.web_support import news_site

pytestmark = [pytest.mark.browser, pytest.mark.model]

FRENCH = "/international/2025/10/16/trump-et-poutine-vont-se-voir-a-budapest_4521.html"
COPY = "/world/trump-putin-budapest-meeting"


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def test_an_answer_links_to_its_original_and_lists_the_other_outlets(
    browser: Any, tmp_path: Path, encoder: Encoder
) -> None:
    settings = Settings(data_dir=tmp_path / "data", admin_key=KEY, watch=False)
    service = build_service(settings, encoder)
    with news_site() as first, news_site() as second:
        first.page(FRENCH, "french-news-budapest.html")
        second.page(COPY, "wire-copy-budapest.html")
        web = WebSources(service, FetchPolicy.from_allow(["127.0.0.1"]))
        web.ingest_urls([first.url(FRENCH), second.url(COPY)])
        web.close()
        with live_server(create_app(settings, service)) as base_url:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(base_url + "/")
            page.wait_for_selector("#stats:has-text('articles')")
            body = _ask(page, "where will Trump and Putin meet?")
            answer = page.locator(".answer").first
            answer.wait_for()
            assert body["answers"][0]["url"] == first.url(FRENCH)
            original = answer.locator(".meta a")
            assert original.get_attribute("href") == first.url(FRENCH)
            assert original.inner_text() == "Trump et Poutine vont se voir à Budapest"
            assert "Le Courrier du Matin" in answer.locator(".meta").inner_text()
            assert "2025" in answer.locator(".meta").inner_text()
            also = answer.locator(".also-in")
            assert also.inner_text() == "also in: The Northern Post"
            assert also.locator("a").get_attribute("href") == second.url(COPY)
            assert not errors
