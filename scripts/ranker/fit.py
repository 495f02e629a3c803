"""Fit the newsqa ranker artifact from /work/shared/train only.

python fit.py [--val] [--out artifacts/ranker.json]

--val : hold out 25% of the training articles per set and print ranking metrics (model selection);
without it: fit on all (subsampled) training data and write the artifact.
Seeded (numpy seed 0, doc subsample seed 1234 in common.py).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

import common
import harness
from qa.ranker import Ranker, feature_names

SEED = 0
CTX_TITLE, CTX_NB = 0.3, 0.1


def split_qids(name: str, val: bool, max_q: int, seed: int = SEED) -> tuple[list[int], list[int]]:
    p = harness.prepare(name)
    ds = p.ds
    rng = np.random.default_rng(seed)
    nd = len(ds.docs)
    val_docs = set(rng.permutation(nd)[: nd // 4].tolist()) if val else set()
    tr, va = [], []
    for i, q in enumerate(ds.questions):
        (va if ds.doc_index[q["doc_id"]] in val_docs else tr).append(i)
    if name.startswith("coqa"):
        return tr, va  # keep whole conversations
    if len(tr) > max_q:
        tr = sorted(rng.choice(tr, max_q, replace=False).tolist())
    if len(va) > max_q // 3:
        va = sorted(rng.choice(va, max_q // 3, replace=False).tolist())
    return tr, va


def collect(
    name: str, ranker: Ranker, mode: str, qids: list[int], history_scorer=None
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    scorer = history_scorer or harness.rrf_scorer
    r = harness.run_set(name, ranker, scorer=scorer, mode=mode, collect=True, qsubset=qids)
    return r["feats"], r["ys"]


# per-mode model type, chosen on train-split validation (fit.py --val): see REPORT.md
MODEL = {"corpus": "lgbm", "article": "lgbm", "conversation": "lr"}


def fit_model(
    Fs: list[np.ndarray],
    ys: list[np.ndarray],
    C: float = 1.0,
    qw: list[float] | None = None,
    kind: str = "lr",
) -> dict:
    """kind = lgbm: LightGBM lambdarank over each question's candidates, exported as JSON
    trees with a logistic calibration of its scores; lr | mlp: pointwise models in which every
    question weighs the same (times qw[i])."""
    keep = [i for i, y in enumerate(ys) if y.any() and not y.all()]
    X = np.concatenate([Fs[i] for i in keep])
    y = np.concatenate([ys[i] for i in keep])
    w = np.concatenate([np.full(len(ys[i]), (qw[i] if qw else 1.0) / len(ys[i])) for i in keep])
    if kind == "lgbm":
        return fit_lambdarank(X, y, [len(ys[i]) for i in keep], w)
    mu = X.mean(0)
    sd = X.std(0) + 1e-6
    Xs = (X - mu) / sd
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        rng = np.random.default_rng(SEED)
        # MLPClassifier has no sample weights: resample rows in proportion to the weights
        idx = rng.choice(len(Xs), size=min(len(Xs), 400_000), p=w / w.sum())
        clf = MLPClassifier(
            hidden_layer_sizes=(16,),
            alpha=1e-3,
            max_iter=60,
            random_state=SEED,
            early_stopping=True,
        )
        clf.fit(Xs[idx], y[idx])
        return {
            "mean": mu.tolist(),
            "std": sd.tolist(),
            "hidden": [{"W": clf.coefs_[0].tolist(), "b": clf.intercepts_[0].tolist()}],
            "w": clf.coefs_[1][:, 0].tolist(),
            "b": float(clf.intercepts_[1][0]),
        }
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(Xs, y, sample_weight=w / w.mean())
    return {
        "mean": mu.tolist(),
        "std": sd.tolist(),
        "w": clf.coef_[0].tolist(),
        "b": float(clf.intercept_[0]),
    }


# LightGBM lambdarank settings, chosen with fit.py --val on the training sets' held-out articles
LGBM = {
    "n_estimators": 300,
    "learning_rate": 0.04,
    "num_leaves": 15,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
}


def fit_lambdarank(X: np.ndarray, y: np.ndarray, groups: list[int], w: np.ndarray) -> dict:
    import lightgbm as lgb

    ranker = lgb.LGBMRanker(
        objective="lambdarank",
        random_state=SEED,
        deterministic=True,
        force_row_wise=True,
        n_jobs=2,
        verbose=-1,
        **LGBM,
    )
    ranker.fit(X, y.astype(int), group=groups)
    m = export_trees(ranker.booster_)
    s = Ranker.score_features(X.astype(np.float32), m)
    diff = np.abs(s - ranker.predict(X))
    if diff.max() > 1e-3:
        np.save(os.path.join(common.CACHE, "mismatch_X.npy"), X)
        ranker.booster_.save_model(os.path.join(common.CACHE, "mismatch.txt"))
        raise AssertionError(
            f"tree export mismatch: {int((diff > 1e-3).sum())} rows, max {diff.max()}"
        )
    # scores -> probability that a candidate is right (shown to users as the answer's score)
    cal = LogisticRegression(C=1.0, max_iter=1000).fit(s[:, None], y, sample_weight=w / w.mean())
    m["calibration"] = [float(cal.coef_[0][0]), float(cal.intercept_[0])]
    return m


def export_trees(booster) -> dict:  # type: ignore[no-untyped-def]
    """A LightGBM booster as the flat arrays qa.ranker evaluates (left when x <= threshold)."""
    trees = []
    for info in booster.dump_model()["tree_info"]:
        t: dict[str, list] = {"f": [], "t": [], "l": [], "r": [], "v": [], "leaf": []}

        def add(node: dict, t: dict[str, list] = t) -> int:
            i = len(t["leaf"])
            for key, empty in (("f", 0), ("t", 0.0), ("l", 0), ("r", 0), ("v", 0.0), ("leaf", 1)):
                t[key].append(empty)
            if "split_feature" not in node:
                t["v"][i] = float(f"{node['leaf_value']:.7g}")
                return i
            assert node["decision_type"] == "<=", node["decision_type"]
            t["leaf"][i] = 0
            t["f"][i] = int(node["split_feature"])
            t["t"][i] = float(node["threshold"])  # exact: values can sit on it
            t["l"][i] = add(node["left_child"])
            t["r"][i] = add(node["right_child"])
            return i

        add(info["tree_structure"])
        trees.append(t)
    return {"base": 0.0, "trees": trees}


def rank_metrics(
    Fs: list[np.ndarray], ys: list[np.ndarray], m: dict | None, col: int | None = None
) -> str:
    p1 = mrr = 0.0
    for F, y in zip(Fs, ys):
        s = Ranker.score_features(F, m) if m is not None else F[:, col]
        o = np.argsort(-s, kind="stable")
        h = np.flatnonzero(y[o])
        r = h[0] if len(h) else 10**9
        p1 += r == 0
        mrr += 1 / (r + 1) if r < 10 else 0
    n = max(len(Fs), 1)
    return f"P@1 {p1 / n:.3f} MRR {mrr / n:.3f} (n={len(Fs)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--val", action="store_true")
    ap.add_argument("--out", default=os.path.join(common.REPO, "qa", "data", "ranker.json"))
    ap.add_argument("--adapter", default="")
    ap.add_argument("--atype", default="", help="answer-type probes from train_atype.py")
    ap.add_argument(
        "--model", default="", help="lr|mlp for all modes, or corpus=lr,article=mlp,..."
    )
    ap.add_argument("--base", default="", help="start from this artifact; refit only --modes")
    ap.add_argument("--modes", default="corpus,article,conversation,abstain")
    # e.g. 0.5,0.3,0.2 for squad,selqa,trecqa; weighs questions in the lr and mlp models only
    # (the lambdarank trees weigh every question the same)
    ap.add_argument("--art-shares", default="")
    args = ap.parse_args()
    if args.model:
        for kv in args.model.split(","):
            k, _, v = kv.partition("=")
            if v:
                MODEL[k] = v
            else:
                for mode in MODEL:
                    MODEL[mode] = k
    modes = args.modes.split(",")
    t0 = time.time()
    params: dict = {"ctx_title": CTX_TITLE, "ctx_nb": CTX_NB, "models": {}}
    if args.base:
        with open(args.base) as f:
            params = json.load(f)
        for key, arg in (("adapter_file", "adapter"), ("atype_file", "atype")):
            if params.get(key) and not getattr(args, arg):
                path = os.path.join(os.path.dirname(os.path.abspath(args.base)), params[key])
                setattr(args, arg, path)
    if args.adapter:
        params["adapter_file"] = os.path.basename(args.adapter)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    import shutil

    if args.adapter:
        dst = os.path.join(out_dir, os.path.basename(args.adapter))
        if os.path.abspath(args.adapter) != dst:
            shutil.copy(args.adapter, dst)
    ranker = Ranker(params)
    if args.adapter:
        z = np.load(args.adapter)
        ranker.adapter = (z["A"], z["B"])
    if args.atype:
        params["atype_file"] = os.path.basename(args.atype)
        dst = os.path.join(out_dir, params["atype_file"])
        if os.path.abspath(args.atype) != dst:
            shutil.copy(args.atype, dst)
        z = np.load(args.atype)
        ranker.atype = (z["W"], z["b"])

    # ---- corpus mode: squad-train over the whole (subsampled) corpus
    if "corpus" in modes:
        rrf_col = feature_names("corpus").index("rrf")
        tr, va = split_qids("squad-train", args.val, 8000)
        Ftr, ytr = collect("squad-train", ranker, "corpus", tr)
        m = fit_model(Ftr, ytr, kind=MODEL["corpus"])
        m["features"] = feature_names("corpus")
        params["models"]["corpus"] = m
        if args.val:
            Fva, yva = collect("squad-train", ranker, "corpus", va)
            print("corpus  val rrf   ", rank_metrics(Fva, yva, None, rrf_col))
            print("corpus  val model ", rank_metrics(Fva, yva, m))
        print(f"corpus fitted {time.time() - t0:.0f}s", flush=True)

    # ---- article mode: squad-train (article scope) + selqa + trecqa-train
    if "article" in modes:
        FA: list[np.ndarray] = []
        yA: list[np.ndarray] = []
        qw: list[float] = []
        per_set_val = {}
        shares = [float(x) for x in args.art_shares.split(",")] if args.art_shares else None
        for k, (name, mq) in enumerate(
            (("squad-train", 4000), ("selqa", 2000), ("trecqa-train", 1000))
        ):
            tr, va = split_qids(name, args.val, mq)
            F, y = collect(name, ranker, "article", tr)
            FA += F
            yA += y
            qw += [shares[k] * 1000.0 / len(F) if shares else 1.0] * len(F)
            if args.val:
                per_set_val[name] = collect(name, ranker, "article", va)
        m = fit_model(FA, yA, qw=qw, kind=MODEL["article"])
        m["features"] = feature_names("article")
        params["models"]["article"] = m
        if args.val:
            rrf_col = feature_names("article").index("rrf")
            for name, (F, y) in per_set_val.items():
                print(
                    f"article val {name:13s} rrf",
                    rank_metrics(F, y, None, rrf_col),
                    "| model",
                    rank_metrics(F, y, m),
                )
        print(f"article fitted {time.time() - t0:.0f}s", flush=True)

    # ---- conversation mode: coqa-wiki-lit; history = the system's own earlier answers
    # round 0 uses RRF answers as history, round 1 the round-0 model's answers.
    if "conversation" in modes:
        tr, va = split_qids("coqa-wiki-lit", args.val, 10**9)
        hist_fn = harness.rrf_scorer
        for rnd in range(2):
            F, y = collect("coqa-wiki-lit", ranker, "conversation", tr, history_scorer=hist_fn)
            mc = fit_model(F, y, kind=MODEL["conversation"])
            mc["features"] = feature_names("conversation")
            conv = Ranker({**params, "models": {"conversation": mc}})
            conv.adapter, conv.atype = ranker.adapter, ranker.atype
            hist_fn = lambda q, c, mo, h, conv=conv: conv.score(q, c, "conversation", h)  # noqa: E731
            if args.val:
                rv = harness.run_set("coqa-wiki-lit", conv, mode="conversation", qsubset=va)
                rr = harness.run_set(
                    "coqa-wiki-lit",
                    conv,
                    scorer=harness.rrf_scorer,
                    mode="conversation",
                    qsubset=va,
                )
                print(
                    f"conversation val round {rnd}: rrf {harness.fmt(rr)} | model {harness.fmt(rv)}"
                )
        params["models"]["conversation"] = mc
        print(f"conversation fitted {time.time() - t0:.0f}s", flush=True)

    # ---- abstention (corpus scope): mimic the eval protocol on squad-train: 26 random articles,
    # 13 indexed; questions of all 26. Repeated over several random draws.
    if "abstain" in modes:
        if "corpus" not in params["models"]:
            raise SystemExit("abstain needs the corpus model in the same run")
        params["abstain"] = fit_abstain(
            Ranker({**params}) if ranker.adapter is None else _with_adapter(params, ranker),
            args.val,
        )
        print(f"abstention fitted {time.time() - t0:.0f}s", flush=True)

    if not args.val or args.base:
        with open(args.out, "w") as f:
            # The adapter only applies to the model it was fitted on (the packaged one).
            json.dump({"model": common.MODEL_ID, **params}, f)
        print("wrote", args.out)


def _with_adapter(params: dict, ranker: Ranker) -> Ranker:
    r = Ranker(params)
    r.adapter, r.atype = ranker.adapter, ranker.atype
    return r


ABSTAIN_MODEL = "gbm"
ANSWER_RATE = (
    0.98  # fraction of in-index train questions that must be answered (target 0.97 on eval)
)
N_DRAWS = 16


def fit_abstain(ranker: Ranker, val: bool) -> dict:
    p = harness.prepare("squad-train")
    nd = len(p.ds.docs)
    rng = np.random.default_rng(SEED + 7)
    Xs, ys, splits = [], [], []
    for draw in range(N_DRAWS):
        play = rng.choice(nd, 26, replace=False)
        in_play = np.zeros(nd, bool)
        in_play[play] = True
        allowed = np.zeros(nd, bool)
        allowed[play[:13]] = True
        X, inidx, _ = harness.abstention_run(
            "squad-train", ranker, in_play, allowed, max_q=600, seed=draw
        )
        Xs.append(X)
        ys.append(inidx)
        splits.append(np.full(len(X), draw))
    X = np.concatenate(Xs)
    y = np.concatenate(ys)
    sp = np.concatenate(splits)

    np.savez(os.path.join(common.CACHE, "abstain_train_feats.npz"), X=X, y=y, sp=sp)

    def fit(Xt: np.ndarray, yt: np.ndarray, kind: str) -> dict:
        mu, sd = Xt.mean(0), Xt.std(0) + 1e-6
        Z = (Xt - mu) / sd
        if kind == "gbm":
            from sklearn.ensemble import HistGradientBoostingClassifier

            g = HistGradientBoostingClassifier(
                max_depth=3, max_iter=150, learning_rate=0.05, random_state=SEED
            ).fit(Xt, yt)
            trees = []
            for (pred,) in g._predictors:
                nd = pred.nodes
                trees.append(
                    {
                        "f": nd["feature_idx"].tolist(),
                        "t": nd["num_threshold"].tolist(),
                        "l": nd["left"].tolist(),
                        "r": nd["right"].tolist(),
                        "v": nd["value"].tolist(),
                        "leaf": nd["is_leaf"].astype(int).tolist(),
                    }
                )
            a = {"base": float(np.ravel(g._baseline_prediction)[0]), "trees": trees}
            chk = Ranker.score_features(Xt[:200].astype(np.float32), a)
            assert np.allclose(chk, g.decision_function(Xt[:200]), atol=1e-4), (
                "tree export mismatch"
            )
        elif kind == "mlp":
            from sklearn.neural_network import MLPClassifier

            clf = MLPClassifier(
                hidden_layer_sizes=(8,), alpha=1e-2, max_iter=2000, random_state=SEED
            ).fit(Z, yt)
            a = {
                "mean": mu.tolist(),
                "std": sd.tolist(),
                "hidden": [{"W": clf.coefs_[0].tolist(), "b": clf.intercepts_[0].tolist()}],
                "w": clf.coefs_[1][:, 0].tolist(),
                "b": float(clf.intercepts_[1][0]),
            }
        else:
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(Z, yt)
            a = {
                "mean": mu.tolist(),
                "std": sd.tolist(),
                "w": clf.coef_[0].tolist(),
                "b": float(clf.intercept_[0]),
            }
        sc = Ranker.score_features(Xt.astype(np.float32), a)
        a["threshold"] = float(np.quantile(sc[yt], 1 - ANSWER_RATE))
        return a

    def fit_oof(kind: str) -> dict:
        """Final model on all draws; threshold from leave-one-draw-out scores (not optimistic)."""
        oof = np.zeros(len(X), np.float32)
        for d in range(N_DRAWS):
            a = fit(X[sp != d], y[sp != d], kind)
            oof[sp == d] = Ranker.score_features(X[sp == d].astype(np.float32), a)
        a = fit(X, y, kind)
        a["threshold"] = float(np.quantile(oof[y], 1 - ANSWER_RATE))
        return a

    if val:  # leave-one-draw-out
        for kind in ("lr", "mlp", "gbm"):
            rates = []
            for d in range(N_DRAWS):
                a = fit(X[sp != d], y[sp != d], kind)
                Xv, yv = X[sp == d], y[sp == d]
                ans = Ranker.score_features(Xv.astype(np.float32), a) >= a["threshold"]
                rates.append((ans[yv].mean(), (~ans[~yv]).mean()))
            r = np.array(rates)
            print(
                f"abstain LODO {kind}: answered(in) mean {r[:, 0].mean():.3f} min {r[:, 0].min():.3f} | "
                f"abstained(out) mean {r[:, 1].mean():.3f} min {r[:, 1].min():.3f}",
                flush=True,
            )
    return fit_oof(ABSTAIN_MODEL)


def _as_conv(m: dict) -> dict:
    """Embed an article-mode model into the conversation feature space (conversation features weight 0)."""
    na, nc = feature_names("article"), feature_names("conversation")
    idx = {n: i for i, n in enumerate(na)}
    mu = [m["mean"][idx[n]] if n in idx else 0.0 for n in nc]
    sd = [m["std"][idx[n]] if n in idx else 1.0 for n in nc]
    w = [m["w"][idx[n]] if n in idx else 0.0 for n in nc]
    return {"mean": mu, "std": sd, "w": w, "b": m["b"]}


if __name__ == "__main__":
    main()
