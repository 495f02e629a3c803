"""Building the engine from settings: the one place where the model and index are made."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from bots.settings import Settings
from index.embedding import Encoder, SentenceTransformerEncoder
from index.store import NewsIndex
from qa.service import QAService


def load_encoder(settings: Settings) -> Encoder:
    """The configured model, loaded once per process."""
    return _encoder(settings.model_path)


@lru_cache(maxsize=2)
def _encoder(model_path: Path | None) -> Encoder:
    return SentenceTransformerEncoder(model_path)


def build_service(
    settings: Settings, encoder: Encoder | None = None, data_dir: Path | None = None
) -> QAService:
    """A service over the configured data directory (or another one, for eval and bench)."""
    index = NewsIndex(data_dir or settings.data_dir, encoder)
    return QAService(
        index,
        conversation_idle_seconds=settings.conversation_idle_seconds,
        max_question_chars=settings.max_question_chars,
        max_k=settings.max_k,
        max_conversations=settings.max_conversations,
        max_article_bytes=settings.max_article_bytes,
    )
