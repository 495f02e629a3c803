"""Two real `newsqa serve` processes sharing one PostgreSQL: what one writes the other answers
from, conversations move between them, a rebuild runs once, load gets no errors, and a replica
killed mid-write loses nothing it acknowledged."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO
from tests.pg_support import Server

KEY = "replica-test-admin-key-0123456789"
AIRSHIP = {
    "id": "airship",
    "title": "Airship lands in Tromsø",
    "text": "The airship Quixote landed in Tromsø on Friday after a flight of forty hours. "
    "Crowds gathered at the airfield to watch it come down.",
    "source": "Arctic Wire",
}


def _story(i: int, prefix: str = "town") -> dict[str, str]:
    return {
        "id": f"{prefix}-{i}",
        "title": f"Harbour of {prefix} {i} reopens",
        "text": f"The harbour of {prefix}{i} reopened on Monday after two years of repairs. "
        f"The mayor of {prefix}{i} said {i} boats were already waiting.",
        "source": "Coast News",
    }


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("newsqa")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "bots.cli", *args]


def _env(server: Server, schema: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        PYTHONPATH=str(REPO),
        NEWSQA_DATA_DIR=str(data_dir),
        NEWSQA_DATABASE_URL=server.url,
        NEWSQA_DATABASE_SCHEMA=schema,
        NEWSQA_ADMIN_KEY=KEY,
        NEWSQA_RATE_LIMIT="0",
        NEWSQA_WATCH="false",
        HF_HUB_OFFLINE="1",
        NO_PROXY="127.0.0.1,localhost",
        OMP_NUM_THREADS="1",
    )
    return env


@dataclass
class Replica:
    """One `newsqa serve` process and a client to it."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=60, headers={"X-API-Key": KEY})


def _start(server: Server, schema: str, folder: Path, name: str) -> Replica:
    folder.mkdir(parents=True, exist_ok=True)
    out, log = folder / f"{name}.out", folder / f"{name}.log"
    with out.open("wb") as stdout, log.open("wb") as stderr:
        process = subprocess.Popen(
            _command("serve", "--port", "0"),
            env=_env(server, schema, folder / name),
            stdout=stdout,
            stderr=stderr,
            cwd=folder,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", out.read_text())
        if found:
            replica = Replica(process, f"http://127.0.0.1:{found[1]}", log)
            with replica.client() as client:
                while time.monotonic() < deadline:
                    try:
                        if client.get("/readyz").status_code == 200:
                            return replica
                    except httpx.TransportError:
                        pass
                    assert process.poll() is None, log.read_text()[-3000:]
                    time.sleep(0.3)
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{name} did not become ready: {log.read_text()[-3000:]}")


@contextmanager
def _replicas(server: Server, schema: str, folder: Path) -> Iterator[tuple[Replica, Replica]]:
    started: list[Replica] = []
    try:
        # started together: each loads the model while the other does
        with ThreadPoolExecutor(2) as pool:
            futures = [pool.submit(_start, server, schema, folder, name) for name in "ab"]
            started.extend(future.result() for future in futures)
        yield started[0], started[1]
    finally:
        for replica in started:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in started:
            try:
                replica.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait(timeout=10)


def _answers(client: httpx.Client, question: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.model
@pytest.mark.timeout(420)
def test_two_replicas_share_one_index(pg_server: Server, tmp_path: Path) -> None:
    schema = "replicas_" + os.urandom(4).hex()
    env = _env(pg_server, schema, tmp_path / "migrate")
    done = subprocess.run(_command("migrate"), env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "0001_initial.sql" in done.stdout
    again = subprocess.run(_command("migrate"), env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "up to date" in again.stdout

    with _replicas(pg_server, schema, tmp_path) as (a, b), a.client() as ca, b.client() as cb:
        # an article added through the first is answered by the second at once
        added = ca.post("/articles", json=AIRSHIP)
        assert added.status_code == 200, added.text
        assert added.json()["added"] == ["airship"]
        begun = time.monotonic()
        answer = _answers(cb, "Where did the airship Quixote land?")
        elapsed = time.monotonic() - begun
        assert not answer["abstained"]
        assert answer["answers"][0]["article_id"] == "airship"
        assert "Tromsø" in answer["answers"][0]["sentence"]
        assert elapsed < 2.0

        # a conversation started on the first continues on the second
        started = _answers(ca, "How long was the airship's flight?", start_conversation=True)
        conversation = started["conversation_id"]
        assert conversation
        follow_up = _answers(cb, "Who watched it come down?", conversation_id=conversation)
        assert follow_up["conversation_id"] == conversation
        more = cb.post(f"/conversations/{conversation}/more", json={"k": 1})
        assert more.status_code == 200, more.text
        assert more.json()["question"] == "Who watched it come down?"

        # the same articles written through both at once are stored once
        batch = [_story(i, "twin") for i in range(5)]
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda c: c.post("/articles", json=batch), (ca, cb)))
        assert all(r.status_code == 200 for r in results), [r.text for r in results]
        for story in batch:
            detail = cb.get(f"/articles/{story['id']}")
            assert detail.status_code == 200
            assert len(detail.json()["sentences"]) == 2

        # 20 clients asking both while articles are added and a rebuild runs: no errors
        errors: list[str] = []
        asked = [0]
        stop = threading.Event()

        def ask(n: int) -> None:
            with (a if n % 2 else b).client() as client:
                while not stop.is_set():
                    try:
                        response = client.post("/ask", json={"question": f"harbour town{n}?"})
                        if response.status_code != 200:
                            errors.append(f"{response.status_code} {response.text[:200]}")
                    except httpx.HTTPError as exc:
                        errors.append(repr(exc))
                    asked[0] += 1

        threads = [threading.Thread(target=ask, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        try:
            for i in range(6):
                response = (ca if i % 2 else cb).post("/articles", json=[_story(i)])
                assert response.status_code == 200, response.text
            # asked of both replicas at once: one rebuild runs, the other is told so
            with ThreadPoolExecutor(2) as pool:
                jobs = list(pool.map(lambda c: c.post("/index/rebuild"), (ca, cb)))
            codes = sorted(r.status_code for r in jobs)
            assert codes == [202, 409], [r.text for r in jobs]
            job = next(r for r in jobs if r.status_code == 202).json()
            owner = ca if jobs[0].status_code == 202 else cb
            deadline = time.monotonic() + 120
            while owner.get(f"/index/jobs/{job['id']}").json()["status"] == "running":
                assert time.monotonic() < deadline
                time.sleep(0.5)
            assert owner.get(f"/index/jobs/{job['id']}").json()["status"] == "succeeded"
            other = cb if owner is ca else ca
            seen = other.get(f"/index/jobs/{job['id']}")  # the job's state is shared
            assert seen.status_code == 200, seen.text
            assert seen.json()["status"] == "succeeded"
            assert seen.json()["result"]["sentences"] == 2 * (1 + 5 + 6)
            for i in range(6, 10):
                response = (ca if i % 2 else cb).post("/articles", json=[_story(i)])
                assert response.status_code == 200, response.text
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
        assert errors == []
        assert asked[0] >= 20
        stats = ca.get("/stats").json()
        assert stats["articles"] == 1 + 5 + 10
        assert stats["sentences"] == 2 * (1 + 5 + 10)
        town = _answers(ca, "How many boats were waiting in town7?")
        assert town["answers"] and town["answers"][0]["article_id"] == "town-7"

        # the second replica killed mid-write: every article it acknowledged is there
        acknowledged: list[str] = []

        def write() -> None:
            with b.client() as client:
                for i in range(200):
                    try:
                        response = client.post("/articles", json=[_story(i, "kill")])
                    except httpx.HTTPError:
                        return
                    if response.status_code == 200:
                        acknowledged.extend(response.json()["added"])

        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        b.process.send_signal(signal.SIGKILL)
        writer.join(60)
        b.process.wait(timeout=10)
        assert len(acknowledged) >= 3
        for article_id in acknowledged:
            assert ca.get(f"/articles/{article_id}").status_code == 200, article_id
        assert _answers(ca, "Where did the airship Quixote land?")["answers"]
