"""`newsqa ingest` and `newsqa list` as a user runs them, with the real packaged model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from index.store import NewsIndex

pytestmark = pytest.mark.model
runner = CliRunner()

OLD = "The harbour of Gdansk was closed by the storm on Monday."
NEW = "The harbour of Gdynia reopened after the storm on Tuesday."


def _ids(output: str, verb: str) -> list[str]:
    return re.findall(rf"^{verb} ([0-9a-f]{{16}})\b", output, flags=re.MULTILINE)


def test_an_edited_file_replaces_its_article(tmp_path: Path) -> None:
    folder = tmp_path / "news"
    folder.mkdir()
    (folder / "harbour.txt").write_text(f"Harbour news\n{OLD}\n", encoding="utf-8")
    (folder / "grain.txt").write_text(
        "Grain deal\nShips left Odesa with grain on Friday.\n", encoding="utf-8"
    )
    first = runner.invoke(app, ["ingest", str(folder)])
    assert first.exit_code == 0, first.output
    added = _ids(first.stdout, "added")
    assert len(added) == 2
    (folder / "harbour.txt").write_text(f"Harbour news\n{NEW}\n", encoding="utf-8")
    second = runner.invoke(app, ["ingest", str(folder)])
    assert second.exit_code == 0, second.output
    [replaced] = _ids(second.stdout, "replaced")
    assert replaced in added
    assert f"replaced {replaced}  Harbour news" in second.stdout
    assert "0 added, 1 replaced, 1 unchanged" in second.stdout

    listed = json.loads(runner.invoke(app, ["list", "--json"]).stdout)
    assert listed["total"] == 2
    answer = json.loads(
        runner.invoke(app, ["ask", "Which harbour reopened after the storm?", "--json"]).stdout
    )
    assert answer["answers"][0]["sentence"] == NEW
    assert answer["answers"][0]["article_id"] == replaced
    assert all(a["sentence"] != OLD for a in answer["answers"])
    stored = NewsIndex(tmp_path / "data").connection.execute("SELECT text FROM sentences")
    texts = [row[0] for row in stored]
    assert OLD not in texts and NEW in texts


def test_list_shows_articles_newest_first_by_date_with_paging(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    records = [
        {"id": "day", "title": "Day only", "text": "Snow fell.", "published": "2025-10-17"},
        {"id": "odd", "title": "Odd date", "text": "Rain fell.", "published": "last Tuesday"},
        {
            "id": "rfc",
            "title": "Mail date",
            "text": "Hail fell.",
            "published": "Sat, 18 Oct 2025 09:12:00 +0200",
        },
        {
            "id": "iso",
            "title": "Offset",
            "text": "Fog lifted.",
            "published": "2025-10-18T23:30:00-05:00",
        },
    ]
    feed.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    ingested = runner.invoke(app, ["ingest", str(feed)])
    assert ingested.exit_code == 0, ingested.output  # a date that is not one is no skip
    assert f"warning {feed}:2: 'Odd date': published 'last Tuesday' is not a date" in (
        ingested.stderr
    )
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["iso", "rfc", "day", "odd"]
    assert lines[0].split()[1] == "2025-10-19"
    assert lines[3] == "odd  (last Tuesday)  Odd date  (1 sentence)"
    assert "1-4 of 4 articles" in listed.stderr
    paged = runner.invoke(app, ["list", "--json", "--offset", "1", "--limit", "2"])
    page = json.loads(paged.stdout)
    assert page["total"] == 4
    assert [item["id"] for item in page["items"]] == ["rfc", "day"]
    assert page["items"][0]["published"] == "Sat, 18 Oct 2025 09:12:00 +0200"
    assert page["items"][0]["published_at"] == "2025-10-18T07:12:00+00:00"
    assert page["items"][0]["sentences"] == 1


def test_a_folder_with_hostile_files_ingests_the_good_ones_and_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSQA_MAX_ARTICLE_BYTES", "100000")
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "good.txt").write_text(
        "Grain deal\nShips left Odesa with grain on Friday.\n", encoding="utf-8"
    )
    (folder / "café.txt").write_bytes(
        "Café news\nThe café in Zürich served crème brûlée to 40 guests.\n".encode("cp1252")
    )
    (folder / "deep.json").write_text("[" * 20_000 + "]" * 20_000, encoding="utf-8")
    (folder / "feed.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"id": "snow", "title": "Snow", "text": "Snow closed the passes."}),
                '{"id": "s", "title": "Bad \\ud800", "text": "Surrogate."}',
                '{"title": "x", "text": ' + "[" * 20_000 + "]" * 20_000 + "}",
                "not json at all",
            ]
        ),
        encoding="utf-8",
    )
    (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(500))
    (folder / "huge.txt").write_text("Huge\n" + "Words and words. " * 10_000, encoding="utf-8")
    (folder / "table.csv").write_text("a,b\n", encoding="utf-8")
    result = runner.invoke(app, ["ingest", str(folder)])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    err = result.stderr
    assert f"skipped {folder / 'deep.json'}: JSON nested too deeply" in err
    assert f"skipped {folder / 'feed.jsonl'}:2: 'title' holds a lone surrogate" in err
    assert f"skipped {folder / 'feed.jsonl'}:3: JSON nested too deeply" in err
    assert f"skipped {folder / 'feed.jsonl'}:4: invalid JSON" in err
    assert f"skipped {folder / 'photo.txt'}: unsupported: binary file" in err
    assert f"skipped {folder / 'huge.txt'}: the article is 170,005 bytes" in err
    assert f"skipped {folder / 'table.csv'}: unsupported file type .csv" in err
    assert "3 added" in result.stdout
    answer = json.loads(
        runner.invoke(app, ["ask", "What did the café in Zürich serve?", "--json"]).stdout
    )
    served = "The café in Zürich served crème brûlée to 40 guests."
    assert answer["answers"][0]["sentence"] == served
    snow = json.loads(runner.invoke(app, ["ask", "What closed the passes?", "--json"]).stdout)
    assert snow["answers"][0]["sentence"] == "Snow closed the passes."
