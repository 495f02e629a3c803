"""What the span reader adds to the engine's ranking, and what it costs (standalone).

For every question of a corpus set: the engine's own top TOP sentences (a scratch index, the
product's Retriever), the ranker's probability of each, and the reader's score of each (token
states from the engine's encoder, then qa.reader). Then P@1 / MRR@10 of the ranker's order, of
the reader's alone, and of logit(p) + w * reader for a weight w fitted on squad-train articles that
neither the ranker's fusion nor the reader saw (scripts/reader/train_reader.py COMBINE_DOCS).

    nice .venv/bin/python scripts/reader/measure.py [MAX_QUESTIONS]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_reader import CACHE, SHARED, _jsonl, split_docs  # noqa: E402

from index.articles import article_from_record  # noqa: E402
from index.embedding import load_encoder  # noqa: E402
from index.store import NewsIndex  # noqa: E402
from qa.reader import SpanReader  # noqa: E402
from qa.service import QAService  # noqa: E402

TOP = 20
READ = 5
KS = (3, READ)
READ_QUESTIONS = 1000  # a seeded sample of each set is read


def collect(
    name: str,
    docs: list[dict[str, Any]],
    questions: list[dict[str, Any]],
    limit: int,
    article_scope: bool = False,
) -> dict[str, Any]:
    """Per question: its text, and the top TOP sentences' texts, right flags and ranker
    probabilities, and whether it abstained (the product's service over a scratch index,
    without the reader; a conversation's turns in order, as `newsqa eval` asks them)."""
    path = CACHE / f"measure-{name}-{limit}.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    encoder = load_encoder()
    if len(questions) > limit:
        if article_scope and questions[0].get("conversation"):
            keep = sorted({q["conversation"] for q in questions})
            keep = keep[: max(1, len(keep) * limit // len(questions))]
            questions = [q for q in questions if q["conversation"] in keep]
        else:
            rng = np.random.default_rng(0)
            questions = [questions[i] for i in sorted(rng.choice(len(questions), limit, False))]
    out: dict[str, Any] = {"question": [], "text": [], "right": [], "prob": [], "abstained": []}
    with tempfile.TemporaryDirectory(prefix="reader-measure-") as scratch:
        index = NewsIndex(Path(scratch), encoder)
        index.ingest([article_from_record(d) for d in docs])
        service = QAService(index)
        service.max_k = 1000
        t0 = time.time()
        for n, q in enumerate(questions):
            conversation = q.get("conversation")
            answer = service.ask(
                q["question"],
                k=TOP,
                article_id=q["doc_id"] if article_scope else None,
                conversation_id=f"m-{conversation}" if conversation else None,
                include_closest=True,
            )
            out["question"].append(q["question"])
            out["text"].append([a.sentence for a in answer.answers])
            out["right"].append(
                [
                    a.article_id == q["doc_id"]
                    and a.start is not None
                    and a.end is not None
                    and any(a.start < ge and gs < a.end for gs, ge in q["gold"])
                    for a in answer.answers
                ]
            )
            out["prob"].append([a.score for a in answer.answers])
            out["abstained"].append(answer.abstained)
            if n % 200 == 0:
                print(f"  {name}: {n}/{len(questions)}, {time.time() - t0:.0f}s", flush=True)
    path.write_text(json.dumps(out))
    return out


def read_all(data: dict[str, Any], timed: int = 200) -> None:
    """The reader's score of the top READ of each question; and its cost (token states + head)
    for the top 3 / 5 / 10 of the first `timed` questions, in ms."""
    encoder = load_encoder()
    reader = SpanReader.load(REPO / "qa" / "data" / "all_minilm_l6_v2" / "reader.npz")
    n = len(data["question"])
    if n > READ_QUESTIONS:
        keep = sorted(np.random.default_rng(1).choice(n, READ_QUESTIONS, replace=False))
        for key in ("question", "text", "right", "prob", "abstained"):
            if key in data:
                data[key] = [data[key][i] for i in keep]
    data["reader"], data["ms"] = [], []
    for n, (question, texts) in enumerate(zip(data["question"], data["text"], strict=True)):
        qvec = encoder.encode([question])[0]
        times = []
        for k in KS if n < timed else (READ,):
            started = time.perf_counter()
            readings = reader.read(qvec, encoder.token_states(texts[:k]))
            times.append((time.perf_counter() - started) * 1000)
        data["reader"].append([r.score for r in readings])
        if n < timed:
            data["ms"].append(times)


def metrics(right: list[list[bool]], scores: list[np.ndarray]) -> tuple[float, float]:
    p1 = mrr = 0.0
    for r, s in zip(right, scores, strict=True):
        order = np.argsort(-np.asarray(s), kind="stable")
        flags = [r[i] for i in order][:10]
        p1 += float(bool(flags) and flags[0])
        first = next((i for i, f in enumerate(flags) if f), None)
        mrr += 0.0 if first is None else 1.0 / (first + 1)
    return p1 / len(right), mrr / len(right)


def combined(data: dict[str, Any], w: float, k: int) -> list[np.ndarray]:
    """logit(p) + w * reader over the top k; the rest keep the ranker's order below them; an
    abstained question keeps the ranker's order (the engine reads only answered ones)."""
    out = []
    abstained = data.get("abstained") or [False] * len(data["prob"])
    for prob, read, gave_up in zip(data["prob"], data["reader"], abstained, strict=True):
        p = np.clip(np.asarray(prob, np.float64), 1e-6, 1 - 1e-6)
        z = np.log(p / (1 - p))
        s = z.copy()
        top = min(k, len(s))
        if (READ_ABSTAINED or not gave_up) and top:
            s[:top] = z[:top] + w * np.asarray(read[:top])
            s[top:] = s[:top].min() - 1 - np.arange(len(s) - top)
        out.append(s)
    return out


def _eval_set(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = SHARED / "eval" / name
    docs = [json.loads(line) for line in (base / "docs.jsonl").open() if line.strip()]
    qs = [json.loads(line) for line in (base / "questions.jsonl").open() if line.strip()]
    return docs, qs


def _train_set(name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = SHARED / "train" / name
    return _jsonl(base / "docs.jsonl.gz"), _jsonl(base / "questions.jsonl.gz")


GRID = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0]


def report(mode: str, fit_name: str, fit_data: dict[str, Any], check: dict[str, Any]) -> float:
    """Figures of one scope; the weight fitted on fit_data for the shipped top."""
    for name, data in ((fit_name, fit_data), *check.items()):
        print(f"== {mode}: {name}: {len(data['right'])} questions")
        print("  ranker        P@1 %.3f MRR@10 %.3f" % metrics(data["right"], data["prob"]))
        for k in KS:
            alone = [
                np.asarray(r[:k] + [-1e9 - i for i in range(len(r) - k)]) for r in data["reader"]
            ]
            print(f"  reader top{k:<3} P@1 %.3f MRR@10 %.3f" % metrics(data["right"], alone))
        ms = np.asarray(data["ms"])
        for j, k in enumerate(KS):
            print(
                f"  reader cost top{k}: p50 {np.percentile(ms[:, j], 50):.1f} ms, "
                f"p99 {np.percentile(ms[:, j], 99):.1f} ms"
            )
    chosen = 0.0
    for k in KS:
        fits = [(metrics(fit_data["right"], combined(fit_data, w, k))[1], w) for w in GRID]
        best = max(fits)[1]
        if k == STAGE_TOP:
            chosen = best
        line = f"  combined top{k}: w={best} (fit MRR {max(fits)[0]:.3f})"
        for name, data in check.items():
            p1, mrr = metrics(data["right"], combined(data, best, k))
            line += f"; {name} P@1 {p1:.3f} MRR@10 {mrr:.3f}"
        print(line)
    return chosen


STAGE_TOP = int(os.environ.get("STAGE_TOP", "5"))
# whether the closest sentences of an abstained question are reordered too
READ_ABSTAINED = bool(os.environ.get("READ_ABSTAINED"))


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    _, combine_docs, train_questions = split_docs()
    keep = {d["id"] for d in combine_docs}
    combine_q = [q for q in train_questions if q["doc_id"] in keep]
    sets = {
        "corpus": (
            ("combine", collect("combine", combine_docs, combine_q, limit)),
            {"squad": collect("squad-dev", *_eval_set("squad"), limit)},
        ),
        "article": (
            ("combine-article", collect("combine-article", combine_docs, combine_q, limit, True)),
            {"trecqa": collect("trecqa", *_eval_set("trecqa"), limit, True)},
        ),
        "conversation": (
            ("coqa-wiki-lit", collect("coqa-wiki-lit", *_train_set("coqa-wiki-lit"), 1000, True)),
            {"coqa-cnn": collect("coqa-cnn", *_eval_set("coqa-cnn"), limit, True)},
        ),
    }
    if os.environ.get("COLLECT_ONLY"):
        return
    weights = {}
    for mode, ((fit_name, fit_data), check) in sets.items():
        for data in (fit_data, *check.values()):
            read_all(data)
        weights[mode] = report(mode, fit_name, fit_data, check)
    # The stage that would be shipped: the top STAGE_TOP (the cost grows with it). It is not
    # (scripts/reader/README.md); qa.reader.ReaderStage takes these if a reader ever pays.
    stage = {"top": STAGE_TOP, "weight": {m: w for m, w in weights.items() if w}}
    (CACHE / "reader.json").write_text(json.dumps(stage, indent=1) + "\n")
    print("fitted stage (var/reader-cache/reader.json):", stage)


if __name__ == "__main__":
    main()
