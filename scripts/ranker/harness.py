"""Evaluation harness for newsqa answer-sentence ranking (mirrors the engine pipeline).

python harness.py baselines            # dense / BM25 / RRF on the eval sets
python harness.py eval ARTIFACT.json   # learned ranker on the eval sets (+ abstention)
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import common
from common import Dataset
from qa.ranker import Candidate, ConversationState, Ranker, fts_query

K = 50


@dataclass
class Prepared:
    ds: Dataset
    S: np.ndarray  # plain sentence vectors
    Q: np.ndarray  # raw question vectors
    T: np.ndarray  # title vectors
    conn: sqlite3.Connection
    CL: np.ndarray  # clause vectors of long sentences
    clause_first: np.ndarray  # sentence i's clauses are CL[clause_first[i] : clause_first[i + 1]]
    C: np.ndarray | None = None  # context vectors
    ctx_key: tuple[float, float] | None = None


_PREP: dict[str, Prepared] = {}


def prepare(name: str) -> Prepared:
    if name in _PREP:
        return _PREP[name]
    ds = common.load(name)
    S, Q, T = common.embeddings(ds)
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(text, doc UNINDEXED, tokenize='porter unicode61')"
    )
    conn.executemany(
        "INSERT INTO fts(rowid, text, doc) VALUES (?,?,?)",
        [(i, t, int(d)) for i, (t, d) in enumerate(zip(ds.s_text, ds.s_doc))],
    )
    owner, CL = common.clause_vectors(ds)
    first = np.searchsorted(owner, np.arange(len(ds.s_text) + 1))
    p = Prepared(ds, S, Q, T, conn, CL, first)
    _PREP[name] = p
    return p


def set_context(p: Prepared, ranker: Ranker) -> None:
    key = (ranker.ctx_title, ranker.ctx_nb)
    if p.ctx_key == key:
        return
    ds = p.ds
    C = np.empty_like(p.S)
    for d in range(len(ds.docs)):
        a, n = ds.doc_first[d], ds.doc_n[d]
        if n:
            C[a : a + n] = ranker.context_vectors(p.S[a : a + n], p.T[d])
    p.C, p.ctx_key = C, key


def bm25(p: Prepared, question: str, doc: int | None) -> list[tuple[int, float]]:
    q = fts_query(question)
    if not q:
        return []
    if doc is None:
        sql = "SELECT rowid, -bm25(fts) FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?"
        rows = p.conn.execute(sql, (q, K)).fetchall()
    else:
        sql = "SELECT rowid, -bm25(fts) FROM fts WHERE fts MATCH ? AND doc = ? ORDER BY bm25(fts) LIMIT ?"
        rows = p.conn.execute(sql, (q, doc, K)).fetchall()
    return [(int(r), float(s)) for r, s in rows]


_BM_CACHE: dict[tuple[str, str], list[list[tuple[int, float]]]] = {}


def bm25_all(
    p: Prepared, scope: str, qids: list[int] | None = None
) -> list[list[tuple[int, float]]]:
    key = (p.ds.name, scope)
    if key not in _BM_CACHE:
        path = os.path.join(common.CACHE, f"{p.ds.name}.bm25.{scope}.json")
        if os.path.exists(path):
            _BM_CACHE[key] = [[(int(a), float(b)) for a, b in r] for r in json.load(open(path))]
        else:
            res = []
            for q in p.ds.questions:
                doc = None if scope == "corpus" else p.ds.doc_index[q["doc_id"]]
                res.append(bm25(p, q["question"], doc))
            json.dump(res, open(path, "w"))
            _BM_CACHE[key] = res
    return _BM_CACHE[key]


def build_candidates(
    p: Prepared,
    qi: int,
    qv: np.ndarray,
    scope: str,
    bm: list[tuple[int, float]],
    allowed_docs: np.ndarray | None = None,
) -> tuple[list[Candidate], np.ndarray]:
    """Returns candidates and their global sentence ids. allowed_docs: bool mask over docs (corpus scope)."""
    ds = p.ds
    assert p.C is not None
    if scope == "corpus":
        sc = p.C @ qv
        if allowed_docs is not None:
            sc = np.where(allowed_docs[ds.s_doc], sc, -9.0)
            bm = [(s, b) for s, b in bm if allowed_docs[ds.s_doc[s]]]
        top = np.argpartition(-sc, K)[:K]
        top = top[np.argsort(-sc[top])]
        top = top[sc[top] > -9.0]
    else:
        d = ds.doc_index[ds.questions[qi]["doc_id"]]
        a, n = int(ds.doc_first[d]), int(ds.doc_n[d])
        sc_loc = p.C[a : a + n] @ qv
        order = np.argsort(-sc_loc)[:K]
        top = order + a
    # one product over all clauses, as the fitted ranker saw them (slices round differently)
    clause_cos = p.CL @ qv
    drank = {int(s): r for r, s in enumerate(top)}
    brank = {s: r for r, (s, _) in enumerate(bm)}
    bsc = dict(bm)
    ids = list(drank.keys()) + [s for s, _ in bm if s not in drank]
    cands = []
    for s in ids:
        di = int(ds.s_doc[s])
        pos = int(ds.s_pos[s])
        n = int(ds.doc_n[di])
        a = int(ds.doc_first[di])
        prev_s = s - 1 if pos > 0 else None
        next_s = s + 1 if pos < n - 1 else None
        a_cl, b_cl = p.clause_first[s], p.clause_first[s + 1]
        cands.append(
            Candidate(
                text=ds.s_text[s],
                doc_id=ds.docs[di]["id"],
                position=pos,
                n_sentences=n,
                dense=float(p.C[s] @ qv),
                dense_raw=float(p.S[s] @ qv),
                title_cos=float(p.T[di] @ qv),
                prev_cos=float(p.S[prev_s] @ qv) if prev_s is not None else None,
                next_cos=float(p.S[next_s] @ qv) if next_s is not None else None,
                bm25=bsc.get(s),
                dense_rank=drank.get(s),
                bm25_rank=brank.get(s),
                prev_text=ds.s_text[prev_s] if prev_s is not None else "",
                next_text=ds.s_text[next_s] if next_s is not None else "",
                vec=p.S[s],
                clause_cos=float(clause_cos[a_cl:b_cl].max()) if b_cl > a_cl else None,
                clause_vecs=p.CL[a_cl:b_cl] if b_cl > a_cl else None,
            )
        )
    return cands, np.array(ids, dtype=np.int64)


def labels_for(p: Prepared, qi: int, ids: np.ndarray) -> np.ndarray:
    ds = p.ds
    q = ds.questions[qi]
    d = ds.doc_index[q["doc_id"]]
    gm = ds.gold_mask(qi)
    y = np.zeros(len(ids), bool)
    same = ds.s_doc[ids] == d
    y[same] = gm[ds.s_pos[ids[same]]]
    return y


def metrics_one(y_ranked: np.ndarray, n_gold: int) -> dict[str, float]:
    hits = np.flatnonzero(y_ranked)
    first = int(hits[0]) if len(hits) else 10**9
    ap = 0.0
    if n_gold:
        prec = np.arange(1, len(hits) + 1) / (hits + 1)
        ap = float(prec.sum() / n_gold)
    return {
        "p1": float(first == 0),
        "hit5": float(first < 5),
        "mrr": 1.0 / (first + 1) if first < 10 else 0.0,
        "map": ap,
    }


ScoreFn = Callable[[str, list[Candidate], str, "ConversationState | None"], np.ndarray]


def run_set(
    name: str,
    ranker: Ranker,
    scorer: ScoreFn | None = None,
    mode: str | None = None,
    collect: bool = False,
    qsubset: list[int] | None = None,
    history_scorer: ScoreFn | None = None,
) -> dict:
    """Run all questions of a set. scorer defaults to ranker.score. Returns metrics (and features if collect)."""
    p = prepare(name)
    set_context(p, ranker)
    ds = p.ds
    scope = ds.scope
    conv = name.startswith("coqa")
    mode = mode or ("corpus" if scope == "corpus" else ("conversation" if conv else "article"))
    Qa = ranker.adapt_query(p.Q)
    bms = bm25_all(p, scope)
    scorer = scorer or (lambda q, c, m, h: ranker.score(q, c, m, h))
    hist_scorer = history_scorer or scorer
    qids = qsubset if qsubset is not None else list(range(len(ds.questions)))
    if conv:  # turns in order within each conversation
        qids = sorted(
            qids, key=lambda i: (ds.questions[i]["conversation"], ds.questions[i]["turn"])
        )
    histories: dict[str, ConversationState] = {}
    M: list[dict[str, float]] = []
    feats, ys, groups = [], [], []
    t0 = time.time()
    for qi in qids:
        q = ds.questions[qi]
        cands, ids = build_candidates(p, qi, Qa[qi], scope, bms[qi])
        h = None
        if conv:
            h = histories.setdefault(q["conversation"], ConversationState())
        y = labels_for(p, qi, ids)
        if collect:
            F = ranker.features(q["question"], cands, mode, h)
            feats.append(F)
            ys.append(y)
            groups.append(qi)
        s = scorer(q["question"], cands, mode, h)
        order = np.argsort(-s, kind="stable")
        n_gold = int(ds.gold_mask(qi).sum())
        M.append(metrics_one(y[order], n_gold))
        if conv and h is not None:
            hs = s if hist_scorer is scorer else hist_scorer(q["question"], cands, mode, h)
            top = cands[int(np.argmax(hs))] if len(cands) else None
            Ranker.remember(h, q["question"], Qa[qi], top)
    out = {k: float(np.mean([m[k] for m in M])) for k in M[0]}
    out["n"] = len(M)
    out["sec"] = time.time() - t0
    if collect:
        out["feats"], out["ys"], out["groups"] = feats, ys, groups
    return out


def rrf_scorer(q: str, c: list[Candidate], m: str, h: ConversationState | None) -> np.ndarray:
    return np.array(
        [
            (1 / (61 + x.dense_rank) if x.dense_rank is not None else 0)
            + (1 / (61 + x.bm25_rank) if x.bm25_rank is not None else 0)
            for x in c
        ]
    )


def dense_scorer(q: str, c: list[Candidate], m: str, h: ConversationState | None) -> np.ndarray:
    return np.array([-x.dense_rank if x.dense_rank is not None else -1e9 for x in c], float)


def bm25_scorer(q: str, c: list[Candidate], m: str, h: ConversationState | None) -> np.ndarray:
    return np.array([-x.bm25_rank if x.bm25_rank is not None else -1e9 for x in c], float)


def fmt(r: dict) -> str:
    return f"P@1 {r['p1']:.3f} Hit5 {r['hit5']:.3f} MRR {r['mrr']:.3f} MAP {r['map']:.3f} (n={r['n']}, {r['sec']:.0f}s)"


# ----------------------------------------------------------------------------- abstention protocol


def abstention_run(
    name: str,
    ranker: Ranker,
    in_play: np.ndarray,
    allowed: np.ndarray,
    max_q: int | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index only the `allowed` articles; ask questions of the `in_play` articles.
    Returns (abstain-features, in_index flag, question ids)."""
    p = prepare(name)
    set_context(p, ranker)
    ds = p.ds
    rng = np.random.default_rng(seed)
    Qa = ranker.adapt_query(p.Q)
    qids = np.array([i for i, q in enumerate(ds.questions) if in_play[ds.doc_index[q["doc_id"]]]])
    if max_q and len(qids) > max_q:
        qids = np.sort(rng.choice(qids, max_q, replace=False))
    X, inidx = [], []
    for qi in qids:
        q = ds.questions[qi]
        cands, ids = build_candidates(
            p,
            int(qi),
            Qa[qi],
            "corpus",
            _bm25_restricted(p, q["question"], allowed),
            allowed_docs=allowed,
        )
        s = ranker.score(q["question"], cands, "corpus", None)
        X.append(
            ranker.abstain_features(q["question"], s, cands, _term_df(p, q["question"], allowed))
        )
        inidx.append(bool(allowed[ds.doc_index[q["doc_id"]]]))
    return np.array(X), np.array(inidx), qids


def eval_half_split(n_docs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n_docs)
    allowed = np.zeros(n_docs, bool)
    allowed[perm[: n_docs // 2]] = True
    return np.ones(n_docs, bool), allowed


def _term_df(p: Prepared, question: str, allowed: np.ndarray) -> dict[str, int]:
    """Per query token: number of indexed sentences matching it (one FTS count per token)."""
    _bm25_restricted(p, "", allowed)  # make sure the half-index exists
    toks = [t.strip('"') for t in fts_query(question).split(" OR ") if t]
    return {
        t: int(
            p._half_conn.execute(
                "SELECT count(*) FROM fts WHERE fts MATCH ?",  # type: ignore[attr-defined]
                (f'"{t}"',),
            ).fetchone()[0]
        )
        for t in toks
    }


def _bm25_restricted(p: Prepared, question: str, allowed: np.ndarray) -> list[tuple[int, float]]:
    """BM25 over the indexed half only: a separate FTS table so IDF matches what the engine would see."""
    key = allowed.tobytes()
    if getattr(p, "_half_key", None) != key:
        conn = sqlite3.connect(":memory:")
        conn.execute(
            "CREATE VIRTUAL TABLE fts USING fts5(text, doc UNINDEXED, tokenize='porter unicode61')"
        )
        conn.executemany(
            "INSERT INTO fts(rowid, text, doc) VALUES (?,?,?)",
            [(i, t, int(d)) for i, (t, d) in enumerate(zip(p.ds.s_text, p.ds.s_doc)) if allowed[d]],
        )
        p._half_conn = conn  # type: ignore[attr-defined]
        p._half_key = key  # type: ignore[attr-defined]
    q = fts_query(question)
    if not q:
        return []
    rows = p._half_conn.execute(  # type: ignore[attr-defined]
        "SELECT rowid, -bm25(fts) FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?", (q, K)
    ).fetchall()
    return [(int(r), float(s)) for r, s in rows]


def main() -> None:
    cmd = sys.argv[1] if len(sys.argv) > 1 else "baselines"
    if cmd == "baselines":
        r = Ranker({})
        for name in common.ALL_EVAL:
            for nm, fn in (("dense", dense_scorer), ("bm25", bm25_scorer), ("rrf", rrf_scorer)):
                print(name, nm, fmt(run_set(name, r, fn)), flush=True)
    elif cmd in ("eval", "abstain"):
        r = Ranker.load(sys.argv[2])
        for name in common.ALL_EVAL if cmd == "eval" else []:
            print(name, "learned", fmt(run_set(name, r)), flush=True)
        if r.abstain:
            nd = len(prepare("squad").ds.docs)
            for seed in (0, 1, 2):
                in_play, allowed = eval_half_split(nd, seed)
                X, inidx, _ = abstention_run("squad", r, in_play, allowed)
                sc = Ranker.score_features(X.astype(np.float32), r.abstain)
                ans = sc >= r.abstain["threshold"]
                print(
                    f"abstention squad split {seed}: answered(in-index) {ans[inidx].mean():.3f}  "
                    f"abstained(out-of-index) {(~ans[~inidx]).mean():.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
