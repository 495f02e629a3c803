"""Article pages into articles: URLs fetched under the policy, and .html/.htm files on disk."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from index.articles import SUFFIXES, ReadResult, Skipped
from index.errors import NewsqaError
from index.web.extract import Page, extract_page
from index.web.fetch import Fetcher, FetchError, check_url
from index.web.robots import RobotsRules
from index.web.urls import url_id

log = logging.getLogger("newsqa.web")

HTML_SUFFIXES = frozenset({".html", ".htm"})


def is_url(value: str) -> bool:
    """Whether a command-line argument is a web address rather than a path."""
    return value.strip().lower().startswith(("http://", "https://"))


@dataclass(slots=True)
class Inputs:
    """Command-line inputs sorted by how they are read."""

    urls: list[str] = field(default_factory=list)
    html_files: list[Path] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)


def sort_inputs(values: Iterable[str]) -> Inputs:
    """URLs, HTML files (and those inside folders), and everything else for the file reader."""
    inputs = Inputs()
    for value in values:
        if is_url(value):
            inputs.urls.append(value.strip())
            continue
        path = Path(value)
        if path.is_file() and path.suffix.lower() in HTML_SUFFIXES:
            inputs.html_files.append(path)
        elif path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in HTML_SUFFIXES
            )
            inputs.html_files.extend(found)
            # a folder of only HTML pages is not reported empty by the file reader
            if not found or any(p.suffix.lower() in SUFFIXES for p in path.rglob("*")):
                inputs.paths.append(path)
        else:
            inputs.paths.append(path)
    return inputs


def read_html_file(path: Path) -> Page:
    """A saved article page: its canonical link is its identity, else its path."""
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise FetchError(str(path), f"cannot read: {exc.strerror or exc}") from None
    return extract_page(payload, None, fallback_id=url_id(path.resolve().as_uri()))


class WebReader:
    """Fetches article pages (robots.txt first) and extracts their articles."""

    def __init__(self, fetcher: Fetcher, robots: RobotsRules | None = None) -> None:
        self.fetcher = fetcher
        self.robots = robots or RobotsRules(fetcher)

    def read_url(self, url: str, *, published: str | None = None) -> Page:
        """One article page, or FetchError / ExtractError saying why not."""
        checked = check_url(url)
        try:
            self.robots.check(checked)
        except FetchError as exc:
            raise FetchError(url, exc.reason) from None
        fetched = self.fetcher.fetch(checked, "page")
        return extract_page(fetched.body, fetched.final_url, published=published)

    def read(self, urls: Iterable[str], html_files: Iterable[Path] = ()) -> ReadResult:
        """Every page that can be read; each one that cannot is skipped with its reason."""
        result = ReadResult()
        for url in urls:
            try:
                page = self.read_url(url)
            except NewsqaError as exc:
                reason = exc.reason if isinstance(exc, FetchError) else str(exc)
                log.warning("skipped %s: %s", url, reason)
                result.skipped.append(Skipped(url, reason))
                continue
            log.info("read %s: %s", url, page.article.title)
            result.articles.append(page.article)
        for path in html_files:
            try:
                result.articles.append(read_html_file(path).article)
            except NewsqaError as exc:
                reason = exc.reason if isinstance(exc, FetchError) else str(exc)
                result.skipped.append(Skipped(str(path), reason))
        return result
