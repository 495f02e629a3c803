"""A write run in a child process by tests/test_crash.py, which kills it at a named point."""

from __future__ import annotations

import sys
from pathlib import Path

from index.articles import Article
from index.store import NewsIndex
from tests.fakes import FakeEncoder

NEW = Article(
    id="new",
    title="Harbour news",
    text="The harbour reopened after the storm. Ferries sail again on Friday.",
)


def main(data_dir: str, operation: str) -> None:
    index = NewsIndex(Path(data_dir), FakeEncoder())
    if operation == "ingest":
        index.ingest([NEW])
    elif operation == "remove":
        index.remove("vienna")
    elif operation == "compact":
        index.compact()
    else:
        raise SystemExit(f"unknown operation {operation}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
