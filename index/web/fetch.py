"""Fetching from the web so that a link cannot be turned against us.

Every connection goes through `GuardedBackend`, which resolves the host once, checks every address
it resolves to, and connects to the checked address: a redirect to 10.0.0.1, a name that resolves
to 169.254.169.254, or a DNS answer that changes between check and connect (rebinding) are all
refused before a socket is opened. Redirects are followed by hand, each hop checked again; bodies
are streamed and abandoned past the size cap (counted after decompression); only the expected
content types are read.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

import httpcore
import httpx

from index.errors import NewsqaError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Kind = Literal["page", "feed", "robots"]

# What each kind of fetch may read; anything else is refused before its body is read.
CONTENT_TYPES: dict[Kind, frozenset[str]] = {
    "page": frozenset({"text/html", "application/xhtml+xml"}),
    "feed": frozenset(
        {
            "application/rss+xml",
            "application/atom+xml",
            "application/rdf+xml",
            "application/xml",
            "text/xml",
            # many servers send feeds as one of these
            "application/x-rss+xml",
            "text/rss+xml",
        }
    ),
    "robots": frozenset({"text/plain"}),
}
ACCEPT: dict[Kind, str] = {
    "page": "text/html,application/xhtml+xml;q=0.9",
    "feed": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.8",
    "robots": "text/plain",
}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _version() -> str:
    try:
        return version("newsqa")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0"


def user_agent(contact: str | None = None) -> str:
    """`newsqa/<version>`, with where site owners can reach the operator when one is given."""
    base = f"newsqa/{_version()}"
    return f"{base} (+{contact})" if contact else base


class FetchError(NewsqaError):
    """A URL that could not be fetched, with the reason a person can act on."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class ContentTypeError(FetchError):
    """A response of another kind than the one asked for (an image where a page was expected)."""


class RefusedAddressError(FetchError):
    """A URL whose host is not a public address (and not allowed by NEWSQA_FETCH_ALLOW)."""


class BlockedAddressError(Exception):
    """A connection the policy refuses (raised before any socket is opened)."""


def parse_allow(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """Split NEWSQA_FETCH_ALLOW entries into host names and networks (`127.0.0.1`, `10.0.0.0/8`)."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            hosts.add(entry.rstrip("."))
    return frozenset(hosts), tuple(networks)


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits of every fetch; the defaults suit news pages and feeds."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    # a server that trickles bytes inside the read timeout is still cut off here
    total_timeout: float = 30.0
    user_agent: str = field(default_factory=user_agent)

    @classmethod
    def from_allow(cls, allow: Iterable[str], **limits: Any) -> FetchPolicy:
        """A policy allowing the given hosts or networks besides the public Internet."""
        hosts, networks = parse_allow(allow)
        return cls(allow_hosts=hosts, allow_networks=networks, **limits)

    def address_allowed(self, address: IPAddress) -> bool:
        """Public unicast addresses, and whatever NEWSQA_FETCH_ALLOW names."""
        if isinstance(address, ipaddress.IPv6Address):
            # an IPv4 address carried inside an IPv6 one is judged as itself
            embedded = address.ipv4_mapped or address.sixtofour
            if embedded is None and address in _NAT64:
                embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            if embedded is not None:
                return self.address_allowed(embedded)
        if any(address in network for network in self.allow_networks):
            return True
        # is_global is False for private, loopback, link-local, shared (100.64/10), reserved,
        # documentation and unspecified ranges; multicast is global for some ranges, so twice.
        return address.is_global and not address.is_multicast


class GuardedBackend(httpcore.SyncBackend):
    """Resolves once, refuses non-public addresses, connects to the address it checked."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address the host resolves to; refused unless each one is allowed."""
        name = host.strip("[]").lower().rstrip(".")
        try:
            literal: IPAddress | None = ipaddress.ip_address(name)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise httpcore.ConnectError(f"cannot resolve {name}: {exc.strerror}") from exc
            except (UnicodeError, OSError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
            addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if literal is None and name in self.policy.allow_hosts:
            return addresses
        refused = [a for a in addresses if not self.policy.address_allowed(a)]
        if refused:
            shown = ", ".join(str(a) for a in refused)
            what = name if literal is not None else f"{name} (resolves to {shown})"
            raise BlockedAddressError(
                f"{what} is not a public address; NEWSQA_FETCH_ALLOW can allow it"
            )
        return addresses

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self.resolve(host, port)
        # TLS still verifies the certificate against the name: httpcore takes the server
        # name from the request's origin, not from the address connected to.
        return super().connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options=socket_options
        )


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport with its connection pool on the guarded backend and no proxies."""

    def __init__(self, policy: FetchPolicy) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx takes no network backend of its own; its pool is rebuilt with one (the test of
        # a redirect to a private address fails if this stops taking effect).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=20,
            # no idle connections: a Fetcher held by a long-lived object (the bot, the API)
            # leaves no socket open between its rare fetches
            max_keepalive_connections=0,
            network_backend=GuardedBackend(policy),
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A response that passed every check."""

    url: str
    final_url: str
    status: int
    content_type: str | None
    body: bytes
    headers: Mapping[str, str]

    @property
    def not_modified(self) -> bool:
        """The server said our copy is current (conditional request)."""
        return self.status == 304


def _media_type(value: str | None) -> str | None:
    if not value:
        return None
    return value.split(";")[0].strip().lower() or None


class Fetcher:
    """One HTTP client under one policy; safe to share between threads."""

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        self.client = httpx.Client(
            transport=GuardedTransport(self.policy),
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(
                self.policy.read_timeout, connect=self.policy.connect_timeout, pool=5.0
            ),
            headers={"User-Agent": self.policy.user_agent},
        )

    def close(self) -> None:
        """Close the connections."""
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(
        self, url: str, kind: Kind = "page", *, headers: Mapping[str, str] | None = None
    ) -> Fetched:
        """GET a URL under the policy, or raise FetchError saying why not.

        4xx and 5xx answers are returned for robots.txt (whose rules depend on them) and raised
        otherwise; 304 is returned when conditional headers were sent.
        """
        current = check_url(url)
        seen = {current}
        deadline = time.monotonic() + self.policy.total_timeout
        for hop in range(self.policy.max_redirects + 1):
            response = self._get(url, current, kind, headers, deadline, redirected=hop > 0)
            if response.status not in REDIRECTS:
                return response
            location = response.headers.get("location")
            if not location:
                raise FetchError(url, f"redirect ({response.status}) without a Location")
            target = str(httpx.URL(current).join(location))
            try:
                target = check_url(target)
            except FetchError as exc:
                raise FetchError(url, f"redirected to {target}: {exc.reason}") from None
            if target in seen:
                raise FetchError(url, f"redirect loop at {target}")
            seen.add(target)
            current = target
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _get(
        self,
        url: str,
        current: str,
        kind: Kind,
        headers: Mapping[str, str] | None,
        deadline: float,
        *,
        redirected: bool,
    ) -> Fetched:
        request_headers = {"Accept": ACCEPT[kind], **(headers or {})}
        where = f" (redirected to {current})" if redirected else ""
        try:
            with self.client.stream("GET", current, headers=request_headers) as response:
                status = response.status_code
                if status in REDIRECTS or status == 304:
                    return Fetched(url, current, status, None, b"", dict(response.headers))
                if status >= 400 and kind != "robots":
                    raise FetchError(url, f"the server answered {status}{where}")
                media = _media_type(response.headers.get("content-type"))
                if status < 400 and media not in CONTENT_TYPES[kind]:
                    raise ContentTypeError(
                        url,
                        f"content type {media or '(none)'} is not "
                        f"{' or '.join(sorted(CONTENT_TYPES[kind]))}{where}",
                    )
                body = self._read(url, response, deadline)
                return Fetched(url, current, status, media, body, dict(response.headers))
        except BlockedAddressError as exc:
            raise RefusedAddressError(url, f"refused{where}: {exc}") from None
        except httpx.TimeoutException:
            raise FetchError(url, f"timed out{where}") from None
        except httpx.HTTPError as exc:
            raise FetchError(url, f"{type(exc).__name__}: {exc}{where}") from None

    def _read(self, url: str, response: httpx.Response, deadline: float) -> bytes:
        cap = self.policy.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise FetchError(url, f"the body is {int(declared)} bytes; the limit is {cap}")
        chunks: list[bytes] = []
        size = 0
        # iter_bytes decompresses, so a small gzip bomb is caught by the same cap
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise FetchError(url, f"the body is larger than the limit of {cap} bytes")
            if time.monotonic() > deadline:
                raise FetchError(url, f"took longer than {self.policy.total_timeout:.0f} s")
            chunks.append(chunk)
        return b"".join(chunks)


def check_url(url: str) -> str:
    """An absolute http(s) URL without credentials, or FetchError."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise FetchError(url, f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(url, "only http and https URLs are fetched")
    if not parsed.host:
        raise FetchError(url, "the URL has no host")
    if parsed.userinfo:
        raise FetchError(url, "URLs with a user name or password are not fetched")
    if len(parsed.host) > 253 or any(len(label) > 63 for label in parsed.host.split(".")):
        raise FetchError(url, "the host name is too long")
    return str(parsed.copy_with(fragment=None))
