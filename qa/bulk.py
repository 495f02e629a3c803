"""Bulk ingest and rebuild on a Ray cluster: the work spread over its workers, the writes made
here through the service's index as in a plain ingest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from index.embedding import Backend
from index.ray_work import RayAddressError, RayError, RayWork, check_address, cluster
from index.store import Progress, Stats
from qa.service import IngestOutcome, QAService

__all__ = ["RayAddressError", "RayError", "check_address", "ingest_on_ray", "rebuild_on_ray"]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def ingest_on_ray(
    service: QAService,
    paths: Sequence[Path],
    address: str,
    *,
    model: str | Path | None,
    backend: Backend,
    progress: Progress = _no_progress,
) -> IngestOutcome:
    """Files and folders read, split and embedded on the Ray cluster at address, then
    ingested as `QAService.ingest_paths` would: same articles, same vectors, same report."""
    check_address(address)
    model_id = service.index.encoder.model_id
    with cluster(address) as workers:
        work = RayWork(model, backend, workers, model_id=model_id)
        read = work.read(paths, max_bytes=service.max_article_bytes)
        return service.ingest_read(read, progress, work)


def rebuild_on_ray(
    service: QAService,
    address: str,
    *,
    model: str | Path | None,
    backend: Backend,
    progress: Progress = _no_progress,
) -> Stats:
    """`QAService.rebuild` with the splitting and embedding done on the Ray cluster."""
    check_address(address)
    model_id = service.index.encoder.model_id
    with cluster(address) as workers:
        work = RayWork(model, backend, workers, model_id=model_id)
        return service.rebuild(progress, work=work)
