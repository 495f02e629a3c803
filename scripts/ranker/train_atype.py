"""Answer-type probes: for each question type (who, where, when, how many, ...), a logistic
regression over a sentence's vector that tells how much the sentence looks like the answer to
that type of question (a place for "where", a date for "when"), whatever the question's words.

Fitted on the SQuAD train and SelQA articles that the fusion models are NOT fitted on (so they
see the probe's out-of-sample scores); positives are a question's gold sentences,
negatives the other sentences of its article, every question weighing the same.

python train_atype.py [--val] [--out atype.npz]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.linear_model import LogisticRegression

import common
from qa.ranker import QTYPES, question_type

SEED = 0
PER_TYPE = 4000  # questions per type at most
C = 0.5


def rows(names: list[str], exclude_docs: set[str], val: bool) -> dict[str, list]:
    """Per question type: (X, y, w) training rows and (question, vectors, gold) for validation."""
    out: dict[str, list] = {t: [[], [], [], []] for t in QTYPES}
    rng = np.random.default_rng(SEED)
    for name in names:
        ds = common.load(name)
        S, _, _ = common.embeddings(ds)
        nd = len(ds.docs)
        vdocs = set(rng.permutation(nd)[: nd // 4].tolist()) if val else set()
        order = rng.permutation(len(ds.questions))
        for qi in order:
            q = ds.questions[qi]
            if q["doc_id"] in exclude_docs:
                continue
            d = ds.doc_index[q["doc_id"]]
            a, n = int(ds.doc_first[d]), int(ds.doc_n[d])
            gold = ds.gold_mask(int(qi))
            if n < 2 or gold.all() or not gold.any():
                continue
            t = question_type(q["question"])
            if d in vdocs:
                out[t][3].append((S[a : a + n], gold))
                continue
            if len(out[t][0]) >= PER_TYPE:
                continue
            w = np.where(gold, 1.0 / gold.sum(), 1.0 / (~gold).sum())
            out[t][0].append(S[a : a + n])
            out[t][1].append(gold)
            out[t][2].append(w)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--val", action="store_true")
    ap.add_argument("--out", default=os.path.join(common.REPO, "qa", "data", "atype.npz"))
    args = ap.parse_args()
    # the fusion models are fitted on the "squad-train" and "selqa" subsamples: keep them out
    fused_on = {d["id"] for name in ("squad-train", "selqa") for d in common.load(name).docs}
    data = rows(["squad-train-all", "selqa"], fused_on, args.val)
    W = np.zeros((len(QTYPES), 384), np.float32)
    b = np.zeros(len(QTYPES), np.float32)
    for k, t in enumerate(QTYPES):
        Xs, ys, ws, va = data[t]
        if not Xs:
            continue
        X, y, w = np.concatenate(Xs), np.concatenate(ys), np.concatenate(ws)
        clf = LogisticRegression(C=C, max_iter=2000).fit(X, y, sample_weight=w / w.mean())
        W[k], b[k] = clf.coef_[0], clf.intercept_[0]
        if va:
            p1 = np.mean([g[np.argmax(V @ W[k])] for V, g in va])
            base = np.mean([g.mean() for _, g in va])
            print(
                f"{t:11s} train q={len(Xs):5d}  val q={len(va):5d}  P@1 {p1:.3f} (chance {base:.3f})"
            )
    if not args.val:
        np.savez(args.out, W=W, b=b, types=np.array(QTYPES))
        print("wrote", args.out)


if __name__ == "__main__":
    main()
