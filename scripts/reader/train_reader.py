"""Fit the span reader's head (qa/data/all_minilm_l6_v2/reader.npz) on ../shared/train/squad-train.

The reader scores where in a candidate sentence the answer to a question lies: start and end
logits over the sentence's tokens, from the packaged MiniLM's own hidden states (the engine's
encoder, `TransformerEncoder.token_states`) and the question's pooled vector, through a low-rank
bilinear head. A sentence's score is the log-sum-exp of its spans' start + end logits.

Training: each question with the sentence holding its answer and the NEGATIVES sentences of the
same article closest to it (the ones a ranker hesitates between); a softmax over the group picks
the answer sentence, and on it start and end pick the answer's tokens.

Articles: squad-train minus the 110 the ranker's fusion was fitted on (random.Random(1234), as
the ranker's fitting drew them), so that a combination fitted later sees honest ranker scores;
of the rest READER_DOCS fit the head and COMBINE_DOCS are kept aside for scripts/reader/measure.py.
Seeds fixed. Cached in var/reader-cache. Needs torch (a dependency already), only here.

    nice .venv/bin/python scripts/reader/train_reader.py
"""

from __future__ import annotations

import gzip
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from index.embedding import load_encoder  # noqa: E402
from index.splitter import split_sentences, trailing_chrome  # noqa: E402

SHARED = Path(os.environ.get("NEWSQA_SHARED", REPO.parent / "shared"))
if not SHARED.is_dir():  # a worktree under /work/wt: the shared folder sits beside /work/main
    SHARED = REPO.parents[1] / "shared"
CACHE = REPO / "var" / "reader-cache"
# the packaged model's artifact folder (qa.retrieval.model_key), beside its ranker
OUT = REPO / "qa" / "data" / "all_minilm_l6_v2" / "reader.npz"
SEED = 0
READER_DOCS = int(os.environ.get("READER_DOCS", "130"))
COMBINE_DOCS = 30
NEGATIVES = 3
RANK = 64
MAX_TOKENS = 96  # sentences are cut here for fitting only (a few SQuAD sentences run longer)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def split_docs() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(reader docs, combine docs, questions): disjoint from the ranker's fusion docs."""
    base = SHARED / "train" / "squad-train"
    docs = _jsonl(base / "docs.jsonl.gz")
    fusion = {d["id"] for d in random.Random(1234).sample(docs, 110)}
    rest = sorted((d for d in docs if d["id"] not in fusion), key=lambda d: d["id"])
    random.Random(SEED).shuffle(rest)
    questions = _jsonl(base / "questions.jsonl.gz")
    return rest[:READER_DOCS], rest[READER_DOCS : READER_DOCS + COMBINE_DOCS], questions


def sentences(doc: dict[str, Any]) -> list[tuple[int, int]]:
    """The engine's own sentences of an article (syntok, trailing chrome dropped)."""
    spans = split_sentences(doc["text"])
    chrome = trailing_chrome(doc["text"], spans)
    return [(s.start, s.end) for i, s in enumerate(spans) if i not in chrome]


def build() -> dict[str, np.ndarray]:
    """Question vectors, sentence token states, answer token targets and negatives."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"pairs-{READER_DOCS}.npz"
    if path.exists():
        return dict(np.load(path))
    docs, _, questions = split_docs()
    encoder = load_encoder()
    texts: list[str] = []
    sent_of: dict[str, list[tuple[int, int, int]]] = {}  # doc -> (start, end, row)
    for doc in docs:
        rows = []
        for start, end in sentences(doc):
            rows.append((start, end, len(texts)))
            texts.append(doc["text"][start:end])
        sent_of[doc["id"]] = rows
    t0 = time.time()
    states = []
    for first in range(0, len(texts), 512):
        states += encoder.token_states(texts[first : first + 512])
        print(
            f"  encoded {len(states)}/{len(texts)} sentences, {time.time() - t0:.0f}s", flush=True
        )
    n = len(texts)
    hidden = np.zeros((n, MAX_TOKENS, encoder.dim), np.float16)
    valid = np.zeros((n, MAX_TOKENS), bool)  # real tokens: the span may start or end there
    mask = np.zeros((n, MAX_TOKENS), bool)  # [CLS] + real tokens
    starts = np.full((n, MAX_TOKENS), -1, np.int32)
    ends = np.full((n, MAX_TOKENS), -1, np.int32)
    pooled = np.zeros((n, encoder.dim), np.float32)
    for i, (h, offsets) in enumerate(states):
        size = min(len(offsets), MAX_TOKENS)
        hidden[i, :size] = h[:size]
        mask[i, :size] = True
        for t, (s, e) in enumerate(offsets[:size]):
            if e > s:
                valid[i, t] = True
                starts[i, t], ends[i, t] = s, e
        mean = h.mean(axis=0)
        pooled[i] = mean / np.linalg.norm(mean)
    in_train = {d["id"] for d in docs}
    asked = [q for q in questions if q["doc_id"] in in_train and q["gold"]]
    qvec = encoder.encode([q["question"] for q in asked])
    q_rows, pos_rows, t_start, t_end, negs = [], [], [], [], []
    for qi, q in enumerate(asked):
        g_start, g_end = q["gold"][0]
        rows = sent_of[q["doc_id"]]
        holder = [r for s, e, r in rows if s <= g_start and g_end <= e]
        if not holder:
            continue  # an answer across a sentence boundary
        row = holder[0]
        offset = next(s for s, e, r in rows if r == row)
        a, b = g_start - offset, g_end - offset
        tok = np.nonzero(valid[row] & (ends[row] > a) & (starts[row] < b))[0]
        if len(tok) == 0:
            continue  # cut off past MAX_TOKENS
        others = np.array([r for _, _, r in rows if r != row])
        if len(others) < NEGATIVES:
            continue
        close = others[np.argsort(-(pooled[others] @ qvec[qi]))[:NEGATIVES]]
        q_rows.append(qi)
        pos_rows.append(row)
        t_start.append(tok[0])
        t_end.append(tok[-1])
        negs.append(close)
    data = {
        "hidden": hidden,
        "valid": valid,
        "mask": mask,
        "qvec": qvec[q_rows].astype(np.float32),
        "pos": np.array(pos_rows, np.int64),
        "t_start": np.array(t_start, np.int64),
        "t_end": np.array(t_end, np.int64),
        "neg": np.array(negs, np.int64),
    }
    np.savez(path, **data)
    print(f"{len(docs)} articles, {n} sentences, {len(q_rows)} questions", flush=True)
    return data


def fit(data: dict[str, np.ndarray], epochs: int = 2) -> dict[str, np.ndarray]:
    """The head fitted for ranking: a sentence's score is the log-sum-exp of its spans' start +
    end logits; per question, a softmax over its answer sentence and its NEGATIVES closest
    others picks the answer sentence, and on that sentence start and end pick the answer's
    tokens. No "no answer" position: the score compares sentences for one question."""
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(2)
    dim = data["hidden"].shape[2]
    hidden = torch.from_numpy(data["hidden"])
    valid = torch.from_numpy(data["valid"])
    qvec = torch.from_numpy(data["qvec"])
    lengths = data["mask"].sum(axis=1)
    n_q = len(qvec)
    rng = np.random.default_rng(SEED)
    held = set(rng.choice(n_q, size=min(2000, n_q // 10), replace=False).tolist())
    train_q = np.array([i for i in range(n_q) if i not in held])
    held_q = np.array(sorted(held))

    def param(*shape: int, scale: float) -> torch.nn.Parameter:
        return torch.nn.Parameter(torch.randn(*shape) * scale)

    p = {
        "Qs": param(dim, RANK, scale=dim**-0.5),
        "Hs": param(dim, RANK, scale=dim**-0.5),
        "ws": param(dim, scale=0.01),
        "Qe": param(dim, RANK, scale=dim**-0.5),
        "He": param(dim, RANK, scale=dim**-0.5),
        "we": param(dim, scale=0.01),
    }
    opt = torch.optim.AdamW(p.values(), lr=2e-3, weight_decay=1e-4)

    def forward(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sentence scores (questions, 1 + NEGATIVES) and the answer sentences' start and end
        logits (questions, tokens)."""
        rows = np.concatenate([data["pos"][idx][:, None], data["neg"][idx]], axis=1)
        flat = rows.reshape(-1)
        width = int(lengths[flat].max())
        h = hidden[torch.from_numpy(flat), :width].float()
        ok = valid[torch.from_numpy(flat), :width]
        q = qvec[torch.from_numpy(np.repeat(idx, rows.shape[1]))]
        z = []
        for qn, hn, wn in (("Qs", "Hs", "ws"), ("Qe", "He", "we")):
            logit = torch.einsum("br,btr->bt", q @ p[qn], h @ p[hn]) / RANK**0.5 + h @ p[wn]
            z.append(logit.masked_fill(~ok, -1e4))
        start, end = z
        pair = start[:, :, None] + end[:, None, :]
        i = torch.arange(width)
        allowed = (i[None, :] >= i[:, None]) & (i[None, :] < i[:, None] + 30)
        pair = pair.masked_fill(~allowed[None], -1e4)
        score = torch.logsumexp(pair.reshape(len(flat), -1), dim=1).reshape(rows.shape)
        k = rows.shape[1]
        return score, start[::k], end[::k]

    def evaluate() -> tuple[float, float]:
        with torch.no_grad():
            score, start, end = forward(held_q)
            top1 = float((score.argmax(1) == 0).float().mean())
            ts = torch.from_numpy(data["t_start"][held_q])
            te = torch.from_numpy(data["t_end"][held_q])
            exact = float(((start.argmax(1) == ts) & (end.argmax(1) == te)).float().mean())
        return top1, exact

    print(f"held-out before: group top-1 / exact span {evaluate()}", flush=True)
    t0 = time.time()
    for epoch in range(epochs):
        order = rng.permutation(train_q)
        total = 0.0
        for first in range(0, len(order), 64):
            idx = order[first : first + 64]
            score, start, end = forward(idx)
            target = torch.zeros(len(idx), dtype=torch.long)
            ts = torch.from_numpy(data["t_start"][idx])
            te = torch.from_numpy(data["t_end"][idx])
            f = torch.nn.functional.cross_entropy
            loss = f(score, target) + 0.5 * (f(start, ts) + f(end, te))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        print(
            f"epoch {epoch}: loss {total / len(order):.3f}, "
            f"held-out top-1 / exact {evaluate()}, {time.time() - t0:.0f}s",
            flush=True,
        )
    return {k: v.detach().numpy().astype(np.float32) for k, v in p.items()}


def main() -> None:
    t0 = time.time()
    data = build()
    print(f"data ready in {time.time() - t0:.0f}s", flush=True)
    weights = fit(data)
    import index.embedding as embedding

    weights["model"] = np.array(embedding.weights_id(load_encoder().model_id))
    np.savez_compressed(OUT, **weights)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) in {time.time() - t0:.0f}s total")


if __name__ == "__main__":
    main()
