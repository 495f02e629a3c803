"""robots.txt, read through the same guarded fetcher and kept per site for a while."""

from __future__ import annotations

import threading
import time
import urllib.robotparser

import httpx

from index.web.fetch import ContentTypeError, Fetcher, FetchError, RefusedAddressError

ROBOTS_TTL = 3600.0
# a site whose robots.txt could not be read is asked again sooner
ROBOTS_ERROR_TTL = 300.0
AGENT = "newsqa"
ALLOW_ALL: list[str] = []
DISALLOW_ALL = ["User-agent: *", "Disallow: /"]


class RobotsRules:
    """Whether newsqa may fetch a URL, by the site's robots.txt (cached per origin)."""

    def __init__(self, fetcher: Fetcher, *, agent: str = AGENT, ttl: float = ROBOTS_TTL) -> None:
        self.fetcher = fetcher
        self.agent = agent
        self.ttl = ttl
        self._cache: dict[str, tuple[float, urllib.robotparser.RobotFileParser, str | None]] = {}
        self._lock = threading.Lock()

    def check(self, url: str) -> None:
        """FetchError unless robots.txt lets newsqa fetch the URL."""
        parsed = httpx.URL(url)
        origin = str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(origin)
        if cached is None or cached[0] <= now:
            rules, ttl, error = self._read(origin + "/robots.txt")
            cached = (now + ttl, rules, error)
            with self._lock:
                self._cache[origin] = cached
        _, rules, error = cached
        if error is not None:
            raise FetchError(url, f"robots.txt could not be read ({error}); not fetched")
        if not rules.can_fetch(self.agent, url):
            raise FetchError(url, "robots.txt does not allow newsqa to fetch it")

    def _read(
        self, robots_url: str
    ) -> tuple[urllib.robotparser.RobotFileParser, float, str | None]:
        rules = urllib.robotparser.RobotFileParser(robots_url)
        try:
            fetched = self.fetcher.fetch(robots_url, "robots")
        except ContentTypeError:
            # an HTML "not found" page served for robots.txt: no rules
            rules.parse(ALLOW_ALL)
            return rules, self.ttl, None
        except RefusedAddressError:
            # the page itself would be refused for the same reason: say that one
            raise
        except FetchError as exc:
            # unreachable: nothing is fetched from the site until robots.txt can be read
            return rules, ROBOTS_ERROR_TTL, exc.reason
        # as urllib.robotparser.read does: 401/403 forbid everything, other 4xx allow it
        if fetched.status in (401, 403):
            rules.parse(DISALLOW_ALL)
        elif 400 <= fetched.status < 500:
            rules.parse(ALLOW_ALL)
        elif fetched.status >= 500:
            return rules, ROBOTS_ERROR_TTL, f"the server answered {fetched.status}"
        else:
            rules.parse(fetched.body.decode("utf-8", "replace").splitlines())
        return rules, self.ttl, None
