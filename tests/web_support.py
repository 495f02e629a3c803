"""A small news site on 127.0.0.1 for the web tests: fixture pages, feeds, and misbehaviour."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "web"

# Sentences of each fixture page that are not the article: none may ever be indexed.
BOILERPLATE = [
    # wordpress-blog.html
    "We use cookies to improve your experience",
    "Subscribe for three euros a month",
    "Share on Facebook",
    "Email this story to a friend",
    "Fish market reopens with twelve new stalls",
    "taking the long way round the bridge",
    "Will dogs still be allowed on board",
    "Your email address will not be published",
    "Proudly powered by WordPress",
    # news-jsonld.html
    "store and access information on your device",
    "Sign up to our morning newsletter",
    "Live updates from the council budget debate",
    "Share this article on WhatsApp",
    "Flood barriers tested ahead of winter",
    "Get the stories that matter in your inbox",
    "Apple harvest down a third",
    "My garden fence ended up three houses down",
    "Closing the bridge without telling anyone",
    "Terms of use",
    # divs-opengraph.html
    "Log in to your account",
    "This website uses cookies",
    "Share on LinkedIn",
    "Village choir wins national title",
    "Telescopes at half price",
    # french-news-budapest.html
    "Nous utilisons des cookies",
    "Abonnez-vous",
    "Partager sur Facebook",
    "Lire aussi",
    "Sommet en Alaska : ce qu'il faut retenir",
    "Encore un sommet qui ne donnera rien",
    "Orban tient sa promesse",
    "Participer à la discussion",
    "Mentions légales",
]

# path on the test site -> fixture file, and what the extractor must find there
PAGES = {
    "/2025/10/harbour-ferry-returns/": "wordpress-blog.html",
    "/news/2025/11/03/storm-amelie-schools": "news-jsonld.html",
    "/science/asteroid-named-after-teacher": "divs-opengraph.html",
    "/international/2025/10/16/trump-et-poutine-vont-se-voir-a-budapest_4521.html": (
        "french-news-budapest.html"
    ),
}


@dataclass(slots=True)
class Reply:
    """What the site answers on one path."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    # the response waits for this before it is sent (set it to let the reply go)
    gate: threading.Event | None = None
    # streamed in chunks without a Content-Length
    chunked: bool = False
    etag: str | None = None
    last_modified: str | None = None


Route = Reply | Callable[[BaseHTTPRequestHandler], Reply]


class NewsSite:
    """Routes, and a count of the requests each path received."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.base = ""
        self.lock = threading.Lock()

    def page(self, path: str, fixture: str) -> None:
        """Serve a fixture page, its {base} placeholders pointing at this site."""
        text = (FIXTURES / fixture).read_text(encoding="utf-8").replace("{base}", self.base)
        self.routes[path] = Reply(body=text.encode("utf-8"))

    def all_pages(self) -> list[str]:
        """Serve every fixture page; their URLs."""
        for path, fixture in PAGES.items():
            self.page(path, fixture)
        return [self.base + path for path in PAGES]

    def url(self, path: str) -> str:
        """An address on this site."""
        return self.base + path

    def count(self, path: str) -> int:
        """Requests received for a path (query strings included in the path)."""
        with self.lock:
            return self.hits[path]


def _handler(site: NewsSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return None

        def do_GET(self) -> None:
            with site.lock:
                site.hits[self.path] += 1
            route = site.routes.get(self.path) or site.routes.get(self.path.split("?")[0])
            if route is None:
                reply = Reply(status=404, body=b"not found", content_type="text/plain")
            elif callable(route):
                reply = route(self)
            else:
                reply = route
            if reply.gate is not None:
                reply.gate.wait(30)
            if (reply.etag is not None and self.headers.get("If-None-Match") == reply.etag) or (
                reply.last_modified is not None
                and self.headers.get("If-Modified-Since") == reply.last_modified
            ):
                self.send_response(304)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(reply.status)
            if reply.content_type:
                self.send_header("Content-Type", reply.content_type)
            if reply.etag is not None:
                self.send_header("ETag", reply.etag)
            if reply.last_modified is not None:
                self.send_header("Last-Modified", reply.last_modified)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for start in range(0, len(reply.body), 1 << 20):
                        chunk = reply.body[start : start + (1 << 20)]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                return
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            try:
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


@contextmanager
def news_site() -> Iterator[NewsSite]:
    """A running site on a free loopback port."""
    site = NewsSite()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def http_date(when: datetime) -> str:
    """An RFC 2822 date as feeds and HTTP headers write them."""
    return format_datetime(when.astimezone(UTC))


def rss(base: str, items: list[tuple[str, str, str, datetime]], title: str = "Test feed") -> bytes:
    """An RSS 2.0 feed of (guid, link path, title, published) items."""
    entries = "".join(
        f'<item><guid isPermaLink="false">{guid}</guid><title>{name}</title>'
        f"<link>{base}{path}</link><pubDate>{http_date(when)}</pubDate>"
        f"<description>{name}</description></item>"
        for guid, path, name, when in items
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>{base}/</link><description>news</description>"
        f"{entries}</channel></rss>"
    ).encode()


def atom(base: str, items: list[tuple[str, str, str, datetime]], title: str = "Atom feed") -> bytes:
    """An Atom feed of (id, link path, title, updated) entries."""
    entries = "".join(
        f"<entry><id>{entry_id}</id><title>{name}</title>"
        f'<link rel="alternate" href="{base}{path}"/><updated>{when.isoformat()}</updated>'
        f"<summary>{name}</summary></entry>"
        for entry_id, path, name, when in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>{title}</title><id>{base}/atom</id><updated>2025-11-03T09:00:00Z</updated>"
        f"{entries}</feed>"
    ).encode()


def story_page(base: str, number: int, edition: str = "") -> bytes:
    """A generated news page (one per number) with the usual chrome around its story."""
    path = f"/stories/{number}"
    towns = ["Alder", "Brook", "Cedar", "Dunmore", "Elm", "Fenwick", "Glen", "Harrow"]
    town = towns[number % len(towns)]
    paragraphs = [
        f"The {town} council voted on Wednesday to spend {number + 2} million euros on "
        f"a new library, story number {number}.",
        f"Construction of the {town} library will start in spring and take {number % 5 + 2} "
        "years, the mayor said.",
        f"Residents of {town} collected {1000 + number * 37} signatures for the project, which "
        "had been postponed twice because of rising building costs.",
        f"The building will hold a reading room, a children's floor and a cafe overlooking "
        f"the river in {town}{edition}.",
    ]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{town} approves new library ({number}) | Town Crier</title>"
        f'<link rel="canonical" href="{base}{path}">'
        f'<meta property="og:title" content="{town} approves new library ({number})">'
        f'<meta property="og:site_name" content="Town Crier">'
        f'<meta property="article:published_time" '
        f'content="2025-10-{number % 28 + 1:02d}T08:00:00Z">'
        f"</head><body>"
        f'<div class="cookie-banner">We use cookies to improve your experience on our website '
        f"and to show you relevant advertising.</div>"
        f'<nav><a href="/">Home</a> <a href="/local">Local news</a></nav>'
        f"<main><article><h1>{town} approves new library ({number})</h1>{body}</article>"
        f'<aside class="related"><h2>Related</h2><a href="/x">Fish market reopens with twelve '
        f"new stalls</a></aside></main></body></html>"
    ).encode()
