"""Article pages into the index: only the article, with its title, date and canonical URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.store import NewsIndex
from index.web.fetch import FetchPolicy
from index.web.urls import url_id
from qa.service import QAService
from qa.web import WebSources
from tests.fakes import FakeEncoder
from tests.web_support import BOILERPLATE, FIXTURES, PAGES, NewsSite, Reply, news_site

LOCAL = FetchPolicy.from_allow(["127.0.0.1"])


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as running:
        yield running


@pytest.fixture
def web(tmp_path: Path, fake_encoder: FakeEncoder) -> Iterator[WebSources]:
    sources = WebSources(QAService(NewsIndex(tmp_path / "data", fake_encoder)), LOCAL)
    yield sources
    sources.close()


def _all_sentences(service: QAService) -> list[str]:
    infos, _ = service.articles(0, 100)
    return [s.text for info in infos for s in service.article(info.id)[1]]


def test_only_the_article_text_of_each_layout_is_indexed(site: NewsSite, web: WebSources) -> None:
    outcome = web.ingest_urls(site.all_pages())
    assert not outcome.skipped
    assert len(outcome.report.added) == 4
    sentences = _all_sentences(web.service)
    assert len(sentences) > 30
    leaked = [(b, s) for b in BOILERPLATE for s in sentences if b.lower() in s.lower()]
    assert leaked == []
    for text in (
        "The crossing takes seven minutes and the first boat leaves the fish market pier",
        "About 18,000 homes lost power, according to the grid operator",
        "The rock is about four kilometres across",
        "Then President Putin and I will meet at a previously agreed upon location, Budapest",
    ):
        assert any(text in s for s in sentences), text


def test_asking_for_boilerplate_returns_none_of_it(site: NewsSite, web: WebSources) -> None:
    web.ingest_urls(site.all_pages())
    for question in (
        "We use cookies to improve your experience on our website",
        "Nous utilisons des cookies pour mesurer l'audience",
        "My garden fence ended up three houses down the road this morning",
        "Share this article on Facebook",
    ):
        answers = web.service.ask(question, k=10, include_closest=True).answers
        assert answers, question
        words = question.lower()[:25]
        assert not any(words in a.sentence.lower() for a in answers), question


@pytest.mark.parametrize(
    ("path", "title", "published", "source"),
    [
        (
            "/2025/10/harbour-ferry-returns/",
            "Harbour ferry returns after two-year refit",
            "2025-10-14T07:30:00+0000",
            "The Quayside Chronicle",
        ),
        (
            "/news/2025/11/03/storm-amelie-schools",
            "Storm Amelie closes schools across the valley",
            "2025-11-03",
            "Valley Daily News",
        ),
        (
            "/science/asteroid-named-after-teacher",
            "Observatory names asteroid after retired schoolteacher",
            "2025-09-22T15:00:00+0000",
            "Northern Sky Gazette",
        ),
        (
            "/international/2025/10/16/trump-et-poutine-vont-se-voir-a-budapest_4521.html",
            "Trump et Poutine vont se voir à Budapest",
            "2025-10-16",
            "Le Courrier du Matin",
        ),
    ],
)
def test_title_date_source_and_canonical_url_are_right(
    site: NewsSite, web: WebSources, path: str, title: str, published: str, source: str
) -> None:
    site.all_pages()
    # fetched through a tracking link: the canonical URL is still the identity
    page = web.reader.read_url(site.url(path) + "?utm_source=newsletter&utm_medium=email")
    article = page.article
    assert article.title == title
    assert (article.published or "").startswith(published)
    assert article.source == source
    assert article.url == site.url(path)
    assert article.id == url_id(site.url(path))
    assert not article.text.startswith(title)


def test_author_and_language_come_from_the_page(site: NewsSite, web: WebSources) -> None:
    site.all_pages()
    french = web.reader.read_url(site.url(next(p for p in PAGES if "budapest" in p)))
    assert french.language == "fr"
    blog = web.reader.read_url(site.url("/2025/10/harbour-ferry-returns/"))
    assert (blog.author, blog.language) == ("Maria Lindqvist", "en")


def test_the_same_story_twice_or_through_a_tracking_link_is_one_article(
    site: NewsSite, web: WebSources, fake_encoder: FakeEncoder
) -> None:
    url = site.all_pages()[0]
    first = web.ingest_urls([url])
    embedded = fake_encoder.encoded
    again = web.ingest_urls([url, url + "?utm_source=x&fbclid=abc", url + "#comments"])
    assert again.report.added == []
    assert again.report.unchanged == first.report.added
    assert fake_encoder.encoded == embedded
    assert web.service.stats().articles == 1


def test_a_changed_story_replaces_its_sentences(site: NewsSite, web: WebSources) -> None:
    url = site.all_pages()[1]
    web.ingest_urls([url])
    path = url.removeprefix(site.base)
    html = (FIXTURES / PAGES[path]).read_text(encoding="utf-8").replace("{base}", site.base)
    site.routes[path] = Reply(
        body=html.replace("About 18,000 homes", "About 25,000 homes").encode()
    )
    outcome = web.ingest_urls([url])
    assert outcome.report.replaced == [url_id(url)]
    sentences = _all_sentences(web.service)
    assert any("About 25,000 homes lost power" in s for s in sentences)
    assert not any("18,000" in s for s in sentences)


def test_a_page_claiming_another_sites_canonical_url_keeps_its_own(
    site: NewsSite, web: WebSources
) -> None:
    html = (FIXTURES / "wordpress-blog.html").read_text(encoding="utf-8")
    site.routes["/copy"] = Reply(
        body=html.replace("{base}", "https://victim.example").encode("utf-8")
    )
    article = web.reader.read_url(site.url("/copy")).article
    assert article.url == site.url("/copy")
    assert article.id == url_id(site.url("/copy"))


def test_html_files_are_read_through_the_same_extractor(web: WebSources, tmp_path: Path) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    sky = (FIXTURES / "divs-opengraph.html").read_text(encoding="utf-8")
    (folder / "asteroid.htm").write_text(sky.replace("{base}", "https://sky.example"), "utf-8")
    (folder / "note.txt").write_text("A note\nThe council met on Tuesday.\n", encoding="utf-8")
    plain = (FIXTURES / "news-jsonld.html").read_text(encoding="utf-8")
    no_link = plain.replace(
        '<link rel="canonical" href="{base}/news/2025/11/03/storm-amelie-schools">', ""
    )
    (tmp_path / "storm.html").write_text(no_link.replace("{base}", ""), encoding="utf-8")
    outcome = web.ingest_inputs([str(folder), str(tmp_path / "storm.html")])
    assert not outcome.skipped
    assert len(outcome.report.added) == 3
    titles = {info.title: info for info in web.service.articles(0, 10)[0]}
    asteroid = titles["Observatory names asteroid after retired schoolteacher"]
    assert asteroid.url == "https://sky.example/science/asteroid-named-after-teacher"
    assert asteroid.id == url_id(asteroid.url)
    # no canonical link: the file is its identity
    storm = titles["Storm Amelie closes schools across the valley"]
    assert storm.url is None
    assert storm.id == url_id((tmp_path / "storm.html").resolve().as_uri())
    sentences = _all_sentences(web.service)
    assert not any("cookies" in s for s in sentences)
