"""Building the engine from settings: the one place where the model and index are made."""

from __future__ import annotations

from pathlib import Path

from bots.settings import Settings
from qa import engine
from qa.engine import Encoder
from qa.service import QAService
from qa.web import WebSources


def load_encoder(settings: Settings) -> Encoder:
    """The configured model, loaded once per process."""
    return engine.load_encoder(settings.model_path, settings.encoder_backend)


def build_service(
    settings: Settings,
    encoder: Encoder | None = None,
    data_dir: Path | None = None,
) -> QAService:
    """A service over the configured data directory (or another one, for eval and bench)."""
    return engine.open_service(
        data_dir or settings.data_dir,
        encoder,
        conversation_idle_seconds=settings.conversation_idle_seconds,
        max_question_chars=settings.max_question_chars,
        max_k=settings.max_k,
        max_conversations=settings.max_conversations,
        max_article_bytes=settings.max_article_bytes,
    )


def build_web(settings: Settings, service: QAService) -> WebSources:
    """Pages and feeds into the service's index, fetched under the configured policy."""
    return engine.web_sources(
        service,
        allow=list(settings.fetch_allow),
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
        timeout=settings.fetch_timeout,
        contact=settings.fetch_contact,
        interval_s=settings.feed_interval_minutes * 60,
    )
