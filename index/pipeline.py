"""Ingest's front half: split articles into sentences, embed sentences, clauses and titles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

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
    clause_texts = [text[s:e] for text, cut in zip(texts, spans, strict=True) for s, e in cut]
    titles = [article.title for article, _ in articles]
    count = len(clause_texts) + len(titles) + len(texts)

    def in_sentences(stage: str, done: int, total: int) -> None:
        # Clauses and titles are embedded too; a reader counts sentences.
        progress(stage, done * len(texts) // max(count, 1), len(texts))

    everything = embed(encoder, texts + clause_texts + titles, in_sentences)
    raw = everything[: len(texts)]
    clause_vectors = everything[len(texts) : len(texts) + len(clause_texts)]
    title_vectors = everything[len(texts) + len(clause_texts) :]
    clause_blobs: list[bytes | None] = []
    first = 0
    for cut in spans:
        last = first + len(cut)
        # half precision: a clause vector only ever feeds a cosine, and it halves their size
        clause_blobs.append(
            clause_vectors[first:last].astype(np.float16).tobytes() if cut else None
        )
        first = last
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


def embed(encoder: Encoder, texts: list[str], progress: Progress) -> Vectors:
    """Vectors of texts, in their order. They are encoded shortest first, so that each
    batch pads little: sentences, clauses and titles differ a lot in length."""
    batch = 256
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for first in range(0, len(texts), batch):
        chunk = order[first : first + batch]
        out[chunk] = encoder.encode([texts[i] for i in chunk])
        progress("embedding", min(first + batch, len(texts)), len(texts))
    return out
