"""Speed and memory of ingest and questions, measured in process."""

from __future__ import annotations

import json
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from index.articles import read_paths
from qa.service import QAService


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Figures of one benchmark run."""

    articles: int
    sentences: int
    ingest_seconds: float
    questions: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    peak_rss_mb: float
    index_mb: float

    def lines(self) -> list[str]:
        """Human-readable figures."""
        rate = self.sentences / self.ingest_seconds if self.ingest_seconds else 0.0
        return [
            f"ingest: {self.articles} articles, {self.sentences} sentences in "
            f"{self.ingest_seconds:.1f} s = {rate:.0f} sentences/s "
            "(reading, splitting, embedding, storing)",
            f"questions: {self.questions} asked, latency p50 {self.p50_ms:.1f} ms, "
            f"p95 {self.p95_ms:.1f} ms, p99 {self.p99_ms:.1f} ms (in process, top 3)",
            f"memory: peak RSS {self.peak_rss_mb:.0f} MB; index on disk {self.index_mb:.1f} MB",
        ]


def _questions_near(paths: list[Path]) -> list[str]:
    found: list[str] = []
    for path in paths:
        candidate = path / "questions.jsonl" if path.is_dir() else None
        if candidate is not None and candidate.is_file():
            with candidate.open(encoding="utf-8") as handle:
                found.extend(json.loads(line)["question"] for line in handle if line.strip())
    return found


def _docs_of(path: Path) -> Path:
    """An evaluation-format folder's articles are its docs.jsonl."""
    docs = path / "docs.jsonl"
    return docs if path.is_dir() and docs.is_file() else path


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (1-99) of values, inclusive method."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def time_questions(service: QAService, questions: list[str]) -> list[float]:
    """Milliseconds for each question, after the first ten were asked once to warm up."""
    for question in questions[:10]:
        service.ask(question)
    latencies = []
    for question in questions:
        begun = time.perf_counter()
        service.ask(question)
        latencies.append((time.perf_counter() - begun) * 1000)
    return latencies


def run_bench(
    paths: list[Path],
    make_service: Callable[[Path], QAService],
    questions: list[str] | None = None,
    count: int = 300,
    seed: int = 7,
) -> BenchResult:
    """Ingest paths into a scratch index, then time questions against it.

    Questions come from the given list, or from questions.jsonl files in the given folders
    (the evaluation format), or else are made from stored sentences' words.
    """
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-") as scratch:
        service = make_service(Path(scratch))
        service.index.encoder.encode(["warm up"])
        started = time.perf_counter()
        read = read_paths([_docs_of(path) for path in paths])
        report = service.ingest(read.articles)
        ingest_seconds = time.perf_counter() - started
        pool = questions or _questions_near(paths)
        rng = random.Random(seed)
        if not pool:
            ids = [i for a in read.articles for i in service.index.sentence_ids(a.id)]
            texts = service.index.sentences(rng.sample(ids, min(count, len(ids))))
            pool = [" ".join(s.text.split()[:8]) + "?" for s in texts.values()]
        chosen = [rng.choice(pool) for _ in range(count)] if pool else []
        latencies = time_questions(service, chosen)
        index_bytes = sum(p.stat().st_size for p in Path(scratch).rglob("*") if p.is_file())
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return BenchResult(
        articles=len(read.articles),
        sentences=report.sentences,
        ingest_seconds=ingest_seconds,
        questions=len(latencies),
        p50_ms=percentile(latencies, 50) if len(latencies) > 1 else 0.0,
        p95_ms=percentile(latencies, 95) if len(latencies) > 1 else 0.0,
        p99_ms=percentile(latencies, 99) if len(latencies) > 1 else 0.0,
        peak_rss_mb=peak_kb / 1024,
        index_mb=index_bytes / 1e6,
    )
