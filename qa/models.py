"""The answer object every way in (command line, HTTP, Telegram) returns."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Context(BaseModel):
    """The sentences around a quoted one."""

    before: str | None = None
    after: str | None = None


class OtherSource(BaseModel):
    """Another outlet that published the same story (a near-duplicate that was not indexed)."""

    title: str
    source: str | None = None
    url: str | None = None
    published: str | None = None


class Answer(BaseModel):
    """One quoted sentence and where it came from."""

    article_id: str
    title: str
    source: str | None = None
    url: str | None = None
    published: str | None = None
    published_at: str | None = Field(
        default=None, description="`published` as ISO 8601 in UTC; null when it is not a date."
    )
    sentence: str = Field(description="The sentence, quoted word for word from the article.")
    start: int | None = Field(description="Start of the sentence in the article text.")
    end: int | None = Field(description="End (exclusive) of the sentence in the article text.")
    score: float
    context: Context = Field(default_factory=Context)
    also_in: list[OtherSource] = Field(
        default_factory=list, description="Other outlets that published the same story."
    )


class AnswerSet(BaseModel):
    """The answer to one question: the best sentences, or an abstention."""

    question: str
    conversation_id: str | None = None
    abstained: bool = Field(
        default=False,
        description="True when nothing indexed answers the question; `answers` then holds the "
        "closest sentences only when they were asked for.",
    )
    answers: list[Answer] = Field(default_factory=list)
