"""The known answer-type failure (issue 15): over the sample article and the coqa-cnn stories,
"where will they meet?" put a sentence about two people meeting "in person" above the one that
names Budapest. Prints the ranker's top 3 with the reader's scores and best spans, and the
order the fitted combination would give them.

    .venv/bin/python scripts/reader/budapest.py [QUESTION...]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_reader import SHARED  # noqa: E402

from index.articles import article_from_record  # noqa: E402
from index.embedding import load_encoder  # noqa: E402
from index.store import NewsIndex  # noqa: E402
from qa.reader import ReaderStage, SpanReader  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402

TOP = 3
WEIGHT = 0.3  # fitted by measure.py for the corpus scope


def main() -> None:
    questions = sys.argv[1:] or ["where will they meet?", "Where will they meet? Thanks!"]
    records = [
        json.loads(line)
        for path in (
            REPO / "samples" / "articles" / "budapest-summit.jsonl",
            SHARED / "eval" / "coqa-cnn" / "docs.jsonl",
        )
        for line in path.open()
        if line.strip()
    ]
    encoder = load_encoder()
    reader = SpanReader.load(REPO / "qa" / "data" / "all_minilm_l6_v2" / "reader.npz")
    with tempfile.TemporaryDirectory() as scratch:
        index = NewsIndex(Path(scratch), encoder)
        index.ingest([article_from_record(r) for r in records])
        print(f"{len(records)} articles")
        for question in questions:
            ranked = Retriever(index).rank(question, None)
            found = index.sentences(ranked.ids[:TOP])
            texts = [found[i].text for i in ranked.ids[:TOP]]
            qvec = encoder.encode([question])[0]
            readings = reader.read(qvec, encoder.token_states(texts))
            print(f"{question!r}, the ranker's top {TOP} [the reader's best span]:")
            for text, p, r in zip(texts, ranked.scores, readings, strict=True):
                print(f"  p={p:.2f} reader={r.score:+.2f} [{text[r.start : r.end]}] {text[:80]}")
            stage = ReaderStage(reader, TOP, {"corpus": WEIGHT})
            order = stage.reorder("corpus", qvec, texts, ranked.scores[:TOP], encoder)
            print(f"  with the fitted combination (weight {WEIGHT}): {order}")


if __name__ == "__main__":
    main()
