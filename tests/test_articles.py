"""Reading articles from files: good ones in, bad ones reported with where and why."""

from __future__ import annotations

import json
from pathlib import Path

from index.articles import read_paths


def test_text_file_title_is_first_non_empty_line(tmp_path: Path) -> None:
    path = tmp_path / "story.txt"
    path.write_text("\n\nLeaders to meet\nThey will meet in Vienna.\n", encoding="utf-8")
    result = read_paths([path])
    assert not result.skipped
    [article] = result.articles
    assert article.title == "Leaders to meet"
    assert article.text == "They will meet in Vienna.\n"
    assert article.source == "story.txt"


def test_markdown_heading_is_the_title(tmp_path: Path) -> None:
    path = tmp_path / "story.md"
    path.write_text("# Markets rally\n\nShares rose sharply on Monday.\n", encoding="utf-8")
    [article] = read_paths([path]).articles
    assert article.title == "Markets rally"


def test_jsonl_with_a_broken_line_keeps_the_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    good = {"id": "a1", "title": "One", "text": "First story.", "url": "https://example.org/1"}
    lines = [
        json.dumps(good),
        '{"title": "Broken", "text": ',
        json.dumps({"title": "Two", "text": "Second story.", "published": "2025-10-17"}),
        json.dumps({"title": "No text"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_paths([path])
    assert [a.title for a in result.articles] == ["One", "Two"]
    assert result.articles[0].id == "a1"
    assert result.articles[0].url == "https://example.org/1"
    assert result.articles[1].published == "2025-10-17"
    where = [s.where for s in result.skipped]
    assert where == [f"{path}:2", f"{path}:4"]
    assert "invalid JSON" in result.skipped[0].reason
    assert "text" in result.skipped[1].reason


def test_json_array_and_content_hash_ids(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    records = [{"title": "T", "text": "Same text."}, {"title": "T", "text": "Other text."}]
    path.write_text(json.dumps(records), encoding="utf-8")
    first, second = read_paths([path]).articles
    assert first.id != second.id
    assert read_paths([path]).articles[0].id == first.id


def test_folders_unreadable_and_missing_files_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("Title\nBody text.\n", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Titre\nCaf\xe9 cr\xe8me.\n".encode("latin-1"))
    (folder / "ignored.csv").write_text("a,b\n", encoding="utf-8")
    result = read_paths([folder, tmp_path / "missing.txt"])
    assert [a.title for a in result.articles] == ["Title"]
    reasons = {Path(s.where).name: s.reason for s in result.skipped}
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "no such file" in reasons["missing.txt"]
