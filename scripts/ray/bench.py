"""Ingest throughput with and without Ray, in one run on the same articles.

    .venv/bin/python scripts/ray/bench.py [EVAL_DIR]   (default ../shared/eval)

Runs `newsqa ingest DIR` and `newsqa ingest --ray local DIR` (a local cluster with one worker
per core) into fresh data directories, each as a user would, and prints sentences embedded per
second of wall time, the whole command included (model load, cluster start), with the load.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def corpus(eval_dir: Path, into: Path) -> None:
    """Every document of the eval sets, one JSONL file per set."""
    for docs in sorted(eval_dir.glob("*/docs.jsonl")):
        records = [json.loads(line) for line in docs.read_text().splitlines()]
        with open(into / f"{docs.parent.name}.jsonl", "w") as out:
            for record in records:
                out.write(json.dumps({k: record[k] for k in ("id", "title", "text")}) + "\n")


def ingest(data_dir: Path, *args: str) -> tuple[int, float]:
    """Sentences embedded and seconds taken by one `newsqa ingest`."""
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    done = subprocess.run(
        [str(BIN / "newsqa"), "ingest", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(done.stderr)
    found = re.search(r"(\d+) sentences embedded", done.stdout)
    assert found, done.stdout
    return int(found.group(1)), seconds


def main() -> None:
    eval_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("../shared/eval")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        corpus(eval_dir, root / "in")
        print(f"load before: {os.getloadavg()[0]:.1f}")
        for name, args in (
            ("plain", [str(root / "in")]),
            ("--ray local", ["--ray", "local", str(root / "in")]),
        ):
            sentences, seconds = ingest(root / name.replace(" ", ""), *args)
            print(
                f"{name:12} {sentences} sentences in {seconds:.1f} s: "
                f"{sentences / seconds:.0f} sentences/s (load {os.getloadavg()[0]:.1f})"
            )


if __name__ == "__main__":
    main()
