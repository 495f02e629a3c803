"""Versioned schema: numbered SQL files applied in order, each in its own transaction.

`newsqa migrate` runs this. Many replicas may start it at once: an advisory lock lets one
apply the files while the others wait and then find nothing left to do.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from index.errors import NewsqaError

# Any fixed number, the same in every process: the lock's key.
MIGRATE_LOCK = 7_391_004_001
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class SchemaOutdatedError(NewsqaError):
    """The database's schema is older (or newer) than this version of newsqa expects."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    text: str


def migrations() -> list[Migration]:
    """The packaged migrations, in order."""
    found = []
    for entry in resources.files("index.postgres").joinpath("migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text("utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest() -> int:
    """The schema version this code expects."""
    return migrations()[-1].version


def _search_path(schema: str) -> sql.Composed:
    return sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema))


def migrate(url: str, schema: str = "public") -> list[str]:
    """Apply the migrations the database lacks; returns the names of those applied."""
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            conn.execute(_search_path(schema))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                " name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for migration in migrations():
                if migration.version in done:
                    continue
                with conn.transaction():
                    conn.execute(migration.text.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations VALUES (%s, %s, %s)",
                        (migration.version, migration.name, time.time()),
                    )
                applied.append(migration.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return applied


def current(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The schema version of the database the connection's search path points at (0: none)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def check(conn: psycopg.Connection[tuple[object, ...]], where: str) -> None:
    """SchemaOutdatedError unless the schema is the one this code expects."""
    have, want = current(conn), latest()
    if have < want:
        raise SchemaOutdatedError(
            f"the database {where} is at schema version {have}, this newsqa needs {want}: "
            "run `newsqa migrate`"
        )
    if have > want:
        raise SchemaOutdatedError(
            f"the database {where} is at schema version {have}, newer than this newsqa "
            f"({want}): upgrade newsqa"
        )
