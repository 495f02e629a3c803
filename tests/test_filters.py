"""Asking by time and source: filters narrow the search itself, and the newer story wins ties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.errors import InvalidQuestionError
from qa.service import QAService
from tests.api_support import KEY
from tests.fakes import FakeEncoder
from tests.telegram_fakes import FakeBotAPI, message_update

HARBOUR = "The storm flooded the harbour and sank three fishing boats overnight."


def _records() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = [
        # many strong matches from one wire: an unfiltered top 50 holds only these
        {
            "id": f"wire-{n}",
            "title": f"Harbour storm report {n}",
            "text": f"{HARBOUR} Report number {n} from the coast.",
            "source": "Wire",
            "published": f"2025-10-{n % 28 + 1:02d}T12:00:00Z",
        }
        for n in range(120)
    ]
    records += [
        {
            "id": "gazette",
            "title": "Council meeting",
            # nothing in common with the question's words: unfiltered, far down the ranking
            "text": "Heavy rain caused damage to the marina on Monday, the council said.",
            "source": "Town Gazette",
            "published": "Mon, 03 Nov 2025 09:00:00 +0100",
        },
        {
            "id": "undated",
            "title": "Old storm",
            "text": "A storm once flooded the harbour, people remember.",
            "source": "Archive",
        },
    ]
    return records


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    service.ingest([article_from_record(r) for r in _records()])
    return service


def _articles(service: QAService, question: str, **filters: Any) -> set[str]:
    answer_set = service.ask(question, k=20, include_closest=True, **filters)
    return {a.article_id for a in answer_set.answers}


def test_a_source_filter_is_applied_before_the_search(service: QAService) -> None:
    question = "did the storm flood the harbour?"
    # unfiltered, the gazette is not even among the candidates: a filter applied to the
    # results would find nothing
    candidates = service.retriever.candidates(question, None).sentences
    assert "gazette" not in {s.article_id for s in candidates}
    assert _articles(service, question, source="town gazette") == {"gazette"}
    assert _articles(service, question, source="Nobody") == set()
    assert service.ask(question, source="Nobody").abstained


def test_date_ranges_include_whole_days_and_leave_out_undated_stories(service: QAService) -> None:
    question = "did the storm flood the harbour?"
    assert _articles(service, question, since="2025-11-01") == {"gazette"}
    # 09:00 +01:00 is 08:00 UTC on 3 November: inside "until 2025-11-03"
    assert _articles(service, question, since="2025-11-03", until="2025-11-03") == {"gazette"}
    october = _articles(service, question, since="2025-10-05", until="2025-10-06")
    assert october == {f"wire-{n}" for n in range(120) if n % 28 + 1 in (5, 6)}
    assert "undated" not in _articles(service, question, until="2030-01-01")
    assert "undated" in _articles(service, question, source="archive")


def test_bad_dates_are_refused_clearly(service: QAService) -> None:
    with pytest.raises(InvalidQuestionError, match="since must be a date like 2025-10-01"):
        service.ask("storm?", since="last week")
    with pytest.raises(InvalidQuestionError, match="since is after until"):
        service.ask("storm?", since="2025-11-02", until="2025-11-01")


@pytest.mark.parametrize("newer_first", [True, False])
def test_the_newer_of_two_equal_stories_wins(
    tmp_path: Path, fake_encoder: FakeEncoder, newer_first: bool
) -> None:
    story = {"title": "Bridge closed", "text": "The old bridge was closed to traffic today."}
    older = {**story, "id": "a-older", "published": "2025-09-01"}
    newer = {**story, "id": "z-newer", "published": "2025-10-01"}
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    pair = [newer, older] if newer_first else [older, newer]
    service.ingest([article_from_record(r) for r in pair])
    answers = service.ask("was the old bridge closed?", k=2, include_closest=True).answers
    assert [a.article_id for a in answers] == ["z-newer", "a-older"]


def test_the_api_takes_filters(service: QAService, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", admin_key=KEY, watch=False), service)
    with TestClient(app) as client:
        body = {"question": "did the storm flood the harbour?", "k": 5, "include_closest": True}
        only = client.post("/ask", json={**body, "source": "Town Gazette"}).json()
        assert {a["article_id"] for a in only["answers"]} == {"gazette"}
        dated = client.post("/ask", json={**body, "since": "2025-11-01", "until": "2025-11-30"})
        assert {a["article_id"] for a in dated.json()["answers"]} == {"gazette"}
        bad = client.post("/ask", json={**body, "since": "yesterday"})
        assert bad.status_code == 422


def test_telegram_questions_take_filters(service: QAService) -> None:
    from bots.telegram.app import build_application
    from tests.test_telegram_handlers import drive

    settings = Settings.model_validate({"telegram_bot_token": "123:ABC", "telegram_answers": 3})
    api = FakeBotAPI()
    app = build_application(settings, service, request=api, get_updates_request=FakeBotAPI())
    drive(
        app,
        message_update('source:"archive" did the storm flood the harbour?', 501),
        message_update("did the storm flood the harbour? until:2025-10-01", 502),
        message_update("since:soon did the storm flood the harbour?", 503),
    )
    archive, dated, bad = [m["text"] for m in api.sent()]
    assert "Old storm" in archive and "Harbour storm report" not in archive
    assert "Harbour storm report" in dated and "Old storm" not in dated
    assert bad == "Since must be a date like 2025-10-01 (got 'soon')."
