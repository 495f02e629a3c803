"""newsqa answer-sentence ranker: learned fusion over cheap per-candidate features.

Self-contained: numpy + stdlib only (no sklearn/torch/pickle). Artifact = one JSON file
(context weights, one model per mode: LightGBM lambdarank trees exported as arrays or a
logistic regression; the corpus abstention trees and threshold; the article-scope abstention
trees and one threshold per mode) plus two .npz files referenced from the JSON by file name: the
low-rank question adapter (A: d x 16, B: 16 x d) and the answer-type probes (W: one d-vector per
question type, b). One artifact folder per embedding model (qa/data/<model key>), written by
qa.fitting.

Modes: "corpus" (no article filter), "article" (question restricted to one article),
"conversation" (article scope, turns of one chat asked in order). qa.retrieval builds the
candidates (dense top-50 over context vectors and BM25 top-50 within scope) and is the only
caller; qa.fitting fits through that same retriever, so the features fitted on are the ones
served.

A feature is one named column: add its name to `_feature_names` (for the modes that use it) and
compute it in `Ranker.features`, from a `Candidate` field the retriever fills in. Fitted models
carry the names of the columns they were fitted on, so artifacts fitted before the new column keep
working; refit (`python -m qa.fitting`) for the models to use it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from index.stopwords import STOP_WORDS

# ----------------------------------------------------------------------------- text utils

_TOK = re.compile(r"\w+", re.UNICODE)
_YEAR = re.compile(r"\b(1[0-9]{3}|20[0-9]{2})s?\b")
_DIGIT = re.compile(r"\d")
_MONTH = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.|Monday|Tuesday|Wednesday|Thursday|Friday|"
    r"Saturday|Sunday|yesterday|today|century|decade)\b"
)
# News tells time relative to the day it was written ("next week", "two days ago", "later this
# month", "at 9 a.m."): a when-question's answer is as often one of these as a date or a weekday.
_UNIT = r"(?:day|night|week|weekend|month|year|season|spring|summer|autumn|fall|winter)"
_NUMBER = r"(?:\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a few|several)"
_RELATIVE_TIME = re.compile(
    rf"\b(?:(?:next|last|this|coming|past|previous|following|later this|earlier this)\s+"
    rf"(?:{_UNIT}|morning|afternoon|evening)"
    rf"|tomorrow|tonight|overnight|recently|soon|(?:mid)?night|noon"
    rf"|{_NUMBER}\s+(?:hour|{_UNIT})s?\s+(?:ago|later|earlier|from now)"
    rf"|(?:in|within)\s+{_NUMBER}\s+(?:hour|{_UNIT})s?"
    r"|\d{1,2}(?::\d{2})?\s*(?:a\.m\.|p\.m\.|am\b|pm\b))",
    re.IGNORECASE,
)
_MONEY_PCT = re.compile(
    r"[$€£%]|\b(percent|per cent|dollars?|million|billion|euros?|pounds?)\b", re.I
)
# a preposition of place followed by a name: "in Budapest", "at the White House"
_LOCPREP = re.compile(r"\b(?:[Ii]n|[Aa]t|near|outside|inside|[Ff]rom)\s+(?:the\s+)?[A-Z][a-z]")
_CAPWORD = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-zA-Z\-']+")
# where a sentence's first word starts, after any opening quotes, brackets or dashes
_FIRST_WORD = re.compile(r"^[\W_]*")


def stem(tok: str) -> str:
    """Tiny suffix stripper (enough for overlap features)."""
    t = tok.lower()
    for suf in ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "ly", "s"):
        if len(t) > len(suf) + 2 and t.endswith(suf):
            t = t[: -len(suf)]
            break
    return t[:6]


def content_tokens(text: str) -> list[str]:
    return [t for t in _TOK.findall(text.lower()) if t not in STOP_WORDS]


@lru_cache(maxsize=200_000)
def _sent_info(text: str) -> tuple[frozenset[str], frozenset[str], int, bool, bool, bool, bool]:
    toks = _TOK.findall(text)
    stems = frozenset(stem(t) for t in toks if t.lower() not in STOP_WORDS)
    first = _FIRST_WORD.match(text)
    opening = first.end() if first else 0
    # a capital that only starts the sentence is not a name
    caps = frozenset(stem(m.group(0)) for m in _CAPWORD.finditer(text) if m.start() != opening)
    return (
        stems,
        caps,
        len(toks),
        bool(_DIGIT.search(text)),
        bool(_YEAR.search(text)),
        bool(_MONTH.search(text) or _RELATIVE_TIME.search(text)),
        bool(_MONEY_PCT.search(text)),
    )


QTYPES = (
    "who",
    "when",
    "where",
    "howmany",
    "howmuch",
    "why",
    "how",
    "which_what",
    "yesno",
    "other",
)
_YESNO = re.compile(r"^(is|are|was|were|do|does|did|can|could|has|have|had|will|would|should)\b")


def question_type(question: str) -> str:
    q = question.lower().strip()
    if re.search(r"\bhow (many|long|old|far|tall|big|large|often)\b", q):
        return "howmany"
    if re.search(r"\bhow much\b", q):
        return "howmuch"
    if re.search(
        r"\b(when|what year|which year|what date|what time|what century|what decade)\b", q
    ):
        return "when"
    if re.search(r"\b(who|whom|whose)\b", q):
        return "who"
    if re.search(r"\bwhere\b", q):
        return "where"
    if re.search(r"\bwhy\b", q):
        return "why"
    if re.search(r"\bhow\b", q):
        return "how"
    if re.search(r"\b(what|which)\b", q):
        return "which_what"
    if _YESNO.search(q):
        return "yesno"
    return "other"


# ----------------------------------------------------------------------------- data types


@dataclass
class Candidate:
    text: str
    doc_id: str
    position: int  # index of the sentence in its article
    n_sentences: int  # sentences in the article
    dense: float  # cos(adapted q, context vector c[i])  (retrieval score)
    dense_raw: float  # cos(adapted q, sentence vector v[i])
    title_cos: float = 0.0  # cos(adapted q, title vector)
    prev_cos: float | None = None  # cos(adapted q, v[i-1]); None at article start
    next_cos: float | None = None  # cos(adapted q, v[i+1]); None at article end
    bm25: float | None = None  # -bm25(fts) (higher is better) or None if not a lexical hit
    dense_rank: int | None = None  # 0-based rank in dense top-k, None if absent
    bm25_rank: int | None = None  # 0-based rank in BM25 top-k, None if absent
    prev_text: str = ""
    next_text: str = ""
    vec: np.ndarray | None = None  # v[i]: answer-type probes, earlier answers in a chat
    clause_cos: float | None = None  # max cos(adapted q, clause vector); None: one clause
    clause_vecs: np.ndarray | None = None  # its clauses' vectors (answer-type probes)


@dataclass
class Turn:
    question: str
    q_vec: np.ndarray
    answer_doc: str | None
    answer_pos: int | None
    answer_vec: np.ndarray | None


@dataclass
class ConversationState:
    turns: list[Turn] = field(default_factory=list)


MODES = ("corpus", "article", "conversation")


def _feature_names(mode: str) -> list[str]:
    base = [
        "dense",
        "dense_raw",
        "dense_gap",
        "dense_raw_gap",
        "inv_drank",
        "bm25n",
        "bm25_hit",
        "inv_brank",
        "rrf",
        "title_cos",
        "prev_cos",
        "next_cos",
        "nb_max",
        "overlap",
        "overlap_w",
        "overlap_nb",
        "overlap_lidf",
        "bm25_local",
        "new_caps",
        "loglen",
        "short",
        "pos_frac",
        "is_first",
    ]
    base += [f"qt_{t}" for t in QTYPES]
    base += [
        "when_x_time",
        "howmany_x_num",
        "howmuch_x_money",
        "who_x_caps",
        "where_x_caps",
        "when_x_none",
        "howmany_x_none",
        "who_x_none",
        "where_x_none",
        "where_x_locprep",
        "atype",
        "atype_gap",
        "clause_max",
        "clause_gain",
        "clause_gap",
        "atype_clause",
        "atype_clause_gap",
    ]
    if mode == "corpus":
        base += ["doc_max_gap", "doc_frac", "doc_rrf", "doc_is_best", "title_gap"]
    if mode == "conversation":
        base += [
            "turn1",
            "has_prev",
            "d0",
            "d1",
            "d2_3",
            "d_back",
            "d_far",
            "d_abs",
            "prevq_cos",
            "prevans_cos",
            "short_q",
            "short_x_d0",
            "short_x_d1",
            "after_prev",
            "d_x_turn1",
        ]
    return base


# ----------------------------------------------------------------------------- ranker


class Ranker:
    def __init__(
        self, params: dict[str, Any], adapter: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        self.params = params
        self.ctx_title: float = float(params.get("ctx_title", 0.0))
        self.ctx_nb: float = float(params.get("ctx_nb", 0.0))
        self.adapter = adapter
        # answer-type probes: one vector per question type, scored against a sentence's vector
        self.atype: tuple[np.ndarray, np.ndarray] | None = None
        self.models: dict[str, dict[str, Any]] = params.get("models", {})
        self.abstain: dict[str, Any] = params.get("abstain", {})

    # -- persistence
    @classmethod
    def load(cls, path: str) -> Ranker:
        with open(path, encoding="utf-8") as f:
            params = json.load(f)
        adapter = None
        ap = params.get("adapter_file")
        if ap:
            z = np.load(os.path.join(os.path.dirname(os.path.abspath(path)), ap))
            adapter = (z["A"].astype(np.float32), z["B"].astype(np.float32))
        ranker = cls(params, adapter)
        tp = params.get("atype_file")
        if tp:
            z = np.load(os.path.join(os.path.dirname(os.path.abspath(path)), tp))
            if [str(t) for t in z["types"]] != list(QTYPES):
                raise ValueError(f"{tp} was fitted for other question types")
            ranker.atype = (z["W"].astype(np.float32), z["b"].astype(np.float32))
        return ranker

    def for_other_model(self) -> Ranker:
        """This ranker without the adapter and the answer-type probes, which were fitted on one
        model's vectors and mean nothing for another's."""
        return Ranker(self.params)

    # -- vectors
    def adapt_query(self, q: np.ndarray) -> np.ndarray:
        """q: (d,) or (n, d) normalized question embedding(s) -> adapted, normalized."""
        if self.adapter is None:
            return q
        A, B = self.adapter
        out = q + (q @ A) @ B
        n = np.linalg.norm(out, axis=-1, keepdims=True)
        res: np.ndarray = (out / np.maximum(n, 1e-9)).astype(np.float32)
        return res

    # -- features
    def features(
        self,
        question: str,
        cands: Sequence[Candidate],
        mode: str,
        history: ConversationState | None = None,
    ) -> np.ndarray:
        n = len(cands)
        names = _feature_names(mode)
        F = np.zeros((n, len(names)), dtype=np.float32)
        if n == 0:
            return F
        qtype = question_type(question)
        qtoks = content_tokens(question)
        qstems = {stem(t) for t in qtoks}
        nq = max(len(qstems), 1)
        dense = np.array([c.dense for c in cands], np.float32)
        draw = np.array([c.dense_raw for c in cands], np.float32)
        bm = np.array([c.bm25 if c.bm25 is not None else 0.0 for c in cands], np.float32)
        bmax = float(bm.max()) if bm.max() > 0 else 1.0
        rrf = np.array(
            [
                (1.0 / (60 + c.dense_rank + 1) if c.dense_rank is not None else 0.0)
                + (1.0 / (60 + c.bm25_rank + 1) if c.bm25_rank is not None else 0.0)
                for c in cands
            ],
            np.float32,
        )
        # idf-free weighted overlap: rarer (longer) tokens weigh more
        qw = {s: 1.0 + min(len(s), 6) / 6.0 for s in qstems}
        qw_tot = sum(qw.values()) or 1.0
        qcaps = {stem(t) for t in _TOK.findall(question)}
        col = {nm: i for i, nm in enumerate(names)}
        # idf of the question terms within the candidate list (terms all candidates share weigh ~0)
        infos = [_sent_info(c.text) for c in cands]
        lidf = {
            s: math.log((n + 1.0) / (1.0 + sum(1 for inf in infos if s in inf[0]))) for s in qstems
        }
        lidf_tot = sum(lidf.values()) or 1.0
        # BM25 (binary tf, k1=1.2, b=0.75) with idf and average length taken over the candidate list
        avglen = sum(inf[2] for inf in infos) / n or 1.0
        bml = np.array(
            [
                sum(lidf[s] for s in qstems & inf[0])
                * 2.2
                / (1.0 + 1.2 * (0.25 + 0.75 * inf[2] / avglen))
                for inf in infos
            ],
            np.float32,
        )
        bml_max = float(bml.max()) if bml.max() > 0 else 1.0
        for i, c in enumerate(cands):
            stems, caps, ntok, has_d, has_y, has_when, has_money = _sent_info(c.text)
            ov = qstems & stems
            nb = (
                _sent_info(c.prev_text)[0] | _sent_info(c.next_text)[0]
                if (c.prev_text or c.next_text)
                else frozenset()
            )
            newcaps = len(caps - qcaps)
            row = F[i]
            row[col["overlap"]] = len(ov) / nq
            row[col["overlap_w"]] = sum(qw[s] for s in ov) / qw_tot
            row[col["overlap_lidf"]] = sum(lidf[s] for s in ov) / lidf_tot
            row[col["overlap_nb"]] = len((qstems - ov) & nb) / nq
            row[col["new_caps"]] = min(newcaps, 5) / 5.0
            row[col["loglen"]] = math.log1p(ntok)
            row[col["short"]] = 1.0 if ntok < 6 else 0.0
            row[col["pos_frac"]] = c.position / max(c.n_sentences, 1)
            row[col["is_first"]] = 1.0 if c.position == 0 else 0.0
            row[col["title_cos"]] = c.title_cos
            pc = c.prev_cos if c.prev_cos is not None else 0.0
            nc = c.next_cos if c.next_cos is not None else 0.0
            row[col["prev_cos"]] = pc
            row[col["next_cos"]] = nc
            row[col["nb_max"]] = max(pc, nc)
            row[col["inv_drank"]] = 1.0 / (1 + c.dense_rank) if c.dense_rank is not None else 0.0
            row[col["inv_brank"]] = 1.0 / (1 + c.bm25_rank) if c.bm25_rank is not None else 0.0
            row[col["bm25_hit"]] = 1.0 if c.bm25 is not None else 0.0
            timey = has_y or has_when
            row[col["when_x_time"]] = 1.0 if (qtype == "when" and timey) else 0.0
            row[col["when_x_none"]] = 1.0 if (qtype == "when" and not (timey or has_d)) else 0.0
            row[col["howmany_x_num"]] = 1.0 if (qtype == "howmany" and has_d) else 0.0
            row[col["howmany_x_none"]] = (
                1.0 if (qtype in ("howmany", "howmuch") and not has_d) else 0.0
            )
            row[col["howmuch_x_money"]] = (
                1.0 if (qtype == "howmuch" and (has_money or has_d)) else 0.0
            )
            row[col["who_x_caps"]] = min(newcaps, 3) / 3.0 if qtype == "who" else 0.0
            row[col["where_x_caps"]] = min(newcaps, 3) / 3.0 if qtype == "where" else 0.0
            row[col["who_x_none"]] = 1.0 if (qtype == "who" and newcaps == 0) else 0.0
            row[col["where_x_none"]] = 1.0 if (qtype == "where" and newcaps == 0) else 0.0
            row[col["where_x_locprep"]] = (
                1.0 if (qtype == "where" and _LOCPREP.search(c.text)) else 0.0
            )
        F[:, col["dense"]] = dense
        F[:, col["bm25_local"]] = bml / bml_max
        F[:, col["dense_raw"]] = draw
        F[:, col["dense_gap"]] = dense - dense.max()
        F[:, col["dense_raw_gap"]] = draw - draw.max()
        clause = np.array(
            [
                max(c.dense_raw, c.clause_cos) if c.clause_cos is not None else c.dense_raw
                for c in cands
            ],
            np.float32,
        )
        F[:, col["clause_max"]] = clause
        F[:, col["clause_gain"]] = clause - draw
        F[:, col["clause_gap"]] = clause - clause.max()
        F[:, col["bm25n"]] = bm / bmax
        F[:, col["rrf"]] = rrf * 30.0
        F[:, col["qt_" + qtype]] = 1.0
        # the candidates' own sentence vectors, when the engine gave them
        vecs = [c.vec for c in cands if c.vec is not None]
        V = np.stack(vecs) if len(vecs) == n else None
        if self.atype is not None and V is not None:
            W, b = self.atype
            k = QTYPES.index(qtype)
            at = V @ W[k] + b[k]
            F[:, col["atype"]] = at
            F[:, col["atype_gap"]] = at - at.max()
            # the best of its clauses: "...will meet at an agreed location, Budapest" is a
            # where-answer even when the sentence goes on about something else
            best = np.array(
                [
                    max(float(a), float((c.clause_vecs @ W[k]).max() + b[k]))
                    if c.clause_vecs is not None
                    else float(a)
                    for a, c in zip(at, cands, strict=True)
                ],
                np.float32,
            )
            F[:, col["atype_clause"]] = best
            F[:, col["atype_clause_gap"]] = best - best.max()
        if mode == "corpus":
            docs: dict[str, list[int]] = {}
            for i, c in enumerate(cands):
                docs.setdefault(c.doc_id, []).append(i)
            gmax = float(dense.max())
            tmax = max(c.title_cos for c in cands)
            best_doc, best_val = None, -1e9
            agg: dict[str, tuple[float, float, float]] = {}
            for d, idx in docs.items():
                dm = float(dense[idx].max())
                agg[d] = (dm, len(idx) / n, float(rrf[idx].sum()) * 30.0)
                if agg[d][2] > best_val:
                    best_doc, best_val = d, agg[d][2]
            for i, c in enumerate(cands):
                dm, fr, dr = agg[c.doc_id]
                F[i, col["doc_max_gap"]] = dm - gmax
                F[i, col["doc_frac"]] = fr
                F[i, col["doc_rrf"]] = dr
                F[i, col["doc_is_best"]] = 1.0 if c.doc_id == best_doc else 0.0
                F[i, col["title_gap"]] = c.title_cos - tmax
        if mode == "conversation":
            turns = history.turns if history is not None else []
            short_q = 1.0 if len(qtoks) <= 2 else 0.0
            F[:, col["short_q"]] = short_q
            if not turns:
                F[:, col["turn1"]] = 1.0
            else:
                last = turns[-1]
                F[:, col["has_prev"]] = 1.0
                if V is not None:
                    F[:, col["prevq_cos"]] = V @ last.q_vec
                    if last.answer_vec is not None:
                        F[:, col["prevans_cos"]] = V @ last.answer_vec
                if last.answer_pos is not None:
                    # furthest position reached so far (CoQA walks forward through the story)
                    reached = max(t.answer_pos for t in turns if t.answer_pos is not None)
                    for i, c in enumerate(cands):
                        if c.doc_id != last.answer_doc:
                            continue
                        dist = c.position - last.answer_pos
                        F[i, col["d0"]] = 1.0 if dist == 0 else 0.0
                        F[i, col["d1"]] = 1.0 if dist == 1 else 0.0
                        F[i, col["d2_3"]] = 1.0 if 2 <= dist <= 3 else 0.0
                        F[i, col["d_back"]] = 1.0 if dist < 0 else 0.0
                        F[i, col["d_far"]] = 1.0 if dist > 3 else 0.0
                        F[i, col["d_abs"]] = min(abs(dist), 10) / 10.0
                        F[i, col["short_x_d0"]] = short_q * F[i, col["d0"]]
                        F[i, col["short_x_d1"]] = short_q * F[i, col["d1"]]
                        F[i, col["after_prev"]] = 1.0 if c.position >= reached else 0.0
            F[:, col["d_x_turn1"]] = F[:, col["turn1"]] * F[:, col["pos_frac"]]
        return F

    # -- scoring
    def score(
        self,
        question: str,
        cands: Sequence[Candidate],
        mode: str = "article",
        history: ConversationState | None = None,
    ) -> np.ndarray:
        F = self.features(question, cands, mode, history)
        m = self.models.get(mode)
        if m is None or len(cands) == 0:  # fall back to RRF
            return (
                F[:, _feature_names(mode).index("rrf")] if len(cands) else np.zeros(0, np.float32)
            )
        names = m.get("features")
        if names is not None and list(names) != _feature_names(mode):
            idx = {n: i for i, n in enumerate(_feature_names(mode))}
            F = F[:, [idx[n] for n in names]]
        return self.score_features(F, m)

    @staticmethod
    def score_features(F: np.ndarray, m: dict[str, Any]) -> np.ndarray:
        """Linear / one-hidden-layer ReLU model over standardized features, or a gradient-boosted
        tree ensemble ("trees": go left when x <= threshold)."""
        if "trees" in m:
            return _forest(m).predict(F)
        mu = np.asarray(m["mean"], np.float32)
        sd = np.asarray(m["std"], np.float32)
        X = (F - mu) / sd
        h = X
        for layer in m.get("hidden", []):
            h = np.maximum(
                h @ np.asarray(layer["W"], np.float32) + np.asarray(layer["b"], np.float32), 0.0
            )
        out: np.ndarray = h @ np.asarray(m["w"], np.float32) + np.float32(m["b"])
        return out

    def probability(self, scores: np.ndarray, mode: str) -> np.ndarray:
        """How likely each candidate is a right answer: the mode's calibration (a * score + b,
        fitted on training answers) through the logistic function; plain logistic without one."""
        m = self.models.get(mode, {})
        a, b = m.get("calibration", (1.0, 0.0))
        z = np.clip(float(a) * np.asarray(scores, np.float64) + float(b), -30.0, 30.0)
        out: np.ndarray = 1.0 / (1.0 + np.exp(-z))
        return out

    # -- abstention (corpus scope)
    def abstain_features(
        self,
        question: str,
        scores: np.ndarray,
        cands: Sequence[Candidate],
        term_df: dict[str, int] | None = None,
    ) -> np.ndarray:
        """Confidence features: top fused score, margin, dense/BM25 maxima, how much of the
        question's vocabulary (esp. capitalised names) the candidates cover, and (term_df) which
        question tokens occur nowhere in scope. term_df maps each word lexical search would use
        (index.lexical.terms) to the number of sentences in scope holding it."""
        if len(cands) == 0:
            return np.zeros(12, np.float32)
        order = np.argsort(-scores)
        top = cands[int(order[0])]
        s1 = float(scores[order[0]])
        s2 = float(scores[order[1]]) if len(order) > 1 else s1 - 5.0
        dmax = max(c.dense for c in cands)
        draw = max(c.dense_raw for c in cands)
        bm = [c.bm25 for c in cands if c.bm25 is not None]
        bmax = max(bm) if bm else 0.0
        qstems = {stem(t) for t in content_tokens(question)}
        words = _TOK.findall(question)
        qcaps = {stem(w) for w in words[1:] if w[:1].isupper() and w.lower() not in STOP_WORDS}
        any_st: set[str] = set()
        doc_st: set[str] = set()
        for c in cands:
            st = _sent_info(c.text)[0]
            any_st |= st
            if c.doc_id == top.doc_id:
                doc_st |= st | _sent_info(c.prev_text)[0] | _sent_info(c.next_text)[0]
        top_st = _sent_info(top.text)[0]
        nq = max(len(qstems), 1)
        cov_any = len(qstems & any_st) / nq
        cov_doc = len(qstems & doc_st) / nq
        cov_top = len(qstems & top_st) / nq
        caps_any = len(qcaps & any_st) / len(qcaps) if qcaps else 1.0
        caps_doc = len(qcaps & doc_st) / len(qcaps) if qcaps else 1.0
        miss = miss_caps = 0.0
        if term_df:
            toks = list(term_df)
            miss = sum(1 for t in toks if term_df[t] == 0) / len(toks)
            capl = {w.lower() for w in words[1:] if w[:1].isupper()} & set(toks)
            miss_caps = sum(1 for t in capl if term_df[t] == 0) / len(capl) if capl else 0.0
        return np.array(
            [
                s1,
                s1 - s2,
                dmax,
                draw,
                math.log1p(bmax),
                top.title_cos,
                cov_any,
                cov_doc,
                cov_top,
                min(caps_any, caps_doc),
                miss,
                miss_caps,
            ],
            np.float32,
        )

    def abstain_score(
        self,
        question: str,
        scores: np.ndarray,
        cands: Sequence[Candidate],
        term_df: dict[str, int] | None = None,
    ) -> float:
        """Higher = more confident that the answer is in the index."""
        a = self.abstain
        if not a or len(cands) == 0:
            return float("inf") if cands else float("-inf")
        x = self.abstain_features(question, scores, cands, term_df)
        out = self.score_features(x[None, :], a)
        return float(out[0])

    def should_abstain(
        self,
        question: str,
        scores: np.ndarray,
        cands: Sequence[Candidate],
        mode: str = "corpus",
        term_df: dict[str, int] | None = None,
    ) -> bool:
        """Whether nothing among the corpus candidates answers (corpus scope; for one article
        or a conversation see should_abstain_in_scope)."""
        if len(cands) == 0:
            return True
        if mode != "corpus" or not self.abstain:
            return False
        return self.abstain_score(question, scores, cands, term_df) < float(
            self.abstain["threshold"]
        )

    # -- abstention within one article (article scope and conversations)
    @property
    def abstains_in_scope(self) -> bool:
        """Whether a model fitted for one article's candidates (its own mode's scores) ships."""
        return bool(self.params.get("abstain_scope"))

    def scope_abstain_features(
        self,
        question: str,
        scores: np.ndarray,
        cands: Sequence[Candidate],
        mode: str,
        term_df: dict[str, int] | None = None,
        history: ConversationState | None = None,
    ) -> np.ndarray:
        """The corpus abstention features over the mode's own scores, plus what a conversation
        adds: a later turn ("and state?") leans on the turns before it, not on its own words."""
        base = self.abstain_features(question, scores, cands, term_df)
        turns = history.turns if history is not None else []
        extra = [
            1.0 if mode == "conversation" else 0.0,
            1.0 if turns else 0.0,
            1.0 if len(content_tokens(question)) <= 2 else 0.0,
        ]
        return np.concatenate([base, np.asarray(extra, np.float32)])

    def should_abstain_in_scope(
        self,
        question: str,
        scores: np.ndarray,
        cands: Sequence[Candidate],
        mode: str,
        term_df: dict[str, int] | None = None,
        history: ConversationState | None = None,
    ) -> bool:
        """Whether nothing in the one article asked about answers: fitted on questions asked
        about their own article and about another one (`abstain_scope`, one threshold per
        mode)."""
        if len(cands) == 0:
            return True
        m = self.params["abstain_scope"]
        x = self.scope_abstain_features(question, scores, cands, mode, term_df, history)
        score = float(self.score_features(x[None, :], m)[0])
        return score < float(m["thresholds"][mode])


def feature_names(mode: str) -> list[str]:
    return _feature_names(mode)


class _Forest:
    """A tree ensemble as flat arrays (every tree's nodes one after another), evaluated for all
    rows and trees at once: one step moves every (row, tree) pair one level down."""

    def __init__(self, m: dict[str, Any]) -> None:
        trees = m["trees"]
        sizes = [len(t["leaf"]) for t in trees]
        self.roots = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
        leaf = np.concatenate([np.asarray(t["leaf"], bool) for t in trees])
        here = np.arange(len(leaf), dtype=np.int64)
        offsets = np.repeat(self.roots, sizes)
        self.feature = np.where(leaf, 0, np.concatenate([t["f"] for t in trees])).astype(np.int64)
        self.threshold = np.concatenate([t["t"] for t in trees]).astype(np.float64)
        # a leaf points at itself, so extra steps leave finished pairs where they are
        self.left = np.where(leaf, here, np.concatenate([t["l"] for t in trees]) + offsets)
        self.right = np.where(leaf, here, np.concatenate([t["r"] for t in trees]) + offsets)
        self.value = np.concatenate([t["v"] for t in trees]).astype(np.float64)
        self.depth = max(_depth(t) for t in trees)
        self.base = float(m.get("base", 0.0))

    def predict(self, F: np.ndarray) -> np.ndarray:
        X = np.asarray(F, np.float64)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(self.roots, (len(X), len(self.roots)))
        for _ in range(self.depth):
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        out: np.ndarray = (self.base + self.value[node].sum(axis=1)).astype(np.float32)
        return out


def _depth(t: dict[str, Any]) -> int:
    depth, frontier = 0, [0]
    while True:
        frontier = [c for i in frontier if not t["leaf"][i] for c in (t["l"][i], t["r"][i])]
        if not frontier:
            return depth
        depth += 1


_FORESTS: dict[int, tuple[dict[str, Any], _Forest]] = {}


def _forest(m: dict[str, Any]) -> _Forest:
    """The compiled form of a tree model, made once per model object."""
    hit = _FORESTS.get(id(m))
    if hit is None or hit[0] is not m:
        hit = (m, _Forest(m))
        _FORESTS[id(m)] = hit
    return hit[1]
