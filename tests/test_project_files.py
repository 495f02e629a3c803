"""What a newcomer checks first: the licence, the samples, the ignored files."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples" / "articles"


def test_the_license_file_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(text) > 10_000  # the full text, not a pointer to it


def test_every_sample_has_an_id_a_real_title_a_source_and_an_iso_date_when_known() -> None:
    records = [
        json.loads(line)
        for path in sorted(SAMPLES.iterdir())
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert {path.suffix for path in SAMPLES.iterdir()} == {".jsonl"}
    assert len(records) == 7
    for record in records:
        assert record["id"] and record["source"] in ("AFP", "CNN"), record["id"]
        title = record["title"]
        assert len(title.split()) >= 5 and "story" not in title.lower(), title
        assert not title.endswith((".txt", ".jsonl"))
    dated = {r["id"]: r["published"] for r in records if r.get("published")}
    assert dated == {"afp-trump-putin-budapest": "2025-10-16"}


def test_env_files_are_not_committed() -> None:
    ignored = (REPO / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored
