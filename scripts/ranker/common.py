"""Shared data loading / sentence splitting / caching for the harness and fit script."""

from __future__ import annotations

import gzip
import json
import os
import random
from dataclasses import dataclass, field

import numpy as np

from index.splitter import split_sentences as _split
from index.splitter import trailing_chrome

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.environ.get(
    "NEWSQA_FIT_CACHE", os.path.join(os.path.dirname(os.path.dirname(HERE)), "var", "fit-cache")
)
os.makedirs(CACHE, exist_ok=True)
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("NEWSQA_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
EVAL = os.path.join(SHARED, "eval")
TRAIN = os.path.join(SHARED, "train")
# subsample sizes for the (large) training sets, fixed seed
TRAIN_DOC_LIMIT = {"squad-train": 110, "selqa": 900}


def _read_jsonl(path: str) -> list[dict]:
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt", encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """The engine's own splitting: syntok within lines, trailing site chrome dropped."""
    spans = _split(text)
    chrome = trailing_chrome(text, spans)
    return [(span.start, span.end) for i, span in enumerate(spans) if i not in chrome]


@dataclass
class Dataset:
    name: str
    scope: str
    docs: list[dict]
    questions: list[dict]
    # sentence table
    s_doc: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # doc index
    s_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    s_end: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    s_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))  # index in article
    s_text: list[str] = field(default_factory=list)
    doc_first: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int32)
    )  # first sentence idx of doc
    doc_n: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    doc_index: dict = field(default_factory=dict)

    def gold_mask(self, qi: int) -> np.ndarray:
        """bool over the sentences of the question's doc (indexed by position)."""
        q = self.questions[qi]
        d = self.doc_index[q["doc_id"]]
        a, n = self.doc_first[d], self.doc_n[d]
        st, en = self.s_start[a : a + n], self.s_end[a : a + n]
        m = np.zeros(n, bool)
        for gs, ge in q["gold"]:
            m |= (st < ge) & (en > gs)
        return m


ALIASES = {
    "squad-train-all": "squad-train"
}  # full squad-train (no subsample), used for the adapter


def load(name: str) -> Dataset:
    src = ALIASES.get(name, name)
    if os.path.isdir(os.path.join(EVAL, src)):
        base, gz = os.path.join(EVAL, src), ""
    else:
        base, gz = os.path.join(TRAIN, src), ".gz"
    meta = json.load(open(os.path.join(base, "set.json")))
    docs = _read_jsonl(os.path.join(base, "docs.jsonl" + gz))
    qs = _read_jsonl(os.path.join(base, "questions.jsonl" + gz))
    lim = TRAIN_DOC_LIMIT.get(name)
    if lim and len(docs) > lim:
        rng = random.Random(1234)
        docs = sorted(rng.sample(docs, lim), key=lambda d: d["id"])
        keep = {d["id"] for d in docs}
        qs = [q for q in qs if q["doc_id"] in keep]
    ds = Dataset(name, meta["scope"], docs, qs)
    ds.doc_index = {d["id"]: i for i, d in enumerate(docs)}
    cpath = os.path.join(CACHE, f"{name}.sents.json")
    if os.path.exists(cpath):
        tab = json.load(open(cpath))
    else:
        tab = []
        for di, d in enumerate(docs):
            for p, (s, e) in enumerate(split_sentences(d["text"])):
                tab.append((di, s, e, p))
        json.dump(tab, open(cpath, "w"))
    arr = np.array(tab, dtype=np.int32).reshape(-1, 4)
    ds.s_doc, ds.s_start, ds.s_end, ds.s_pos = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
    ds.s_text = [docs[d]["text"][s:e] for d, s, e in zip(ds.s_doc, ds.s_start, ds.s_end)]
    nd = len(docs)
    ds.doc_n = np.bincount(ds.s_doc, minlength=nd).astype(np.int32)
    ds.doc_first = np.concatenate([[0], np.cumsum(ds.doc_n)[:-1]]).astype(np.int32)
    # drop questions whose doc has no sentences or no gold
    ds.questions = [q for q in ds.questions if q["doc_id"] in ds.doc_index and q["gold"]]
    return ds


_model = None


MODEL_ID = "all-MiniLM-L6-v2@d169a77c9aed"  # index.embedding.weights_id of the packaged model
# The engine's own encoder on the engine's backend, so fitting sees the vectors serving will.
BACKEND = os.environ.get("NEWSQA_ENCODER_BACKEND", "onnx-int8")


def model():
    global _model
    if _model is None:
        from index.embedding import load_encoder, weights_id

        _model = load_encoder(backend=BACKEND)
        assert weights_id(_model.model_id) == MODEL_ID, _model.model_id
    return _model


def _cache_path(key: str) -> str:
    return os.path.join(CACHE, f"{BACKEND}.{key}.npy")


def _save(path: str, a: np.ndarray) -> None:
    """Atomically: two fits started at once must not leave a torn cache file."""
    temp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(temp, a)
    os.replace(temp, path)


def cached_encode(key: str, texts: list[str]) -> np.ndarray:
    path = _cache_path(key)
    if os.path.exists(path):
        a = np.load(path)
        assert len(a) == len(texts), (key, len(a), len(texts))
        return a
    import time

    t = time.time()
    a = model().encode(texts).astype(np.float32)
    _save(path, a)
    print(f"encoded {key}: {len(texts)} in {time.time() - t:.0f}s", flush=True)
    return a


def _sentences_and_clauses(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Sentence vectors and the clause vectors of the long ones, from one pass as the engine
    makes them (index.embedding's encode_with_spans), cached."""
    from index.clauses import clauses
    from index.embedding import SENTENCE_SHARE

    spath = _cache_path(f"{ds.name}.sent")
    cpath = _cache_path(f"{ds.name}.clauses-{SENTENCE_SHARE}")
    if os.path.exists(spath) and os.path.exists(cpath):
        S, CL = np.load(spath), np.load(cpath)
        assert len(S) == len(ds.s_text), (ds.name, len(S), len(ds.s_text))
        return S, CL
    import time

    t = time.time()
    spans = [clauses(text) for text in ds.s_text]
    S, pooled = model().encode_with_spans(ds.s_text, spans)
    CL = np.concatenate([p for p in pooled if p is not None] or [np.zeros((0, S.shape[1]))])
    _save(spath, S.astype(np.float32))
    _save(cpath, CL.astype(np.float32))
    print(
        f"encoded {ds.name}: {len(S)} sentences, {len(CL)} clauses in {time.time() - t:.0f}s",
        flush=True,
    )
    return S, CL


def embeddings(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sentence, question, title embeddings."""
    S, _ = _sentences_and_clauses(ds)
    Q = cached_encode(f"{ds.name}.q", [q["question"] for q in ds.questions])
    T = cached_encode(f"{ds.name}.title", [d.get("title") or "" for d in ds.docs])
    return S, Q, T


ALL_EVAL = ["squad", "coqa-cnn", "trecqa"]
ALL_TRAIN = ["squad-train", "coqa-wiki-lit", "trecqa-train", "selqa"]


def clause_vectors(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The engine's clause vectors of the set's long sentences: (sentence index per clause, vectors)."""
    from index.clauses import clauses

    owner = [i for i, text in enumerate(ds.s_text) for _ in clauses(text)]
    _, CL = _sentences_and_clauses(ds)
    assert len(CL) == len(owner), (ds.name, len(CL), len(owner))
    return np.array(owner, dtype=np.int64), CL
