"""Vector segments: a write touches only its own vectors; deletions and merges keep answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index import segments
from index.articles import Article
from index.reader import IndexReader
from index.store import MERGE_FAN_IN, NewsIndex
from tests.fakes import FakeEncoder


def story(n: int) -> Article:
    return Article(
        id=f"story-{n}",
        title=f"Story {n}",
        text=f"Harbour number {n} reopened today. Crews in town{n} cleared the quay{n}.",
    )


def files(data_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (data_dir / "segments").iterdir()}


def live_segments(index: NewsIndex) -> list[int]:
    return [int(r[0]) for r in index.connection.execute("SELECT id FROM segments ORDER BY id")]


def test_adding_an_article_writes_only_its_own_segment(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([story(n) for n in range(20)])
    before = files(tmp_path)
    index.ingest([story(99)])
    after = files(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "old files untouched"
    added = set(after) - set(before)
    assert len({name.split(".")[0] for name in added}) == 1
    assert sum((tmp_path / "segments" / name).stat().st_size for name in added) < 4096


def test_removing_an_article_writes_no_vector_file_and_hides_its_sentences(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([story(1), story(2)])
    before = files(tmp_path)
    query = fake_encoder.encode(["harbour town1 quay1"])[0]
    [(top, _)] = index.search_dense(query, 1)
    assert index.sentences([top])[top].article_id == "story-1"
    index.remove("story-1")
    assert files(tmp_path) == before
    found = index.search_dense(query, 10)
    assert found and all(index.sentences([i])[i].article_id == "story-2" for i, _ in found)
    assert len(found) == 2, "every live sentence is still found: deleted ones are skipped"
    reopened = NewsIndex(tmp_path, fake_encoder)
    assert [i for i, _ in reopened.search_dense(query, 10)] == [i for i, _ in found]


def test_small_segments_are_merged_and_compaction_drops_deleted_vectors(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    for n in range(MERGE_FAN_IN):
        index.ingest([story(n)])
    assert len(live_segments(index)) == 1, "eight one-article segments became one"
    query = fake_encoder.encode(["harbour town3 quay3"])[0]
    best = index.search_dense(query, 3)
    index.remove("story-5")
    assert index.connection.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0] == 2
    assert index.compact() == 1
    assert index.connection.execute("SELECT COUNT(*) FROM tombstones").fetchone()[0] == 0
    [segment] = live_segments(index)
    ids = np.load(tmp_path / "segments" / f"{segment}.ids.npy")
    assert len(ids) == 2 * (MERGE_FAN_IN - 1)
    assert index.search_dense(query, 3) == best
    assert index.stats().vectors == index.stats().sentences


def test_large_segments_are_searched_through_the_approximate_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(10, 3010, dtype=np.int64)
    segments.write(tmp_path, 1, ids, vectors, vectors, ann=True)
    opened = segments.Segment.open(tmp_path, 1, ann=True)
    snapshot = segments.Snapshot(1, 16, (opened,), np.asarray([ids[0]], dtype=np.int64))
    recall = []
    for query in vectors[:20]:
        approximate = {i for i, _ in snapshot.search(query, 50)}
        exact = {i for i, _ in snapshot.exact_search(query, 50)}
        assert int(ids[0]) not in approximate
        recall.append(len(approximate & exact) / 50)
    assert np.mean(recall) >= 0.9
    # scores are exact cosines, whatever the quantisation
    [(best, score)] = snapshot.search(vectors[5], 1)
    assert best == ids[5] and abs(score - 1.0) < 1e-2


def test_the_index_stands_behind_the_read_interface(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    reader: IndexReader = NewsIndex(tmp_path, fake_encoder)
    assert reader.search_dense(fake_encoder.encode(["x"])[0], 5) == []


def test_a_large_segment_answers_and_forgets_through_its_approximate_index(
    tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segments, "ANN_MIN", 10)
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([story(n) for n in range(30)])
    assert index.connection.execute("SELECT SUM(ann) FROM segments").fetchone()[0] == 1
    assert not list((tmp_path / "segments").glob("*.ctx.npy")), "codes replace context vectors"
    query = fake_encoder.encode(["crews town7 quay7"])[0]
    [(top, _)] = index.search_dense(query, 1)
    assert index.sentences([top])[top].text == "Crews in town7 cleared the quay7."
    exact = index.sentence_vectors([top], context=True)[0]
    assert abs(float(np.linalg.norm(exact)) - 1.0) < 0.02
    index.remove("story-7")
    found = index.search_dense(query, 60)
    assert top not in {i for i, _ in found}
    assert len(found) == 58
    assert len(index.search_dense(query, 5, article_id="story-8")) == 2


def test_compact_command_merges_segments_and_drops_removed_vectors(
    tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from bots.cli import app

    data_dir = tmp_path / "data"
    index = NewsIndex(data_dir, fake_encoder)
    for n in range(3):
        index.ingest([story(n)])
    index.remove("story-1")
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(app, ["compact"])
    assert result.exit_code == 0, result.output
    assert "3 segments merged; 4 vectors" in result.stdout
    assert len(live_segments(index)) == 1
    assert {p.name.split(".")[0] for p in (data_dir / "segments").iterdir()} == {
        str(live_segments(index)[0])
    }


def test_an_index_written_before_segments_is_moved_into_one(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    import shutil

    import faiss

    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([story(1), story(2)])
    query = fake_encoder.encode(["crews town2 quay2"])[0]
    expected = index.search_dense(query, 3)
    # Rewrite it in the previous layout: one IndexIDMap2 file of each kind per generation.
    ids = index.sentence_ids("story-1") + index.sentence_ids("story-2")
    generation = index.stats().generation
    (tmp_path / "vectors").mkdir()
    for kind, context in (("vectors", True), ("raw", False)):
        old = faiss.IndexIDMap2(faiss.IndexFlatIP(fake_encoder.dim))
        old.add_with_ids(index.sentence_vectors(ids, context=context), np.asarray(ids))
        faiss.write_index(old, str(tmp_path / "vectors" / f"{kind}-{generation}.faiss"))
    index.connection.execute("DELETE FROM segments")
    shutil.rmtree(tmp_path / "segments")

    reopened = NewsIndex(tmp_path, fake_encoder)
    assert not (tmp_path / "vectors").exists()
    assert len(live_segments(reopened)) == 1
    assert [i for i, _ in reopened.search_dense(query, 3)] == [i for i, _ in expected]


@pytest.mark.parametrize("scope_max", [20_000, 1])
def test_search_can_be_limited_to_allowed_sentences(
    tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch, scope_max: int
) -> None:
    monkeypatch.setattr(segments, "ANN_MIN", 10)
    monkeypatch.setattr(segments, "EXACT_SCOPE_MAX", scope_max)  # 1: through the selectors
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([story(n) for n in range(12)])  # one approximate segment
    index.ingest([story(n) for n in range(12, 14)])  # one exact segment
    allowed = set(index.sentence_ids("story-3") + index.sentence_ids("story-13"))
    query = fake_encoder.encode(["harbour crews quay"])[0]
    found = index.search_dense(query, 10, allowed=allowed)
    assert {i for i, _ in found} == allowed
    lexical = index.search_lexical("harbour", 10, allowed=allowed)
    assert {i for i, _ in lexical} <= allowed and lexical
    assert index.search_dense(query, 10, article_id="story-3", allowed=allowed) == [
        pair for pair in found if pair[0] in set(index.sentence_ids("story-3"))
    ]


def test_a_segment_keeps_sentence_vectors_in_a_byte_a_dimension(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(500, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(1, 501, dtype=np.int64)
    segments.write(tmp_path, 1, ids, vectors, vectors, ann=False)
    raw = tmp_path / "1.raw.npy"
    assert raw.stat().st_size < 500 * 384 + 200, "8-bit codes, not float16"
    opened = segments.Segment.open(tmp_path, 1, ann=False)
    snapshot = segments.Snapshot(1, 384, (opened,), np.zeros(0, dtype=np.int64))
    stored = snapshot.vectors(ids.tolist(), context=False)
    cosines = np.sum(stored * vectors, axis=1) / np.linalg.norm(stored, axis=1)
    assert cosines.min() > 0.9999
