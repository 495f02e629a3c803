"""Connections to the shared database: one pool per process, vectors as numpy arrays."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg_pool import ConnectionPool

from index.postgres import migrate

EF_SEARCH = 100  # HNSW's candidate list (hnsw.ef_search) for searches of up to this many


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def pool(url: str, schema: str = "public", max_size: int = 10) -> ConnectionPool[Any]:
    """A pool whose connections see `schema` (then public, where pgvector's types live); it
    refuses a database whose schema is not the one this code expects."""

    def configure(conn: psycopg.Connection[Any]) -> None:
        conn.autocommit = True
        conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(schema)))
        # a scoped search goes on scanning the graph until it has its k rows, in order
        conn.execute("SET hnsw.iterative_scan = strict_order")
        conn.execute(f"SET hnsw.ef_search = {EF_SEARCH}")
        register_vector(conn)
        conn.autocommit = False

    opened: ConnectionPool[Any] = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        configure=configure,
        open=False,
        name=f"newsqa-{schema}",
    )
    opened.open(wait=True, timeout=30)
    try:
        with opened.connection() as conn:
            migrate.check(conn, f"{redact(url)} (schema {schema})")
    except BaseException:
        opened.close()
        raise
    return opened
