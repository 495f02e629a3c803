"""A full disk, for real: the data directory on a tiny tmpfs filled to the last byte.

Questions keep being answered, /readyz says what is wrong, writes answer 507 with the reason, and
everything recovers by itself once space is freed (no restart). Mounting needs root, which the
tests and CI have; elsewhere these tests skip and say why.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bots.api import deps
from bots.api.app import create_app
from bots.settings import Settings
from index.articles import article_from_record
from index.store import NewsIndex
from qa.service import QAService
from tests.api_support import ARTICLES, AUTH, KEY
from tests.disk_support import tmpfs
from tests.fakes import FakeEncoder

NEW_ARTICLE = {"id": "bridge", "title": "Bridge opens", "text": "The new bridge opened on Monday."}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs, unmounted afterwards."""
    with tmpfs(tmp_path / "disk", "8m") as mount:
        yield mount


def fill(disk: Path) -> Path:
    """Take every byte left on the disk; returns the filler to delete to free space."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while handle.write(bytes(size)):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def _ask(client: TestClient, **body: Any) -> Any:
    response = client.post("/ask", json={"question": "where will Trump meet Putin?", **body})
    assert response.status_code == 200
    assert response.json()["answers"]
    return response.json()


def test_a_full_disk_is_reported_and_questions_keep_being_answered(
    small_disk: Path, fake_encoder: FakeEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = small_disk / "data"
    service = QAService(NewsIndex(data_dir, fake_encoder))
    service.ingest([article_from_record(a) for a in ARTICLES])
    app = create_app(Settings(data_dir=data_dir, admin_key=KEY, rate_limit=None), service)
    with TestClient(app) as client:
        earlier = _ask(client, start_conversation=True)["conversation_id"]
        filler = fill(small_disk)

        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "degraded",
            "detail": f"disk full: cannot write to {data_dir}",
        }
        # answers go out; a conversation that cannot be saved is a warning in the log
        with caplog.at_level(logging.WARNING):
            for _ in range(300):
                if _ask(client, start_conversation=True)["conversation_id"] is None:
                    break
            else:
                pytest.fail("300 new conversations were all saved on a full disk")
        assert "disk full: conversation turn not saved" in caplog.text
        assert _ask(client, conversation_id=earlier)["conversation_id"] == earlier
        assert client.post(f"/conversations/{earlier}/more", json={}).status_code == 200

        added = client.post("/articles", json=NEW_ARTICLE, headers=AUTH)
        assert added.status_code == 507
        assert added.json()["detail"] == f"disk full: cannot write to {data_dir}"
        rebuild = client.post("/index/rebuild", headers=AUTH)
        assert rebuild.status_code == 507
        assert client.delete("/articles/storm", headers=AUTH).status_code == 507
        assert client.post("/articles", json=NEW_ARTICLE).status_code == 401  # the key first

        filler.unlink()
        assert client.get("/readyz").json() == {"status": "ok", "detail": None}
        assert client.post("/articles", json=NEW_ARTICLE, headers=AUTH).json()["added"] == [
            "bridge"
        ]
        assert _ask(client, start_conversation=True)["conversation_id"]


def test_a_server_started_on_a_full_disk_recovers_once_space_is_freed(
    small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deps, "LOAD_RETRY_SECONDS", 0.1)
    data_dir = small_disk / "data"
    filler = fill(small_disk)
    # no admin key configured: the generated one cannot be saved yet either
    settings = Settings(data_dir=data_dir, rate_limit=None)
    app = create_app(settings, loader=lambda s: QAService(NewsIndex(s.data_dir, FakeEncoder())))
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while "disk full" not in (client.get("/readyz").json()["detail"] or ""):
            assert time.monotonic() < deadline, "the full disk was never reported"
            time.sleep(0.05)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "loading",
            "detail": f"disk full: cannot load from {data_dir}",
        }
        asked = client.post("/ask", json={"question": "anything?"})
        assert asked.status_code == 503
        assert asked.headers["Retry-After"]

        filler.unlink()
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the server did not recover by itself"
            time.sleep(0.05)
        assert client.post("/ask", json={"question": "anything?"}).status_code == 200
        # the admin key is made on the first write that has room, and works from then on
        assert client.post("/articles", json=NEW_ARTICLE, headers=AUTH).status_code == 401
        key = (data_dir / "admin.key").read_text().strip()
        added = client.post("/articles", json=NEW_ARTICLE, headers={"X-API-Key": key})
        assert added.status_code == 200
        assert added.json()["added"] == ["bridge"]
