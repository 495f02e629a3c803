"""robots.txt, read through the same guarded fetcher and kept per site for a while."""

from __future__ import annotations

import threading
import time
import urllib.robotparser

import httpx

from index.web.fetch import ContentTypeError, Fetcher, FetchError

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
        self._cache: dict[str, tuple[float, urllib.robotparser.RobotFileParser]] = {}
        self._lock = threading.Lock()

    def allowed(self, url: str) -> bool:
        """True when robots.txt lets newsqa fetch the URL."""
        return self._rules(url).can_fetch(self.agent, url)

    def _rules(self, url: str) -> urllib.robotparser.RobotFileParser:
        parsed = httpx.URL(url)
        origin = str(parsed.copy_with(path="/", query=None, fragment=None)).rstrip("/")
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(origin)
        if cached is not None and cached[0] > now:
            return cached[1]
        rules, ttl = self._read(origin + "/robots.txt")
        with self._lock:
            self._cache[origin] = (now + ttl, rules)
        return rules

    def _read(self, robots_url: str) -> tuple[urllib.robotparser.RobotFileParser, float]:
        rules = urllib.robotparser.RobotFileParser(robots_url)
        try:
            fetched = self.fetcher.fetch(robots_url, "robots")
        except ContentTypeError:
            # an HTML "not found" page served for robots.txt: no rules
            rules.parse(ALLOW_ALL)
            return rules, self.ttl
        except FetchError:
            # unreachable or refused: nothing is fetched from the site until it can be read
            rules.parse(DISALLOW_ALL)
            return rules, ROBOTS_ERROR_TTL
        # as urllib.robotparser.read does: 401/403 forbid everything, other 4xx allow it
        if fetched.status in (401, 403):
            rules.parse(DISALLOW_ALL)
        elif 400 <= fetched.status < 500:
            rules.parse(ALLOW_ALL)
        elif fetched.status >= 500:
            rules.parse(DISALLOW_ALL)
            return rules, ROBOTS_ERROR_TTL
        else:
            rules.parse(fetched.body.decode("utf-8", "replace").splitlines())
        return rules, self.ttl
