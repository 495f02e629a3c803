"""Building the engine from settings: the one place where the model and index are made."""

from __future__ import annotations

from pathlib import Path

from bots.settings import Settings, SettingsError
from qa import engine
from qa.engine import Encoder
from qa.service import QAService
from qa.web import WebSources


def load_encoder(settings: Settings) -> Encoder:
    """The configured model, loaded once per process."""
    return engine.load_encoder(settings.model, settings.encoder_backend)


def build_service(
    settings: Settings,
    encoder: Encoder | None = None,
    data_dir: Path | None = None,
) -> QAService:
    """A service over the configured data directory (or another one, for eval and bench), or
    over the configured PostgreSQL database (there, another data directory means a scratch
    schema named after it: see `scratch_schema`)."""
    if settings.database_url is not None:
        try:
            from qa.postgres import shared_service
        except ImportError as exc:
            raise SettingsError(
                "NEWSQA_DATABASE_URL needs the PostgreSQL client: pip install 'newsqa[postgres]'"
                f" ({exc.name} is missing)"
            ) from None

        return shared_service(
            settings.database_url.get_secret_value(),
            encoder,
            schema=(
                settings.database_schema if data_dir is None else scratch_schema(settings, data_dir)
            ),
            data_dir=settings.data_dir,
            conversation_idle_seconds=settings.conversation_idle_seconds,
            max_question_chars=settings.max_question_chars,
            max_k=settings.max_k,
            max_conversations=settings.max_conversations,
            max_article_bytes=settings.max_article_bytes,
        )
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


def scratch_schema(settings: Settings, folder: Path) -> str:
    """The schema standing for a scratch data directory on PostgreSQL (made and migrated)."""
    import hashlib

    from qa.postgres import migrate

    assert settings.database_url is not None
    name = "scratch_" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    migrate(settings.database_url.get_secret_value(), name)
    return name
