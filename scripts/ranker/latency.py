"""Latency of the ranker's part of the question path (adapt + features + score + abstain), squad corpus scope.
Also times a full numpy dense search over ~17.6k sentences (squad eval x3) for scale."""

import time

import numpy as np

import harness
from qa.ranker import Ranker

r = Ranker.load("artifacts/ranker.json")
p = harness.prepare("squad")
harness.set_context(p, r)
bms = harness.bm25_all(p, "corpus")
big = np.concatenate([p.C, p.C, p.C])
ts, tf, tq = [], [], []
allowed = np.ones(len(p.ds.docs), bool)
for qi in range(0, 5297, 13):
    q = p.ds.questions[qi]["question"]
    t0 = time.perf_counter()
    qa = r.adapt_query(p.Q[qi])
    sc = big @ qa
    top = np.argpartition(-sc, 50)[:50]
    t1 = time.perf_counter()
    cands, ids = harness.build_candidates(p, qi, qa, "corpus", bms[qi])
    t2 = time.perf_counter()
    s = r.score(q, cands, "corpus", None)
    df = harness._term_df(p, q, allowed)
    r.should_abstain(q, s, cands, "corpus", df)
    t3 = time.perf_counter()
    tq.append(t1 - t0)
    ts.append(t3 - t2)
ts, tq = np.array(ts) * 1e3, np.array(tq) * 1e3
print(
    f"n={len(ts)} ranker score+abstain(+term df queries): p50 {np.median(ts):.2f} ms p99 {np.quantile(ts, 0.99):.2f} ms"
)
print(
    f"adapt+dense search over {len(big)} sentences (numpy): p50 {np.median(tq):.2f} ms p99 {np.quantile(tq, 0.99):.2f} ms"
)
