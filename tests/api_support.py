"""Helpers for the HTTP API tests: small article sets, a slow encoder, a live server in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from index.embedding import Vectors
from tests.fakes import FakeEncoder

KEY = "test-admin-key"
AUTH = {"X-API-Key": KEY}

ARTICLES: list[dict[str, Any]] = [
    {
        "id": "summit",
        "title": "Trump and Putin to meet in Budapest",
        "text": "Donald Trump said he would meet Vladimir Putin in Budapest. "
        "The summit follows a long phone call. Hungary's prime minister said he was ready.",
        "source": "AFP",
        "published": "2025-10-17",
    },
    {
        "id": "storm",
        "title": "Storm floods the coast",
        "text": "Heavy rain flooded coastal towns overnight. Thousands of homes lost power. "
        "Rescue teams worked through the night.",
        "source": "Reuters",
        "published": "2025-09-01",
    },
    {
        "id": "budget",
        "title": "City passes its budget",
        "text": "The city council passed the budget on Tuesday. Spending on schools rises. "
        "Taxes stay the same.",
        "published": "2025-11-02",
    },
]


class SlowEncoder(FakeEncoder):
    """Batches (ingest, rebuild) take `delay` seconds; single questions stay fast."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        if len(texts) > 1:
            time.sleep(self.delay)
        return super().encode(texts, progress=progress)


class GatedEncoder(FakeEncoder):
    """Batches (ingest, rebuild) wait at a gate while it is closed; single questions never do.

    `held` is set once a batch is waiting, so a test knows a write is in progress.
    """

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()
        self.open.set()
        self.held = threading.Event()

    def close(self) -> None:
        self.held.clear()
        self.open.clear()

    def encode(self, texts: list[str], *, progress: bool = False) -> Vectors:
        if len(texts) > 1 and not self.open.is_set():
            self.held.set()
            self.open.wait(120)
        return super().encode(texts, progress=progress)


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve app on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()
