"""The web page as a newcomer meets it, in headless Chromium with outside hosts unresolvable:
offline API docs, an empty index that says what to do, answers with date and relative
confidence, the question limit, the articles view with admin add/remove, safe links.

Set NEWSQA_SCREENSHOTS to a folder to keep desktop and phone screenshots.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.api.app import create_app
from bots.settings import Settings
from index.embedding import Encoder
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import AUTH, KEY, live_server
from tests.browser_support import ARGS, CHROMIUM, DESKTOP, PHONE, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.model]

require_browser()
from playwright.sync_api import sync_playwright  # noqa: E402

SIZES = {"desktop": DESKTOP, "phone": PHONE}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _serve(service: QAService) -> Any:
    settings = Settings(data_dir=service.index.data_dir, admin_key=KEY)
    return live_server(create_app(settings, service))


@pytest.fixture
def base_url(samples_service: QAService) -> Iterator[str]:
    with _serve(samples_service) as url:
        yield url


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("NEWSQA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)


def _page(browser: Any, size: str) -> tuple[Any, list[str]]:
    page = browser.new_context(viewport=SIZES[size]).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


@pytest.mark.parametrize("size", SIZES)
def test_api_docs_work_without_internet(browser: Any, base_url: str, size: str) -> None:
    page, errors = _page(browser, size)
    # Everything the docs need to work comes from this server. (ReDoc's bundle still asks for
    # its vendor's logo image; the page's content security policy keeps that off the network.)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: (
            outside.append(r.url)
            if r.resource_type in ("script", "stylesheet", "font", "fetch", "xhr", "document")
            and not r.url.startswith((base_url, f"blob:{base_url}"))
            else None
        ),
    )
    page.goto(base_url + "/docs")
    page.locator(".opblock").first.wait_for(timeout=20_000)
    assert page.locator(".opblock").count() >= 10
    assert page.locator(".opblock-summary-path", has_text="/ask").first.is_visible()
    _shot(page, f"docs-{size}")
    page.goto(base_url + "/redoc")
    page.get_by_role("heading", name="newsqa", exact=False).first.wait_for(timeout=30_000)
    # the /ask operation's own description, rendered by ReDoc from the schema
    page.get_by_text("The best sentences for a question, quoted").first.wait_for()
    _shot(page, f"redoc-{size}")
    assert outside == []
    assert not errors


@pytest.mark.parametrize("size", SIZES)
def test_an_empty_index_says_how_to_add_articles(
    browser: Any, tmp_path: Path, encoder: Encoder, size: str
) -> None:
    with _serve(QAService(NewsIndex(tmp_path / "empty", encoder))) as url:
        page, errors = _page(browser, size)
        page.goto(url + "/")
        page.wait_for_selector("#stats:has-text('0 articles')")
        welcome = page.locator(".welcome")
        welcome.get_by_text("There are no articles to ask about yet.").wait_for()
        assert "newsqa ingest PATH" in welcome.inner_text()
        _shot(page, f"page-{size}-empty-index")
    assert not errors


@pytest.mark.parametrize("size", SIZES)
def test_answers_show_their_date_and_how_they_compare(
    browser: Any, base_url: str, size: str
) -> None:
    page, errors = _page(browser, size)
    page.goto(base_url + "/")
    page.wait_for_selector("#stats:has-text('7 articles')")
    page.get_by_label("Your question").fill("where will they meet?")
    page.get_by_role("button", name="Ask", exact=True).click()
    answers = page.locator(".answer")
    answers.first.wait_for()
    first = answers.first
    assert "2025" in first.locator(".where").inner_text()  # the AFP story's date
    assert first.locator(".confidence").inner_text().strip() == "best match"
    widths = [
        float(bar.evaluate("b => parseFloat(b.style.width)"))
        for bar in page.locator(".confidence .bar").all()
    ]
    assert widths[0] == 100 and widths == sorted(widths, reverse=True)
    labels = [c.inner_text().strip() for c in page.locator(".confidence").all()]
    assert all(label.endswith("match") for label in labels)
    _shot(page, f"page-{size}-answers")
    # More answers compare with the question's first answer, not with their own best.
    with page.expect_response(lambda r: r.url.endswith("/more")):
        page.get_by_role("button", name="More answers").click()
    page.wait_for_function("document.querySelectorAll('.answer').length > 3")
    later = [
        float(bar.evaluate("b => parseFloat(b.style.width)"))
        for bar in page.locator(".confidence .bar").all()[3:]
    ]
    assert later and all(width < 100 for width in later)
    assert not errors


@pytest.mark.parametrize("size", SIZES)
def test_a_question_over_the_limit_is_refused_with_a_message(
    browser: Any, base_url: str, size: str
) -> None:
    page, errors = _page(browser, size)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith("/ask") else None)
    page.goto(base_url + "/")
    long = "Where will the two presidents meet and when? " * 13
    assert len(long) > 500
    box = page.get_by_label("Your question")
    box.fill(long)
    assert box.input_value() == long, "the text is not cut"
    page.get_by_role("button", name="Ask", exact=True).click()
    note = page.locator("#composer-note")
    note.wait_for()
    assert f"Your question is {len(long.strip())} characters long; the limit is 500" in (
        note.inner_text()
    )
    assert box.input_value() == long, "the question stays for editing"
    assert asked == []
    _shot(page, f"page-{size}-too-long")
    assert not errors


def test_articles_view_lists_searches_opens_and_with_the_key_adds_and_removes(
    browser: Any, base_url: str, tmp_path: Path
) -> None:
    # An article whose url is a script must never become a link.
    sneaky = {
        "id": "sneaky",
        "title": "Council approves the harbour plan",
        "text": "The council approved the harbour plan on Monday. Work starts in spring.",
        "source": "Harbour Gazette",
        "url": "javascript:alert(1)",
        "published": "2025-11-20",
    }
    assert httpx.post(base_url + "/articles", json=sneaky, headers=AUTH).status_code == 200

    for size in SIZES:
        page, errors = _page(browser, size)
        page.goto(base_url + "/")
        page.get_by_role("button", name="Articles").click()
        panel = page.locator("#articles")
        panel.get_by_text("8 articles, newest first").wait_for()
        _shot(page, f"articles-{size}-list")

        panel.get_by_label("Search titles").fill("obama")
        panel.get_by_text("1 article with “obama” in the title").wait_for()
        panel.locator(".article-open").first.click()
        view = page.locator("#article-view")
        view.get_by_role("heading", name="Obama nominates").wait_for()
        assert "John Brennan" in view.locator(".article-text").inner_text()
        assert view.get_by_role("button", name="Remove this article").count() == 0
        _shot(page, f"articles-{size}-open")
        view.get_by_role("button", name="← All articles").click()

        panel.get_by_label("Search titles").fill("harbour")
        panel.get_by_text("1 article with “harbour” in the title").wait_for()
        panel.locator(".article-open").first.click()
        view.get_by_role("heading", name="Council approves the harbour plan").wait_for()
        assert view.locator("a").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
        view.get_by_role("button", name="← All articles").click()
        assert not errors
        page.context.close()

    page, errors = _page(browser, "desktop")
    page.goto(base_url + "/")
    page.get_by_role("button", name="Articles").click()
    panel = page.locator("#articles")
    panel.get_by_text("Add or remove articles").click()
    # A wrong key is refused and forgotten.
    panel.get_by_label("Admin key").fill("wrong")
    panel.get_by_role("button", name="Use key").click()
    panel.get_by_placeholder("Title", exact=True).fill("Rain expected")
    panel.get_by_placeholder("Text", exact=True).fill(
        "Rain is expected all week. Farmers are pleased."
    )
    panel.get_by_role("button", name="Add article").click()
    panel.get_by_text("the admin key was refused").wait_for()
    assert page.evaluate("sessionStorage.getItem('newsqa-admin-key')") is None

    panel.get_by_label("Admin key").fill(KEY)
    panel.get_by_role("button", name="Use key").click()
    panel.get_by_placeholder("Title", exact=True).fill("Rain expected")
    panel.get_by_placeholder("Text", exact=True).fill(
        "Rain is expected all week. Farmers are pleased."
    )
    panel.get_by_placeholder("Source (optional)").fill("Weather desk")
    panel.get_by_role("button", name="Add article").click()
    panel.get_by_text("Added 1 article").wait_for()
    panel.get_by_text("9 articles, newest first").wait_for()

    upload = tmp_path / "ferry.txt"
    upload.write_text("Ferry service resumes\nThe ferry runs again from Monday.\n", "utf-8")
    panel.locator("#add-file-input").set_input_files(str(upload))
    panel.get_by_role("button", name="Upload").click()
    panel.get_by_text("10 articles, newest first").wait_for()
    _shot(page, "articles-desktop-admin")

    panel.get_by_label("Search titles").fill("Rain expected")
    panel.get_by_text("1 article with").wait_for()
    panel.locator(".article-open").first.click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#article-view").get_by_role("button", name="Remove this article").click()
    panel.get_by_text("Removed “Rain expected”").wait_for()
    titles = httpx.get(base_url + "/articles", params={"q": "rain"}).json()
    assert titles["total"] == 0
    page.locator("#stats", has_text="Quotes from 9 articles").wait_for()
    assert not errors
