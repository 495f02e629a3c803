"""Where rebuild jobs are shared between replicas (the embedded backend keeps them in the
process, see bots.api.jobs; the shared one in PostgreSQL, see qa.jobs_pg)."""

from __future__ import annotations

from typing import Any, Protocol


class JobRecords(Protocol):
    """Where jobs' states are shared."""

    def save(self, job_id: str, state: dict[str, Any]) -> None:
        """Store a job's latest state (JSON-able)."""
        ...

    def load(self, job_id: str) -> dict[str, Any] | None:
        """A job's latest state; None when unknown."""
        ...
