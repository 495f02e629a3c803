"""Feeds: conditional polls, only new or changed entries, state that survives a restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from index.store import NewsIndex
from index.web.fetch import FetchPolicy
from index.web.urls import url_id
from qa.service import QAService
from qa.web import WebSources
from tests.fakes import FakeEncoder
from tests.pg_support import Server
from tests.web_support import BOILERPLATE, NewsSite, Reply, atom, news_site, rss, story_page

LOCAL = FetchPolicy.from_allow(["127.0.0.1"])
DAY = datetime(2025, 10, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as running:
        yield running


def _web(data_dir: Path, encoder: FakeEncoder) -> WebSources:
    return WebSources(QAService(NewsIndex(data_dir, encoder)), LOCAL)


MakeWeb = Callable[[], WebSources]


@pytest.fixture(params=["sqlite", "postgres"])
def make_web(
    request: pytest.FixtureRequest, tmp_path: Path, fake_encoder: FakeEncoder
) -> Iterator[MakeWeb]:
    """Opens this test's web sources (again: as a restarted or another process would), over
    the embedded index or over PostgreSQL."""
    made: list[WebSources] = []
    if request.param == "sqlite":
        schema = None

        def make() -> WebSources:
            made.append(_web(tmp_path / "data", fake_encoder))
            return made[-1]
    else:
        from qa.postgres import shared_service

        server: Server = request.getfixturevalue("pg_server")
        schema = server.fresh_schema()

        def make() -> WebSources:
            service = shared_service(server.url, fake_encoder, schema=schema)
            made.append(WebSources(service, LOCAL))
            return made[-1]

    yield make
    for sources in made:
        sources.close()
        close = getattr(sources.service.index, "close", None)
        if close is not None:
            close()
    if schema is not None:
        server.drop(schema)


@pytest.fixture
def web(make_web: MakeWeb) -> WebSources:
    return make_web()


def _stories(
    site: NewsSite, numbers: range, edition: str = ""
) -> list[tuple[str, str, str, datetime]]:
    items = []
    for n in numbers:
        site.routes[f"/stories/{n}"] = Reply(body=story_page(site.base, n, edition))
        items.append((f"story-{n}", f"/stories/{n}", f"Story {n}", DAY + timedelta(hours=n)))
    return items


def _serve_feeds(site: NewsSite, rss_items: list[Any], atom_items: list[Any], tag: str) -> None:
    site.routes["/feed.rss"] = Reply(
        body=rss(site.base, rss_items), content_type="application/rss+xml", etag=f'"rss-{tag}"'
    )
    site.routes["/feed.atom"] = Reply(
        body=atom(site.base, atom_items),
        content_type="application/atom+xml; charset=utf-8",
        etag=f'"atom-{tag}"',
    )


def test_feeds_are_polled_and_a_304_fetches_nothing(site: NewsSite, web: WebSources) -> None:
    _serve_feeds(site, _stories(site, range(3)), _stories(site, range(3, 5)), "v1")
    web.add_feed(site.url("/feed.rss"))
    web.add_feed(site.url("/feed.atom"), interval_s=120)
    first = web.poll()
    assert (first.feeds, first.new_entries, len(first.added), first.failed) == (2, 5, 5, [])
    assert {a.id for a in web.service.articles(0, 10)[0]} == {
        url_id(site.url(f"/stories/{n}")) for n in range(5)
    }
    pages_fetched = sum(site.count(f"/stories/{n}") for n in range(5))
    assert pages_fetched == 5
    second = web.poll(every=True)
    assert (second.feeds, second.not_modified, second.new_entries, second.added) == (2, 2, 0, [])
    assert sum(site.count(f"/stories/{n}") for n in range(5)) == pages_fetched
    assert site.count("/feed.rss") == site.count("/feed.atom") == 2
    feeds = {f.url: f for f in web.feeds()}
    rss_feed = feeds[site.url("/feed.rss")]
    assert (rss_feed.title, rss_feed.entries, rss_feed.pending, rss_feed.etag) == (
        "Test feed",
        3,
        0,
        '"rss-v1"',
    )
    assert feeds[site.url("/feed.atom")].interval_s == 120
    # not due yet: a plain poll asks nothing
    assert web.poll().feeds == 0


def test_last_modified_makes_a_conditional_request_too(site: NewsSite, web: WebSources) -> None:
    stamp = "Mon, 20 Oct 2025 08:00:00 GMT"
    site.routes["/feed.atom"] = Reply(
        body=atom(site.base, _stories(site, range(2))),
        content_type="application/atom+xml",
        last_modified=stamp,
    )
    web.add_feed(site.url("/feed.atom"))
    assert len(web.poll().added) == 2
    assert web.feeds()[0].last_modified == stamp
    second = web.poll(every=True)
    assert (second.not_modified, second.new_entries) == (1, 0)
    assert site.count("/stories/0") == site.count("/stories/1") == 1


def test_only_new_and_changed_entries_are_fetched_and_a_change_replaces_its_article(
    site: NewsSite, web: WebSources
) -> None:
    items = _stories(site, range(3))
    _serve_feeds(site, items, [], "v1")
    web.add_feed(site.url("/feed.rss"))
    web.poll()
    # story 1 is updated (new text, new date), story 3 is new
    changed = _stories(site, range(1, 2), edition=", officials confirmed on Friday")
    changed = [(g, p, t, when + timedelta(days=1)) for g, p, t, when in changed]
    _serve_feeds(site, [items[0], *changed, items[2], *_stories(site, range(3, 4))], [], "v2")
    report = web.poll(every=True)
    assert report.new_entries == 2
    assert report.added == [url_id(site.url("/stories/3"))]
    assert report.replaced == [url_id(site.url("/stories/1"))]
    assert [site.count(f"/stories/{n}") for n in range(4)] == [1, 2, 1, 1]
    _, sentences = web.service.article(url_id(site.url("/stories/1")))
    assert any("officials confirmed on Friday" in s.text for s in sentences)
    assert web.service.stats().articles == 4


def test_no_boilerplate_from_feed_pages(site: NewsSite, web: WebSources) -> None:
    _serve_feeds(site, _stories(site, range(3)), [], "v1")
    web.add_feed(site.url("/feed.rss"))
    web.poll()
    texts = [
        s.text for info in web.service.articles(0, 10)[0] for s in web.service.article(info.id)[1]
    ]
    assert len(texts) == 12
    assert not [t for t in texts for b in BOILERPLATE if b.lower() in t.lower()]


def test_a_failing_feed_backs_off_and_a_failing_entry_is_tried_again(
    site: NewsSite, web: WebSources
) -> None:
    site.routes["/broken.rss"] = Reply(status=503, body=b"busy", content_type="text/plain")
    web.add_feed(site.url("/broken.rss"), interval_s=600)
    report = web.poll()
    assert [s.reason for s in report.failed] == ["the server answered 503"]
    broken = web.feeds()[0]
    assert (broken.failures, broken.last_error) == (1, "the server answered 503")
    assert broken.next_poll - (broken.last_poll or 0) == pytest.approx(1200)
    web.remove_feed(site.url("/broken.rss"))

    items = _stories(site, range(2))
    site.routes["/stories/1"] = Reply(status=500, body=b"oops", content_type="text/plain")
    _serve_feeds(site, items, [], "v1")
    web.add_feed(site.url("/feed.rss"))
    report = web.poll()
    assert report.added == [url_id(site.url("/stories/0"))]
    assert [s.where for s in report.failed] == [site.url("/stories/1")]
    assert web.feeds()[0].pending == 1
    site.routes["/stories/1"] = Reply(body=story_page(site.base, 1))
    # the feed answers 304, yet the entry left over is fetched again
    report = web.poll(every=True)
    assert report.not_modified == 1
    assert report.added == [url_id(site.url("/stories/1"))]
    assert web.feeds()[0].pending == 0


def test_feed_state_survives_a_restart(site: NewsSite, make_web: MakeWeb) -> None:
    _serve_feeds(site, _stories(site, range(2)), [], "v1")
    first = make_web()
    first.add_feed(site.url("/feed.rss"))
    first.poll()
    first.close()
    again = make_web()
    [feed] = again.feeds()
    assert (feed.url, feed.entries, feed.etag) == (site.url("/feed.rss"), 2, '"rss-v1"')
    assert again.poll(every=True).not_modified == 1
    again.close()


def test_a_feed_that_is_not_a_feed_is_reported(site: NewsSite, web: WebSources) -> None:
    site.routes["/page"] = Reply(body=b"<html><body>hello</body></html>")
    site.routes["/junk.xml"] = Reply(body=b"\x00\x01 not xml at all <<", content_type="text/xml")
    web.add_feed(site.url("/page"))
    web.add_feed(site.url("/junk.xml"))
    reasons = [s.reason for s in web.poll().failed]
    assert reasons[0].startswith("content type text/html is not")
    assert reasons[1].startswith("not an RSS or Atom feed")


def _env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NEWSQA_DATA_DIR": str(data_dir),
        "NEWSQA_FETCH_ALLOW": "127.0.0.1",
        "HF_HUB_OFFLINE": "1",
    }


CLI = [sys.executable, "-c", "from bots.cli import main; main()"]


def _run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=_env(data_dir), capture_output=True, text=True, timeout=300
    )


@pytest.mark.model
def test_a_killed_watch_loses_nothing_and_ingests_nothing_twice(
    site: NewsSite, tmp_path: Path
) -> None:
    """SIGKILL while the site holds back entry 12 of 14: 10 entries were committed (one batch)."""
    data_dir = tmp_path / "data"
    items = _stories(site, range(14))
    reached = threading.Event()
    release = threading.Event()

    def held(handler: Any) -> Reply:
        reached.set()
        release.wait(60)
        return Reply(body=story_page(site.base, 11))

    site.routes["/stories/11"] = held
    _serve_feeds(site, items, [], "v1")
    added = _run(data_dir, "feeds", "add", site.url("/feed.rss"))
    assert added.returncode == 0, added.stderr
    watch = subprocess.Popen(
        [*CLI, "watch", "--once"],
        env=_env(data_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert reached.wait(180), "the watcher never reached the held entry"
        watch.send_signal(signal.SIGKILL)
        watch.wait(30)
    finally:
        release.set()
        if watch.poll() is None:
            watch.kill()
            watch.wait(30)
    hits = {n: site.count(f"/stories/{n}") for n in range(14)}
    assert all(hits[n] == 1 for n in range(12))
    assert hits[12] == hits[13] == 0

    again = _run(data_dir, "watch", "--once")
    assert again.returncode == 0, again.stderr
    assert (
        "(1 not modified), 0 new or changed entries, 4 added, 0 replaced, 0 failed" in again.stdout
    )
    # the 10 committed stories are not fetched again; 10, 11 (whose fetch was cut) and 12, 13 are
    assert all(site.count(f"/stories/{n}") == 1 for n in range(10))
    assert [site.count(f"/stories/{n}") for n in range(10, 14)] == [2, 2, 1, 1]
    assert '"articles": 14' in _run(data_dir, "stats", "--json").stdout
    listed = _run(data_dir, "feeds", "list", "--json").stdout
    assert '"entries": 14' in listed and '"pending": 0' in listed


@pytest.mark.model
def test_watch_polls_until_stopped_and_logs_feed_and_entry(site: NewsSite, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _serve_feeds(site, _stories(site, range(2)), [], "v1")
    site.routes["/stories/1"] = Reply(status=404, body=b"gone", content_type="text/plain")
    assert _run(data_dir, "feeds", "add", site.url("/feed.rss")).returncode == 0
    watch = subprocess.Popen(
        [*CLI, "watch"],
        env=_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while site.count("/stories/1") == 0:
            assert time.monotonic() < deadline and watch.poll() is None
            time.sleep(0.2)
        time.sleep(1.0)
        watch.send_signal(signal.SIGTERM)
        _, err = watch.communicate(timeout=60)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.communicate()
    assert watch.returncode == 0, err
    feed = site.url("/feed.rss")
    assert f"feed {feed}: 2 entries, 2 new or changed" in err
    assert f"feed {feed}: entry {site.url('/stories/0')} -> {url_id(site.url('/stories/0'))}" in err
    assert (
        f"feed {feed}: entry {site.url('/stories/1')}: the server answered 404 "
        "(tried again next poll)" in err
    )
