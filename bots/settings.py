"""Settings from the environment (NEWSQA_*), read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "newsqa"


class Settings(BaseSettings):
    """Everything configurable; secrets are SecretStr so they never print."""

    model_config = SettingsConfigDict(env_prefix="NEWSQA_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir)
    model_path: Path | None = Field(
        default=None, description="A local sentence-transformers folder; default all-MiniLM-L6-v2"
    )
    conversation_idle_seconds: float = Field(default=7 * 86400.0, gt=0)
    max_question_chars: int = Field(default=500, ge=10)
    max_k: int = Field(default=20, ge=1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (tests clear this cache after changing the environment)."""
    return Settings()
