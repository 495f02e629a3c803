"""The HTTP API through FastAPI's TestClient, lifespan included: every endpoint and its errors."""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.embedding import Encoder, Vectors
from index.errors import NewsqaError
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import ARTICLES, AUTH, KEY, SlowEncoder
from tests.fakes import FakeEncoder


def _settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": data_dir, "admin_key": KEY, **overrides}
    return Settings(**values)


def _service(data_dir: Path, encoder: Encoder, **options: Any) -> QAService:
    return QAService(NewsIndex(data_dir, encoder), **options)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "api-data"


@pytest.fixture
def service(data_dir: Path, fake_encoder: FakeEncoder) -> QAService:
    """A fake-encoder service holding three small articles."""
    service = _service(data_dir, fake_encoder)
    service.ingest([article_from_record(a) for a in ARTICLES])
    return service


@pytest.fixture
def client(service: QAService, data_dir: Path) -> Iterator[TestClient]:
    app = create_app(_settings(data_dir), service)
    with TestClient(app) as test_client:
        yield test_client
        app.state.api.jobs.wait(30)


# ---- health ---------------------------------------------------------------------------------


def test_healthz_and_readyz_once_loaded(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_until_the_index_is_loaded(data_dir: Path, service: QAService) -> None:
    release = threading.Event()

    def slow_loader(settings: Settings) -> QAService:
        release.wait(10)
        return service

    app = create_app(_settings(data_dir), loader=slow_loader)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        loading = client.get("/readyz")
        assert loading.status_code == 503
        assert loading.json()["status"] == "loading"
        asked = client.post("/ask", json={"question": "where?"})
        assert asked.status_code == 503
        assert "loading" in asked.json()["detail"]
        # a client is told to come back shortly
        assert int(asked.headers["Retry-After"]) > 0
        release.set()
        for _ in range(200):
            if client.get("/readyz").status_code == 200:
                break
            threading.Event().wait(0.02)
        assert client.get("/readyz").status_code == 200
        assert client.post("/ask", json={"question": "where will they meet?"}).status_code == 200


class _BrokenQuestions(FakeEncoder):
    """Articles embed; a question meets an engine error no rule maps to a status."""

    def encode_queries(self, texts: list[str]) -> Vectors:
        raise NewsqaError("the model's runtime failed on this question")


def test_an_engine_failure_is_the_servers_error_not_the_clients(data_dir: Path) -> None:
    service = _service(data_dir, _BrokenQuestions())
    service.ingest([article_from_record(a) for a in ARTICLES])
    with TestClient(create_app(_settings(data_dir), service)) as client:
        asked = client.post("/ask", json={"question": "where will they meet?"})
    assert asked.status_code == 500
    assert "the model's runtime failed" in asked.json()["detail"]


def test_readyz_reports_a_failed_load(data_dir: Path) -> None:
    def broken(settings: Settings) -> QAService:
        raise RuntimeError("model folder missing")

    with TestClient(create_app(_settings(data_dir), loader=broken)) as client:
        for _ in range(200):
            body = client.get("/readyz").json()
            if body["status"] != "loading":
                break
            threading.Event().wait(0.02)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "failed"
        # asking again will not help: the failure is reported, with no Retry-After
        asked = client.post("/ask", json={"question": "where?"})
        assert asked.status_code == 503
        assert "model folder missing" in asked.json()["detail"]
        assert "Retry-After" not in asked.headers
        assert "model folder missing" in response.json()["detail"]


# ---- questions ------------------------------------------------------------------------------


@pytest.fixture
def samples_client(samples_service: QAService) -> Iterator[TestClient]:
    """The bundled samples with the real model behind the API."""
    data_dir = samples_service.index.data_dir
    with TestClient(create_app(_settings(data_dir), samples_service)) as client:
        yield client


@pytest.mark.model
def test_ask_with_the_real_model_quotes_budapest_first(samples_client: TestClient) -> None:
    response = samples_client.post("/ask", json={"question": "where will they meet?"})
    assert response.status_code == 200
    assert "Budapest" in response.json()["answers"][0]["sentence"]


@pytest.mark.model
def test_ask_with_the_real_model_and_a_follow_up(samples_client: TestClient) -> None:
    response = samples_client.post(
        "/ask", json={"question": "where will they meet?", "k": 5, "start_conversation": True}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["conversation_id"]
    assert not body["abstained"]
    assert any("Budapest" in answer["sentence"] for answer in body["answers"])
    first = body["answers"][0]
    assert first["title"] and first["sentence"]
    follow_up = samples_client.post(
        "/ask",
        json={"question": "when was the last summit?", "conversation_id": body["conversation_id"]},
    )
    assert follow_up.status_code == 200
    assert follow_up.json()["conversation_id"] == body["conversation_id"]
    assert follow_up.json()["answers"]


def test_ask_starts_a_conversation_and_follow_ups_keep_it(client: TestClient) -> None:
    asked = {"question": "where will Trump meet Putin?", "k": 2, "start_conversation": True}
    first = client.post("/ask", json=asked)
    assert first.status_code == 200
    body = first.json()
    conversation = body["conversation_id"]
    assert conversation
    assert body["answers"][0]["article_id"] == "summit"
    assert len(body["answers"]) <= 2
    again = client.post("/ask", json={"question": "and Hungary?", "conversation_id": conversation})
    assert again.json()["conversation_id"] == conversation


def test_ask_about_one_article(client: TestClient) -> None:
    response = client.post("/ask", json={"question": "rain flooded towns", "article_id": "budget"})
    assert response.status_code == 200
    assert {a["article_id"] for a in response.json()["answers"]} <= {"budget"}
    missing = client.post("/ask", json={"question": "anything", "article_id": "nope"})
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "x" * 501}, "question"),
        ({"question": "where?", "k": 0}, "k"),
        ({"question": "where?", "k": 21}, "k"),
        ({"question": "where?", "conversation_id": "bad id!"}, "conversation_id"),
        ({"question": "where?", "surprise": 1}, "surprise"),
        ({}, "question"),
    ],
)
def test_ask_rejects_bad_requests_with_422(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/ask", json=body)
    assert response.status_code == 422
    assert any(field in map(str, error["loc"]) for error in response.json()["detail"])


def test_the_configured_limit_is_enforced_with_422(
    data_dir: Path, fake_encoder: FakeEncoder
) -> None:
    service = _service(data_dir, fake_encoder, max_k=5, max_question_chars=20)
    with TestClient(create_app(_settings(data_dir, max_k=5), service)) as client:
        too_many = client.post("/ask", json={"question": "where?", "k": 6})
        assert too_many.status_code == 422
        assert "between 1 and 5" in too_many.json()["detail"][0]["msg"]
        too_long = client.post("/ask", json={"question": "a long question " * 3})
        assert too_long.status_code == 422
        assert "limit is 20" in too_long.json()["detail"][0]["msg"]


def test_malformed_json_is_a_client_error(client: TestClient) -> None:
    response = client.post(
        "/ask", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)


def test_more_answers_then_none_left(client: TestClient) -> None:
    # a second story answers the same question as well, so "more" has an answer left to give
    # (whichever of the two comes first)
    story = {
        "id": "budget-vote",
        "title": "Council votes on the city budget",
        "text": "The city budget was passed by the council. Parks get new benches.",
    }
    assert client.post("/articles", json=story, headers=AUTH).status_code == 200
    first = client.post(
        "/ask", json={"question": "the city budget", "k": 1, "start_conversation": True}
    ).json()
    conversation = first["conversation_id"]
    shown = {(a["article_id"], a["start"]) for a in first["answers"]}
    more = client.post(f"/conversations/{conversation}/more", json={"k": 2})
    assert more.status_code == 200
    fresh = {(a["article_id"], a["start"]) for a in more.json()["answers"]}
    assert fresh and not fresh & shown
    for _ in range(10):
        last = client.post(f"/conversations/{conversation}/more", json={"k": 20})
    assert last.status_code == 200
    assert last.json()["answers"] == []


def test_more_on_an_unknown_conversation_is_404(client: TestClient) -> None:
    response = client.post("/conversations/never-asked/more", json={})
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no such conversation")


def test_focus_keeps_a_conversation_on_one_article(client: TestClient) -> None:
    conversation = client.post(
        "/ask", json={"question": "who met?", "start_conversation": True}
    ).json()["conversation_id"]
    focused = client.put(f"/conversations/{conversation}/focus", json={"article_id": "storm"})
    assert focused.status_code == 200
    assert focused.json() == {"conversation_id": conversation, "article_id": "storm"}
    answer = client.post(
        "/ask", json={"question": "Trump Putin Budapest", "conversation_id": conversation}
    ).json()
    assert {a["article_id"] for a in answer["answers"]} <= {"storm"}
    assert (
        client.put(f"/conversations/{conversation}/focus", json={"article_id": "nope"}).status_code
        == 404
    )
    unfocused = client.put(f"/conversations/{conversation}/focus", json={"article_id": None})
    assert unfocused.status_code == 200
    assert client.delete(f"/conversations/{conversation}").status_code == 204


def test_conversations_survive_a_restart(data_dir: Path, fake_encoder: FakeEncoder) -> None:
    service = _service(data_dir, fake_encoder)
    service.ingest([article_from_record(ARTICLES[0])])
    with TestClient(create_app(_settings(data_dir), service)) as client:
        conversation = client.post(
            "/ask", json={"question": "Budapest summit", "k": 1, "start_conversation": True}
        ).json()["conversation_id"]
    restarted = _service(data_dir, fake_encoder)
    with TestClient(create_app(_settings(data_dir), restarted)) as client:
        more = client.post(f"/conversations/{conversation}/more", json={"k": 1})
        assert more.status_code == 200
        assert more.json()["question"] == "Budapest summit"


def test_idle_conversations_expire(data_dir: Path, fake_encoder: FakeEncoder) -> None:
    service = _service(data_dir, fake_encoder, conversation_idle_seconds=0.05)
    service.ingest([article_from_record(ARTICLES[0])])
    with TestClient(create_app(_settings(data_dir), service)) as client:
        conversation = client.post(
            "/ask", json={"question": "Budapest", "start_conversation": True}
        ).json()["conversation_id"]
        threading.Event().wait(0.1)
        expired = client.post(f"/conversations/{conversation}/more", json={})
        assert expired.status_code == 404


# ---- articles -------------------------------------------------------------------------------


def test_articles_are_paged_newest_first(client: TestClient) -> None:
    page = client.get("/articles", params={"limit": 2}).json()
    assert page["total"] == 3
    assert [item["id"] for item in page["items"]] == ["budget", "summit"]
    rest = client.get("/articles", params={"offset": 2, "limit": 2}).json()
    assert [item["id"] for item in rest["items"]] == ["storm"]
    assert client.get("/articles", params={"limit": 0}).status_code == 422
    assert client.get("/articles", params={"limit": 101}).status_code == 422
    assert client.get("/articles", params={"offset": -1}).status_code == 422


def test_one_article_with_its_sentences(client: TestClient) -> None:
    article = client.get("/articles/summit").json()
    assert article["title"] == ARTICLES[0]["title"]
    sentences = article["sentences"]
    assert [s["position"] for s in sentences] == list(range(len(sentences)))
    assert article["text"][sentences[0]["start"] : sentences[0]["end"]] == sentences[0]["text"]
    assert client.get("/articles/nope").status_code == 404


def test_stats(client: TestClient) -> None:
    stats = client.get("/stats").json()
    assert stats["articles"] == 3 and stats["sentences"] >= 9


def test_writes_need_the_admin_key(client: TestClient) -> None:
    article = {"title": "T", "text": "Some text."}
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": KEY + "x"}):
        assert client.post("/articles", json=article, headers=headers).status_code == 401
        assert client.delete("/articles/summit", headers=headers).status_code == 401
        response = client.post("/index/rebuild", headers=headers)
        assert response.status_code == 401
        assert "X-API-Key" in response.json()["detail"]
    assert client.get("/articles/summit").status_code == 200


def test_add_one_article_as_json(client: TestClient) -> None:
    article = {"id": "new", "title": "New bridge opens", "text": "A bridge opened today."}
    response = client.post("/articles", json=article, headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {
        "added": ["new"],
        "replaced": [],
        "unchanged": [],
        "sentences": 1,
        "skipped": [],
    }
    again = client.post("/articles", json=article, headers=AUTH).json()
    assert again["unchanged"] == ["new"]
    answer = client.post("/ask", json={"question": "bridge opened"}).json()
    assert answer["answers"][0]["article_id"] == "new"


def test_add_many_articles_reports_what_was_skipped(client: TestClient) -> None:
    body = [
        {"title": "First", "text": "One sentence here."},
        {"title": "  ", "text": "No title."},
        {"title": "Third", "text": "Another sentence."},
    ]
    report = client.post("/articles", json=body, headers=AUTH).json()
    assert len(report["added"]) == 2
    assert report["skipped"] == [{"where": "body[1]", "reason": "missing or empty 'title'"}]


@pytest.mark.parametrize(
    "body",
    [{"title": "No text"}, [{"title": 1, "text": []}], "just a string", [1, 2]],
)
def test_add_articles_with_the_wrong_shape_is_422(client: TestClient, body: Any) -> None:
    response = client.post("/articles", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_add_articles_needs_json_or_a_file(client: TestClient) -> None:
    response = client.post(
        "/articles", content=b"hello", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    invalid = client.post(
        "/articles", content=b"{oops", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert invalid.status_code == 422


def test_upload_a_text_file(client: TestClient) -> None:
    payload = b"Bridge opens downtown\nThe new bridge opened on Monday. Traffic was light.\n"
    response = client.post("/articles", files={"file": ("bridge.txt", payload)}, headers=AUTH)
    assert response.status_code == 200
    assert len(response.json()["added"]) == 1
    assert response.json()["sentences"] == 2


def test_upload_jsonl_reports_bad_lines(client: TestClient) -> None:
    payload = (
        b'{"id": "a", "title": "A", "text": "First article text."}\n'
        b"not json\n"
        b'{"id": "b", "title": "B"}\n'
    )
    report = client.post("/articles", files={"file": ("batch.jsonl", payload)}, headers=AUTH).json()
    assert report["added"] == ["a"]
    assert [s["where"] for s in report["skipped"]] == ["batch.jsonl:2", "batch.jsonl:3"]
    assert "invalid JSON" in report["skipped"][0]["reason"]


def test_upload_of_another_kind_of_file_is_415_with_the_reason(client: TestClient) -> None:
    response = client.post("/articles", files={"file": ("scan.pdf", b"%PDF-1.4")}, headers=AUTH)
    assert response.status_code == 415
    assert response.json()["detail"].startswith("unsupported file type .pdf")


def test_upload_without_a_file_is_422(client: TestClient) -> None:
    response = client.post("/articles", files={"other": ("a.txt", b"T\nx.")}, headers=AUTH)
    assert response.status_code == 422
    assert "'file'" in response.json()["detail"][0]["msg"]


def test_bodies_and_uploads_over_the_limits_are_413(data_dir: Path, service: QAService) -> None:
    settings = _settings(data_dir, max_body_bytes=2048, max_upload_bytes=4096)
    with TestClient(create_app(settings, service)) as client:
        big_json = {"title": "Big", "text": "word " * 1000}
        response = client.post("/articles", json=big_json, headers=AUTH)
        assert response.status_code == 413
        assert response.json()["detail"] == "the request body is larger than the limit of 2 KB"
        big_question = client.post("/ask", json={"question": "x" * 3000})
        assert big_question.status_code == 413

        def chunks() -> Iterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        streamed = client.post(
            "/articles", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        upload = client.post(
            "/articles", files={"file": ("big.txt", b"Title\n" + b"text " * 2000)}, headers=AUTH
        )
        assert upload.status_code == 413
        assert upload.json()["detail"] == "uploads are limited to 4.1 KB"
        small = client.post(
            "/articles", files={"file": ("ok.txt", b"Title\nShort text.")}, headers=AUTH
        )
        assert small.status_code == 200


def test_delete_an_article(client: TestClient) -> None:
    response = client.delete("/articles/storm", headers=AUTH)
    assert response.status_code == 200
    assert response.json()["id"] == "storm" and response.json()["sentences"] == 3
    assert client.get("/articles/storm").status_code == 404
    assert client.delete("/articles/storm", headers=AUTH).status_code == 404
    answer = client.post("/ask", json={"question": "rain flooded coastal towns"}).json()
    assert all(a["article_id"] != "storm" for a in answer["answers"])


# ---- rebuild jobs ---------------------------------------------------------------------------


def _wait_for_job(client: TestClient, job_id: str) -> dict[str, Any]:
    # polled every 0.2 s: faster polling would meet the rate limit of 60 requests a minute
    for _ in range(300):
        response = client.get(f"/index/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] != "running":
            return job
        threading.Event().wait(0.2)
    raise AssertionError("the rebuild did not finish")


def test_rebuild_runs_as_a_job(client: TestClient) -> None:
    before = client.get("/stats").json()["generation"]
    started = client.post("/index/rebuild", headers=AUTH)
    assert started.status_code == 202
    job = _wait_for_job(client, started.json()["id"])
    assert job["status"] == "succeeded"
    assert job["result"]["articles"] == 3
    assert job["result"]["generation"] == before + 1
    assert job["total"] > 0 and job["done"] == job["total"]
    assert client.get("/index/jobs/unknown").status_code == 404


def test_a_second_rebuild_while_one_runs_is_409(data_dir: Path) -> None:
    service = _service(data_dir, SlowEncoder(delay=0.0))
    service.ingest([article_from_record(a) for a in ARTICLES])
    service.index.encoder.delay = 1.0  # type: ignore[attr-defined]
    app = create_app(_settings(data_dir), service)
    with TestClient(app) as client:
        first = client.post("/index/rebuild", headers=AUTH)
        assert first.status_code == 202
        second = client.post("/index/rebuild", headers=AUTH)
        assert second.status_code == 409
        assert "running" in second.json()["detail"]
        assert client.get(f"/index/jobs/{first.json()['id']}").json()["status"] == "running"
        assert _wait_for_job(client, first.json()["id"])["status"] == "succeeded"
        third = client.post("/index/rebuild", headers=AUTH)
        assert third.status_code == 202
        app.state.api.jobs.wait(30)


def test_rebuild_while_another_writer_holds_the_index_is_409(
    client: TestClient, service: QAService
) -> None:
    with service.index._writing():
        response = client.post("/index/rebuild", headers=AUTH)
    assert response.status_code == 409


# ---- operations -----------------------------------------------------------------------------


def test_metrics(data_dir: Path, service: QAService) -> None:
    with TestClient(create_app(_settings(data_dir), service)) as client:
        quoted = "Donald Trump said he would meet Vladimir Putin in Budapest."
        assert not client.post("/ask", json={"question": quoted}).json()["abstained"]
        # nothing from this source is indexed: an abstention whatever the fitted thresholds
        # (with the fake encoder's hashed words, "zebra quantum" alone was answered or not by
        # the chance of one fit's thresholds)
        nowhere = {"question": "zebra quantum", "source": "Nobody"}
        assert client.post("/ask", json=nowhere).json()["abstained"]
        text = client.get("/metrics").text
    assert 'newsqa_questions_total{outcome="answered"} 1.0' in text
    assert 'newsqa_questions_total{outcome="abstained"} 1.0' in text
    assert "newsqa_index_articles 3.0" in text
    assert "newsqa_index_sentences 9.0" in text
    assert 'newsqa_http_requests_total{handler="/ask",method="POST",status="2xx"} 2.0' in text
    assert "newsqa_http_request_duration_seconds_bucket" in text


def test_an_admin_key_is_generated_once_and_its_location_logged(
    data_dir: Path, service: QAService, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=data_dir)
    with caplog.at_level(logging.INFO, logger="bots.api"):
        app = create_app(settings, service)
    key_file = data_dir / "admin.key"
    key = key_file.read_text().strip()
    assert len(key) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert str(key_file) in caplog.text
    assert key not in caplog.text
    with TestClient(app) as client:
        article = {"title": "Keyed", "text": "Written with the generated key."}
        assert client.post("/articles", json=article).status_code == 401
        assert client.post("/articles", json=article, headers={"X-API-Key": key}).status_code == 200
    with TestClient(create_app(settings, service)) as client:
        assert client.delete("/articles/summit", headers={"X-API-Key": key}).status_code == 200


def test_cors_is_off_unless_configured(data_dir: Path, service: QAService) -> None:
    preflight = {
        "Origin": "https://newsroom.example",
        "Access-Control-Request-Method": "POST",
    }
    with TestClient(create_app(_settings(data_dir), service)) as client:
        response = client.get("/healthz", headers={"Origin": "https://newsroom.example"})
        assert "access-control-allow-origin" not in response.headers
    settings = _settings(data_dir, cors_origins="https://newsroom.example, https://b.example")
    assert settings.cors_origins == ["https://newsroom.example", "https://b.example"]
    with TestClient(create_app(settings, service)) as client:
        allowed = client.options("/ask", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://newsroom.example"
        other = client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_the_schema_declares_every_error(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"401", "413", "415", "422"} <= set(paths["/articles"]["post"]["responses"])
    assert {"401", "409"} <= set(paths["/index/rebuild"]["post"]["responses"])
    assert "202" in paths["/index/rebuild"]["post"]["responses"]
    assert {"404", "422", "503"} <= set(paths["/ask"]["post"]["responses"])
    assert "503" in paths["/readyz"]["get"]["responses"]
    content = paths["/articles"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)


def test_the_web_page_is_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert '<form id="ask-form"' in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_serve_is_a_command(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    from typer.testing import CliRunner

    import bots.cli

    seen: dict[str, Any] = {}

    def fake_run(server: Any, sockets: list[Any]) -> None:
        seen.update(app=server.config.app, address=sockets[0].getsockname())
        for sock in sockets:
            sock.close()

    monkeypatch.setattr("uvicorn.Server.run", fake_run)
    monkeypatch.setenv("NEWSQA_PORT", "0")
    monkeypatch.setenv("NEWSQA_ADMIN_KEY", KEY)
    result = CliRunner().invoke(bots.cli.app, ["serve"])
    assert result.exit_code == 0, result.output
    host, port = seen["address"]
    assert host == "127.0.0.1" and port > 0
    assert f"http://127.0.0.1:{port}/" in result.output
    assert seen["app"].title == "newsqa"
