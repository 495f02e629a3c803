"""Ingest's front half: split articles into sentences, embed sentences, clauses and titles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from index import quantize
from index.articles import Article
from index.clauses import clauses
from index.embedding import Encoder, Vectors
from index.splitter import Span, split_sentences, trailing_chrome
from index.vectors import ContextWeights

Progress = Callable[[str, int, int], None]


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
) -> Embedded:
    """Sentence, clause, context and title vectors of whole articles (sentences in reading
    order)."""
    texts = [text for _, sentences in articles for text in sentences]
    spans = [clauses(text) for text in texts]
    # Clause vectors are pooled from the sentence's own forward pass: no text is encoded twice.
    raw, clause_vectors = embed(encoder, texts, spans, progress)
    title_vectors = encoder.encode([article.title for article, _ in articles])
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
    batch = 256
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    pooled: list[Vectors | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for first in range(0, len(texts), batch):
        chunk = order[first : first + batch]
        vectors, parts = encoder.encode_with_spans(
            [texts[i] for i in chunk], [spans[i] for i in chunk]
        )
        out[chunk] = vectors
        for i, part in zip(chunk, parts, strict=True):
            pooled[i] = part
        progress("embedding", min(first + batch, len(texts)), len(texts))
    return out, pooled
