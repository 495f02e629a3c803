"""A web article's identity: its canonical URL, normalised, with tracking parameters dropped."""

from __future__ import annotations

import httpx

from index.articles import canonical_url, key_id

# prefixes that name the same site (mobile and AMP editions)
_SITE_PREFIXES = ("www.", "m.", "amp.", "mobile.")


def normalize_url(url: str) -> str:
    """The canonical form every way in uses (index.articles.canonical_url): lower-case scheme
    and host, no default port, no fragment, tracking parameters (utm_*, fbclid, gclid and the
    like) dropped, the query sorted."""
    return canonical_url(url) or url.strip()


def url_id(url: str) -> str:
    """The article id of a web page: the id a record with this `url` gets, so a page fetched
    and the same page sent as JSON are one article."""
    return key_id("url:" + normalize_url(url))


def host_of(url: str) -> str:
    """The URL's host in lower case ('' when it has none)."""
    try:
        return httpx.URL(url).host.lower()
    except (httpx.InvalidURL, TypeError):
        return ""


def _site(host: str) -> str:
    for prefix in _SITE_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def same_site(a: str, b: str) -> bool:
    """Whether two URLs belong to one site (one host is the other or a subdomain of it).

    A page may only claim a canonical URL on its own site: otherwise any page could take over
    another outlet's article by naming its URL.
    """
    host_a, host_b = _site(host_of(a)), _site(host_of(b))
    if not host_a or not host_b:
        return False
    return host_a == host_b or host_a.endswith("." + host_b) or host_b.endswith("." + host_a)
