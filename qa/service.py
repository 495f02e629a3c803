"""The one object every way in talks to: ask questions, keep conversations, manage articles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index.articles import (
    DEFAULT_MAX_ARTICLE_BYTES,
    Article,
    ReadResult,
    Skipped,
    content_id,
    read_paths,
    read_text_payload,
)
from index.errors import ArticleNotFoundError
from index.store import ArticleInfo, IngestReport, NewsIndex, Progress, Sentence, Stats
from qa.conversations import Conversation, Conversations, check_id
from qa.errors import InvalidQuestionError
from qa.models import Answer, AnswerSet, Context
from qa.retrieval import Retriever

MAX_QUESTION_CHARS = 500
MAX_K = 20
DEFAULT_K = 3
# "More answers" stops where the ranker's calibrated probability that a sentence answers the
# question falls below this.
MORE_MIN_PROBABILITY = 0.05


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What an ingest took in, what it had to skip, and warnings about what it took in."""

    report: IngestReport
    skipped: list[Skipped]
    warnings: list[Skipped] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # of the articles read, by id
    # ids of earlier copies known by their content, removed now: old id -> the article's id
    superseded: dict[str, str] = field(default_factory=dict)


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


class QAService:
    """Answers questions over a NewsIndex and keeps conversations beside it."""

    def __init__(
        self,
        index: NewsIndex,
        *,
        retriever: Retriever | None = None,
        conversation_idle_seconds: float = 86400.0,
        max_question_chars: int = MAX_QUESTION_CHARS,
        max_k: int = MAX_K,
        max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    ) -> None:
        self.index = index
        self.retriever = retriever or Retriever(index)
        self.conversations = Conversations(lambda: index.connection, conversation_idle_seconds)
        self.max_question_chars = max_question_chars
        self.max_k = max_k
        self.max_article_bytes = max_article_bytes

    # ---- questions ----------------------------------------------------------------------

    def _check(self, question: str, k: int) -> str:
        question = " ".join(question.split())
        if not question:
            raise InvalidQuestionError("the question is empty")
        if len(question) > self.max_question_chars:
            raise InvalidQuestionError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.max_question_chars}"
            )
        if not 1 <= k <= self.max_k:
            raise InvalidQuestionError(f"k must be between 1 and {self.max_k}")
        return question

    def ask(
        self,
        question: str,
        *,
        k: int = DEFAULT_K,
        article_id: str | None = None,
        conversation_id: str | None = None,
        start_conversation: bool = False,
        include_closest: bool = False,
    ) -> AnswerSet:
        """The best k sentences for a question, or an abstention.

        With a conversation id the question is a follow-up in that conversation; with
        start_conversation and no id, a new conversation is started and its id returned.
        """
        question = self._check(question, k)
        if conversation_id is not None:
            check_id(conversation_id)
        elif start_conversation:
            conversation_id = self.conversations.new_id()
        history: Conversation | None = None
        if conversation_id is not None:
            history = self.conversations.load(conversation_id)
            if article_id is None:
                article_id = history.focus_article
        if article_id is not None and not self.index.has_article(article_id):
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        ranked = self.retriever.rank(question, article_id, history)
        show = not ranked.abstain or include_closest
        answers = self._answers(ranked.ids[:k], ranked.scores[:k]) if show else []
        if conversation_id is not None:
            self.conversations.record(
                conversation_id,
                question,
                article_id,
                ranked.ids,
                ranked.scores,
                len(answers),
                abstained=ranked.abstain,
            )
        return AnswerSet(
            question=question,
            conversation_id=conversation_id,
            abstained=ranked.abstain,
            answers=answers,
        )

    def more(
        self, conversation_id: str, k: int = DEFAULT_K, *, include_closest: bool = False
    ) -> AnswerSet:
        """The next k answers to the conversation's last question, or an abstention when
        nothing answered it or nothing more does (the next closest sentences on request)."""
        conversation = self.conversations.load(check_id(conversation_id))
        last = conversation.last
        if last is None:
            raise InvalidQuestionError("there is no earlier question in this conversation")
        if not 1 <= k <= self.max_k:
            raise InvalidQuestionError(f"k must be between 1 and {self.max_k}")
        ids = last.ranked[last.shown : last.shown + k]
        scores = last.scores[last.shown : last.shown + k]
        # The ranking goes on past the sentences that answer: those below the floor do not.
        answering = 0 if last.abstained else sum(s >= MORE_MIN_PROBABILITY for s in scores)
        abstained = answering == 0
        if abstained and not include_closest:
            return AnswerSet(
                question=last.question, conversation_id=conversation_id, abstained=True
            )
        if not abstained:
            ids, scores = ids[:answering], scores[:answering]
        answers = self._answers(ids, scores)
        self.conversations.mark_shown(conversation_id, last.turn, last.shown + len(ids))
        return AnswerSet(
            question=last.question,
            conversation_id=conversation_id,
            abstained=abstained,
            answers=answers,
        )

    def _answers(self, ids: Sequence[int], scores: Sequence[float]) -> list[Answer]:
        found = self.index.sentences(ids)
        return [
            _answer(found[i], score) for i, score in zip(ids, scores, strict=True) if i in found
        ]

    def reset(self, conversation_id: str) -> None:
        """Forget a conversation."""
        self.conversations.reset(check_id(conversation_id))

    def focus(self, conversation_id: str, article_id: str | None) -> None:
        """Keep a conversation on one article (None: on everything)."""
        if article_id is not None and not self.index.has_article(article_id):
            raise ArticleNotFoundError(f"no article with id {article_id!r}")
        self.conversations.set_focus(check_id(conversation_id), article_id)

    def conversation(self, conversation_id: str) -> Conversation:
        """A conversation's focus and latest turns."""
        return self.conversations.load(check_id(conversation_id))

    def context(self, sentence_id: int) -> Sentence:
        """A sentence with its neighbours."""
        found = self.index.sentences([sentence_id])
        if sentence_id not in found:
            raise ArticleNotFoundError(f"no sentence with id {sentence_id}")
        return found[sentence_id]

    # ---- articles -----------------------------------------------------------------------

    def ingest(
        self, articles: Sequence[Article], progress: Progress = _no_progress
    ) -> IngestReport:
        """Add or replace articles."""
        return self.index.ingest(articles, progress)

    def ingest_read(self, read: ReadResult, progress: Progress = _no_progress) -> IngestOutcome:
        """Ingest what a reader found, carrying along what it skipped."""
        report = self.index.ingest(read.articles, progress)
        titles = {article.id: article.title for article in read.articles}
        superseded = self._drop_content_ids(read.articles)
        return IngestOutcome(report, read.skipped, read.warnings, titles, superseded)

    def _drop_content_ids(self, articles: Sequence[Article]) -> dict[str, str]:
        """Before files were known by their path, an article was known by a hash of its
        content: that copy goes once the same article is in under its stable id."""
        dropped: dict[str, str] = {}
        for article in articles:
            old = content_id(article.title, article.text)
            if old == article.id or not self.index.has_article(old):
                continue
            try:
                self.index.remove(old)
            except ArticleNotFoundError:  # another writer removed it first
                continue
            dropped[old] = article.id
        return dropped

    def ingest_paths(
        self, paths: Iterable[Path], progress: Progress = _no_progress
    ) -> IngestOutcome:
        """Ingest files and folders."""
        return self.ingest_read(read_paths(paths, max_bytes=self.max_article_bytes), progress)

    def ingest_upload(self, name: str, payload: bytes) -> IngestOutcome:
        """Ingest an uploaded file's bytes; its file name identifies its articles."""
        return self.ingest_read(read_text_payload(name, payload, max_bytes=self.max_article_bytes))

    def remove(self, article_id: str) -> int:
        """Remove an article."""
        return self.index.remove(article_id)

    def rebuild(self, progress: Progress = _no_progress, *, wait: bool = True) -> Stats:
        """Re-embed everything into a fresh index and swap it in."""
        return self.index.rebuild(progress, wait=wait)

    def stats(self) -> Stats:
        """Counts."""
        return self.index.stats()

    def articles(self, offset: int = 0, limit: int = 20) -> tuple[list[ArticleInfo], int]:
        """A page of articles, newest first."""
        return self.index.articles(offset, limit)

    def article(self, article_id: str) -> tuple[Article, list[Sentence]]:
        """An article and its sentences."""
        return self.index.article(article_id)


def _answer(sentence: Sentence, score: float) -> Answer:
    return Answer(
        article_id=sentence.article_id,
        title=sentence.title,
        source=sentence.source,
        url=sentence.url,
        published=sentence.published,
        published_at=sentence.published_at,
        sentence=sentence.text,
        start=sentence.start,
        end=sentence.end,
        score=round(score, 4),
        context=Context(before=sentence.before, after=sentence.after),
    )
