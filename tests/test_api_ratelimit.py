"""Rate limits per client address on the read endpoints: 429 with Retry-After, configurable."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import ARTICLES, KEY
from tests.fakes import FakeEncoder


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    service.ingest([article_from_record(a) for a in ARTICLES])
    return service


def _app(service: QAService, rate_limit: Any) -> Any:
    settings = Settings(data_dir=service.index.data_dir, admin_key=KEY, rate_limit=rate_limit)
    return create_app(settings, service)


def test_a_client_over_the_limit_gets_429_with_retry_after(service: QAService) -> None:
    app = _app(service, "3/minute")
    with TestClient(app, client=("203.0.113.7", 5000)) as client:
        for _ in range(3):
            assert client.post("/ask", json={"question": "Budapest summit"}).status_code == 200
        refused = client.post("/ask", json={"question": "Budapest summit"})
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.json()["detail"].startswith("too many requests from your address")
        # the other read endpoints count against the same address
        assert client.get("/stats").status_code == 429
        assert client.get("/articles").status_code == 429
        # health checks are never limited
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
    with TestClient(app, client=("198.51.100.9", 5000)) as other:
        assert other.post("/ask", json={"question": "Budapest summit"}).status_code == 200


def test_the_window_moves_on(service: QAService) -> None:
    with TestClient(_app(service, "2/second")) as client:
        assert [client.get("/stats").status_code for _ in range(3)] == [200, 200, 429]
        wait = int(client.get("/stats").headers["Retry-After"])
        assert wait == 1
        time.sleep(1.05)
        assert client.get("/stats").status_code == 200


@pytest.mark.parametrize("off", ["0", "", None])
def test_the_limit_can_be_switched_off(service: QAService, off: Any) -> None:
    with TestClient(_app(service, off)) as client:
        assert {client.get("/stats").status_code for _ in range(100)} == {200}


def test_the_default_limit_is_on_and_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().rate_limit == "60/minute"
    monkeypatch.setenv("NEWSQA_RATE_LIMIT", "5 per second")
    assert Settings().rate_limit == "5 per second"


def test_a_rate_limit_that_cannot_be_read_is_refused() -> None:
    with pytest.raises(ValidationError, match="couldn't parse rate limit string"):
        Settings(rate_limit="lots")


def test_429_is_declared_with_its_header(service: QAService) -> None:
    with TestClient(_app(service, "60/minute")) as client:
        schema = client.get("/openapi.json").json()
    ask = schema["paths"]["/ask"]["post"]["responses"]["429"]
    assert "Retry-After" in ask["headers"]
    for path, method in [
        ("/stats", "get"),
        ("/articles", "get"),
        ("/articles/{article_id}", "get"),
    ]:
        assert "429" in schema["paths"][path][method]["responses"]
