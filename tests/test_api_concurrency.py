"""Questions keep being answered, without errors or waiting, while articles change and the index is
rebuilt; a real server in a thread, several client threads."""

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
from tests.api_support import ARTICLES, AUTH, KEY, SlowEncoder, live_server

QUESTIONS = [
    "where will Trump meet Putin?",
    "what flooded the coast?",
    "did the council pass the budget?",
    "who lost power?",
]
# Every batch the encoder embeds (ingest, rebuild) takes this long; a question embeds one text
# and stays fast, so questions that waited for a write would stand out.
BATCH_SECONDS = 2.0


def _ask_until(base: str, stop: threading.Event, worker: int) -> list[tuple[int, float, Any]]:
    results: list[tuple[int, float, Any]] = []
    with httpx.Client(base_url=base, timeout=30) as client:
        n = 0
        while not stop.is_set() or n < 3:
            question = QUESTIONS[(worker + n) % len(QUESTIONS)]
            began = time.monotonic()
            # With the fake encoder, whether to abstain is beside the point: ask for the closest
            # sentences so that every answer shows the index was there to search.
            response = client.post("/ask", json={"question": question, "include_closest": True})
            results.append((response.status_code, time.monotonic() - began, response.json()))
            n += 1
    return results


def test_questions_are_answered_while_articles_are_added_and_the_index_rebuilt(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    encoder = SlowEncoder(delay=0.0)
    service = QAService(NewsIndex(data_dir, encoder))
    service.ingest([article_from_record(a) for a in ARTICLES])
    encoder.delay = BATCH_SECONDS
    # many clients on one loopback address: the rate limit is beside the point here
    app = create_app(Settings(data_dir=data_dir, admin_key=KEY, rate_limit=None), service)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as admin:
        generation = admin.get("/stats").json()["generation"]
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=5) as pool:
            askers = [pool.submit(_ask_until, base, stop, worker) for worker in range(4)]
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
            added = adding.result()
            job = admin.post("/index/rebuild", headers=AUTH)
            assert job.status_code == 202, job.text
            running_seen = admin.get(f"/index/jobs/{job.json()['id']}").json()["status"]
            while admin.get(f"/index/jobs/{job.json()['id']}").json()["status"] == "running":
                time.sleep(0.05)
            stop.set()
            results = [result for future in askers for result in future.result()]

        assert added.status_code == 200 and added.json()["added"] == ["late"]
        assert running_seen == "running"
        final = admin.get(f"/index/jobs/{job.json()['id']}").json()
        assert final["status"] == "succeeded"
        # The ingest and the rebuild each committed one new generation, swapped in whole.
        assert admin.get("/stats").json()["generation"] == generation + 2

    failures = [(status, body) for status, _, body in results if status != 200]
    assert not failures
    assert all(body["answers"] for _, _, body in results)
    # Two batches of BATCH_SECONDS ran; questions were many and none waited for them.
    assert len(results) >= 40
    assert max(elapsed for _, elapsed, _ in results) < BATCH_SECONDS / 2
