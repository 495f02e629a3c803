"""`newsqa ingest URL...` and `newsqa feeds`, end to end with the real model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bots.cli import app
from index.web.urls import url_id
from tests.web_support import BOILERPLATE, FIXTURES, NewsSite, Reply, news_site

runner = CliRunner()


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[NewsSite]:
    monkeypatch.setenv("NEWSQA_FETCH_ALLOW", "127.0.0.1")
    with news_site() as running:
        yield running


@pytest.mark.model
def test_ingest_urls_and_files_then_ask(site: NewsSite, tmp_path: Path) -> None:
    urls = site.all_pages()
    site.routes["/photo"] = Reply(body=b"\x89PNG", content_type="image/png")
    notes = tmp_path / "notes.txt"
    notes.write_text("Council notes\nThe council met on Tuesday to discuss parking.\n", "utf-8")
    shutil.copy(FIXTURES / "divs-opengraph.html", tmp_path / "saved.html")
    result = runner.invoke(
        app,
        ["ingest", urls[3], site.url("/photo"), urls[0], str(notes), str(tmp_path / "saved.html")],
    )
    assert result.exit_code == 3, result.output
    assert "4 added" in result.stdout
    assert f"skipped {site.url('/photo')}: content type image/png is not" in result.stderr

    answer = runner.invoke(app, ["ask", "Where will Trump and Putin meet?", "--json"])
    assert answer.exit_code == 0, answer.output
    top = json.loads(answer.stdout)["answers"][0]
    assert "Budapest" in top["sentence"]
    assert (top["article_id"], top["url"], top["source"]) == (
        url_id(urls[3]),
        urls[3],
        "Le Courrier du Matin",
    )
    assert top["published"].startswith("2025-10-16")
    for question in ("Do you accept cookies?", "Who commented on the summit in Alaska?"):
        closest = runner.invoke(app, ["ask", question, "--json", "--closest", "--k", "10"])
        sentences = [a["sentence"] for a in json.loads(closest.stdout)["answers"]]
        assert not [s for s in sentences for b in BOILERPLATE if b.lower() in s.lower()]


def test_feeds_add_list_remove(site: NewsSite) -> None:
    feed = site.url("/feed.rss")
    added = runner.invoke(app, ["feeds", "add", feed, "--interval", "15"])
    assert added.exit_code == 0, added.output
    assert added.stdout.startswith(f"following feed 1: {feed} (every 15 min)")
    listed = runner.invoke(app, ["feeds", "list"])
    assert f"1  {feed}" in listed.stdout and "every 15 min · last poll never" in listed.stdout
    assert runner.invoke(app, ["feeds", "add", "ftp://x/"]).exit_code == 1
    removed = runner.invoke(app, ["feeds", "remove", feed])
    assert removed.stdout.startswith(f"stopped following feed 1: {feed}")
    missing = runner.invoke(app, ["feeds", "remove", "1"])
    assert missing.exit_code == 1
    assert "no feed '1'" in missing.stderr


@pytest.mark.model
def test_ask_filters_by_source_and_date(
    samples_index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(samples_index_dir, data_dir)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(data_dir))
    question = ["ask", "who condemned the airstrike?", "--json", "--k", "5"]
    everything = json.loads(runner.invoke(app, question).stdout)
    assert {a["source"] for a in everything["answers"]} != {"budapest-summit.txt"}
    only = runner.invoke(app, [*question, "--source", "budapest-summit.txt", "--closest"])
    assert only.exit_code == 0, only.output
    answers = json.loads(only.stdout)["answers"]
    assert answers and {a["source"] for a in answers} == {"budapest-summit.txt"}
    # the samples carry no dates: a date range leaves nothing to search
    dated = json.loads(runner.invoke(app, [*question, "--since", "2025-01-01"]).stdout)
    assert (dated["abstained"], dated["answers"]) == (True, [])
    bad = runner.invoke(app, [*question, "--until", "soon"])
    assert bad.exit_code == 1
    assert "until must be a date like 2025-10-01" in bad.stderr
