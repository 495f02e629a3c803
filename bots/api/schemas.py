"""Request and response bodies of the HTTP API (the answer object itself is qa.models.AnswerSet)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.records import MAX_ID_LENGTH
from qa.service import DEFAULT_K, MAX_K, MAX_QUESTION_CHARS

CONVERSATION_ID_PATTERN = r"^[A-Za-z0-9_.:\-]{1,100}$"


class Problem(BaseModel):
    """An error the client can act on."""

    detail: str


class AskRequest(BaseModel):
    """A question, optionally a follow-up in a conversation or about one article."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")
    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K, description="How many sentences.")
    article_id: str | None = Field(
        default=None, min_length=1, max_length=MAX_ID_LENGTH, description="Only this article."
    )
    conversation_id: str | None = Field(
        default=None,
        pattern=CONVERSATION_ID_PATTERN,
        description="A follow-up in this conversation: an id this API gave out earlier (any "
        "other id is refused with 404).",
    )
    start_conversation: bool = Field(
        default=False,
        description="Start a conversation (its id is in the answer) so that follow-ups can "
        "build on this question; without it nothing is stored.",
    )
    include_closest: bool = Field(
        default=False, description="Show the closest sentences even when abstaining."
    )
    source: str | None = Field(
        default=None, min_length=1, max_length=200, description="Only articles from this source."
    )
    since: date | datetime | None = Field(
        default=None, description="Only articles published on or after this date (2025-10-01)."
    )
    until: date | datetime | None = Field(
        default=None, description="Only articles published on or before this date."
    )


class MoreRequest(BaseModel):
    """How many more answers to the conversation's last question."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=DEFAULT_K, ge=1, le=MAX_K)


class FocusRequest(BaseModel):
    """The article a conversation keeps asking about; null asks about everything again."""

    model_config = ConfigDict(extra="forbid")

    article_id: str | None = Field(min_length=1, max_length=MAX_ID_LENGTH)


class FocusOut(BaseModel):
    """A conversation's focus."""

    conversation_id: str
    article_id: str | None


class ArticleIn(BaseModel):
    """One article to ingest; without an id, one is made from its content."""

    id: str | None = Field(default=None, max_length=MAX_ID_LENGTH)
    title: str
    text: str
    source: str | None = None
    url: str | None = None
    published: str | None = Field(default=None, description="ISO 8601 date, for ordering.")


class ArticleSummary(BaseModel):
    """An article's metadata."""

    id: str
    title: str
    source: str | None
    url: str | None
    published: str | None
    published_at: str | None = Field(default=None, description="`published` as ISO 8601 UTC.")
    ingested_at: float
    sentences: int


class ArticlePage(BaseModel):
    """A page of articles, newest first."""

    total: int
    offset: int
    limit: int
    items: list[ArticleSummary]


class SentenceOut(BaseModel):
    """A sentence of an article and its place in the text."""

    id: int
    position: int
    start: int
    end: int
    text: str


class ArticleDetail(BaseModel):
    """An article with its text and sentences."""

    id: str
    title: str
    text: str
    source: str | None
    url: str | None
    published: str | None
    sentences: list[SentenceOut]


class SkippedOut(BaseModel):
    """An input that was not ingested, and why."""

    where: str
    reason: str


class IngestOut(BaseModel):
    """What an ingest took in and what it skipped."""

    added: list[str]
    replaced: list[str]
    unchanged: list[str]
    sentences: int = Field(description="Sentences embedded by this ingest.")
    skipped: list[SkippedOut]


class RemovedOut(BaseModel):
    """An article that was removed."""

    id: str
    sentences: int


class StatsOut(BaseModel):
    """Counts of what the index holds."""

    articles: int
    sentences: int
    vectors: int
    generation: int
    model: str | None


class JobOut(BaseModel):
    """A rebuild job's progress and outcome."""

    id: str
    kind: Literal["rebuild"] = "rebuild"
    status: Literal["running", "succeeded", "failed"]
    stage: str | None = None
    done: int = 0
    total: int = 0
    created_at: float
    finished_at: float | None = None
    error: str | None = None
    result: StatsOut | None = None


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "degraded", "loading", "failed"] = Field(
        description="degraded: questions are answered but nothing can be written (see detail)"
    )
    detail: str | None = None
