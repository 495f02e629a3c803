"""One story, many outlets: a wire story from two sites is stored once and answered once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bots.cli import render
from bots.settings import Settings
from bots.telegram.render import render_answers
from bots.wiring import build_service
from index.articles import article_from_record
from index.web.fetch import FetchPolicy
from index.web.urls import url_id
from qa.service import QAService
from qa.web import WebSources
from tests.fakes import FakeEncoder
from tests.pg_support import Server
from tests.web_support import NewsSite, Reply, news_site, rss

LOCAL = FetchPolicy.from_allow(["127.0.0.1"])
FRENCH = "/international/2025/10/16/trump-et-poutine-vont-se-voir-a-budapest_4521.html"
COPY = "/world/trump-putin-budapest-meeting"


@pytest.fixture
def sites() -> Iterator[tuple[NewsSite, NewsSite]]:
    with news_site() as first, news_site() as second:
        first.page(FRENCH, "french-news-budapest.html")
        first.page("/2025/10/harbour-ferry-returns/", "wordpress-blog.html")
        second.page(COPY, "wire-copy-budapest.html")
        second.page("/news/2025/11/03/storm-amelie-schools", "news-jsonld.html")
        yield first, second


@pytest.fixture(params=["sqlite", "postgres"])
def web(
    request: pytest.FixtureRequest, tmp_path: Path, fake_encoder: FakeEncoder
) -> Iterator[WebSources]:
    """Web sources over the embedded index, or over PostgreSQL (NEWSQA_DATABASE_URL)."""
    settings = Settings(data_dir=tmp_path / "data")
    server: Server | None = None
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        schema = server.fresh_schema()
        settings = Settings(
            data_dir=tmp_path / "data", database_url=server.url, database_schema=schema
        )
    service = build_service(settings, fake_encoder)
    sources = WebSources(service, LOCAL)
    yield sources
    sources.close()
    if server is not None:
        service.index.close()
        server.drop(schema)


def _ask(service: QAService, question: str) -> list[tuple[str, str]]:
    answers = service.ask(question, k=10).answers
    return [(a.article_id, a.sentence) for a in answers]


def test_two_copies_of_a_wire_story_are_stored_once_and_answered_once(
    sites: tuple[NewsSite, NewsSite], web: WebSources
) -> None:
    first, second = sites
    outcome = web.ingest_urls(
        [first.url(FRENCH), second.url(COPY), first.url("/2025/10/harbour-ferry-returns/")]
    )
    assert outcome.report.added == [
        url_id(first.url(FRENCH)),
        url_id(first.url("/2025/10/harbour-ferry-returns/")),
    ]
    # fetched again later, alone: still a copy
    again = web.ingest_urls([second.url(COPY), second.url("/news/2025/11/03/storm-amelie-schools")])
    assert again.report.added == [url_id(second.url("/news/2025/11/03/storm-amelie-schools"))]
    assert web.service.stats().articles == 3
    assert not web.service.index.has_article(url_id(second.url(COPY)))

    answer_set = web.service.ask("Where will Trump and Putin meet?", k=5)
    sentences = [a.sentence for a in answer_set.answers]
    assert len(sentences) == len(set(sentences))
    top = answer_set.answers[0]
    assert top.article_id == url_id(first.url(FRENCH))
    assert [(o.source, o.url, o.title) for o in top.also_in] == [
        ("The Northern Post", second.url(COPY), "Trump says he will meet Putin in Budapest")
    ]
    assert (top.also_in[0].published or "").startswith("2025-10-17")
    others = [a for a in answer_set.answers if a.article_id != top.article_id]
    assert all(a.also_in == [] for a in others)

    shown = render(answer_set)
    assert f"also in: The Northern Post ({second.url(COPY)})" in shown
    [message] = render_answers(answer_set.model_copy(update={"answers": [top]}))
    assert f'also in: <a href="{second.url(COPY)}">The Northern Post</a>' in message


def test_copies_fetched_in_one_batch_or_from_a_feed_are_found_too(
    sites: tuple[NewsSite, NewsSite], web: WebSources
) -> None:
    first, second = sites
    when = datetime(2025, 10, 17, tzinfo=UTC)
    second.routes["/feed.rss"] = Reply(
        body=rss(second.base, [("wire-1", COPY, "Trump says he will meet Putin", when)]),
        content_type="application/rss+xml",
    )
    web.ingest_urls([first.url(FRENCH)])
    web.add_feed(second.url("/feed.rss"))
    report = web.poll()
    assert (report.added, report.failed) == ([], [])
    assert web.service.stats().articles == 1
    [feed] = web.feeds()
    assert (feed.entries, feed.pending) == (1, 0)
    assert web.service.ask("Where will Trump and Putin meet?").answers[0].also_in[0].url == (
        second.url(COPY)
    )


def test_different_stories_are_not_copies(
    sites: tuple[NewsSite, NewsSite], web: WebSources
) -> None:
    first, second = sites
    outcome = web.ingest_urls(
        [
            first.url("/2025/10/harbour-ferry-returns/"),
            second.url("/news/2025/11/03/storm-amelie-schools"),
            first.url(FRENCH),
        ]
    )
    assert len(outcome.report.added) == 3
    assert all(not a.also_in for a in web.service.ask("storm schools", k=5).answers)


def test_answering_needs_no_web_tables_and_makes_none(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    service = build_service(Settings(data_dir=tmp_path / "data"), fake_encoder)
    record = {"id": "a", "title": "Bridge", "text": "The bridge was closed to traffic today."}
    service.ingest([article_from_record(record)])
    answers = service.ask("was the bridge closed?", include_closest=True).answers
    assert answers and answers[0].also_in == []
    with sqlite3.connect(service.index.db_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert not {"web_copies", "web_signatures"} & tables
