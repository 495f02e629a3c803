"""The API as FastAPI users expect it: readable 422/413 sentences, offline docs, title search."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import ARTICLES, AUTH, KEY
from tests.fakes import FakeEncoder


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=data_dir, admin_key=KEY, **overrides)


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    service.ingest([article_from_record(a) for a in ARTICLES])
    return service


@pytest.fixture
def client(service: QAService, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path / "data"), service)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("body", "sentence"),
    [
        ({"question": ""}, "the question is empty"),
        ({"question": "   "}, "the question is empty"),
        ({}, "the question is missing"),
        ({"question": "x" * 501}, "the question is longer than the limit of 500 characters"),
        ({"question": "where?", "k": 0}, "k (how many answers) must be at least 1"),
        ({"question": "where?", "k": "many"}, "k (how many answers) must be a whole number"),
        (
            {"question": "where?", "conversation_id": "a b"},
            "the conversation id may hold only letters, digits and _ . : - (up to 100)",
        ),
        ({"question": "where?", "colour": "red"}, "colour is not something this request takes"),
    ],
)
def test_422_messages_read_as_sentences(
    client: TestClient, body: dict[str, Any], sentence: str
) -> None:
    response = client.post("/ask", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [error["msg"] for error in detail] == [sentence]
    # Programs still get FastAPI's shape: where and what kind.
    assert detail[0]["loc"][0] == "body" and detail[0]["type"]


def test_422_for_a_list_of_articles_names_the_item(client: TestClient) -> None:
    body = [{"title": "A", "text": "Fine."}, {"title": "B"}]
    response = client.post("/articles", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "the text of item 2 is missing"


def test_an_upload_over_the_limit_is_refused_in_megabytes(
    service: QAService, tmp_path: Path
) -> None:
    settings = _settings(tmp_path / "data", max_upload_bytes=2_000_000)
    with TestClient(create_app(settings, service)) as client:
        payload = b"Title\n" + b"word " * 420_000
        response = client.post("/articles", files={"file": ("big.txt", payload)}, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["detail"] == "uploads are limited to 2 MB"


def test_docs_and_redoc_load_their_assets_from_this_server(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower() and "fonts.googleapis" not in page.text
        scripts = [part.split('"')[0] for part in page.text.split('src="')[1:]]
        assert scripts, page.text
        for script in scripts:
            assert script.startswith("/"), script
            asset = client.get(script)
            assert asset.status_code == 200 and len(asset.content) > 100_000, script


def test_articles_can_be_searched_by_title(client: TestClient) -> None:
    found = client.get("/articles", params={"q": "storm"}).json()
    assert found["total"] == 1
    assert [item["id"] for item in found["items"]] == ["storm"]
    assert client.get("/articles", params={"q": "BUDAPEST"}).json()["total"] == 1
    # LIKE wildcards are searched for literally
    assert client.get("/articles", params={"q": "%"}).json()["total"] == 0
    assert client.get("/articles", params={"q": ""}).json()["total"] == len(ARTICLES)


def test_the_page_has_a_favicon(client: TestClient) -> None:
    assert 'rel="icon"' in client.get("/").text
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
