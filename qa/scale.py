"""`newsqa bench --scale N`: a reproducible index of N sentences, and what it costs to use.

The index is real where it can be and synthetic where embedding would take hours on 2 cores:

- real: the first articles of `../shared/train` (SQuAD train first) up to `real` sentences are
  ingested through the normal pipeline with the configured model (this is the ingest rate shown);
- synthetic: the rest are copies of every article of `../shared/train` in turn, text and sentence
  spans unchanged (so the lexical side grows with real words), under new ids, whose vectors are
  the real sentences' vectors (cycled) plus seeded Gaussian noise of standard deviation
  `NOISE` per dimension, re-normalised; titles likewise; clause vectors copied from the same real
  sentence, so the database grows as it would. They are stored in bulk as one segment.

The same N, `real` and seed give the same index, cached under the data directory. Each
measurement runs in a fresh process, so its peak memory is its own.
"""

from __future__ import annotations

import gzip
import json
import random
import resource
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from index import pipeline
from index.articles import Article, article_from_record
from index.embedding import Vectors
from index.splitter import Span
from index.store import NewsIndex
from qa.bench import percentile, time_questions
from qa.service import QAService

NOISE = 0.03
SEED = 7
REAL_SENTENCES = 2000
TRAIN_SETS = ("squad-train", "coqa-wiki-lit", "selqa", "trecqa-train")
BUILT = "built.json"


def folder_for(root: Path, n: int) -> Path:
    """Where the index of N sentences is cached."""
    return root / "bench" / f"scale-{n}"


def _records(train: Path, name: str) -> Iterator[dict[str, Any]]:
    path = train / name
    if not path.is_file():
        return
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _train_articles(train: Path) -> list[Article]:
    return [
        article_from_record(record, default_source=name)
        for name in TRAIN_SETS
        for record in _records(train, f"{name}/docs.jsonl.gz")
    ]


def _unit(rows: npt.NDArray[Any]) -> Vectors:
    out: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return out


def _real_part(
    root: Path,
    real: int,
    make_index: Callable[[Path], NewsIndex],
    articles: list[Article],
) -> tuple[Path, dict[str, Any]]:
    """The index of the real sentences, embedded once per size and model and shared by every
    scale (embedding is what takes time here)."""
    folder = root / "bench" / f"real-{real}"
    marker = folder / BUILT
    if marker.is_file():
        return folder / "index", dict(json.loads(marker.read_text()))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    index = make_index(folder / "index")
    chosen: list[Article] = []
    count = 0
    for article in articles:
        if count >= real:
            break
        chosen.append(article)
        count += len(pipeline.split(article))
    index.encoder.encode(["warm up"])
    started = time.perf_counter()
    report = index.ingest(chosen)
    built = {
        "articles": [a.id for a in chosen],
        "sentences": report.sentences,
        "seconds": time.perf_counter() - started,
        "model": index.encoder.model_id,
    }
    marker.write_text(json.dumps(built))
    return folder / "index", built


def build(
    root: Path,
    n: int,
    make_index: Callable[[Path], NewsIndex],
    train: Path,
    real: int = REAL_SENTENCES,
    seed: int = SEED,
) -> dict[str, Any]:
    """Build (or find cached) the index of n sentences; returns how it was built."""
    folder = folder_for(root, n)
    marker = folder / BUILT
    real = min(real, n)
    wanted: dict[str, Any] = {"n": n, "real": real, "seed": seed, "noise": NOISE}
    if marker.is_file():
        built = dict(json.loads(marker.read_text()))
        if {key: built.get(key) for key in wanted} == wanted:
            built["cached"] = True
            return built
    root.joinpath("bench").mkdir(parents=True, exist_ok=True, mode=0o700)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    articles = _train_articles(train)
    if not articles:
        raise FileNotFoundError(f"no training articles under {train}")
    real_dir, real_built = _real_part(root, real, make_index, articles)
    shutil.copytree(real_dir, folder / "index")
    index = make_index(folder / "index")
    by_id = {a.id: a for a in articles}
    chosen = [by_id[i] for i in real_built["articles"]]
    spans_of: dict[str, list[Span]] = {}

    real_ids = [i for article in chosen for i in index.sentence_ids(article.id)]
    real_raw = index.sentence_vectors(real_ids)
    titles = index.title_vectors([a.id for a in chosen])
    title_rows = np.stack([titles[a.id] for a in chosen])
    clause_of = {
        int(row[0]): row[1]
        for row in index.connection.execute("SELECT sentence_id, vectors FROM clauses")
    }
    real_clauses = [clause_of.get(i) for i in real_ids]

    rng = np.random.default_rng(seed)
    remaining = n - len(real_ids)
    started = time.perf_counter()
    split: list[tuple[Article, list[Span]]] = []
    raws: list[Any] = []
    contexts: list[Any] = []
    title_blobs: dict[str, bytes] = {}
    clause_blobs: list[bytes | None] = []
    made = 0
    copy = 0
    while made < remaining:
        copy += 1
        for article in articles:
            if made >= remaining:
                break
            spans = spans_of.get(article.id)
            if spans is None:
                spans = spans_of[article.id] = pipeline.split(article)
            spans = spans[: remaining - made]
            if not spans:
                continue
            clone = Article(
                id=f"synthetic-{copy}-{article.id}",
                title=article.title,
                text=article.text,
                source="synthetic",
            )
            template = np.arange(made, made + len(spans)) % len(real_ids)
            raw = _unit(real_raw[template] + rng.normal(0, NOISE, (len(spans), real_raw.shape[1])))
            title = _unit(
                title_rows[[made % len(chosen)]] + rng.normal(0, NOISE, (1, real_raw.shape[1]))
            )[0].astype(np.float32)
            raws.append(raw.astype(np.float16))
            contexts.append(index.context.apply(raw.astype(np.float32), title).astype(np.float16))
            title_blobs[clone.id] = title.tobytes()
            clause_blobs.extend(real_clauses[t] for t in template)
            split.append((clone, spans))
            made += len(spans)
    if split:
        embedded = pipeline.Embedded(
            raw=cast(Vectors, np.concatenate(raws)),
            context=cast(Vectors, np.concatenate(contexts)),
            titles=title_blobs,
            clauses=clause_blobs,
        )
        synthetic_ids = index.add_embedded(split, embedded, index.encoder.model_id)
    else:
        synthetic_ids = []
        embedded = None
    bulk_seconds = time.perf_counter() - started

    # Exact context vectors of everything, kept beside the index (not in it) to measure recall.
    exact_ids = np.asarray(real_ids + synthetic_ids, dtype=np.int64)
    exact = [index.sentence_vectors(real_ids, context=True).astype(np.float16)]
    if embedded is not None:
        exact.append(embedded.context.astype(np.float16))
    np.save(folder / "exact-ids.npy", exact_ids)
    np.save(folder / "exact-context.npy", np.concatenate(exact))
    questions = [
        record["question"]
        for name in TRAIN_SETS
        for record in _records(train, f"{name}/questions.jsonl.gz")
        if record.get("doc_id") in {a.id for a in chosen}
    ]
    built = {
        **wanted,
        "real_sentences": real_built["sentences"],
        "real_seconds": real_built["seconds"],
        "synthetic_sentences": len(synthetic_ids),
        "synthetic_seconds": bulk_seconds,
        "questions": questions,
        "model": index.encoder.model_id,
    }
    marker.write_text(json.dumps(built))
    built["cached"] = False
    return built


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _written_bytes() -> int:
    """Bytes this process caused to be written to storage (Linux /proc/self/io)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    return 0


def serve(
    root: Path,
    n: int,
    make_service: Callable[[Path], QAService],
    count: int = 300,
    recall_queries: int = 100,
) -> dict[str, Any]:
    """Open the cached index, answer questions, measure recall; in a fresh process."""
    folder = folder_for(root, n)
    built = json.loads((folder / BUILT).read_text())
    started = time.perf_counter()
    service = make_service(folder / "index")
    service.index.load()
    open_seconds = time.perf_counter() - started
    rng = random.Random(SEED)
    pool = built["questions"] or ["what happened?"]
    chosen = [rng.choice(pool) for _ in range(count)]
    # CPU time as well as wall time: on a shared, loaded machine a question waits for a core
    # longer than it computes; its CPU time is what it costs (all of its threads).
    cpu_started = time.process_time()
    latencies = time_questions(service, chosen)
    cpu_ms = (time.process_time() - cpu_started) * 1000 / (len(chosen) + min(10, len(chosen)))
    # The index's own part of a question (the model's encoding and the ranker left out):
    # on a loaded machine the model's threads dominate the figures above.
    index = service.index
    searches = []
    index_cpu = 0.0
    for question in chosen:
        query = service.retriever.question_vector(question)
        begun, cpu_begun = time.perf_counter(), time.process_time()
        dense = index.search_dense(query, 50)
        lexical = index.search_lexical(question, 50)
        ids = list(dict.fromkeys([i for i, _ in dense] + [i for i, _ in lexical]))
        index.sentences(ids)
        index.sentence_vectors(ids)
        index.sentence_vectors(ids, context=True)
        index.clause_vectors(ids)
        index.term_counts(question)
        searches.append((time.perf_counter() - begun) * 1000)
        index_cpu += time.process_time() - cpu_begun
    serving_rss = _peak_rss_mb()  # before the exact search below, which only measures
    exact_ids = np.load(folder / "exact-ids.npy")
    exact_context = np.load(folder / "exact-context.npy", mmap_mode="r")
    asked = chosen[:recall_queries]
    queries = np.stack([service.retriever.question_vector(q) for q in asked])
    found = [{i for i, _ in service.index.search_dense(query, 50)} for query in queries]
    best_scores = np.full((len(asked), 50), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(asked), 50), dtype=np.int64)
    for first in range(0, len(exact_ids), 50_000):
        block = np.asarray(exact_context[first : first + 50_000], dtype=np.float32) @ queries.T
        scores = np.concatenate([best_scores, block.T], axis=1)
        block_ids = np.concatenate(
            [best_ids, np.broadcast_to(exact_ids[first : first + 50_000], block.T.shape)], axis=1
        )
        top = np.argpartition(-scores, 49, axis=1)[:, :50]
        best_scores = np.take_along_axis(scores, top, axis=1)
        best_ids = np.take_along_axis(block_ids, top, axis=1)
    recalls = [
        len(got & set(truth.tolist())) / 50 for got, truth in zip(found, best_ids, strict=True)
    ]
    index_dir = folder / "index"
    segment_bytes = sum(p.stat().st_size for p in (index_dir / "segments").glob("*") if p.is_file())
    return {
        "open_seconds": open_seconds,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "index_p50_ms": percentile(searches, 50),
        "index_p99_ms": percentile(searches, 99),
        "cpu_ms": cpu_ms,
        "index_cpu_ms": index_cpu * 1000 / max(1, len(chosen)),
        "recall_at_50": float(np.mean(recalls)),
        "peak_rss_mb": serving_rss,
        "disk_mb": sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 1e6,
        "segments_mb": segment_bytes / 1e6,
        "sentences": service.stats().sentences,
    }


PROBE = Article(
    id="bench-probe",
    title="Harbour reopens after storm",
    text=(
        "The harbour reopened on Tuesday after a week of storms. Fishing boats left at dawn. "
        "The mayor said repairs to the sea wall would cost two million euros. "
        "Ferries to the islands resume on Friday."
    ),
    source="bench",
)


def write(root: Path, n: int, make_service: Callable[[Path], QAService]) -> dict[str, Any]:
    """Add one short article and remove it again; in a fresh process."""
    folder = folder_for(root, n)
    service = make_service(folder / "index")
    service.index.encoder.encode(["warm up"])
    if service.index.has_article(PROBE.id):
        service.remove(PROBE.id)
    written, started = _written_bytes(), time.perf_counter()
    service.ingest([PROBE])
    add = (time.perf_counter() - started, _written_bytes() - written)
    written, started = _written_bytes(), time.perf_counter()
    service.remove(PROBE.id)
    remove = (time.perf_counter() - started, _written_bytes() - written)
    return {
        "add_seconds": add[0],
        "add_bytes": add[1],
        "remove_seconds": remove[0],
        "remove_bytes": remove[1],
        "peak_rss_mb": _peak_rss_mb(),
    }


def lines(built: dict[str, Any], served: dict[str, Any], wrote: dict[str, Any]) -> list[str]:
    """The figures, one line each."""
    real_rate = built["real_sentences"] / built["real_seconds"] if built["real_seconds"] else 0
    bulk_rate = (
        built["synthetic_sentences"] / built["synthetic_seconds"]
        if built["synthetic_seconds"]
        else 0
    )
    return [
        f"index: {served['sentences']} sentences ({built['real_sentences']} real, "
        f"{built['synthetic_sentences']} synthetic){' (cached)' if built.get('cached') else ''}",
        f"ingest: {real_rate:.0f} sentences/s real (reading, splitting, embedding, storing); "
        f"bulk load of the synthetic part {bulk_rate:.0f} sentences/s",
        f"add one article: {wrote['add_seconds'] * 1000:.0f} ms, "
        f"{wrote['add_bytes'] / 1e6:.2f} MB written; remove it: "
        f"{wrote['remove_seconds'] * 1000:.0f} ms, {wrote['remove_bytes'] / 1e6:.2f} MB written",
        f"questions: latency p50 {served['p50_ms']:.1f} ms, p95 {served['p95_ms']:.1f} ms, "
        f"p99 {served['p99_ms']:.1f} ms (in process, full ranker); the index's part "
        f"(dense and lexical search, rows, vectors, term counts) p50 "
        f"{served.get('index_p50_ms', 0):.1f} ms, p99 {served.get('index_p99_ms', 0):.1f} ms",
        f"CPU time a question: {served['cpu_ms']:.1f} ms with the full ranker, "
        f"{served['index_cpu_ms']:.1f} ms the index's part",
        f"dense recall@50 against exact search: {served['recall_at_50']:.3f}",
        f"peak RSS: {served['peak_rss_mb']:.0f} MB serving, "
        f"{wrote['peak_rss_mb']:.0f} MB adding an article",
        f"index opens in {served['open_seconds']:.2f} s; {served['disk_mb']:.0f} MB on disk "
        f"({served['disk_mb'] - served['segments_mb']:.0f} MB catalog, "
        f"{served['segments_mb']:.0f} MB vector segments)",
    ]
