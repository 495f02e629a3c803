"""Settings from the environment (NEWSQA_*), read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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

    # ---- HTTP API (bots.api) ----
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    admin_key: SecretStr | None = Field(
        default=None,
        description="Key for writes (X-API-Key); when unset one is generated in the data dir",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS; none: off"
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_upload_bytes: int = Field(default=10_000_000, ge=1024)
    jobs_kept: int = Field(default=50, ge=1)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (tests clear this cache after changing the environment)."""
    return Settings()
