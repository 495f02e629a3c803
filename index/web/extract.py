"""An article page's main text and metadata, through trafilatura, offline.

Menus, share bars, related links, comment threads and cookie notices are left out by trafilatura
(comments explicitly); what it returns is taken as the article.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import lxml.etree
import lxml.html

from index.articles import Article
from index.errors import NewsqaError
from index.web.urls import host_of, normalize_url, same_site, url_id

with warnings.catch_warnings():
    # trafilatura's own downloader (never used: pages come through index.web.fetch) probes
    # urllib3 for SOCKS support on import and warns when it is missing
    warnings.simplefilter("ignore")
    import trafilatura

# An "article" shorter than this is a listing, a paywall teaser or an error page.
MIN_TEXT_CHARS = 200
# htmldate: the original publication date, with its time when the page gives one
_DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}


class ExtractError(NewsqaError):
    """A page from which no article could be extracted."""


@dataclass(frozen=True, slots=True)
class Page:
    """An extracted article page: the article to index and what else the page said."""

    article: Article
    canonical_url: str | None
    author: str | None
    language: str | None
    site_name: str | None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _language(html: str | bytes) -> str | None:
    """`<html lang>`, else og:locale: what the page says it is written in."""
    try:
        root = lxml.html.fromstring(html)
    except (ValueError, lxml.etree.ParserError):
        return None
    lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    if not lang:
        locales = root.xpath("//meta[@property='og:locale']/@content")
        lang = str(locales[0]) if locales else None
    if not lang:
        return None
    return lang.strip().replace("_", "-").split("-")[0].lower() or None


def _date(value: str | None) -> str | None:
    """htmldate gives a date read from JSON-LD as midnight without a zone; say only the day."""
    if value is not None and value.endswith("T00:00:00"):
        return value.removesuffix("T00:00:00")
    return value


def _body(text: str, title: str) -> str:
    """The article text without the headline trafilatura sometimes repeats as its first line."""
    first, _, rest = text.partition("\n")
    if first.strip() == title.strip() and rest.strip():
        return rest
    return text


def extract_page(
    html: str | bytes,
    url: str | None,
    *,
    fallback_id: str | None = None,
    published: str | None = None,
) -> Page:
    """The article on a page fetched from `url` (or read from a file: url None).

    The page's canonical URL is its identity when it is on the page's own site; otherwise the
    fetched URL is. `published` fills in when the page gives no date (a feed entry's date).
    """
    document = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        date_extraction_params=_DATE_PARAMS,
    )
    text = getattr(document, "text", None) if document is not None else None
    if not isinstance(text, str) or len(text.strip()) < MIN_TEXT_CHARS:
        raise ExtractError("no article text found on the page")
    title = _text(getattr(document, "title", None))
    if title is None:
        raise ExtractError("the page has no title")
    canonical = _canonical(_text(getattr(document, "url", None)), url)
    identity = canonical or fallback_id
    if identity is None:
        raise ExtractError("the page has neither a URL nor a canonical link")
    site_name = _text(getattr(document, "sitename", None))
    article = Article(
        id=url_id(identity) if canonical else identity,
        title=title,
        text=_body(text, title),
        source=site_name or (host_of(canonical) or None if canonical else None),
        url=canonical,
        published=_date(_text(getattr(document, "date", None))) or published,
    )
    return Page(
        article=article,
        canonical_url=canonical,
        author=_text(getattr(document, "author", None)),
        language=_language(html),
        site_name=site_name,
    )


def _canonical(claimed: str | None, fetched: str | None) -> str | None:
    if (
        claimed
        and claimed.startswith(("http://", "https://"))
        and (fetched is None or same_site(claimed, fetched))
    ):
        return normalize_url(claimed)
    return normalize_url(fetched) if fetched else None
