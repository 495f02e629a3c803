"""Reading articles from files: good ones in, bad ones reported with where and why."""

from __future__ import annotations

import json
from pathlib import Path

from index.articles import canonical_url, pasted_article, read_paths, read_text_payload


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


def test_json_records_are_known_by_id_then_url_then_title_in_their_file(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    records = [
        {"id": "given", "title": "T", "text": "One."},
        {"title": "Linked", "text": "Two.", "url": "https://News.example.org/a?utm_source=x#top"},
        {"title": "Plain", "text": "Three."},
        {"title": "Plain", "text": "Three, with another text and no id."},
    ]
    path.write_text(json.dumps(records), encoding="utf-8")
    first = read_paths([path])
    assert [a.title for a in first.articles] == ["T", "Linked", "Plain"]
    assert first.articles[0].id == "given"
    # the same title twice in one file, without id or url, cannot tell two articles apart
    assert [s.where for s in first.skipped] == [f"{path}[4]"]
    assert "same title" in first.skipped[0].reason
    edited = [
        {"id": "given", "title": "T", "text": "One, edited."},
        {"title": "Linked", "text": "Two, edited.", "url": "https://news.example.org/a"},
        {"title": "Plain", "text": "Three, edited."},
    ]
    path.write_text(json.dumps(edited), encoding="utf-8")
    second = read_paths([path])
    assert [a.id for a in second.articles] == [a.id for a in first.articles]
    assert len(set(a.id for a in second.articles)) == 3


def test_a_text_file_keeps_its_id_when_its_text_is_edited(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    path = folder / "story.txt"
    path.write_text("Leaders to meet\nThey will meet in Vienna.\n", encoding="utf-8")
    other = folder / "other.txt"
    other.write_text("Leaders to meet\nThey will meet in Vienna.\n", encoding="utf-8")
    before = read_paths([folder]).articles
    path.write_text("Leaders to meet\nThey will meet in Budapest instead.\n", encoding="utf-8")
    after = read_paths([folder]).articles
    assert [a.id for a in after] == [a.id for a in before]
    # two files are two articles, even with the same text
    assert len({a.id for a in after}) == 2
    # the file given alone is the same article as the file read with its folder
    [alone] = read_paths([path]).articles
    assert alone.id == after[1].id and alone.text == "They will meet in Budapest instead.\n"
    # an upload is known by its file name
    uploaded = read_text_payload("story.txt", b"Leaders to meet\nFirst text.\n").articles[0]
    again = read_text_payload("story.txt", b"Leaders to meet\nSecond text.\n").articles[0]
    assert uploaded.id == again.id


def test_canonical_urls_ignore_case_fragments_ports_and_tracking() -> None:
    same = [
        "https://news.example.org/world/story?id=5&page=2",
        "HTTPS://News.Example.ORG:443/world/story?page=2&id=5#comments",
        "https://news.example.org/world/story?utm_source=feed&id=5&fbclid=abc&page=2&gclid=x",
    ]
    assert len({canonical_url(url) for url in same}) == 1
    assert canonical_url(same[0]) != canonical_url("https://news.example.org/world/story?id=6")
    assert canonical_url(same[0]) != canonical_url("https://news.example.org/World/story?id=5")
    assert canonical_url("not a url") is None
    assert canonical_url("ftp://example.org/x") is None
    assert canonical_url("https://[::1:80/") is None


def test_pasted_text_is_known_by_its_title_within_its_source() -> None:
    first = pasted_article("Storm warning\nWinds of 100 km/h.", "telegram")
    fixed = pasted_article("Storm warning\nWinds of 120 km/h.", "telegram")
    other = pasted_article("Flood warning\nWinds of 120 km/h.", "telegram")
    assert first.id == fixed.id != other.id


def test_folders_unreadable_and_missing_files_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("Title\nBody text.\n", encoding="utf-8")
    (folder / "empty.txt").write_text("\n\n", encoding="utf-8")
    result = read_paths([folder, tmp_path / "missing.txt"])
    assert [a.title for a in result.articles] == ["Title"]
    reasons = {Path(s.where).name: s.reason for s in result.skipped}
    assert "needs a title line" in reasons["empty.txt"]
    assert "no such file" in reasons["missing.txt"]


LATIN = "Le café crème était über-bon à Zürich, disait l'élève. Il coûtait trois francs."
SMART = "\u201cSmart quotes\u201d cost \u20ac5 \u2014 a na\u00efve caf\u00e9 in M\u00fcnchen."


def test_latin1_and_windows_1252_files_are_read_with_the_right_characters(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes(f"Zürich café\n{LATIN}\n".encode("latin-1"))
    (tmp_path / "cp1252.md").write_bytes(f"# Prices in €\n{SMART}\n".encode("cp1252"))
    record = {"title": "Über", "text": SMART}
    (tmp_path / "feed.jsonl").write_bytes(json.dumps(record, ensure_ascii=False).encode("cp1252"))
    result = read_paths([tmp_path])
    assert not result.skipped
    by_title = {a.title: a.text for a in result.articles}
    assert by_title == {"Zürich café": LATIN + "\n", "Prices in €": SMART + "\n", "Über": SMART}


def test_binary_files_are_reported_as_unsupported(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8
    (tmp_path / "photo.txt").write_bytes(png)
    (tmp_path / "program.jsonl").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(200))
    (tmp_path / "good.txt").write_text("Title\nBody text.\n", encoding="utf-8")
    result = read_paths([tmp_path])
    assert [a.title for a in result.articles] == ["Title"]
    reasons = {Path(s.where).name: s.reason for s in result.skipped}
    assert set(reasons) == {"photo.txt", "program.jsonl"}
    assert all(reason.startswith("unsupported: binary file") for reason in reasons.values())
    upload = read_text_payload("setup.txt", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(300))
    assert not upload.articles
    assert upload.skipped[0].reason == "unsupported: binary file"


def test_a_folders_files_of_other_types_are_listed_and_hidden_ones_passed_over(
    tmp_path: Path,
) -> None:
    (tmp_path / "ok.txt").write_text("Title\nBody text.\n", encoding="utf-8")
    (tmp_path / "table.csv").write_text("a,b\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "scan.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / ".notes.txt").write_text("Hidden\nNot an article.\n", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    result = read_paths([tmp_path])
    assert [a.title for a in result.articles] == ["Title"]
    assert sorted(Path(s.where).name for s in result.skipped) == ["scan.pdf", "table.csv"]
    assert all("unsupported file type" in s.reason for s in result.skipped)
