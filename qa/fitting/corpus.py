"""A real index of training articles in a scratch folder, and which sentences answer what."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from index.articles import Article
from index.embedding import Encoder
from index.store import NewsIndex
from index.vectors import ContextWeights
from qa.fitting.sets import Question


class Corpus:
    """Training articles ingested into a NewsIndex, as `newsqa ingest` would store them."""

    def __init__(
        self,
        articles: Sequence[Article],
        encoder: Encoder,
        context: ContextWeights,
        scratch: Path | None = None,
    ) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="newsqa-fit-", dir=scratch))
        self.index = NewsIndex(self._folder / "index", encoder, context)
        self.index.ingest(list(articles))
        self._gold: dict[str, dict[tuple[int, int], frozenset[int]]] = {}

    def answers(self, question: Question) -> frozenset[int]:
        """Ids of the sentences of the question's article that overlap one of its answers."""
        spans = self._spans(question.doc_id)
        return frozenset(
            sid
            for (start, end), ids in spans.items()
            for sid in ids
            if any(start < g_end and g_start < end for g_start, g_end in question.gold)
        )

    def _spans(self, doc_id: str) -> dict[tuple[int, int], frozenset[int]]:
        known = self._gold.get(doc_id)
        if known is None:
            found = self.index.sentences(self.index.sentence_ids(doc_id))
            known = {(s.start, s.end): frozenset({s.id}) for s in found.values()}
            self._gold[doc_id] = known
        return known

    def close(self) -> None:
        """Remove the scratch index."""
        self.index.connection.close()
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> Corpus:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
