"""Building the engine from settings: the one place where the model and index are made."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from bots.settings import Settings
from index.embedding import Backend, Encoder
from index.embedding import load_encoder as _load
from index.store import NewsIndex
from qa.service import QAService
from qa.web import WebSources, other_sources


def load_encoder(settings: Settings) -> Encoder:
    """The configured model, loaded once per process."""
    return _encoder(settings.model, settings.encoder_backend)


@lru_cache(maxsize=2)
def _encoder(model: str, backend: Backend) -> Encoder:
    return _load(model, backend)


def build_service(
    settings: Settings,
    encoder: Encoder | None = None,
    data_dir: Path | None = None,
) -> QAService:
    """A service over the configured data directory (or another one, for eval and bench)."""
    index = NewsIndex(data_dir or settings.data_dir, encoder)
    return QAService(
        index,
        conversation_idle_seconds=settings.conversation_idle_seconds,
        max_question_chars=settings.max_question_chars,
        max_k=settings.max_k,
        other_sources=other_sources(index.db_path),
        max_conversations=settings.max_conversations,
        max_article_bytes=settings.max_article_bytes,
    )


def build_web(settings: Settings, service: QAService) -> WebSources:
    """Pages and feeds into the service's index, fetched under the configured policy."""
    from index.web.fetch import FetchPolicy, user_agent

    policy = FetchPolicy.from_allow(
        settings.fetch_allow,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
        connect_timeout=min(settings.fetch_timeout, 10.0),
        read_timeout=settings.fetch_timeout,
        user_agent=user_agent(settings.fetch_contact),
    )
    return WebSources(service, policy, default_interval_s=settings.feed_interval_minutes * 60)
