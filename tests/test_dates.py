"""`published` is a date: parsed from the usual formats, stored as a timestamp, sorted by it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from index.articles import Article, read_paths
from index.dates import iso, parse_published
from index.store import DB_NAME, NewsIndex
from qa.service import QAService
from tests.fakes import FakeEncoder


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2025-10-18", "2025-10-18T00:00:00+00:00"),
        ("2025-10-18T09:12:00+02:00", "2025-10-18T07:12:00+00:00"),
        ("2025-10-18T09:12:00Z", "2025-10-18T09:12:00+00:00"),
        ("2025-10-18 09:12", "2025-10-18T09:12:00+00:00"),
        ("Sat, 18 Oct 2025 09:12:00 +0200", "2025-10-18T07:12:00+00:00"),
        ("18 Oct 2025 09:12:00 GMT", "2025-10-18T09:12:00+00:00"),
        ("yesterday", None),
        ("2025-13-45", None),
        ("0001-01-01T00:00:00+14:00", None),  # before year 1 in UTC
        ("2025-10-18T09:12:00." + "0" * 100, None),  # too long to be a date
    ],
)
def test_common_date_formats_are_read_as_utc(given: str, expected: str | None) -> None:
    assert iso(parse_published(given)) == expected


def story(id_: str, published: str | None) -> Article:
    return Article(id=id_, title=f"Story {id_}", text=f"Story {id_} happened.", published=published)


def test_articles_are_listed_by_their_date_not_by_its_text(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest(
        [
            story("undated", None),
            story("garbled", "not a date"),
            story("rfc", "Sat, 18 Oct 2025 09:12:00 +0200"),  # 18 Oct, 07:12 UTC
            story("day", "2025-10-17"),
            story("offset", "2025-10-18T23:30:00-05:00"),  # 19 Oct, 04:30 UTC
        ]
    )
    page, total = index.articles()
    assert total == 5
    assert [item.id for item in page][:3] == ["offset", "rfc", "day"]
    assert {item.id for item in page[3:]} == {"garbled", "undated"}
    first = page[0]
    assert first.published == "2025-10-18T23:30:00-05:00"  # kept as given
    assert first.published_at == "2025-10-19T04:30:00+00:00"
    assert page[3].published_at is None
    second, _ = index.articles(offset=1, limit=1)
    assert [item.id for item in second] == ["rfc"]


def test_the_answer_gives_the_date_as_given_and_in_iso_form(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    service = QAService(NewsIndex(tmp_path, fake_encoder))
    service.ingest([story("rfc", "Sat, 18 Oct 2025 09:12:00 +0200")])
    [answer] = service.ask("Story rfc happened", k=1, include_closest=True).answers
    assert answer.published == "Sat, 18 Oct 2025 09:12:00 +0200"
    assert answer.published_at == "2025-10-18T07:12:00+00:00"


def test_an_unreadable_date_is_a_warning_naming_the_article_not_a_skip(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    records = [
        {"id": "a", "title": "Dated", "text": "One.", "published": "2025-10-17"},
        {"id": "b", "title": "Odd date", "text": "Two.", "published": "the day before yesterday"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    result = read_paths([path])
    assert [a.id for a in result.articles] == ["a", "b"]
    assert not result.skipped
    [warning] = result.warnings
    assert warning.where == f"{path}:2"
    assert "'Odd date'" in warning.reason and "'the day before yesterday'" in warning.reason


def test_an_index_from_before_parsed_dates_gains_them_when_opened(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest([story("old", "2025-10-17"), story("new", "Sat, 18 Oct 2025 09:12:00 +0200")])
    index.connection.close()
    # the table as it was before the published_at column
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("ALTER TABLE articles DROP COLUMN published_at")
    reopened = NewsIndex(tmp_path, fake_encoder)
    page, _ = reopened.articles()
    assert [(item.id, item.published_at) for item in page] == [
        ("new", "2025-10-18T07:12:00+00:00"),
        ("old", "2025-10-17T00:00:00+00:00"),
    ]
