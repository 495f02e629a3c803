"""The one object every way in talks to: ask questions, keep conversations, manage articles."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
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
from index.pipeline import LOCAL, Work
from index.store import ArticleInfo, IngestReport, NewsIndex, Progress, Sentence, Stats
from qa.conversations import (
    ISSUED_ONLY,
    MAX_CONVERSATIONS,
    Conversation,
    Conversations,
    Owner,
    check_id,
)
from qa.errors import ConversationNotFoundError, InvalidQuestionError, is_disk_full
from qa.filters import Filters
from qa.models import Answer, AnswerSet, Context, OtherSource
from qa.retrieval import Ranked, Retriever

MAX_QUESTION_CHARS = 500
MAX_K = 20
DEFAULT_K = 3
NO_SUCH_CONVERSATION = "no such conversation (it may have expired); start a new one"
# "More answers" stops where the ranker's calibrated probability that a sentence answers the
# question falls below this (chosen, not fitted).
MORE_MIN_PROBABILITY = 0.05

log = logging.getLogger(__name__)


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
        max_conversations: int = MAX_CONVERSATIONS,
        max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
        other_sources: Callable[[Sequence[str]], Mapping[str, list[OtherSource]]] | None = None,
    ) -> None:
        self.index = index
        # other outlets' copies of a story (qa.web), shown with its answers
        self.other_sources = other_sources
        self.retriever = retriever or Retriever(index)
        self.conversations = Conversations(
            lambda: index.connection, conversation_idle_seconds, max_conversations
        )
        self.max_question_chars = max_question_chars
        self.max_k = max_k
        self.max_article_bytes = max_article_bytes

    # ---- questions ----------------------------------------------------------------------

    def _check(self, question: str, k: int) -> str:
        if not _is_text(question):
            raise InvalidQuestionError(
                "the question contains a character that is not text (a lone UTF-16 surrogate "
                "such as \\ud800); send plain UTF-8 text"
            )
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
        owner: Owner = Owner.LOCAL,
        source: str | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> AnswerSet:
        """The best k sentences for a question, or an abstention.

        With a conversation id the question is a follow-up in that conversation of this owner
        (for owners in ISSUED_ONLY it must be one the service started, else
        ConversationNotFoundError); with start_conversation and no id, a new conversation is
        started and its id returned. Without either, nothing is stored. `source`, `since` and
        `until` limit the articles searched (decided before the search, not after it).
        """
        question = self._check(question, k)
        filters = Filters.of(source, since, until)
        history: Conversation | None = None
        if conversation_id is not None:
            history = self._find(conversation_id, owner)
        elif start_conversation:
            history = Conversation(self.conversations.new_id())
        if history is not None and article_id is None:
            article_id = history.focus_article
        self._check_article(article_id)
        scope = self._scope(filters)
        if scope is not None and (
            not scope or (article_id is not None and article_id not in scope)
        ):
            ranked = Ranked([], [], abstain=True)
        else:
            ranked = self._newer_first(
                self.retriever.rank(question, article_id, history, articles=scope)
            )
        show = not ranked.abstain or include_closest
        answers = self._answers(ranked.ids[:k], ranked.scores[:k]) if show else []
        kept: str | None = None
        if history is not None and self._save_turn(
            history.id,
            question,
            article_id,
            ranked.ids,
            ranked.scores,
            len(answers),
            owner,
            abstained=ranked.abstain,
        ):
            kept = history.id
        elif history is not None and conversation_id is not None:
            kept = conversation_id  # an existing one that missed this turn is still there
        return AnswerSet(
            question=question,
            conversation_id=kept,
            abstained=ranked.abstain,
            answers=answers,
        )

    def _check_article(self, article_id: str | None) -> None:
        """ArticleNotFoundError unless the article exists (an id that is not text cannot)."""
        if article_id is not None and not (
            _is_text(article_id) and self.index.has_article(article_id)
        ):
            raise ArticleNotFoundError(f"no article with id {article_id!r}")

    def _find(self, conversation_id: str, owner: Owner) -> Conversation:
        """The owner's conversation; unknown ids are new ones unless the owner only gets ids
        the service issued."""
        found = self.conversations.find(check_id(conversation_id), owner)
        if found is not None:
            return found
        if owner in ISSUED_ONLY:
            raise ConversationNotFoundError(NO_SUCH_CONVERSATION)
        return Conversation(conversation_id)

    def _save_turn(
        self,
        conversation_id: str,
        question: str,
        article_id: str | None,
        ranked: list[int],
        scores: list[float],
        shown: int,
        owner: Owner,
        *,
        abstained: bool = False,
    ) -> bool:
        """Store a turn; on a full disk the answer still goes out and the turn is only logged."""
        try:
            self.conversations.record(
                conversation_id, question, article_id, ranked, scores, shown, owner, abstained
            )
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            log.warning("disk full: conversation turn not saved (%s)", exc)
            return False
        return True

    def more(
        self,
        conversation_id: str,
        k: int = DEFAULT_K,
        *,
        owner: Owner = Owner.LOCAL,
        include_closest: bool = False,
    ) -> AnswerSet:
        """The next k answers to the conversation's last question, or an abstention when
        nothing answered it or nothing more does (the next closest sentences on request)."""
        conversation = self._find(conversation_id, owner)
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
        try:
            self.conversations.mark_shown(conversation_id, last.turn, last.shown + len(ids), owner)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            log.warning("disk full: answers shown not saved (%s)", exc)
        return AnswerSet(
            question=last.question,
            conversation_id=conversation_id,
            abstained=abstained,
            answers=answers,
        )

    def _scope(self, filters: Filters) -> list[str] | None:
        """The ids of the articles the filters admit; None when nothing is filtered."""
        if not filters.active:
            return None
        return self.index.filter_articles(
            source=filters.source,
            since=None if filters.since is None else filters.since.timestamp(),
            until=None if filters.until is None else filters.until.timestamp(),
        )

    def _newer_first(self, ranked: Ranked) -> Ranked:
        """The same sentence in stories of different days matches them equally; the ranker's
        rank features still order such twins arbitrarily, so the newest story takes the best
        place among them."""
        if len(ranked.ids) < 2:
            return ranked
        found = self.index.sentences(ranked.ids)
        places: dict[str, list[int]] = {}
        for place, sentence_id in enumerate(ranked.ids):
            if sentence_id in found:
                text = " ".join(found[sentence_id].text.lower().split())
                places.setdefault(text, []).append(place)
        ids = list(ranked.ids)
        for group in places.values():
            if len(group) > 1:
                # ISO 8601 UTC strings order as their instants; undated ones go last
                members = sorted(
                    (ranked.ids[p] for p in group),
                    key=lambda i: found[i].published_at or "",
                    reverse=True,
                )
                for place, sentence_id in zip(group, members, strict=True):
                    ids[place] = sentence_id
        return Ranked(ids, ranked.scores, ranked.abstain)

    def _answers(self, ids: Sequence[int], scores: Sequence[float]) -> list[Answer]:
        found = self.index.sentences(ids)
        others: Mapping[str, list[OtherSource]] = {}
        if self.other_sources is not None and found:
            others = self.other_sources([s.article_id for s in found.values()])
        return [
            _answer(found[i], score, others.get(found[i].article_id, []))
            for i, score in zip(ids, scores, strict=True)
            if i in found
        ]

    def reset(self, conversation_id: str, *, owner: Owner = Owner.LOCAL) -> None:
        """Forget a conversation."""
        self._find(conversation_id, owner)
        self.conversations.reset(conversation_id, owner)

    def focus(
        self, conversation_id: str, article_id: str | None, *, owner: Owner = Owner.LOCAL
    ) -> None:
        """Keep a conversation on one article (None: on everything)."""
        self._find(conversation_id, owner)
        self._check_article(article_id)
        self.conversations.set_focus(conversation_id, article_id, owner)

    def conversation(self, conversation_id: str, *, owner: Owner = Owner.LOCAL) -> Conversation:
        """A conversation's focus and latest turns."""
        return self._find(conversation_id, owner)

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

    def ingest_read(
        self, read: ReadResult, progress: Progress = _no_progress, work: Work = LOCAL
    ) -> IngestOutcome:
        """Ingest what a reader found, carrying along what it skipped."""
        report = self.index.ingest(read.articles, progress, work)
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

    def rebuild(
        self, progress: Progress = _no_progress, *, wait: bool = True, work: Work = LOCAL
    ) -> Stats:
        """Re-embed everything into a fresh index and swap it in."""
        return self.index.rebuild(progress, wait=wait, work=work)

    def compact(self) -> int:
        """Merge the index's vector segments, dropping deleted sentences' vectors."""
        return self.index.compact()

    def stats(self) -> Stats:
        """Counts."""
        return self.index.stats()

    def articles(
        self, offset: int = 0, limit: int = 20, title: str | None = None
    ) -> tuple[list[ArticleInfo], int]:
        """A page of articles, newest first; with `title`, those whose title contains it."""
        return self.index.articles(offset, limit, title)

    def article(self, article_id: str) -> tuple[Article, list[Sentence]]:
        """An article and its sentences."""
        return self.index.article(article_id)


def _is_text(value: str) -> bool:
    """False for strings holding lone surrogates (JSON's "\\ud800"), which no encoder,
    tokenizer or database takes."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _answer(sentence: Sentence, score: float, also_in: list[OtherSource]) -> Answer:
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
        also_in=also_in,
    )
