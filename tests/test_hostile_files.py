"""Hostile and oversized files and records: each is refused with a reason, the rest read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from index.articles import article_from_record, read_paths, read_text_payload
from index.errors import InvalidArticleError

DEEP = "[" * 50_000 + "]" * 50_000
GOOD = {"id": "good", "title": "Grain deal", "text": "Ships left Odesa with grain."}


def test_deeply_nested_json_is_refused_and_the_records_beside_it_read(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text(DEEP, encoding="utf-8")
    deep_record = '{"title": "x", "text": ' + DEEP + "}"
    lines = [json.dumps(GOOD), deep_record, json.dumps({**GOOD, "id": "good2"})]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_paths([tmp_path])
    assert [a.id for a in result.articles] == ["good", "good2"]
    reasons = {Path(s.where).name: s.reason for s in result.skipped}
    too_deep = "JSON nested too deeply"
    assert reasons == {"deep.json": too_deep, "feed.jsonl:2": too_deep}


def test_a_lone_surrogate_is_refused_for_its_record_only(tmp_path: Path) -> None:
    lines = [
        '{"id": "bad-title", "title": "Bad \\ud800 title", "text": "Some text."}',
        json.dumps(GOOD),
        '{"id": "bad-text", "title": "Fine", "text": "Text with \\udfff in it."}',
    ]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = read_paths([tmp_path / "feed.jsonl"])
    assert [a.id for a in result.articles] == ["good"]
    assert [s.where.rsplit(":", 1)[1] for s in result.skipped] == ["1", "3"]
    assert "'title' holds a lone surrogate (\\ud800" in result.skipped[0].reason
    assert "'text' holds a lone surrogate (\\udfff" in result.skipped[1].reason


def test_a_file_that_is_not_json_lines_is_reported_line_by_line(tmp_path: Path) -> None:
    lines = ["this is prose, not JSON", json.dumps(GOOD), "42", '"a string"', "[1, 2]"]
    upload = read_text_payload("feed.jsonl", "\n".join(lines).encode())
    assert [a.id for a in upload.articles] == ["good"]
    assert [s.where for s in upload.skipped] == [
        "feed.jsonl:1",
        "feed.jsonl:3",
        "feed.jsonl:4",
        "feed.jsonl:5",
    ]
    # a whole file of prose is reported up to a point, not once for each of its lines
    prose = read_text_payload("book.jsonl", b"It was a dark and stormy night.\n" * 100_000)
    assert len(prose.skipped) == 101
    assert "stopped after 100 bad lines (99900 lines not read)" in prose.skipped[-1].reason


@pytest.mark.parametrize(
    "record",
    [
        None,
        [],
        "text",
        {"title": ["x"], "text": "t"},
        {"title": "t", "text": {"nested": [1, 2]}},
        {"title": "t", "text": "t", "id": {"a": 1}},
        {"title": "t", "text": "t", "id": True},
        {"title": "t", "text": "t", "url": 10**300},
        {"title": "t", "text": "t", "url": "http://[::1"},
        {"title": "t\ud800", "text": "t"},
        {"title": "t", "text": "t", "source": "s\udc80"},
        {"title": "t", "text": "t", "published": "\ud83d"},
    ],
)
def test_a_record_is_an_article_or_an_invalid_article_error(record: Any) -> None:
    try:
        article = article_from_record(record)
    except InvalidArticleError:
        return
    # anything accepted is a whole article of real text
    assert article.id
    for value in (article.id, article.title, article.text, article.source, article.published):
        (value or "").encode("utf-8")


def test_json_numbers_python_will_not_convert_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"title": "t", "text": "t", "id": ' + "9" * 5000 + "}\n", encoding="utf-8")
    result = read_paths([path])
    assert not result.articles
    assert "invalid JSON" in result.skipped[0].reason


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "huge.txt"
    with big.open("w", encoding="utf-8") as handle:
        handle.write("A huge story\n")
        handle.write("The same sentence again and again. " * 100_000)  # 3.5 MB
    (tmp_path / "small.txt").write_text("Small story\nIt fits.\n", encoding="utf-8")
    read: list[str] = []
    original = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self.name)
        return original(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    result = read_paths([tmp_path], max_bytes=2_000_000)
    assert [a.title for a in result.articles] == ["Small story"]
    assert read == ["small.txt"]
    [skipped] = result.skipped
    assert skipped.where == str(big)
    assert f"the article is {big.stat().st_size:,} bytes" in skipped.reason
    assert "limit of 2,000,000 bytes" in skipped.reason
    upload = read_text_payload("huge.txt", original(big), max_bytes=2_000_000)
    assert not upload.articles and "limit of 2,000,000" in upload.skipped[0].reason


def test_a_jsonl_line_or_record_larger_than_the_limit_is_refused(tmp_path: Path) -> None:
    huge = {"title": "Huge", "text": "word " * 5000}
    wide = {"title": "Wide", "text": "é" * 1500}  # 1,500 characters but 3,000 bytes
    lines = [json.dumps(GOOD), json.dumps(huge), json.dumps(wide, ensure_ascii=False)]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines), encoding="utf-8")
    result = read_paths([tmp_path], max_bytes=2048)
    assert [a.id for a in result.articles] == ["good"]
    reasons = {s.where.rsplit(":", 1)[1]: s.reason for s in result.skipped}
    assert f"at least {len(lines[1]):,} bytes" in reasons["2"]
    assert "3,004 bytes, larger than the limit of 2,048" in reasons["3"]
    with pytest.raises(InvalidArticleError, match="larger than the limit of 2,048 bytes"):
        article_from_record(huge, max_bytes=2048)
