"""Retrieval with a model other than the one the ranker's vector models were fitted on."""

from __future__ import annotations

from pathlib import Path

from index.articles import Article
from index.store import NewsIndex
from qa.retrieval import Retriever, load_ranker
from tests.fakes import FakeEncoder


def test_another_model_ranks_without_the_fitted_vector_models_and_leaves_the_ranker_given(
    tmp_path: Path, fake_encoder: FakeEncoder
) -> None:
    index = NewsIndex(tmp_path, fake_encoder)
    index.ingest(
        [
            Article(
                id="vienna",
                title="Talks",
                text="The ministers will meet in Vienna on Monday. Talks are expected to last.",
            )
        ]
    )
    shared = load_ranker()
    retriever = Retriever(index, shared)
    ranked = retriever.rank("Where will the ministers meet?", None)
    assert index.sentences(ranked.ids[:1])[ranked.ids[0]].text.startswith("The ministers")
    assert not retriever.fitted_model
    assert retriever.ranker.adapter is None and retriever.ranker.atype is None
    assert shared.adapter is not None and shared.atype is not None, "the shared ranker is intact"
