"""Prometheus metrics of one app: requests and latencies, questions, index size."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from qa.models import AnswerSet
from qa.records import Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _IndexSize(Collector):
    """Reads the index's counts at scrape time, so they are never stale."""

    def __init__(self, stats: Callable[[], Stats | None]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        if stats is None:
            return
        articles = GaugeMetricFamily("newsqa_index_articles", "Articles in the index.")
        articles.add_metric([], stats.articles)
        sentences = GaugeMetricFamily("newsqa_index_sentences", "Sentences in the index.")
        sentences.add_metric([], stats.sentences)
        generation = GaugeMetricFamily(
            "newsqa_index_generation", "Generation of the index being served."
        )
        generation.add_metric([], stats.generation)
        yield from (articles, sentences, generation)


class Metrics:
    """Each app owns a registry, so several apps in one process (tests) never collide."""

    def __init__(self, stats: Callable[[], Stats | None]) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter(
            "newsqa_questions",
            "Questions asked, by outcome (answered or abstained).",
            ["outcome"],
            registry=self.registry,
        )
        for outcome in ("answered", "abstained"):
            self.questions.labels(outcome)
        self.registry.register(_IndexSize(stats))

    def observe(self, answer_set: AnswerSet) -> None:
        """Count a question by whether the engine answered it."""
        self.questions.labels("abstained" if answer_set.abstained else "answered").inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
