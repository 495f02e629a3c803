"""SIGKILL at named points of an ingest, a remove and a compaction loses nothing committed,
leaves the catalog and the vector segments agreeing, and leaves no files behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import segments
from index.articles import Article
from index.store import NewsIndex
from tests.fakes import FakeEncoder

REPO = Path(__file__).resolve().parent.parent
VIENNA = Article(
    "vienna", "Talks", "The ministers will meet in Vienna on Monday. Talks are expected to last."
)
OSLO = Article(
    "oslo", "Quotas", "Fishermen in Oslo protested new quotas. Boats blocked the harbour."
)
ROME = Article("rome", "Trains", "Rail workers in Rome went on strike. Trains stood still all day.")

POINTS = {
    "ingest": [
        "segment-ids",
        "segment-raw",
        "segment-written",
        "ingest-written",
        "before-commit",
        "after-commit",
    ],
    "remove": ["before-commit", "after-commit"],
    "compact": [
        "segment-ids",
        "segment-raw",
        "segment-written",
        "compact-written",
        "before-commit",
        "after-commit",
    ],
}
CASES = [(operation, point) for operation, points in POINTS.items() for point in points]


def top_text(index: NewsIndex, question: str) -> str:
    [(sentence_id, _)] = index.search_dense(index.encoder.encode([question])[0], 1)
    return index.sentences([sentence_id])[sentence_id].text


def check_consistent(index: NewsIndex) -> None:
    """Every live sentence has exactly one vector in a live segment; nothing else is live."""
    conn = index.connection
    sentence_ids = {int(r[0]) for r in conn.execute("SELECT id FROM sentences")}
    dead = {int(r[0]) for r in conn.execute("SELECT sentence_id FROM tombstones")}
    stored: list[int] = []
    for (segment_id,) in conn.execute("SELECT id FROM segments"):
        stored.extend(np.load(index.data_dir / "segments" / f"{segment_id}.ids.npy").tolist())
    assert len(stored) == len(set(stored)), "a vector is in two live segments"
    assert set(stored) - dead == sentence_ids
    assert dead <= set(stored)
    assert index.stats().vectors == len(sentence_ids)
    clauses = {int(r[0]) for r in conn.execute("SELECT sentence_id FROM clauses")}
    assert clauses <= sentence_ids, "clause vectors of a sentence that is gone"
    # the words index agrees with the sentences' text (FTS5 raises if not)
    conn.execute("INSERT INTO sentences_fts (sentences_fts, rank) VALUES ('integrity-check', 1)")


@pytest.mark.parametrize(("operation", "point"), CASES)
def test_a_write_killed_at_any_point_leaves_the_index_whole(
    tmp_path: Path, operation: str, point: str
) -> None:
    encoder = FakeEncoder()
    index = NewsIndex(tmp_path, encoder)
    index.ingest([VIENNA])
    index.ingest([OSLO])
    index.ingest([ROME])
    index.remove("rome")  # a tombstone for compaction to drop
    before = index.stats()
    env = {**os.environ, segments.CRASH_ENV: point}
    child = subprocess.run(
        [sys.executable, "-m", "tests.crash_child", str(tmp_path), operation],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    reopened = NewsIndex(tmp_path, encoder)
    check_consistent(reopened)
    live = {str(r[0]) for r in reopened.connection.execute("SELECT id FROM segments")}
    left = {p.name for p in (tmp_path / "segments").iterdir()}
    assert {name.split(".")[0] for name in left} == live, f"orphans after restart: {left}"
    committed = point == "after-commit"
    after = reopened.stats()
    if operation == "ingest":
        assert reopened.has_article("new") is committed
        assert after.sentences == before.sentences + (2 if committed else 0)
    elif operation == "remove":
        assert reopened.has_article("vienna") is not committed
    else:
        assert after.sentences == before.sentences
    # what was answered before still is
    assert top_text(reopened, "fishermen protested quotas") == (
        "Fishermen in Oslo protested new quotas."
    )
    if operation != "remove" or not committed:
        assert top_text(reopened, "ministers meet Vienna Monday").startswith("The ministers")
    # and the index takes the next write
    reopened.ingest([ROME])
    check_consistent(reopened)
    assert top_text(reopened, "rail workers strike Rome") == "Rail workers in Rome went on strike."
