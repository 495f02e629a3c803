"""Fitting models and exporting them as the plain JSON qa.ranker evaluates (no pickle).

scikit-learn and LightGBM come with the `fit` extra and are imported here only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qa.ranker import Ranker

SEED = 0
# LightGBM lambdarank settings, chosen on the training sets' held-out articles
LAMBDARANK: dict[str, Any] = {
    "n_estimators": 300,
    "learning_rate": 0.04,
    "num_leaves": 15,
    "min_child_samples": 100,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
}


def _informative(
    features: list[np.ndarray], labels: list[np.ndarray], weights: list[float] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Rows of the questions with both right and wrong candidates (the others teach nothing),
    each question weighing the same (times its weight)."""
    keep = [i for i, y in enumerate(labels) if y.any() and not y.all()]
    if not keep:
        raise ValueError("no training question has both a right and a wrong candidate")
    X = np.concatenate([features[i] for i in keep])
    y = np.concatenate([labels[i] for i in keep])
    w = np.concatenate(
        [np.full(len(labels[i]), (weights[i] if weights else 1.0) / len(labels[i])) for i in keep]
    )
    return X, y, w, [len(labels[i]) for i in keep]


def fit_ranking(
    features: list[np.ndarray],
    labels: list[np.ndarray],
    kind: str,
    weights: list[float] | None = None,
    trees: int = LAMBDARANK["n_estimators"],
    seed: int = SEED,
) -> dict[str, Any]:
    """kind "lambdarank": LightGBM lambdarank trees over each question's candidates, with a
    logistic calibration of their scores; "logistic": a pointwise logistic regression."""
    X, y, w, groups = _informative(features, labels, weights)
    if kind == "lambdarank":
        return _lambdarank(X, y, groups, w, trees, seed)
    if kind != "logistic":
        raise ValueError(f"unknown model kind {kind!r}")
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(0)
    std = X.std(0) + 1e-6
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((X - mean) / std, y, sample_weight=w / w.mean())
    return {
        "mean": mean.tolist(),
        "std": std.tolist(),
        "w": model.coef_[0].tolist(),
        "b": float(model.intercept_[0]),
    }


def _lambdarank(
    X: np.ndarray, y: np.ndarray, groups: list[int], w: np.ndarray, trees: int, seed: int
) -> dict[str, Any]:
    import lightgbm
    from sklearn.linear_model import LogisticRegression

    ranker = lightgbm.LGBMRanker(
        objective="lambdarank",
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        n_jobs=2,
        verbose=-1,
        **{**LAMBDARANK, "n_estimators": trees},
    )
    ranker.fit(X, y.astype(int), group=groups)
    model = export_lightgbm(ranker.booster_.dump_model())
    scores = Ranker.score_features(X.astype(np.float32), model)
    mismatch = float(np.abs(scores - ranker.predict(X)).max())
    if mismatch > 1e-3:
        raise AssertionError(f"exported trees disagree with LightGBM by {mismatch}")
    # scores -> probability that a candidate is right (shown to users as the answer's score)
    calibration = LogisticRegression(C=1.0, max_iter=1000)
    calibration.fit(scores[:, None], y, sample_weight=w / w.mean())
    model["calibration"] = [float(calibration.coef_[0][0]), float(calibration.intercept_[0])]
    return model


def export_lightgbm(dump: dict[str, Any]) -> dict[str, Any]:
    """A dumped LightGBM booster as flat arrays (go left when x <= threshold)."""
    trees = []
    for info in dump["tree_info"]:
        tree: dict[str, list[Any]] = {"f": [], "t": [], "l": [], "r": [], "v": [], "leaf": []}
        _add_node(tree, info["tree_structure"])
        trees.append(tree)
    return {"base": 0.0, "trees": trees}


def _add_node(tree: dict[str, list[Any]], node: dict[str, Any]) -> int:
    i = len(tree["leaf"])
    for key, empty in (("f", 0), ("t", 0.0), ("l", 0), ("r", 0), ("v", 0.0), ("leaf", 1)):
        tree[key].append(empty)
    if "split_feature" not in node:
        tree["v"][i] = float(f"{node['leaf_value']:.7g}")
        return i
    if node["decision_type"] != "<=":
        raise ValueError(f"unsupported split {node['decision_type']!r}")
    tree["leaf"][i] = 0
    tree["f"][i] = int(node["split_feature"])
    tree["t"][i] = float(node["threshold"])  # exact: values can sit on it
    tree["l"][i] = _add_node(tree, node["left_child"])
    tree["r"][i] = _add_node(tree, node["right_child"])
    return i


DECISION_ROUNDS = 150


def fit_decision(
    X: np.ndarray, y: np.ndarray, rounds: int = DECISION_ROUNDS, seed: int = SEED
) -> dict[str, Any]:
    """Gradient-boosted trees (depth 3) scoring how likely a question is answerable."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(
        max_depth=3, max_iter=rounds, learning_rate=0.05, random_state=seed
    ).fit(X, y)
    trees = []
    for (predictor,) in model._predictors:
        nodes = predictor.nodes
        trees.append(
            {
                "f": nodes["feature_idx"].tolist(),
                "t": nodes["num_threshold"].tolist(),
                "l": nodes["left"].tolist(),
                "r": nodes["right"].tolist(),
                "v": nodes["value"].tolist(),
                "leaf": nodes["is_leaf"].astype(int).tolist(),
            }
        )
    out = {"base": float(np.ravel(model._baseline_prediction)[0]), "trees": trees}
    check = Ranker.score_features(X[:200].astype(np.float32), out)
    if not np.allclose(check, model.decision_function(X[:200]), atol=1e-4):
        raise AssertionError("exported abstention trees disagree with scikit-learn")
    return out


def out_of_fold(
    X: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    rounds: int = DECISION_ROUNDS,
    seed: int = SEED,
) -> np.ndarray:
    """Each row's decision score from a model fitted without its fold: thresholds set on these
    are not flattered by rows the model has seen."""
    scores = np.zeros(len(X), np.float32)
    for fold in np.unique(folds):
        held = folds == fold
        model = fit_decision(X[~held], y[~held], rounds, seed)
        scores[held] = Ranker.score_features(X[held].astype(np.float32), model)
    return scores


def threshold_for(scores: np.ndarray, answer_rate: float) -> float:
    """The score above which `answer_rate` of the answerable rows fall."""
    return float(np.quantile(scores, 1.0 - answer_rate))
