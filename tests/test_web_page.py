"""The web page in headless Chromium (Debian's package, driven by Playwright) with the real model.

Skipped, with the reason, where Chromium or Playwright is missing, except under CI and
`make test` (which installs Chromium), where that is a failure.
Set NEWSQA_SCREENSHOTS to a folder to keep desktop and phone screenshots of the page.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bots.api.app import create_app
from bots.settings import Settings
from qa.conversations import Owner
from qa.service import QAService
from tests.api_support import KEY, live_server
from tests.browser_support import ARGS, CHROMIUM, DESKTOP, PHONE, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.model]

# Checked at import, so a machine without a browser skips before the model is even loaded.
require_browser()
from playwright.sync_api import sync_playwright  # noqa: E402


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def base_url(samples_service: QAService) -> Iterator[str]:
    settings = Settings(data_dir=samples_service.index.data_dir, admin_key=KEY)
    with live_server(create_app(settings, samples_service)) as url:
        yield url


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("NEWSQA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def _ask(page: Any, question: str) -> dict[str, Any]:
    with page.expect_response(lambda r: r.url.endswith("/ask")) as info:
        page.get_by_label("Your question").fill(question)
        page.get_by_role("button", name="Ask", exact=True).click()
    response = info.value
    assert response.status == 200
    body: dict[str, Any] = response.json()
    body["sent"] = json.loads(response.request.post_data or "{}")
    return body


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_ask_see_the_quote_highlighted_and_follow_up(
    browser: Any, base_url: str, viewport: dict[str, int]
) -> None:
    size = "desktop" if viewport == DESKTOP else "phone"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_selector("#stats:has-text('articles')")
    _shot(page, f"{size}-0-empty")

    first = _ask(page, "where will they meet?")
    assert "conversation_id" not in first["sent"]
    assert first["sent"]["start_conversation"] is True
    conversation = first["conversation_id"]
    highlighted = page.locator(".answer mark", has_text="Budapest").first
    highlighted.wait_for()
    assert highlighted.is_visible()
    _shot(page, f"{size}-1-answer")

    follow_up = _ask(page, "when was the last summit?")
    assert follow_up["sent"]["conversation_id"] == conversation
    assert follow_up["conversation_id"] == conversation
    page.locator(".turn").nth(1).locator(".answer").first.wait_for()
    _shot(page, f"{size}-2-follow-up")

    # The surrounding text expands into the full article, the quote still marked.
    answer = page.locator(".turn").nth(0).locator(".answer").first
    answer.get_by_role("button", name="Full article").click()
    full = answer.locator(".full mark")
    full.wait_for()
    assert full.inner_text() == first["answers"][0]["sentence"]
    _shot(page, f"{size}-3-expanded")

    # More answers, then keep asking about one article.
    with page.expect_response(lambda r: r.url.endswith("/more")) as more:
        page.get_by_role("button", name="More answers").click()
    assert more.value.status == 200
    answer.get_by_role("button", name="Ask about this article").click()
    page.wait_for_selector("#focus:not([hidden])")
    focused = _ask(page, "who is ready?")
    assert {a["article_id"] for a in focused["answers"]} <= {first["answers"][0]["article_id"]}
    _shot(page, f"{size}-4-focused")

    # Nothing good to say: a clear message, not quotes.
    page.get_by_role("button", name="Ask about all articles").click()
    page.wait_for_selector("#focus", state="hidden")
    nothing = _ask(page, "what is the recipe for sourdough bread?")
    if nothing["abstained"]:
        page.wait_for_selector(".abstain")
        _shot(page, f"{size}-5-abstain")

    assert not errors
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    context.close()


def test_a_question_asked_while_the_model_loads_is_answered_once_it_has(
    browser: Any, base_url: str
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_selector("#stats:has-text('articles')")
    # The first /ask meets a server still loading its model, as right after `make run`.
    loading = {"left": 1}

    def still_loading(route: Any) -> None:
        if loading["left"]:
            loading["left"] -= 1
            route.fulfill(
                status=503,
                headers={"Retry-After": "1", "Content-Type": "application/json"},
                body=json.dumps({"detail": "the model and index are still loading"}),
            )
        else:
            route.continue_()

    page.route("**/ask", still_loading)
    page.get_by_label("Your question").fill("where will they meet?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.wait_for_selector(".reply:has-text('still loading')")
    highlighted = page.locator(".answer mark", has_text="Budapest").first
    highlighted.wait_for(timeout=10_000)
    assert loading["left"] == 0
    assert page.locator(".error").count() == 0
    assert not errors


def test_a_follow_up_after_the_conversation_expired_starts_a_new_one(
    browser: Any, base_url: str, samples_service: QAService
) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_selector("#stats:has-text('articles')")
    first = _ask(page, "where will they meet?")
    assert first["sent"]["start_conversation"] is True
    # the server forgets it (as after NEWSQA_CONVERSATION_IDLE_SECONDS)
    samples_service.conversations.reset(first["conversation_id"], Owner.API)
    asked: list[tuple[int, dict[str, Any]]] = []
    page.on(
        "response",
        lambda r: (
            asked.append((r.status, json.loads(r.request.post_data or "{}")))
            if r.url.endswith("/ask")
            else None
        ),
    )
    page.get_by_label("Your question").fill("when was the last summit?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.locator(".turn").nth(1).locator(".answer").first.wait_for()
    assert [status for status, _ in asked] == [404, 200]
    assert asked[1][1]["start_conversation"] is True
    assert page.locator(".error").count() == 0
    assert not errors


def test_filters_by_source_and_date_go_with_every_question(browser: Any, base_url: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(base_url + "/")
    page.wait_for_selector("#stats:has-text('articles')")
    page.get_by_text("Filters").click()
    # the sources of the indexed articles are offered
    page.wait_for_selector("#filter-sources option[value='AFP']", state="attached")
    page.get_by_label("Source").fill("CNN")
    assert "from CNN" in page.locator("#filters-summary").inner_text()

    only_cnn = _ask(page, "where will they meet?")
    assert only_cnn["sent"]["source"] == "CNN"
    assert all(a["source"] == "CNN" for a in only_cnn["answers"])
    assert "Budapest" not in page.locator(".turn").nth(0).inner_text()

    page.get_by_label("Source").fill("AFP")
    afp = _ask(page, "where will they meet?")
    assert afp["sent"]["source"] == "AFP"
    page.locator(".turn").nth(1).locator(".answer mark", has_text="Budapest").first.wait_for()
    _shot(page, "filters")

    # after the sample article's date nothing is left, and the page says why
    page.get_by_label("Source").fill("")
    page.get_by_label("Since").fill("2025-11-01")
    later = _ask(page, "where will they meet?")
    assert later["sent"]["since"] == "2025-11-01"
    assert "source" not in later["sent"]
    assert later["abstained"] and not later["answers"]
    page.locator(".turn").nth(2).get_by_text("since 2025-11-01 were searched").wait_for()

    page.get_by_role("button", name="Clear").click()
    assert page.locator("#filters-summary").inner_text() == ""
    cleared = _ask(page, "where will they meet?")
    assert not {"source", "since", "until"} & set(cleared["sent"])
    assert not errors
