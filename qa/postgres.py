"""The service over the shared PostgreSQL backend: index and conversations in one database, for
any number of replicas (NEWSQA_DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from index.embedding import Encoder
from index.postgres.migrate import SchemaOutdatedError, migrate
from index.postgres.store import PgIndex
from index.postgres.web import PgDuplicates, PgWebState
from index.web.dupes import Duplicates
from index.web.state import WebState
from index.writer import IndexStore
from qa.conversations_pg import PgConversations
from qa.jobs_pg import PgJobRecords
from qa.service import QAService
from qa.web import other_sources

__all__ = [
    "PgIndex",
    "SchemaOutdatedError",
    "discard_scratch",
    "drop_schema",
    "migrate",
    "shared_service",
    "web_storage",
]


def shared_service(
    url: str,
    encoder: Encoder | None,
    *,
    schema: str = "public",
    data_dir: Path | None = None,
    conversation_idle_seconds: float = 86400.0,
    max_conversations: int = 10_000,
    **options: Any,
) -> QAService:
    """A service whose articles, vectors and conversations live in the database at url."""
    index = PgIndex(url, encoder, schema=schema, data_dir=data_dir)
    conversations = PgConversations(index.pool, conversation_idle_seconds, max_conversations)
    return QAService(
        index,
        conversations=conversations,
        job_records=PgJobRecords(index.pool),
        other_sources=other_sources(duplicates=PgDuplicates(index.pool)),
        conversation_idle_seconds=conversation_idle_seconds,
        max_conversations=max_conversations,
        **options,
    )


def drop_schema(url: str, schema: str) -> None:
    """Remove a scratch schema and everything in it (benchmarks' and evaluations' indexes)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def discard_scratch(service: QAService) -> None:
    """Close a scratch service's connections and drop its schema (nothing for the embedded
    backend, whose scratch folder its maker removes)."""
    index = service.index
    if isinstance(index, PgIndex) and index.schema.startswith("scratch_"):
        index.close()
        drop_schema(index.url, index.schema)


def web_storage(index: IndexStore) -> tuple[WebState, Duplicates]:
    """Feeds' state and web articles' signatures in the index's database."""
    if not isinstance(index, PgIndex):
        raise TypeError(f"no web storage for {type(index).__name__}")
    return PgWebState(index.pool), PgDuplicates(index.pool)
