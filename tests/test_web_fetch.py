"""Fetching that cannot be turned against us: private addresses, size, type, redirects, robots."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from index.web.fetch import Fetcher, FetchError, FetchPolicy
from index.web.pages import WebReader
from tests.web_support import NewsSite, Reply, news_site

LOCAL = FetchPolicy.from_allow(["127.0.0.1"])


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with news_site() as running:
        yield running


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Every address a socket was opened to."""
    opened: list[tuple[Any, ...]] = []
    real = socket.create_connection

    def record(address: tuple[Any, ...], *args: Any, **kwargs: Any) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", record)
    return opened


def _reason(fetcher: Fetcher, url: str) -> str:
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    return caught.value.reason


@pytest.mark.parametrize("target", ["http://10.0.0.1/admin", "http://169.254.169.254/latest/"])
def test_a_redirect_to_a_private_address_is_refused_before_connecting(
    site: NewsSite, connections: list[tuple[Any, ...]], target: str
) -> None:
    site.routes["/go"] = Reply(status=302, headers={"Location": target}, content_type=None)
    with Fetcher(LOCAL) as fetcher:
        reason = _reason(fetcher, site.url("/go"))
    host = target.split("/")[2]
    assert f"{host} is not a public address" in reason
    assert "redirected to" in reason
    assert site.count("/go") == 1
    assert [address[0] for address in connections] == ["127.0.0.1"]


def test_loopback_is_refused_unless_allowed(site: NewsSite) -> None:
    site.page("/a", "wordpress-blog.html")
    with Fetcher(FetchPolicy()) as fetcher:
        assert "127.0.0.1 is not a public address" in _reason(fetcher, site.url("/a"))
    assert site.count("/a") == 0
    with Fetcher(LOCAL) as fetcher:
        assert fetcher.fetch(site.url("/a")).status == 200


def test_a_name_is_checked_after_resolution_and_connected_to_the_checked_address(
    site: NewsSite, monkeypatch: pytest.MonkeyPatch, connections: list[tuple[Any, ...]]
) -> None:
    """DNS rebinding: the name is resolved once; a second answer is never used."""
    site.page("/a", "wordpress-blog.html")
    port = int(site.base.rsplit(":", 1)[1])
    answers = iter(["127.0.0.1", "10.0.0.1", "10.0.0.1"])
    asked: list[str] = []
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "news.example":  # the connection itself, to the checked address
            return real(host, *args, **kwargs)
        asked.append(host)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with Fetcher(LOCAL) as fetcher:
        fetched = fetcher.fetch(f"http://news.example:{port}/a")
        assert fetched.status == 200
        assert asked == ["news.example"]
        assert connections == [("127.0.0.1", port)]
        # a new connection resolves again, and that answer is private: refused
        fetcher.client.close()
    with Fetcher(LOCAL) as fetcher:
        reason = _reason(fetcher, f"http://news.example:{port}/a")
    assert "news.example (resolves to 10.0.0.1) is not a public address" in reason
    assert connections == [("127.0.0.1", port)]


def test_an_allowed_network_lets_a_name_through(
    site: NewsSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.page("/a", "wordpress-blog.html")
    port = int(site.base.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "intranet.test":
            return real(host, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with Fetcher(FetchPolicy.from_allow(["127.0.0.0/8"])) as fetcher:
        assert fetcher.fetch(f"http://intranet.test:{port}/a").status == 200
    with Fetcher(FetchPolicy.from_allow(["intranet.test"])) as fetcher:
        assert fetcher.fetch(f"http://intranet.test:{port}/a").status == 200
    with Fetcher(FetchPolicy.from_allow(["other.test"])) as fetcher:
        assert "not a public address" in _reason(fetcher, f"http://intranet.test:{port}/a")


def test_a_page_over_the_size_cap_is_abandoned(site: NewsSite) -> None:
    big = b"<html><body>" + b"<p>filler text</p>" * (30 * 1024 * 1024 // 18) + b"</body></html>"
    site.routes["/streamed"] = Reply(body=big, chunked=True)
    site.routes["/declared"] = Reply(body=big)
    with Fetcher(LOCAL) as fetcher:
        assert "larger than the limit of 5000000 bytes" in _reason(fetcher, site.url("/streamed"))
        assert "the limit is 5000000" in _reason(fetcher, site.url("/declared"))


def test_an_image_is_refused_by_its_content_type(site: NewsSite) -> None:
    site.routes["/photo"] = Reply(body=b"\x89PNG\r\n\x1a\n" + b"0" * 100, content_type="image/png")
    with Fetcher(LOCAL) as fetcher:
        reason = _reason(fetcher, site.url("/photo"))
    assert reason.startswith("content type image/png is not")


def test_redirect_loops_and_long_chains_are_refused(site: NewsSite) -> None:
    site.routes["/a"] = Reply(status=301, headers={"Location": "/b"}, content_type=None)
    site.routes["/b"] = Reply(status=302, headers={"Location": site.url("/a")}, content_type=None)
    for hop in range(8):
        site.routes[f"/hop{hop}"] = Reply(
            status=307, headers={"Location": f"/hop{hop + 1}"}, content_type=None
        )
    with Fetcher(LOCAL) as fetcher:
        assert "redirect loop" in _reason(fetcher, site.url("/a"))
        assert "more than 5 redirects" in _reason(fetcher, site.url("/hop0"))
    assert site.count("/a") == 1


def test_only_http_urls_without_credentials_are_fetched() -> None:
    with Fetcher(LOCAL) as fetcher:
        assert "only http and https" in _reason(fetcher, "file:///etc/passwd")
        assert "user name or password" in _reason(fetcher, "http://me:secret@127.0.0.1/")


def test_requests_say_who_is_asking(site: NewsSite) -> None:
    seen: list[str] = []

    def page(handler: Any) -> Reply:
        seen.append(handler.headers.get("User-Agent"))
        return Reply(body=b"<html><body>x</body></html>")

    site.routes["/ua"] = page
    with Fetcher(FetchPolicy.from_allow(["127.0.0.1"], user_agent="newsqa/9 (+ops@x)")) as f:
        f.fetch(site.url("/ua"))
    with Fetcher(LOCAL) as fetcher:
        fetcher.fetch(site.url("/ua"))
    assert seen[0] == "newsqa/9 (+ops@x)"
    assert seen[1].startswith("newsqa/")


def test_robots_txt_disallow_is_honoured(site: NewsSite) -> None:
    site.routes["/robots.txt"] = Reply(
        body=b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"
    )
    site.page("/private/story", "wordpress-blog.html")
    site.page("/open/story", "divs-opengraph.html")
    with Fetcher(LOCAL) as fetcher:
        read = WebReader(fetcher).read([site.url("/private/story"), site.url("/open/story")])
    assert [a.title for a in read.articles] == [
        "Observatory names asteroid after retired schoolteacher"
    ]
    assert [(s.where, s.reason) for s in read.skipped] == [
        (site.url("/private/story"), "robots.txt does not allow newsqa to fetch it")
    ]
    assert site.count("/private/story") == 0
    assert site.count("/robots.txt") == 1


def test_robots_txt_rules_for_newsqa_by_name_are_honoured(site: NewsSite) -> None:
    site.routes["/robots.txt"] = Reply(
        body=b"User-agent: newsqa\nDisallow: /\n\nUser-agent: *\nAllow: /\n",
        content_type="text/plain",
    )
    site.page("/open/story", "divs-opengraph.html")
    with Fetcher(LOCAL) as fetcher:
        read = WebReader(fetcher).read([site.url("/open/story")])
    assert not read.articles
    assert site.count("/open/story") == 0


def test_every_bad_page_is_skipped_with_its_reason_and_the_batch_goes_on(site: NewsSite) -> None:
    good = site.all_pages()
    site.routes["/to-metadata"] = Reply(
        status=302, headers={"Location": "http://169.254.169.254/"}, content_type=None
    )
    site.routes["/huge"] = Reply(body=b"<p>x</p>" * (4 * 1024 * 1024), chunked=True)
    site.routes["/image"] = Reply(body=b"\x89PNG....", content_type="image/png")
    site.routes["/loop"] = Reply(status=302, headers={"Location": "/loop"}, content_type=None)
    site.routes["/gone"] = Reply(status=410, body=b"gone", content_type="text/plain")
    bad = [site.url(p) for p in ("/to-metadata", "/huge", "/image", "/loop", "/gone")]
    with Fetcher(LOCAL) as fetcher:
        read = WebReader(fetcher).read(
            [bad[0], good[0], bad[1], bad[2], good[1], bad[3], *good[2:], bad[4]]
        )
    assert len(read.articles) == 4
    reasons = {s.where: s.reason for s in read.skipped}
    assert list(reasons) == bad
    assert "169.254.169.254 is not a public address" in reasons[bad[0]]
    assert "larger than the limit" in reasons[bad[1]]
    assert "image/png" in reasons[bad[2]]
    assert "redirect loop" in reasons[bad[3]]
    assert "the server answered 410" in reasons[bad[4]]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.215.14", True),
        ("2606:4700::6810:85e5", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:a00:1::", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::5db8:d70e", True),
    ],
)
def test_only_public_addresses_are_allowed(address: str, allowed: bool) -> None:
    assert FetchPolicy().address_allowed(ipaddress.ip_address(address)) is allowed


def test_allowed_networks_open_only_themselves() -> None:
    policy = FetchPolicy.from_allow(["10.0.0.0/8", " 127.0.0.1 ", "intranet.example."])
    assert policy.allow_hosts == frozenset({"intranet.example"})
    assert policy.address_allowed(ipaddress.ip_address("10.200.0.1"))
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    assert not policy.address_allowed(ipaddress.ip_address("192.168.0.1"))
