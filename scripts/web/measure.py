"""What the page extractor makes of the test site's fixture pages, and how long a feed of 50
entries takes to poll (fetch, extract, embed with the packaged model, store).

    PYTHONPATH=. .venv/bin/python scripts/web/measure.py

Uses the test site of tests/web_support.py on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from index.embedding import load_encoder
from index.store import NewsIndex
from index.web.extract import extract_page
from index.web.fetch import FetchPolicy
from qa.service import QAService
from qa.web import WebSources
from tests.web_support import BOILERPLATE, FIXTURES, PAGES, Reply, news_site, rss, story_page

ENTRIES = 50


def extraction() -> None:
    """Each fixture page's metadata and whether any boilerplate line survived."""
    for path, fixture in PAGES.items():
        html = (FIXTURES / fixture).read_text(encoding="utf-8").replace("{base}", "https://x.test")
        page = extract_page(html, "https://x.test" + path)
        a = page.article
        leaked = [b for b in BOILERPLATE if b.lower() in a.text.lower()]
        print(f"{fixture}:")
        print(f"  title     {a.title!r}")
        print(f"  published {a.published!r}  source {a.source!r}  site {page.site_name!r}")
        print(f"  author    {page.author!r}  language {page.language!r}")
        print(f"  canonical {page.canonical_url!r}")
        print(f"  text      {len(a.text)} chars, starts {a.text[:70]!r}")
        print(f"  ends      {a.text[-70:]!r}")
        print(f"  boilerplate kept: {leaked or 'none'}")


def feed_poll() -> None:
    """One poll of a fresh feed of ENTRIES stories, then a second poll that fetches nothing."""
    encoder = load_encoder(None)
    day = datetime(2025, 10, 20, 8, 0, tzinfo=UTC)
    with news_site() as site, tempfile.TemporaryDirectory() as tmp:
        items = []
        for n in range(ENTRIES):
            site.routes[f"/stories/{n}"] = Reply(body=story_page(site.base, n))
            items.append((f"story-{n}", f"/stories/{n}", f"Story {n}", day + timedelta(hours=n)))
        site.routes["/feed.rss"] = Reply(
            body=rss(site.base, items), content_type="application/rss+xml", etag='"v1"'
        )
        web = WebSources(
            QAService(NewsIndex(Path(tmp), encoder)), FetchPolicy.from_allow(["127.0.0.1"])
        )
        web.add_feed(site.url("/feed.rss"))
        for label in ("first poll", "second poll (304)"):
            start = time.perf_counter()
            report = web.poll(every=True)
            took = time.perf_counter() - start
            print(f"{label}: {took:.2f} s  {report}")
        web.close()


if __name__ == "__main__":
    extraction()
    feed_poll()
