"""The HTTP API's ways in from the web: POST /articles {"url"}, /feeds, the watcher in serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bots.api.app import create_app
from bots.settings import Settings
from index.store import NewsIndex
from index.web.urls import url_id
from qa.service import QAService
from tests.api_support import AUTH, KEY
from tests.fakes import FakeEncoder
from tests.web_support import BOILERPLATE, NewsSite, Reply, news_site, rss, story_page


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as running:
        yield running


def _client(tmp_path: Path, encoder: FakeEncoder, **overrides: Any) -> Iterator[TestClient]:
    data_dir = tmp_path / "api-data"
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "admin_key": KEY,
        "fetch_allow": ["127.0.0.1"],
        **overrides,
    }
    app = create_app(Settings(**values), QAService(NewsIndex(data_dir, encoder)))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(tmp_path: Path, fake_encoder: FakeEncoder) -> Iterator[TestClient]:
    yield from _client(tmp_path, fake_encoder, watch=False)


def test_post_articles_with_a_url_fetches_and_indexes_the_page(
    site: NewsSite, client: TestClient
) -> None:
    urls = site.all_pages()
    site.routes["/photo"] = Reply(body=b"\x89PNG", content_type="image/png")
    response = client.post("/articles", json={"url": urls[3] + "?utm_source=feed"}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["added"] == [url_id(urls[3])]
    article = client.get(f"/articles/{url_id(urls[3])}").json()
    assert article["title"] == "Trump et Poutine vont se voir à Budapest"
    assert article["url"] == urls[3]
    assert article["source"] == "Le Courrier du Matin"
    assert not any(b.lower() in article["text"].lower() for b in BOILERPLATE)
    many = client.post(
        "/articles", json=[{"url": urls[0]}, {"url": site.url("/photo")}], headers=AUTH
    ).json()
    assert many["added"] == [url_id(urls[0])]
    assert many["skipped"][0]["where"] == site.url("/photo")
    assert many["skipped"][0]["reason"].startswith("content type image/png")
    answer = client.post("/ask", json={"question": "where will Putin and Trump meet"}).json()
    assert answer["answers"][0]["url"] == urls[3]


def test_url_writes_need_the_key_and_a_web_address(site: NewsSite, client: TestClient) -> None:
    url = site.all_pages()[0]
    assert client.post("/articles", json={"url": url}).status_code == 401
    assert site.count(url.removeprefix(site.base)) == 0
    bad = client.post("/articles", json={"url": "file:///etc/passwd"}, headers=AUTH)
    assert bad.status_code == 422
    private = client.post("/articles", json={"url": "http://10.0.0.1/"}, headers=AUTH).json()
    assert "10.0.0.1 is not a public address" in private["skipped"][0]["reason"]


def test_feeds_are_added_listed_and_removed(site: NewsSite, client: TestClient) -> None:
    feed_url = site.url("/feed.rss")
    created = client.post("/feeds", json={"url": feed_url, "interval_minutes": 5}, headers=AUTH)
    assert created.status_code == 201
    feed = created.json()
    assert (feed["url"], feed["interval_minutes"], feed["entries"]) == (feed_url, 5, 0)
    again = client.post("/feeds", json={"url": feed_url}, headers=AUTH)
    assert again.status_code == 200
    assert client.post("/feeds", json={"url": feed_url}).status_code == 401
    assert [f["url"] for f in client.get("/feeds").json()] == [feed_url]
    assert client.delete(f"/feeds/{feed['id']}").status_code == 401
    assert client.delete(f"/feeds/{feed['id']}", headers=AUTH).json()["url"] == feed_url
    assert client.get("/feeds").json() == []
    assert client.delete(f"/feeds/{feed['id']}", headers=AUTH).status_code == 404


def test_serve_polls_feeds_in_the_background(
    site: NewsSite, tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    items = []
    for n in range(3):
        site.routes[f"/stories/{n}"] = Reply(body=story_page(site.base, n))
        items.append((f"s{n}", f"/stories/{n}", f"Story {n}", datetime(2025, 10, 1, tzinfo=UTC)))
    site.routes["/feed.rss"] = Reply(body=rss(site.base, items), content_type="application/rss+xml")
    for client in _client(tmp_path, fake_encoder):
        client.post("/feeds", json={"url": site.url("/feed.rss")}, headers=AUTH)
        deadline = time.monotonic() + 60
        # the entries are marked done right after their articles are committed
        while (
            client.get("/feeds").json()[0]["pending"] != 0
            or not client.get("/feeds").json()[0]["last_ok"]
        ):
            assert time.monotonic() < deadline, client.get("/feeds").json()
            # questions are answered meanwhile
            assert client.post("/ask", json={"question": "library"}).status_code == 200
            time.sleep(0.1)
        assert client.get("/stats").json()["articles"] == 3
        [feed] = client.get("/feeds").json()
        assert (feed["entries"], feed["pending"], feed["last_error"]) == (3, 0, None)
