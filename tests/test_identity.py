"""An edited article replaces its earlier version wherever it comes in: files, uploads."""

from __future__ import annotations

from pathlib import Path

from index.articles import Article, content_id
from index.store import NewsIndex
from qa.service import QAService
from tests.fakes import FakeEncoder


def _texts(service: QAService) -> list[str]:
    rows = service.index.connection.execute("SELECT text FROM sentences ORDER BY id")
    return [row[0] for row in rows]


def test_an_upload_with_the_same_file_name_replaces_its_article(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    service = QAService(NewsIndex(tmp_path, fake_encoder))
    first = service.ingest_upload("harbour.txt", b"Harbour news\nThe harbour was closed.\n")
    second = service.ingest_upload("harbour.txt", b"Harbour news\nThe harbour reopened.\n")
    assert second.report.replaced == first.report.added
    assert service.stats().articles == 1
    assert _texts(service) == ["The harbour reopened."]


def test_re_ingesting_an_edited_file_replaces_its_sentences(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    story = folder / "harbour.md"
    story.write_text("# Harbour news\nThe harbour was closed.\n", encoding="utf-8")
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    first = service.ingest_paths([folder])
    story.write_text("# Harbour news\nThe harbour reopened. Ships sailed.\n", encoding="utf-8")
    second = service.ingest_paths([story])  # the file alone: still the same article
    assert second.report.replaced == first.report.added
    assert second.titles == {first.report.added[0]: "Harbour news"}
    assert service.stats().articles == 1
    assert _texts(service) == ["The harbour reopened.", "Ships sailed."]


def test_a_copy_known_by_its_content_goes_when_its_file_comes_in_again(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    story = tmp_path / "harbour.txt"
    story.write_text("Harbour news\nThe harbour was closed.\n", encoding="utf-8")
    service = QAService(NewsIndex(tmp_path / "data", fake_encoder))
    # as an index built before files were known by their path holds it
    legacy = content_id("Harbour news", "The harbour was closed.\n")
    service.ingest(
        [Article(legacy, "Harbour news", "The harbour was closed.\n", source="harbour.txt")]
    )
    outcome = service.ingest_paths([story])
    [new_id] = outcome.report.added
    assert outcome.superseded == {legacy: new_id}
    assert [info.id for info in service.articles()[0]] == [new_id]
    assert _texts(service) == ["The harbour was closed."]
