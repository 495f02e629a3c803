"""Making the engine: the model, an index over a data directory, the service, the web fetcher.

The ways in (`bots`) build everything through here from their settings, so they never reach into
`index` themselves.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from index.embedding import Backend, Encoder
from index.embedding import load_encoder as _load
from index.store import NewsIndex
from index.web.fetch import FetchPolicy, user_agent
from qa.service import QAService
from qa.web import WebSources, other_sources

__all__ = ["Backend", "Encoder", "load_encoder", "open_service", "web_sources"]


@lru_cache(maxsize=2)
def load_encoder(model: str | Path | None, backend: Backend) -> Encoder:
    """A model by name (`minilm`, `e5-small`) or the one in a local folder (the packaged MiniLM
    when None), on backend, loaded once per process."""
    return _load(model, backend)


def open_service(
    data_dir: Path,
    encoder: Encoder | None = None,
    *,
    conversation_idle_seconds: float,
    max_question_chars: int,
    max_k: int,
    max_conversations: int,
    max_article_bytes: int,
) -> QAService:
    """A service over the index in data_dir (opened without a model when encoder is None)."""
    index = NewsIndex(data_dir, encoder)
    return QAService(
        index,
        conversation_idle_seconds=conversation_idle_seconds,
        max_question_chars=max_question_chars,
        max_k=max_k,
        other_sources=other_sources(index.db_path),
        max_conversations=max_conversations,
        max_article_bytes=max_article_bytes,
    )


def web_sources(
    service: QAService,
    *,
    allow: list[str],
    max_bytes: int,
    max_redirects: int,
    timeout: float,
    contact: str | None,
    interval_s: float,
) -> WebSources:
    """Pages and feeds into the service's index, fetched under this policy."""
    policy = FetchPolicy.from_allow(
        allow,
        max_bytes=max_bytes,
        max_redirects=max_redirects,
        connect_timeout=min(timeout, 10.0),
        read_timeout=timeout,
        user_agent=user_agent(contact),
    )
    return WebSources(service, policy, default_interval_s=interval_s)
