"""`python -m qa.fitting.heldout OUT`: evaluation sets made of the training articles no fit draws.

The development halves in `../shared/eval` are small where it matters (TrecQA has 65 questions:
one question is 1.5 points of P@1), so two fits are also compared on training articles that
neither saw. The ranking trees and abstention models see seeded samples of squad-train and
SelQA articles (`Settings.squad_docs`, `Settings.selqa_docs`); these sets hold only articles
outside every sample size named (`--squad-docs 110 220`), so fits of each size never saw them.
The question adapter and the answer-type probes did see these articles:
these sets compare ranking trees and abstention models, not the vector models.

Written in the shared format, for `newsqa eval OUT/*`:
- `ho-squad-article`: squad-train questions asked about their own article;
- `ho-selqa`: SelQA questions asked about their own article (answer-sentence selection, as
  TrecQA);
- `ho-squad-corpus`: squad-train questions over 26 whole articles, as the squad development set.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qa.fitting.fit import DOC_SEED, Settings
from qa.fitting.sets import default_train, read_rows, sample_records

ARTICLE_QUESTIONS = 1500
CORPUS_ARTICLES = 26
CORPUS_QUESTIONS = 2500


def _write(
    out: Path,
    name: str,
    scope: str,
    docs: Sequence[dict[str, Any]],
    questions: Sequence[dict[str, Any]],
) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    for stem, rows in (("docs", docs), ("questions", questions)):
        with (folder / f"{stem}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    meta = {"name": name, "scope": scope, "conversational": False, "docs": len(docs)}
    (folder / "set.json").write_text(json.dumps(meta | {"questions": len(questions)}), "utf-8")


def unseen(
    train: Path, name: str, drawn: Sequence[int], seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A training set's articles outside the fits' samples of each size in `drawn`, and their
    questions."""
    records = list(read_rows(train / name, "docs"))
    seen = {r["id"] for size in drawn for r in sample_records(records, size, DOC_SEED + seed)}
    docs = [r for r in records if r["id"] not in seen]
    ids = {r["id"] for r in docs}
    questions = [
        q for q in read_rows(train / name, "questions") if q["doc_id"] in ids and q.get("gold")
    ]
    return docs, questions


def write_sets(
    out: Path, train: Path, squad_docs: Sequence[int], selqa_docs: Sequence[int], seed: int = 0
) -> None:
    """The three held-out sets (see the module's docstring) in out."""
    docs, questions = unseen(train, "squad-train", squad_docs, seed)
    asked = sample_records(questions, ARTICLE_QUESTIONS, seed + 7)
    used = {q["doc_id"] for q in asked}
    _write(out, "ho-squad-article", "article", [d for d in docs if d["id"] in used], asked)
    play = sample_records(docs, CORPUS_ARTICLES, seed + 11)
    ids = {d["id"] for d in play}
    asked = sample_records(
        [q for q in questions if q["doc_id"] in ids], CORPUS_QUESTIONS, seed + 12
    )
    _write(out, "ho-squad-corpus", "corpus", play, asked)
    docs, questions = unseen(train, "selqa", selqa_docs, seed)
    used = {q["doc_id"] for q in questions}
    _write(out, "ho-selqa", "article", [d for d in docs if d["id"] in used], questions)


def main(argv: list[str] | None = None) -> int:
    defaults = Settings(train=Path(), out=Path(), cache=Path())
    parser = argparse.ArgumentParser(
        prog="python -m qa.fitting.heldout", description=__doc__.split("\n")[0]
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=Path, default=default_train())
    parser.add_argument(
        "--squad-docs",
        type=int,
        nargs="+",
        default=[defaults.squad_docs],
        metavar="N",
        help="the squad-train sample sizes of the fits to compare (default: the fit's)",
    )
    parser.add_argument(
        "--selqa-docs",
        type=int,
        nargs="+",
        default=[defaults.selqa_docs],
        metavar="N",
        help="the SelQA sample sizes of the fits to compare (default: the fit's)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_sets(args.out, args.train, args.squad_docs, args.selqa_docs, args.seed)
    print(
        f"wrote {', '.join(sorted(p.name for p in args.out.iterdir() if p.is_dir()))} in {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
