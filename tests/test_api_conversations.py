"""Over HTTP a conversation belongs to whoever started it: ids are issued, never chosen; other
ways in (Telegram, the command line) are out of reach; nothing is stored unless asked for."""

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
from qa.conversations import Owner
from qa.service import QAService
from tests.api_support import ARTICLES, KEY
from tests.fakes import FakeEncoder


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder), max_conversations=3)
    service.ingest([article_from_record(a) for a in ARTICLES])
    return service


@pytest.fixture
def client(service: QAService, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(Settings(data_dir=tmp_path / "data", admin_key=KEY), service)
    with TestClient(app) as test_client:
        yield test_client


def _rows(service: QAService) -> int:
    row = service.index.connection.execute("SELECT COUNT(*) FROM conversations").fetchone()
    return int(row[0])


def _start(client: TestClient, question: str = "where will Trump meet Putin?") -> str:
    response = client.post("/ask", json={"question": question, "start_conversation": True})
    assert response.status_code == 200
    conversation: str = response.json()["conversation_id"]
    return conversation


def test_a_telegram_chat_cannot_be_read_focused_or_deleted_over_http(
    client: TestClient, service: QAService
) -> None:
    service.ask("where will Trump meet Putin?", conversation_id="telegram-77", owner=Owner.TELEGRAM)
    attempts: list[tuple[str, str, Any]] = [
        ("POST", "/conversations/telegram-77/more", {}),
        ("PUT", "/conversations/telegram-77/focus", {"article_id": "storm"}),
        ("DELETE", "/conversations/telegram-77", None),
        ("POST", "/ask", {"question": "and then?", "conversation_id": "telegram-77"}),
    ]
    for method, path, body in attempts:
        response = client.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"].startswith("no such conversation")
    chat = service.conversation("telegram-77", owner=Owner.TELEGRAM)
    assert [t.question for t in chat.turns] == ["where will Trump meet Putin?"]
    assert chat.focus_article is None


def test_made_up_conversation_ids_are_refused_and_store_nothing(
    client: TestClient, service: QAService
) -> None:
    before = _rows(service)
    response = client.post(
        "/ask", json={"question": "where will they meet?", "conversation_id": "my-own-id"}
    )
    assert response.status_code == 404
    assert "no such conversation" in response.json()["detail"]
    assert client.put("/conversations/my-own-id/focus", json={"article_id": None}).status_code == (
        404
    )
    assert _rows(service) == before


def test_a_question_without_a_conversation_stores_nothing(
    client: TestClient, service: QAService
) -> None:
    before = _rows(service)
    for _ in range(5):
        response = client.post("/ask", json={"question": "where will Trump meet Putin?"})
        assert response.status_code == 200
        assert response.json()["conversation_id"] is None
        assert response.json()["answers"]
    assert _rows(service) == before


def test_an_issued_id_is_unguessable_and_carries_the_follow_ups(client: TestClient) -> None:
    conversation = _start(client)
    assert len(conversation) * 6 >= 128
    follow_up = client.post(
        "/ask", json={"question": "and Hungary?", "conversation_id": conversation}
    )
    assert follow_up.status_code == 200
    assert follow_up.json()["conversation_id"] == conversation
    assert client.post(f"/conversations/{conversation}/more", json={}).status_code == 200


def test_stored_conversations_are_capped_and_the_oldest_go_first(
    client: TestClient, service: QAService
) -> None:
    ids = [_start(client) for _ in range(4)]  # the cap is 3
    assert _rows(service) == 3
    assert client.post(f"/conversations/{ids[0]}/more", json={}).status_code == 404
    for conversation in ids[1:]:
        assert client.post(f"/conversations/{conversation}/more", json={}).status_code == 200


def test_forgetting_a_conversation_makes_it_unknown(client: TestClient) -> None:
    conversation = _start(client)
    assert client.delete(f"/conversations/{conversation}").status_code == 204
    assert client.delete(f"/conversations/{conversation}").status_code == 404
    assert client.post(f"/conversations/{conversation}/more", json={}).status_code == 404


def test_the_cap_is_a_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bots.wiring import build_service

    monkeypatch.setenv("NEWSQA_MAX_CONVERSATIONS", "5")
    service = build_service(Settings(), FakeEncoder(), tmp_path / "wired")
    assert service.conversations.max_count == 5
    monkeypatch.delenv("NEWSQA_MAX_CONVERSATIONS")
    assert Settings().max_conversations == 10_000
