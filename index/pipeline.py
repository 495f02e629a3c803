"""Ingest's front half: split articles into sentences, embed sentences, clauses and titles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from index import quantize
from index.articles import Article
from index.clauses import clauses
from index.embedding import Encoder, Vectors
from index.splitter import Span, split_sentences, trailing_chrome
from index.vectors import ContextWeights

Progress = Callable[[str, int, int], None]
# Texts and, for each, the [start, end) spans of its clauses.
Group = tuple[list[str], list[list[tuple[int, int]]]]


def no_progress(stage: str, done: int, total: int) -> None:
    """A progress callback that says nothing."""
    return None


@dataclass(frozen=True, slots=True)
class Embedded:
    """Vectors of whole articles' sentences, in reading order, article after article."""

    raw: Vectors
    context: Vectors
    titles: dict[str, bytes]
    clauses: list[bytes | None]  # per sentence: its clauses' vectors, None for a single clause


class Work(Protocol):
    """Where splitting and embedding run: in this process, or spread over a cluster
    (index.ray_work). Both must give the same spans and the same vectors."""

    def split_all(self, articles: Sequence[Article]) -> list[list[Span]]:
        """Each article's sentences, as `split` gives them."""
        ...

    def embed_groups(
        self, encoder: Encoder, groups: Sequence[Group], progress: Progress
    ) -> list[tuple[Vectors, list[Vectors | None]]]:
        """What `embed` gives for each group of texts, batch for batch (progress counts the
        first group's texts)."""
        ...


class LocalWork:
    """Splitting and embedding in this process."""

    def split_all(self, articles: Sequence[Article]) -> list[list[Span]]:
        """Each article's sentences."""
        return [split(article) for article in articles]

    def embed_groups(
        self, encoder: Encoder, groups: Sequence[Group], progress: Progress
    ) -> list[tuple[Vectors, list[Vectors | None]]]:
        """Vectors of each group's texts and of their clauses, here."""
        return [
            embed(encoder, texts, spans, progress if number == 0 else no_progress)
            for number, (texts, spans) in enumerate(groups)
        ]


LOCAL = LocalWork()


def split(article: Article) -> list[Span]:
    """An article's sentences, without the site chrome trailing it."""
    spans = split_sentences(article.text)
    chrome = trailing_chrome(article.text, spans)
    return [span for i, span in enumerate(spans) if i not in chrome]


def vectors_for(
    encoder: Encoder,
    weights: ContextWeights,
    articles: Sequence[tuple[Article, list[str]]],
    progress: Progress,
    work: Work = LOCAL,
) -> Embedded:
    """Sentence, clause, context and title vectors of whole articles (sentences in reading
    order)."""
    texts = [text for _, sentences in articles for text in sentences]
    spans = [clauses(text) for text in texts]
    titles = [article.title for article, _ in articles]
    # Clause vectors are pooled from the sentence's own forward pass: no text is encoded twice.
    # Titles are cut into the batches `encoder.encode` would make (sorted by length, BATCH a
    # multiple of the encoder's batch), so that a cluster can encode them beside the sentences.
    (raw, clause_vectors), (title_vectors, _) = work.embed_groups(
        encoder, [(texts, spans), (titles, [[] for _ in titles])], progress
    )
    # 8 bits: a clause vector only ever feeds a cosine; a quarter of float32's size
    clause_blobs = [None if v is None else quantize.to_bytes(v) for v in clause_vectors]
    context = np.empty_like(raw)
    first = 0
    for (_, sentences), title in zip(articles, title_vectors, strict=True):
        last = first + len(sentences)
        context[first:last] = weights.apply(raw[first:last], title)
        first = last
    return Embedded(
        raw=raw,
        context=context,
        titles={
            article.id: title.astype(np.float32).tobytes()
            for (article, _), title in zip(articles, title_vectors, strict=True)
        },
        clauses=clause_blobs,
    )


def embed(
    encoder: Encoder, texts: list[str], spans: list[list[tuple[int, int]]], progress: Progress
) -> tuple[Vectors, list[Vectors | None]]:
    """Vectors of texts and of their clauses' spans (one pass), in their order. They are
    encoded shortest first, so that each batch pads little."""
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    pooled: list[Vectors | None] = [None] * len(texts)
    for first, chunk in enumerate(batches(texts)):
        vectors, parts = encoder.encode_with_spans(
            [texts[i] for i in chunk], [spans[i] for i in chunk]
        )
        out[chunk] = vectors
        for i, part in zip(chunk, parts, strict=True):
            pooled[i] = part
        progress("embedding", min((first + 1) * BATCH, len(texts)), len(texts))
    return out, pooled


# Texts per call to the encoder. A batch's vectors depend a little on which texts share it
# (padding, int8 activation scales), so every Work must cut the same batches.
BATCH = 256


def batches(texts: Sequence[str]) -> list[list[int]]:
    """The indices of texts cut into the batches `embed` encodes, shortest texts first."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[first : first + BATCH] for first in range(0, len(texts), BATCH)]
