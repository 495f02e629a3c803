"""Hostile bodies over a real socket: each gets a 4xx with a reason a person can read, never a
500, a traceback or a reset connection, and the valid records beside a bad one are ingested."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.errors import InvalidQuestionError
from qa.service import QAService
from tests.api_support import ARTICLES, AUTH, KEY, live_server
from tests.fakes import FakeEncoder

JSON = {"Content-Type": "application/json"}
DEPTH = 100_000


def _deep(depth: int = DEPTH) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    service.ingest([article_from_record(a) for a in ARTICLES])
    return service


@pytest.fixture
def http(service: QAService) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=service.index.data_dir, admin_key=KEY, rate_limit=None)
    with (
        live_server(create_app(settings, service)) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield client


def _readable(response: httpx.Response) -> str:
    """The reason, whichever of the API's two error shapes it came in."""
    assert "Traceback" not in response.text
    detail = response.json()["detail"]
    message = detail if isinstance(detail, str) else "; ".join(d["msg"] for d in detail)
    assert isinstance(message, str) and " " in message
    return message


HOSTILE: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    (
        "lone surrogate in a question",
        "POST",
        "/ask",
        {"content": b'{"question": "where \\ud800 will they meet?"}', "headers": JSON},
        422,
        "not text",
    ),
    (
        "lone surrogate in an article id",
        "POST",
        "/ask",
        {"content": b'{"question": "where?", "article_id": "\\udfff"}', "headers": JSON},
        422,
        "not text",
    ),
    (
        "JSON nested 100,000 deep in a question",
        "POST",
        "/ask",
        {"content": b'{"question": ' + _deep() + b"}", "headers": JSON},
        400,
        "nested too deeply",
    ),
    (
        "JSON nested 100,000 deep as articles",
        "POST",
        "/articles",
        {"content": _deep(), "headers": {**JSON, **AUTH}},
        422,
        "nested too deeply",
    ),
    (
        "JSON nested 100,000 deep as a focus",
        "PUT",
        "/conversations/abc/focus",
        {"content": b'{"article_id": ' + _deep() + b"}", "headers": JSON},
        400,
        "nested too deeply",
    ),
    (
        "an .exe upload",
        "POST",
        "/articles",
        {
            "files": {"file": ("setup.exe", b"MZ\x90\x00" + os.urandom(200_000))},
            "headers": AUTH,
        },
        415,
        "unsupported file type .exe",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "request_args", "status", "reason"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_a_hostile_body_gets_a_4xx_with_a_reason(
    http: httpx.Client,
    method: str,
    path: str,
    request_args: dict[str, Any],
    status: int,
    reason: str,
) -> None:
    response = http.request(method, path, **request_args)
    assert response.status_code == status
    assert reason in _readable(response)
    # the server still answers on the same connection pool
    assert http.post("/ask", json={"question": "where will they meet?"}).status_code == 200


def test_an_article_with_a_lone_surrogate_is_skipped_and_the_others_ingested(
    http: httpx.Client,
) -> None:
    body = (
        b'[{"id": "bad", "title": "Storm \\ud800", "text": "Rain fell."},'
        b' {"id": "fine", "title": "Bridge opens", "text": "The bridge opened on Monday."}]'
    )
    response = http.post("/articles", content=body, headers={**JSON, **AUTH})
    assert response.status_code == 200
    report = response.json()
    assert report["added"] == ["fine"]
    assert report["skipped"][0]["where"] == "body[0]"
    assert "'title' holds a lone surrogate" in report["skipped"][0]["reason"]


def test_a_jsonl_upload_that_is_not_json_lines_reports_the_lines_and_keeps_the_good_ones(
    http: httpx.Client,
) -> None:
    payload = (
        b"Dear editor,\n"
        b"this is a letter, not JSON lines.\n"
        b'{"id": "kept", "title": "Kept", "text": "This line is a real article."}\n'
        b"[1, 2\n"
    )
    response = http.post("/articles", files={"file": ("letters.jsonl", payload)}, headers=AUTH)
    assert response.status_code == 200
    report = response.json()
    assert report["added"] == ["kept"]
    assert [s["where"] for s in report["skipped"]] == [
        "letters.jsonl:1",
        "letters.jsonl:2",
        "letters.jsonl:4",
    ]
    assert all("invalid JSON" in s["reason"] for s in report["skipped"])


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        (_deep(), "nested too deeply"),
        (b'{"id": "s", "title": "S\\ud800", "text": "Some text."}', "lone surrogate"),
    ],
    ids=["nested 100,000 deep", "a lone surrogate"],
)
def test_a_hostile_jsonl_line_is_skipped_and_the_others_ingested(
    http: httpx.Client, bad_line: bytes, reason: str
) -> None:
    payload = bad_line + b'\n{"id": "kept", "title": "Kept", "text": "A real article."}\n'
    response = http.post("/articles", files={"file": ("batch.jsonl", payload)}, headers=AUTH)
    assert response.status_code == 200
    report = response.json()
    assert report["added"] == ["kept"]
    assert [s["where"] for s in report["skipped"]] == ["batch.jsonl:1"]
    assert reason in report["skipped"][0]["reason"]


def test_an_unexpected_error_is_a_json_500_not_a_reset_connection(
    http: httpx.Client, service: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(service, "stats", broken)
    response = http.get("/stats")
    assert response.status_code == 500
    assert _readable(response) == "something went wrong on the server; it has been logged"
    assert http.get("/healthz").status_code == 200


def test_the_engine_refuses_a_question_that_is_not_text(service: QAService) -> None:
    # the command line hands over undecodable arguments as lone surrogates (surrogateescape)
    with pytest.raises(InvalidQuestionError, match="not text"):
        service.ask("where \udcff will they meet?")
