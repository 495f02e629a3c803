"""Rebuild jobs kept in PostgreSQL, so that a job started through one replica can be followed
through any other."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool

if TYPE_CHECKING:
    from qa.job_records import JobRecords

# A running job not heard from for this long had its replica die under it.
STALE_SECONDS = 120.0
KEPT = 200


class PgJobRecords:
    """Jobs' states in the shared database."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self._pool = pool

    def save(self, job_id: str, state: dict[str, Any]) -> None:
        """Store a job's latest state; the oldest beyond the last KEPT are forgotten."""
        now = time.time()
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO jobs (id, state, heartbeat, created_at) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
                " heartbeat = excluded.heartbeat",
                (job_id, json.dumps(state), now, float(state.get("created_at", now))),
            )
            conn.execute(
                "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs ORDER BY created_at DESC"
                " OFFSET %s)",
                (KEPT,),
            )

    def load(self, job_id: str) -> dict[str, Any] | None:
        """A job's latest state; a running one whose replica went silent is reported failed."""
        with self._pool.connection() as conn:
            conn.row_factory = tuple_row
            row = conn.execute(
                "SELECT state, heartbeat FROM jobs WHERE id = %s", (job_id,)
            ).fetchone()
        if row is None:
            return None
        state: dict[str, Any] = json.loads(row[0])
        if state.get("status") == "running" and time.time() - float(row[1]) > STALE_SECONDS:
            state.update(status="failed", error="the replica running it stopped")
        return state


if TYPE_CHECKING:

    def _records(records: PgJobRecords) -> JobRecords:
        return records
