"""The index: ingest is idempotent, changes replace, deletes and rebuilds keep it consistent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from index import quantize
from index.articles import Article
from index.errors import ArticleNotFoundError, ModelMismatchError
from index.store import DB_NAME, NewsIndex
from tests.fakes import FakeEncoder


def story(id_: str, text: str, title: str = "A story") -> Article:
    return Article(id=id_, title=title, text=text, source="wire")


VIENNA = story("vienna", "The ministers will meet in Vienna on Monday. Talks are expected to last.")
OSLO = story("oslo", "Fishermen in Oslo protested new quotas. Boats blocked the harbour.")


def top_text(index: NewsIndex, question: str, article_id: str | None = None) -> str:
    vector = index.encoder.encode([question])[0]
    [(sentence_id, _)] = index.search_dense(vector, 1, article_id)
    return index.sentences([sentence_id])[sentence_id].text


def test_ingesting_the_same_articles_again_changes_nothing(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    first = index.ingest([VIENNA, OSLO])
    assert sorted(first.added) == ["oslo", "vienna"]
    before = index.stats()
    encoded = fake_encoder.encoded
    again = index.ingest([VIENNA, OSLO])
    assert sorted(again.unchanged) == ["oslo", "vienna"]
    assert fake_encoder.encoded == encoded, "unchanged articles must not be embedded again"
    assert index.stats() == before


def test_new_articles_are_added_without_re_embedding_old_ones(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA])
    encoded = fake_encoder.encoded
    index.ingest([VIENNA, OSLO])
    assert fake_encoder.encoded - encoded == 3, "only Oslo's two sentences and title are embedded"
    assert index.stats().sentences == 4
    assert top_text(index, "fishermen harbour boats") == "Boats blocked the harbour."


def test_changed_text_replaces_the_old_sentences(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO])
    changed = story("vienna", "The ministers will now meet in Geneva on Tuesday.")
    report = index.ingest([changed])
    assert report.replaced == ["vienna"]
    _, sentences = index.article("vienna")
    assert [s.text for s in sentences] == ["The ministers will now meet in Geneva on Tuesday."]
    assert index.stats().sentences == 3
    assert index.stats().vectors == 3
    assert "Vienna" not in top_text(index, "ministers meet Vienna Monday")


def test_remove_deletes_sentences_and_vectors_and_other_ids_survive(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO])
    assert index.remove("vienna") == 2
    assert index.stats().articles == 1
    assert index.stats().vectors == 1 + 1
    assert top_text(index, "ministers meet Vienna") in {
        "Fishermen in Oslo protested new quotas.",
        "Boats blocked the harbour.",
    }
    with pytest.raises(ArticleNotFoundError):
        index.remove("vienna")
    reopened = NewsIndex(tmp_path, fake_encoder)
    assert top_text(reopened, "fishermen harbour boats") == "Boats blocked the harbour."


def test_article_scope_only_searches_that_article(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO])
    vector = index.encoder.encode(["fishermen harbour"])[0]
    found = index.search_dense(vector, 10, article_id="vienna")
    assert {index.sentences([i])[i].article_id for i, _ in found} == {"vienna"}
    assert len(found) == 2
    lexical = index.search_lexical("harbour", 10, article_id="vienna")
    assert lexical == []
    assert index.search_lexical("harbour", 10)


def test_lexical_search_stems_and_ignores_stop_words(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO])
    [(sentence_id, score)] = index.search_lexical("Where is the meeting?", 10)
    assert index.sentences([sentence_id])[sentence_id].text.startswith("The ministers will meet")
    assert score > 0
    assert index.search_lexical("the of and", 10) == []


def test_index_refuses_another_model_until_rebuilt(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    NewsIndex(tmp_path, fake_encoder).ingest([VIENNA])
    other = FakeEncoder(dim=32, model_id="other-model@2")
    switched = NewsIndex(tmp_path, other)
    with pytest.raises(ModelMismatchError, match="newsqa rebuild"):
        switched.load()
    with pytest.raises(ModelMismatchError, match="newsqa rebuild"):
        switched.ingest([OSLO])
    # Rebuilding is the way to switch models, straight from an index opened with the new one.
    stats = switched.rebuild()
    assert stats.model == "other-model@2"
    assert stats.dim == 32
    assert switched.manifest() is not None
    assert NewsIndex(tmp_path, other).stats().vectors == 2
    assert top_text(NewsIndex(tmp_path, other), "ministers Vienna").startswith("The ministers")
    with pytest.raises(ModelMismatchError):
        NewsIndex(tmp_path, fake_encoder).load()


def test_rebuild_keeps_ids_of_unchanged_sentences(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO])
    ids_before = index.sentence_ids("oslo")
    generation = index.stats().generation
    stats = index.rebuild()
    assert index.sentence_ids("oslo") == ids_before
    assert stats.generation == generation + 1
    assert stats.sentences == stats.vectors == 4
    # the rebuilt index is one fresh segment; the old one's files are gone
    names = sorted(p.name for p in (tmp_path / "segments").iterdir())
    assert len({name.split(".")[0] for name in names}) == 1
    assert not (tmp_path / "vectors").exists()


def test_context_neighbours_and_article_listing(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, story("later", "Another story here.", title="Later")])
    ids = index.sentence_ids("vienna")
    found = index.sentences(ids)
    assert found[ids[0]].before is None
    assert found[ids[0]].after == "Talks are expected to last."
    assert found[ids[1]].before == "The ministers will meet in Vienna on Monday."
    page, total = index.articles(limit=1)
    assert total == 2
    assert len(page) == 1


SUMMIT = story(
    "summit",
    "Leaders spoke on Thursday. Then the two presidents will meet at an agreed location, "
    "Budapest, Hungary, to see if they can bring the long war between their neighbours to an end.",
)


def test_a_long_sentences_clauses_are_embedded_and_survive_a_rebuild(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([SUMMIT])
    short, long = index.sentence_ids("summit")
    stored = index.clause_vectors([short, long])
    assert list(stored) == [long], "only the sentence saying two things has clauses"
    meeting = "Then the two presidents will meet at an agreed location, Budapest, Hungary"
    expected = fake_encoder.encode([meeting])[0]
    assert max(float(v @ expected) for v in stored[long]) > 0.99  # stored in 8 bits
    index.rebuild()
    assert np.allclose(index.clause_vectors([long])[long], stored[long])


def _as_schema_2(data_dir: Path, dim: int, *, clauses: bool = True) -> None:
    """Turn an index into the layout written before schema 3: float16 clause vectors in the
    sentences' rows (or none at all, older still), an FTS5 table with its own copy of the text,
    float16 sentence vectors in the segments."""
    conn = sqlite3.connect(data_dir / DB_NAME)
    conn.execute("ALTER TABLE sentences ADD COLUMN clause_vectors BLOB")
    for sentence_id, blob in conn.execute("SELECT sentence_id, vectors FROM clauses").fetchall():
        halves = quantize.from_bytes(blob, dim).astype(np.float16).tobytes()
        conn.execute("UPDATE sentences SET clause_vectors = ? WHERE id = ?", (halves, sentence_id))
    conn.execute("DROP TABLE clauses")
    if not clauses:
        conn.execute("ALTER TABLE sentences DROP COLUMN clause_vectors")
    conn.execute("DROP TABLE sentences_fts")
    conn.execute(
        "CREATE VIRTUAL TABLE sentences_fts USING fts5("
        "text, tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.execute("INSERT INTO sentences_fts (rowid, text) SELECT id, text FROM sentences")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    for scale in (data_dir / "segments").glob("*.scale.npy"):
        raw = scale.with_name(scale.name.replace("scale", "raw"))
        halves = quantize.decode(np.load(raw), np.load(scale)).astype(np.float16)
        np.save(raw, halves)
        scale.unlink()


def test_an_index_from_before_clause_vectors_still_answers(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    NewsIndex(tmp_path, fake_encoder).ingest([SUMMIT, OSLO])
    _as_schema_2(tmp_path, fake_encoder.dim, clauses=False)
    index = NewsIndex(tmp_path, fake_encoder)
    assert index.clause_vectors(index.sentence_ids("summit")) == {}
    assert (
        top_text(index, "Fishermen protested quotas") == "Fishermen in Oslo protested new quotas."
    )
    index.rebuild()
    assert len(index.clause_vectors(index.sentence_ids("summit"))) == 1


def test_an_index_of_schema_2_is_converted_when_opened_and_answers_the_same(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    first = NewsIndex(tmp_path, fake_encoder)
    first.ingest([SUMMIT, OSLO, VIENNA])
    ids = [i for a in ("summit", "oslo", "vienna") for i in first.sentence_ids(a)]
    clauses = first.clause_vectors(ids)
    raw = first.sentence_vectors(ids)
    lexical = first.search_lexical("protested quotas in Vienna", 5)
    _as_schema_2(tmp_path, fake_encoder.dim)

    index = NewsIndex(tmp_path, fake_encoder)
    assert index.search_lexical("protested quotas in Vienna", 5) == lexical
    converted = index.clause_vectors(ids)
    assert list(converted) == list(clauses)
    for sentence_id, vectors in clauses.items():
        assert np.allclose(converted[sentence_id], vectors, atol=0.02)
    assert np.allclose(index.sentence_vectors(ids), raw, atol=0.01), "float16 segments still read"
    conn = sqlite3.connect(tmp_path / DB_NAME)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "sentences_fts_content" not in tables, "the words no longer keep a copy of the text"
    conn.close()
    # the converted index takes writes: removing an article removes its words too
    index.remove("oslo")
    assert index.search_lexical("protested quotas", 5) == []
    # FTS5 checks its words against the text in `sentences` (raises if they disagree)
    index.connection.execute(
        "INSERT INTO sentences_fts (sentences_fts, rank) VALUES ('integrity-check', 1)"
    )
    assert (
        top_text(index, "ministers meet Vienna") == "The ministers will meet in Vienna on Monday."
    )


def test_term_counts_follow_every_write(tmp_path: Path, fake_encoder: FakeEncoder) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA])
    assert index.term_counts("Where do the ministers meet?") == {"ministers": 1, "meet": 1}
    index.ingest([story("more", "Ministers met again. The ministers left.")])
    assert index.term_counts("ministers") == {"ministers": 3}
    index.remove("vienna")
    assert index.term_counts("ministers") == {"ministers": 2}


def test_a_large_corpus_leaves_common_words_out_of_lexical_search(
    tmp_path: Path, fake_encoder: FakeEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from index import lexical

    assert lexical.selective({"said": 50_000, "harbour": 30, "zzz": 0}, 1_000_000) == ["harbour"]
    assert lexical.selective({"said": 50_000, "year": 15_000}, 1_000_000) == ["year"]
    assert lexical.selective({"said": 50_000, "year": 40_000}, 1_000_000) == []
    assert lexical.selective({"said": 50_000, "harbour": 30}, 10_000) == ["said", "harbour"]
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO, story("common", "Ministers said many things. Ministers met.")])
    # "ministers" is in 3 of 6 sentences: common once the corpus counts as large
    assert len(index.search_lexical("ministers harbour", 10)) == 4
    monkeypatch.setattr(lexical, "PRUNE_FROM", 1)
    monkeypatch.setattr(lexical, "COMMON_MIN", 1)
    monkeypatch.setattr(lexical, "COMMON_SHARE", 0.2)
    [(only, _)] = index.search_lexical("ministers harbour", 10)
    assert index.sentences([only])[only].text == "Boats blocked the harbour."


def test_sentences_read_again_after_a_write_show_it(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([VIENNA, OSLO])
    [first, _] = index.sentence_ids("vienna")
    assert index.sentences([first])[first].source == "wire"
    moved = Article(id="vienna", title=VIENNA.title, text=VIENNA.text, source="agency")
    assert index.ingest([moved]).replaced == ["vienna"]
    assert index.sentences([first])[first].source == "agency", "rows are not kept past a write"
    index.remove("vienna")
    assert index.sentences([first]) == {}
