"""Finding the sentences that answer a question.

Dense search over context vectors and BM25 each propose candidates; a ranker fitted on the
public training sets (qa/ranker.py, fitted by qa/fitting) orders them from cheap features and
decides whether anything answers at all. In a conversation the previous question and the
engine's own previous answer are features too.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from index.catalog import Sentence
from index.embedding import Vectors, weights_id
from index.reader import IndexReader
from index.vectors import ContextWeights
from qa.conversations import Conversation
from qa.fusion import ACROSS_LANGUAGES, FusionRanker
from qa.language import is_english
from qa.question import content_words, is_short_follow_up, normalise
from qa.ranker import Candidate, ConversationState, Ranker, Turn, stem

CANDIDATES = 50
_WORD = re.compile(r"\w+")
# How much of the previous question a follow-up across the corpus carries (not fitted).
FOLLOW_UP_WEIGHT = 0.5
# Fitted artifacts, one folder per embedding model (qa.fitting writes them): the ranker.json,
# adapter.npz and atype.npz of the model an index was built with are the ones it is served with.
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL_KEY = "all_minilm_l6_v2"  # the packaged model's folder
DEFAULT_RANKER = DATA_DIR / DEFAULT_MODEL_KEY / "ranker.json"


@dataclass(frozen=True, slots=True)
class Ranked:
    """Sentence ids best first, their scores in [0, 1], and whether nothing answers."""

    ids: list[int]
    scores: list[float]
    abstain: bool


@dataclass(frozen=True, slots=True)
class Candidates:
    """The sentences a question is ranked over, with the ranker's view of each."""

    ids: list[int]
    sentences: list[Sentence]
    items: list[Candidate]
    mode: str
    state: ConversationState | None


def load_ranker(path: Path | None = None) -> Ranker:
    """The fitted ranker shipped with newsqa for the packaged model (or another artifact)."""
    return Ranker.load(str(path or DEFAULT_RANKER))


def model_key(model_id: str) -> str:
    """The artifact folder's name for a model: its name without backend or fingerprint,
    lowercased, with anything but letters and digits as "_" ("all-MiniLM-L6-v2@d169a77c9aed+onnx"
    -> "all_minilm_l6_v2")."""
    name = weights_id(model_id).split("@", 1)[0]
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "model"


def ranker_path(model_id: str, root: Path = DATA_DIR) -> Path:
    """Where the ranker fitted on a model's vectors lives (it may not exist)."""
    return root / model_key(model_id) / "ranker.json"


def load_ranker_for(model_id: str, root: Path = DATA_DIR) -> Ranker:
    """The ranker fitted on this model's vectors, else the packaged model's (whose adapter and
    answer-type probes the retriever then leaves out)."""
    path = ranker_path(model_id, root)
    if path.is_file():
        ranker = Ranker.load(str(path))
        if ranker.params.get("model") == weights_id(model_id):
            return ranker
    return load_ranker()


def context_weights(ranker: Ranker) -> ContextWeights:
    """The context the ranker was fitted with; the index must be built with the same."""
    return ContextWeights(title=ranker.ctx_title, neighbour=ranker.ctx_nb)


def _mentioned(words: list[str], sentences: list[Sentence]) -> bool:
    """Whether every word (by its stem) occurs in the sentences."""
    wanted = {stem(word) for word in words}
    if not wanted:
        return True
    seen = {stem(token) for s in sentences for token in _WORD.findall(s.text.lower())}
    return wanted <= seen


class _QuestionCache:
    """Recent question vectors: a follow-up re-reads the previous question's vector."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[str, Vectors] = OrderedDict()

    def get(self, text: str) -> Vectors | None:
        vector = self._items.get(text)
        if vector is not None:
            self._items.move_to_end(text)
        return vector

    def put(self, text: str, vector: Vectors) -> None:
        self._items[text] = vector
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class Retriever:
    """Candidates from dense and lexical search, ordered by the fitted ranker."""

    def __init__(
        self, index: IndexReader, ranker: Ranker | None = None, artifacts: Path = DATA_DIR
    ) -> None:
        """Without a ranker, the one fitted on the index's model (in `artifacts`) is loaded
        once the model is known (the packaged model's until then)."""
        self._index = index
        self._artifacts = artifacts
        self._choose = ranker is None
        self.ranker = ranker or load_ranker()
        self._fitted_model: bool | None = None
        self._check_context()
        self._cache = _QuestionCache()
        # for questions the fitted ranker's English features cannot read, and for a model
        # without a fitted ranker
        self._fusion = FusionRanker(self.ranker, ACROSS_LANGUAGES)

    def _check_context(self) -> None:
        if context_weights(self.ranker) != self._index.context:
            raise ValueError(
                f"the ranker was fitted on context {context_weights(self.ranker)}, "
                f"the index uses {self._index.context}"
            )

    @property
    def fitted_model(self) -> bool:
        """Whether the index's model is the one the ranker was fitted on; with any other model
        the adapter and the answer-type probes are left out, and for a model trained with
        query/passage roles (E5) the trees too (qa.fusion ranks). Known once needed."""
        if self._fitted_model is None:
            model_id = self._index.encoder.model_id
            model = weights_id(model_id)  # any backend of the same weights
            if self._choose and self.ranker.params.get("model") != model:
                self.ranker = load_ranker_for(model_id, self._artifacts)
                self._check_context()
            self._fitted_model = self.ranker.params.get("model") == model
            if not self._fitted_model:
                self.ranker = (
                    # e5-small without its own artifacts: MiniLM's trees read its cosines on
                    # the wrong scale (over the samples they miss the Budapest sentence)
                    FusionRanker(self.ranker)
                    if getattr(self._index.encoder, "roles", None)
                    # a local folder (a copy or a fine-tune of MiniLM, as a rule): the trees and
                    # the abstention stay, without the adapter and the answer-type probes
                    else self.ranker.for_other_model()
                )
        return self._fitted_model

    def question_vector(self, question: str) -> Vectors:
        """The adapted, unit-length vector of a question."""
        cached = self._cache.get(question)
        if cached is None:
            encoder = self._index.encoder
            cached = encoder.encode_queries([question])[0]
            if self.fitted_model:
                cached = np.asarray(self.ranker.adapt_query(cached), dtype=np.float32)
            self._cache.put(question, cached)
        return cached

    def _in_focus(self, question: str, history: Conversation | None) -> str | None:
        """For a short follow-up ("when?", "and who?"): the article the conversation's latest
        answer came from. A question that stands on its own, or one asked before anything was
        answered, has none."""
        if history is None or not is_short_follow_up(question):
            return None
        answered = [turn for turn in history.turns if turn.ranked and not turn.abstained]
        if not answered:
            return None
        turn = answered[-1]
        top = self._index.sentences(turn.ranked[:1]).get(turn.ranked[0])
        return top.article_id if top is not None else None

    def _mode(self, article_id: str | None, history: Conversation | None) -> str:
        # The conversation model learned to walk through one article (CoQA); across a corpus a
        # follow-up is asked together with the question before it instead.
        if article_id is None:
            return "corpus"
        return "conversation" if history is not None else "article"

    def _state(self, history: Conversation | None) -> ConversationState | None:
        """What the ranker needs of earlier turns: questions and the engine's own top answers."""
        if history is None:
            return None
        state = ConversationState()
        # The conversation model was fitted on the engine's own top sentence of every turn,
        # shown or not, so an abstained turn's closest sentence stays its top.
        tops = [turn.ranked[0] for turn in history.turns if turn.ranked]
        found = self._index.sentences(tops)
        present = [i for i in tops if i in found]
        vectors = dict(zip(present, self._index.sentence_vectors(present), strict=True))
        for turn in history.turns:
            top = found.get(turn.ranked[0]) if turn.ranked else None
            state.turns.append(
                Turn(
                    question=normalise(turn.question),
                    q_vec=self.question_vector(normalise(turn.question)),
                    answer_doc=top.article_id if top else None,
                    answer_pos=top.position if top else None,
                    answer_vec=vectors.get(top.id) if top else None,
                )
            )
        return state

    def candidates(
        self,
        question: str,
        article_id: str | None,
        history: Conversation | None = None,
        *,
        articles: Sequence[str] | None = None,
        within: str | None = None,
    ) -> Candidates:
        """Everything the ranker sees for a question: candidates, mode and earlier turns.
        The question is taken as normalised (qa.question.normalise). `within` keeps a question
        asked across the corpus to one article (a follow-up about the previous answer's)."""
        query = self.question_vector(question)
        lexical_text = question
        last = history.last if history is not None else None
        if article_id is None and last is not None:
            previous = normalise(last.question)
            combined = query + FOLLOW_UP_WEIGHT * self.question_vector(previous)
            query = np.asarray(combined / np.linalg.norm(combined), dtype=np.float32)
            lexical_text = f"{question} {previous}"
        scope = article_id if article_id is not None else within
        # a filter (source, dates) narrows the search itself, not its results
        dense = self._index.search_dense(query, CANDIDATES, scope, articles=articles)
        lexical = self._index.search_lexical(lexical_text, CANDIDATES, scope, articles=articles)
        ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))
        found = self._index.sentences(ids)
        ids = [i for i in ids if i in found]
        mode = self._mode(article_id, history)
        return Candidates(
            ids=ids,
            sentences=[found[i] for i in ids],
            items=self._candidates(query, ids, found, dense, lexical) if ids else [],
            mode=mode,
            # Only the conversation model reads earlier turns; elsewhere they cost lookups.
            state=self._state(history) if mode == "conversation" else None,
        )

    def rank(
        self,
        question: str,
        article_id: str | None,
        history: Conversation | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> Ranked:
        """Rank the sentences in scope (one article, or `articles`) for a question.

        The question is normalised first, so that courtesy, numbering, case of the first letter
        and punctuation around it change neither the ranking nor the decision. A short
        follow-up in a conversation is asked about the article in focus, or else the one the
        previous answer came from, and answered from it like the question it follows.
        """
        question = normalise(question)
        focus = self._in_focus(question, history)
        if focus is not None:
            found = self.candidates(question, article_id, history, articles=articles, within=focus)
            # The article in focus answered the conversation's question, so a follow-up about
            # it is answered from it, unless it names something the article never mentions.
            if found.ids and _mentioned(content_words(question), found.sentences):
                return self._rank(question, found, abstain=False)
        found = self.candidates(question, article_id, history, articles=articles)
        return self._rank(question, found, abstain=None)

    def _rank(self, question: str, found: Candidates, abstain: bool | None) -> Ranked:
        """Order candidates; abstain=None: decide whether anything among them answers."""
        if not found.ids:
            return Ranked([], [], abstain=True)
        ranker = self.ranker if is_english(question) else self._fusion
        scores = ranker.score(question, found.items, found.mode, found.state)
        order = np.argsort(-scores, kind="stable")
        if ranker is self.ranker and not is_english(found.items[order[0]].text):
            # an English question whose best sentence is in another language (an article in
            # French): the English features share no words with it and would abstain. 4 of
            # the eval sets' 7,829 English sentences are named another language.
            ranker = self._fusion
            scores = ranker.score(question, found.items, found.mode, found.state)
            order = np.argsort(-scores, kind="stable")
        if abstain is None:
            abstain = self._abstains(question, found, scores, ranker)
        probability = ranker.probability(scores, found.mode)
        return Ranked(
            ids=[found.ids[i] for i in order],
            scores=[float(probability[i]) for i in order],
            abstain=abstain,
        )

    def _abstains(
        self, question: str, found: Candidates, scores: np.ndarray, ranker: Ranker
    ) -> bool:
        """Whether nothing in scope answers. An article the user chose may still say nothing
        about the question: within one article (and in a conversation over it) a model fitted
        for that scope decides on the mode's own scores; a ranker without one judges by the
        corpus model's scores, which the corpus abstention model was fitted on."""
        counts = self.term_counts(question, found)
        if found.mode != "corpus" and ranker.abstains_in_scope:
            return ranker.should_abstain_in_scope(
                question, scores, found.items, found.mode, counts, found.state
            )
        corpus_scores = (
            scores
            if found.mode == "corpus"
            else ranker.score(question, found.items, "corpus", None)
        )
        return ranker.should_abstain(question, corpus_scores, found.items, "corpus", counts)

    def term_counts(self, question: str, found: Candidates) -> dict[str, int]:
        """How many sentences in scope hold each of the question's words. Within one article,
        a word the article never uses says as much as a word the corpus never uses; the
        candidates stand for the article (its lexical hits are among them)."""
        if found.mode == "corpus":
            return self._index.term_counts(question)
        words = [{w for w in _WORD.findall(s.text.lower())} for s in found.sentences]
        return {
            term: sum(term in held for held in words)
            for term in self._index.lexical_terms(question)
        }

    def _candidates(
        self,
        query: Vectors,
        ids: list[int],
        found: dict[int, Sentence],
        dense: list[tuple[int, float]],
        lexical: list[tuple[int, float]],
    ) -> list[Candidate]:
        sentences = [found[i] for i in ids]
        neighbours = {
            n for s in sentences for n in (s.before_id, s.after_id) if n is not None
        } - set(ids)
        own_ids = ids + sorted(neighbours)
        own_vectors = self._index.sentence_vectors(own_ids)
        own = dict(zip(own_ids, own_vectors @ query, strict=True))
        raw_vectors = dict(zip(ids, own_vectors[: len(ids)], strict=True))
        context = dict(
            zip(ids, self._index.sentence_vectors(ids, context=True) @ query, strict=True)
        )
        titles = self._index.title_vectors([s.article_id for s in sentences])
        clause_vectors = self._index.clause_vectors(ids)
        dense_rank = {i: r for r, (i, _) in enumerate(dense)}
        lexical_rank = {i: r for r, (i, _) in enumerate(lexical)}
        bm25 = dict(lexical)
        return [
            Candidate(
                text=s.text,
                doc_id=s.article_id,
                position=s.position,
                n_sentences=s.article_sentences,
                dense=float(context[s.id]),
                dense_raw=float(own[s.id]),
                title_cos=float(titles[s.article_id] @ query) if s.article_id in titles else 0.0,
                prev_cos=float(own[s.before_id]) if s.before_id is not None else None,
                next_cos=float(own[s.after_id]) if s.after_id is not None else None,
                bm25=bm25.get(s.id),
                dense_rank=dense_rank.get(s.id),
                bm25_rank=lexical_rank.get(s.id),
                prev_text=s.before or "",
                next_text=s.after or "",
                vec=raw_vectors[s.id],
                clause_cos=float((clause_vectors[s.id] @ query).max())
                if s.id in clause_vectors
                else None,
                clause_vecs=clause_vectors.get(s.id),
            )
            for s in sentences
        ]
