"""Bulk ingest on a Ray cluster (`newsqa ingest --ray`): Ray Data workers read the files, split
the articles and embed the texts; this process writes the result through the normal store.

The workers load the same encoder (model folder and backend, checked by its id) and encode the
same batches as `pipeline.embed`, so the index is the one a plain ingest builds. Ray is an
optional extra (`newsqa[ray]`) and is imported only here, only when asked for.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from index.articles import (
    DEFAULT_MAX_ARTICLE_BYTES,
    Article,
    ReadResult,
    Skipped,
    input_files,
    read_file,
)
from index.embedding import BACKENDS, Backend, Encoder, Vectors, load_encoder
from index.errors import NewsqaError
from index.pipeline import Group, Progress, batches, split
from index.splitter import Span

log = logging.getLogger("newsqa.ray")

# On these 2-core machines actors asking for a whole CPU each were never all scheduled beside
# Ray Data's own tasks, and the run hung without a word; halves run.
ACTOR_CPUS = 0.5
TASK_CPUS = 0.5
FILES_PER_TASK = 16
ARTICLES_PER_TASK = 64


class RayError(NewsqaError):
    """The cluster could not be reached, or its workers failed."""


class RayAddressError(RayError):
    """An address that is neither `auto`, `local`, `ray://HOST:PORT` nor `HOST:PORT`."""


def check_address(address: str) -> str:
    """The address as Ray takes it; refuses anything else with one clear line."""
    if address in {"auto", "local"}:
        return address
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or "/" in rest or "@" in rest or not port.isdigit():
        raise RayAddressError(
            "--ray takes auto, local, ray://HOST:PORT or HOST:PORT (no user name or password)"
        )
    if not 0 < int(port) < 65536:
        raise RayAddressError(f"--ray: port {port} is out of range")
    return address


def _ray() -> Any:
    # Usage statistics would try to reach the internet; they must be off before ray is imported.
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        import ray
    except ImportError:
        raise RayError("--ray needs Ray: pip install 'newsqa[ray]'") from None
    return ray


@contextmanager
def cluster(address: str, *, local_cpus: int | None = None) -> Iterator[int]:
    """Connected to the cluster at address (`local`: one started here for this run and
    stopped after it); yields how many embedding workers to start."""
    ray = _ray()
    address = check_address(address)
    if ray.is_initialized():
        raise RayError("Ray is already connected in this process")
    try:
        if address == "local":
            ray.init(
                num_cpus=local_cpus or os.cpu_count() or 1,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayError(f"cannot reach the Ray cluster at {address}: {exc}") from None
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        # Ray Data announces every dataset it runs (its logging is set up when ray.data is
        # first imported, just above); a failure still comes back as an error.
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        log.info("connected to Ray at %s (%d CPUs)", address, cpus)
        yield max(1, cpus)
    finally:
        ray.shutdown()


class RayWork:
    """Reading, splitting and embedding on a connected Ray cluster, with `pipeline.LocalWork`'s
    results (see `pipeline.Work`)."""

    def __init__(
        self, model_path: str | Path | None, backend: Backend, workers: int, *, model_id: str
    ) -> None:
        self.model_path = model_path
        self.backend = backend
        self.workers = workers
        self.model_id = model_id

    def read(
        self, paths: Sequence[Path], *, max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
    ) -> ReadResult:
        """What `articles.read_paths` reads, read by the workers (the paths must be readable
        on every node: the same disk, or a shared file system)."""
        ray = _ray()
        result = ReadResult()
        rows: list[dict[str, str]] = []
        for item in input_files(paths):
            if isinstance(item, Skipped):
                result.skipped.append(item)
            else:
                path, key = item
                rows.append({"path": str(path.resolve()), "name": str(path), "key": key})
        if not rows:
            return result
        dataset = ray.data.from_items(rows).map_batches(
            _read_batch,
            fn_kwargs={"max_bytes": max_bytes},
            batch_size=FILES_PER_TASK,
            batch_format="pyarrow",
            num_cpus=TASK_CPUS,
        )
        for row in _rows(dataset):
            result.extend(_result_from_json(row["result"]))
        return result

    def split_all(self, articles: Sequence[Article]) -> list[list[Span]]:
        """Each article's sentences, split by the workers."""
        if not articles:
            return []
        ray = _ray()
        rows = [{"article": json.dumps(dataclasses.asdict(a))} for a in articles]
        dataset = ray.data.from_items(rows).map_batches(
            _split_batch, batch_size=ARTICLES_PER_TASK, batch_format="pyarrow", num_cpus=TASK_CPUS
        )
        return [
            [Span(start, end, text) for start, end, text in json.loads(row["spans"])]
            for row in _rows(dataset)
        ]

    def embed_groups(
        self, encoder: Encoder, groups: Sequence[Group], progress: Progress
    ) -> list[tuple[Vectors, list[Vectors | None]]]:
        """`pipeline.embed`'s batches of every group, encoded by one pool of workers each
        holding the model (loaded once per worker for the whole run)."""
        if encoder.model_id != self.model_id:
            raise RayError(f"this process runs {encoder.model_id}, the workers {self.model_id}")
        results: list[tuple[Vectors, list[Vectors | None]]] = [
            (np.zeros((len(texts), encoder.dim), dtype=np.float32), [None] * len(texts))
            for texts, _ in groups
        ]
        chunks = [batches(texts) for texts, _ in groups]
        rows = [
            {
                "group": group,
                "batch": number,
                "payload": json.dumps(
                    {"texts": [texts[i] for i in chunk], "spans": [spans[i] for i in chunk]}
                ),
            }
            for group, (texts, spans) in enumerate(groups)
            for number, chunk in enumerate(chunks[group])
        ]
        if not rows:
            return results
        ray = _ray()
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            EmbedBatches,
            fn_constructor_kwargs={
                "model_path": None if self.model_path is None else str(self.model_path),
                "backend": self.backend,
            },
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=min(self.workers, len(rows))),
            num_cpus=ACTOR_CPUS,
        )
        done = 0
        total = len(groups[0][0])
        workers: set[str] = set()
        for row in _rows(dataset):
            if row["model"] != self.model_id:
                raise RayError(
                    f"a Ray worker runs {row['model']}, not {self.model_id}: install the same "
                    "model and newsqa on every node"
                )
            workers.add(row["worker"])
            group = int(row["group"])
            chunk = chunks[group][int(row["batch"])]
            spans = groups[group][1]
            out, pooled = results[group]
            out[chunk] = np.frombuffer(row["vectors"], dtype=np.float32).reshape(len(chunk), -1)
            parts = np.frombuffer(row["clauses"], dtype=np.float32).reshape(-1, encoder.dim)
            first = 0
            for i in chunk:
                if spans[i]:
                    pooled[i] = parts[first : first + len(spans[i])].copy()
                    first += len(spans[i])
            if group == 0:
                done += len(chunk)
                progress("embedding", done, total)
        log.info(
            "embedded %d texts in %d batches on %d Ray workers",
            sum(len(texts) for texts, _ in groups),
            len(rows),
            len(workers),
        )
        return results


def _rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """The dataset's rows; a worker's failure becomes one RayError."""
    try:
        yield from dataset.iter_rows()
    except NewsqaError:
        raise
    except Exception as exc:  # Ray wraps whatever a worker raised in its own types
        raise RayError(f"the Ray workers failed: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


class EmbedBatches:
    """A Ray Data actor: loads the encoder once, then encodes batches of texts with their
    clause spans. It lives in the package so that every worker imports the same code."""

    def __init__(self, model_path: str | None, backend: str) -> None:
        if backend not in BACKENDS:
            raise RayError(f"unknown encoder backend {backend!r}")
        chosen: Backend = next(b for b in BACKENDS if b == backend)
        # a model's name (minilm, e5-small) or a folder, as NEWSQA_MODEL gives it
        self.encoder = load_encoder(model_path, chosen)
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, batch: Any) -> Any:
        """Vectors (float32 bytes) and clause vectors (float32 bytes, in order) per batch."""
        import pyarrow as pa

        groups: list[int] = []
        numbers: list[int] = []
        vectors: list[bytes] = []
        clauses: list[bytes] = []
        for group, number, payload in zip(
            batch.column("group").to_pylist(),
            batch.column("batch").to_pylist(),
            batch.column("payload").to_pylist(),
            strict=True,
        ):
            data = json.loads(payload)
            spans = [[(int(s), int(e)) for s, e in row] for row in data["spans"]]
            raw, parts = self.encoder.encode_with_spans(data["texts"], spans)
            groups.append(int(group))
            numbers.append(int(number))
            vectors.append(raw.astype(np.float32).tobytes())
            clauses.append(b"".join(p.astype(np.float32).tobytes() for p in parts if p is not None))
        return pa.table(
            {
                "group": pa.array(groups, type=pa.int64()),
                "batch": pa.array(numbers, type=pa.int64()),
                "vectors": pa.array(vectors, type=pa.binary()),
                "clauses": pa.array(clauses, type=pa.binary()),
                "model": pa.array([self.encoder.model_id] * len(numbers), type=pa.string()),
                "worker": pa.array([self.worker] * len(numbers), type=pa.string()),
            }
        )


def _read_batch(batch: Any, max_bytes: int) -> Any:
    """A Ray Data task: read files, each result as JSON."""
    import pyarrow as pa

    results = [
        _result_to_json(read_file(Path(path), key, max_bytes=max_bytes, name=name))
        for path, name, key in zip(
            batch.column("path").to_pylist(),
            batch.column("name").to_pylist(),
            batch.column("key").to_pylist(),
            strict=True,
        )
    ]
    return pa.table({"result": pa.array(results, type=pa.string())})


def _split_batch(batch: Any) -> Any:
    """A Ray Data task: split articles into sentences, each list as JSON."""
    import pyarrow as pa

    out = []
    for payload in batch.column("article").to_pylist():
        article = Article(**json.loads(payload))
        out.append(json.dumps([[s.start, s.end, s.text] for s in split(article)]))
    return pa.table({"spans": pa.array(out, type=pa.string())})


def _result_to_json(result: ReadResult) -> str:
    return json.dumps(
        {
            "articles": [dataclasses.asdict(a) for a in result.articles],
            "skipped": [dataclasses.asdict(s) for s in result.skipped],
            "warnings": [dataclasses.asdict(s) for s in result.warnings],
        }
    )


def _result_from_json(payload: str) -> ReadResult:
    data = json.loads(payload)
    return ReadResult(
        articles=[Article(**a) for a in data["articles"]],
        skipped=[Skipped(**s) for s in data["skipped"]],
        warnings=[Skipped(**s) for s in data["warnings"]],
    )
