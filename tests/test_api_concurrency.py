"""Questions keep being answered, without errors or waiting, while articles change and the index is
rebuilt; a real server in a thread, several client threads, writes held mid-batch at a gate."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import ARTICLES, AUTH, KEY, GatedEncoder, live_server

QUESTIONS = [
    "where will Trump meet Putin?",
    "what flooded the coast?",
    "did the council pass the budget?",
    "who lost power?",
]
# Questions that must be answered while a write is held mid-batch: had they waited for the write,
# none would be.
DURING = 12


class Answered:
    """Every asker's results, and a way to wait until more have come in."""

    def __init__(self) -> None:
        self.results: list[tuple[int, Any]] = []
        self.more = threading.Condition()

    def add(self, status: int, body: Any) -> None:
        with self.more:
            self.results.append((status, body))
            self.more.notify_all()

    def wait_for(self, count: int) -> bool:
        with self.more:
            return self.more.wait_for(lambda: len(self.results) >= count, timeout=120)


def _ask_until(base: str, stop: threading.Event, worker: int, answered: Answered) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        n = 0
        while not stop.is_set():
            question = QUESTIONS[(worker + n) % len(QUESTIONS)]
            # With the fake encoder, whether to abstain is beside the point: ask for the closest
            # sentences so that every answer shows the index was there to search.
            response = client.post("/ask", json={"question": question, "include_closest": True})
            answered.add(response.status_code, response.json())
            n += 1


def _answered_while_held(encoder: GatedEncoder, answered: Answered) -> int:
    """How many questions were answered while the write waited inside its batch."""
    assert encoder.held.wait(60), "the write never reached the encoder"
    before = len(answered.results)
    assert answered.wait_for(before + DURING), "questions stopped being answered during a write"
    during = len(answered.results) - before
    encoder.open.set()
    return during


def test_questions_are_answered_while_articles_are_added_and_the_index_rebuilt(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    encoder = GatedEncoder()
    service = QAService(NewsIndex(data_dir, encoder))
    service.ingest([article_from_record(a) for a in ARTICLES])
    # many clients on one loopback address: the rate limit is beside the point here
    app = create_app(Settings(data_dir=data_dir, admin_key=KEY, rate_limit=None), service)
    answered = Answered()
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as admin:
        generation = admin.get("/stats").json()["generation"]
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=5) as pool:
            askers = [pool.submit(_ask_until, base, stop, w, answered) for w in range(4)]
            encoder.close()
            adding = pool.submit(
                admin.post,
                "/articles",
                json={
                    "id": "late",
                    "title": "Late news",
                    "text": "A late story arrived. It had two sentences.",
                },
                headers=AUTH,
            )
            during_add = _answered_while_held(encoder, answered)
            added = adding.result()

            encoder.close()
            job = admin.post("/index/rebuild", headers=AUTH)
            assert job.status_code == 202, job.text
            running_seen = admin.get(f"/index/jobs/{job.json()['id']}").json()["status"]
            during_rebuild = _answered_while_held(encoder, answered)
            while admin.get(f"/index/jobs/{job.json()['id']}").json()["status"] == "running":
                time.sleep(0.05)
            stop.set()
            for future in askers:
                future.result()

        assert added.status_code == 200 and added.json()["added"] == ["late"]
        assert running_seen == "running"
        final = admin.get(f"/index/jobs/{job.json()['id']}").json()
        assert final["status"] == "succeeded"
        # The ingest and the rebuild each committed one new generation, swapped in whole.
        assert admin.get("/stats").json()["generation"] == generation + 2

    assert during_add >= DURING and during_rebuild >= DURING
    failures = [(status, body) for status, body in answered.results if status != 200]
    assert not failures
    assert all(body["answers"] for _, body in answered.results)
