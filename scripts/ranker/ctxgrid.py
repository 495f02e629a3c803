"""Grid over context-vector weights: dense-only P@1/MRR (fitting on train sets only)."""

import sys

import numpy as np

from harness import prepare, set_context
from qa.ranker import Ranker


def dense_metrics(p, ranker, maxq=4000):
    set_context(p, ranker)
    ds = p.ds
    rng = np.random.default_rng(0)
    qids = np.arange(len(ds.questions))
    if len(qids) > maxq:
        qids = np.sort(rng.choice(qids, maxq, replace=False))
    Qa = ranker.adapt_query(p.Q[qids])
    p1 = mrr = 0.0
    for j, qi in enumerate(qids):
        q = ds.questions[qi]
        d = ds.doc_index[q["doc_id"]]
        gm = ds.gold_mask(qi)
        a = ds.doc_first[d]
        if ds.scope == "corpus":
            sc = p.C @ Qa[j]
            gold_sc = sc[a : a + len(gm)][gm]
        else:
            sc = p.C[a : a + len(gm)] @ Qa[j]
            gold_sc = sc[gm]
        rank = int((sc > gold_sc.max()).sum())
        p1 += rank == 0
        mrr += 1 / (rank + 1) if rank < 10 else 0
    return p1 / len(qids), mrr / len(qids)


names = sys.argv[1:] or ["squad-train", "selqa", "coqa-wiki-lit", "trecqa-train"]
for name in names:
    p = prepare(name)
    for ct in (0.0, 0.1, 0.2, 0.3, 0.5):
        for nb in (0.0, 0.1, 0.2, 0.3):
            r = Ranker({"ctx_title": ct, "ctx_nb": nb})
            print(name, ct, nb, "P@1 %.3f MRR %.3f" % dense_metrics(p, r), flush=True)
