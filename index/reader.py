"""What answering needs of an index: the read interface any backend can stand behind."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from index.catalog import Sentence
from index.embedding import Encoder, Vectors
from index.vectors import ContextWeights


class IndexReader(Protocol):
    """Dense and lexical search, stored sentences, their vectors and word statistics.

    `NewsIndex` is one; the retriever and the fitting code need nothing else.
    """

    @property
    def context(self) -> ContextWeights:
        """The title and neighbour weights the searched vectors were built with."""
        ...

    @property
    def encoder(self) -> Encoder:
        """The model that embeds questions the same way as the stored sentences."""
        ...

    def search_dense(
        self,
        query: Vectors,
        k: int,
        article_id: str | None = None,
        allowed: Collection[int] | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Sentence ids and cosine similarities of context vectors, best first."""
        ...

    def search_lexical(
        self,
        text: str,
        k: int,
        article_id: str | None = None,
        allowed: Collection[int] | None = None,
        *,
        articles: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Sentence ids and BM25 scores, best first."""
        ...

    def sentences(self, ids: Sequence[int]) -> dict[int, Sentence]:
        """Stored sentences with their article's metadata and neighbours."""
        ...

    def sentence_vectors(self, ids: Sequence[int], *, context: bool = False) -> Vectors:
        """Sentence vectors (or searched context vectors) in the order given."""
        ...

    def clause_vectors(self, ids: Sequence[int]) -> dict[int, Vectors]:
        """Clause vectors of those sentences that have several clauses."""
        ...

    def title_vectors(self, article_ids: Sequence[str]) -> dict[str, Vectors]:
        """Vectors of articles' titles."""
        ...

    def term_counts(self, text: str) -> dict[str, int]:
        """How many sentences contain each word lexical search would use."""
        ...

    def lexical_terms(self, text: str) -> list[str]:
        """The words of text lexical search would use."""
        ...

    def sentence_ids(self, article_id: str) -> list[int]:
        """An article's sentence ids in reading order."""
        ...
