"""The one object every way in talks to: ask questions, keep conversations, manage articles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.articles import Article, ReadResult, Skipped, read_paths, read_text_payload
from index.errors import ArticleNotFoundError
from index.store import ArticleInfo, IngestReport, NewsIndex, Progress, Sentence, Stats
from qa.conversations import Conversation, Conversations, check_id
from qa.errors import InvalidQuestionError
from qa.models import Answer, AnswerSet, Context
from qa.retrieval import Retriever

MAX_QUESTION_CHARS = 500
MAX_K = 20
DEFAULT_K = 3


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """What an ingest took in and what it had to skip."""

    report: IngestReport
    skipped: list[Skipped]


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
    ) -> None:
        self.index = index
        self.retriever = retriever or Retriever(index)
        self.conversations = Conversations(lambda: index.connection, conversation_idle_seconds)
        self.max_question_chars = max_question_chars
        self.max_k = max_k

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
                conversation_id, question, article_id, ranked.ids, ranked.scores, len(answers)
            )
        return AnswerSet(
            question=question,
            conversation_id=conversation_id,
            abstained=ranked.abstain,
            answers=answers,
        )

    def more(self, conversation_id: str, k: int = DEFAULT_K) -> AnswerSet:
        """The next k answers to the conversation's last question."""
        conversation = self.conversations.load(check_id(conversation_id))
        last = conversation.last
        if last is None:
            raise InvalidQuestionError("there is no earlier question in this conversation")
        if not 1 <= k <= self.max_k:
            raise InvalidQuestionError(f"k must be between 1 and {self.max_k}")
        ids = last.ranked[last.shown : last.shown + k]
        answers = self._answers(ids, last.scores[last.shown : last.shown + k])
        self.conversations.mark_shown(conversation_id, last.turn, last.shown + len(ids))
        return AnswerSet(question=last.question, conversation_id=conversation_id, answers=answers)

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
        return IngestOutcome(self.index.ingest(read.articles, progress), read.skipped)

    def ingest_paths(
        self, paths: Iterable[Path], progress: Progress = _no_progress
    ) -> IngestOutcome:
        """Ingest files and folders."""
        return self.ingest_read(read_paths(paths), progress)

    def ingest_upload(self, name: str, payload: bytes) -> IngestOutcome:
        """Ingest an uploaded file's bytes."""
        return self.ingest_read(read_text_payload(name, payload))

    def remove(self, article_id: str) -> int:
        """Remove an article."""
        return self.index.remove(article_id)

    def rebuild(self, progress: Progress = _no_progress, *, wait: bool = True) -> Stats:
        """Re-embed everything into a fresh index and swap it in."""
        return self.index.rebuild(progress, wait=wait)

    def compact(self) -> int:
        """Merge the index's vector segments, dropping deleted sentences' vectors."""
        return self.index.compact()

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
        sentence=sentence.text,
        start=sentence.start,
        end=sentence.end,
        score=round(score, 4),
        context=Context(before=sentence.before, after=sentence.after),
    )
