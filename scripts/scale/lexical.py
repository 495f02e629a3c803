"""How fast FTS5's bm25 answers at scale: questions, and single common words.

python scripts/scale/lexical.py ~/.local/share/newsqa/bench/scale-1000000/index
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from index import catalog, lexical

COMMON = ["said", "year", "first", "city", "new", "time", "people", "world", "war", "state"]


def _ms(run: object) -> float:
    started = time.perf_counter()
    run()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def main(index_dir: Path) -> None:
    conn = catalog.connect(index_dir / catalog.DB_NAME)
    rows = conn.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]
    built = json.loads((index_dir.parent / "built.json").read_text())
    questions = built["questions"][:200]
    print(f"{rows} sentences (load: {os.getloadavg()[0]:.1f})")
    for word in COMMON:
        count = lexical.term_counts(conn, word)
        search = _ms(lambda w=word: lexical.search(conn, w, 50))
        counting = _ms(lambda w=word: lexical.term_counts(conn, w))
        print(
            f"{word:8s} in {count.get(word, 0):7d} sentences: search {search:7.1f} ms, "
            f"count {counting:7.1f} ms"
        )
    searches = [_ms(lambda q=q: lexical.search(conn, q, 50)) for q in questions]
    counts = [_ms(lambda q=q: lexical.term_counts(conn, q)) for q in questions]
    for name, values in (("search", searches), ("term_counts", counts)):
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        print(f"questions {name}: p50 {cuts[49]:.1f} ms, p99 {cuts[98]:.1f} ms")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
