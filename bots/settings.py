"""Settings from the environment (NEWSQA_*), read once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "NEWSQA_"


class SettingsError(Exception):
    """A setting that cannot be used; the message names the variable and says why."""


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "newsqa"


class Settings(BaseSettings):
    """Everything configurable; secrets are SecretStr so they never print."""

    # A .env file in the working directory is read too; the environment wins over it.
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(default_factory=_default_data_dir)
    # NEWSQA_MODEL_PATH is the name this setting had before models could be chosen by name.
    model: str = Field(
        default="minilm",
        validation_alias=AliasChoices("NEWSQA_MODEL", "NEWSQA_MODEL_PATH"),
        description="minilm (all-MiniLM-L6-v2, default), e5-small (multilingual-e5-small) or "
        "a local sentence-transformers folder",
    )
    # index.embedding.Backend; spelled out so settings need not import the engine
    encoder_backend: Literal["onnx-int8", "onnx", "torch"] = Field(
        default="onnx-int8",
        description="What runs the model: onnx-int8 (default), onnx (fp32) or torch",
    )
    conversation_idle_seconds: float = Field(default=7 * 86400.0, gt=0)
    max_question_chars: int = Field(default=500, ge=10)
    max_k: int = Field(default=20, ge=1)
    max_conversations: int = Field(
        default=10_000, ge=1, description="Conversations kept per way in; the oldest go first"
    )
    max_article_bytes: int = Field(
        default=2_000_000, ge=1024, description="A file or record larger than this is refused"
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db: articles, vectors and "
        "conversations in PostgreSQL + pgvector, shared by any number of replicas; unset: "
        "SQLite and FAISS files in the data dir",
    )
    database_schema: str = Field(
        default="public", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="Schema of the tables"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            if not value.startswith(("postgresql://", "postgres://")):
                raise ValueError("should start with postgresql:// (PostgreSQL is the one choice)")
        return value

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in _MODELS:
            return value.lower()
        if not Path(value).expanduser().is_dir():
            raise ValueError(f"should be {' or '.join(_MODELS)}, or a model folder that exists")
        return str(Path(value).expanduser())

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.upper() if value.lower() in _LEVELS else value.lower()
        return value

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
    rate_limit: str | None = Field(
        default="60/minute",
        description="Requests per client address to /ask and the other read endpoints, in the "
        "`limits` notation (60/minute, 5 per second); empty or 0: no limit",
    )

    @field_validator("rate_limit", mode="before")
    @classmethod
    def _rate_limit(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip() in ("", "0")):
            return None
        from limits import parse_many

        parse_many(str(value))  # a ValueError names the notation it could not read
        return str(value).strip()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # ---- the web: pages and feeds (index.web) --------------------------------------------------
    fetch_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated hosts or networks fetched although not public "
        "(e.g. 127.0.0.1,10.0.0.0/8)",
    )
    fetch_max_bytes: int = Field(default=5_000_000, ge=1024, description="Largest page or feed")
    fetch_timeout: float = Field(default=10.0, gt=0, description="Connect and read timeout, s")
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    fetch_contact: str | None = Field(
        default=None, description="URL or e-mail put in the User-Agent for site owners"
    )
    feed_interval_minutes: float = Field(default=30.0, ge=1.0)
    watch: bool = Field(default=True, description="Poll feeds inside `newsqa serve`")

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # ---- Telegram bot (`newsqa bot`) --------------------------------------------------------
    # The token and API address use Telegram's usual unprefixed names.
    telegram_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN", "telegram_bot_token")
    )
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org/bot",
        validation_alias=AliasChoices("TELEGRAM_API_BASE_URL", "telegram_api_base_url"),
        description="python-telegram-bot's base_url: the token is appended to it",
    )
    telegram_webhook_url: str | None = Field(
        default=None, description="Public HTTPS address for webhook mode; unset: long polling"
    )
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, description="Secret-token header Telegram must send; random when unset"
    )
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_admins: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(), description="Comma-separated numeric user ids who may add articles"
    )
    telegram_rate_limit: int = Field(default=10, ge=1, description="Messages per chat per window")
    telegram_rate_window_seconds: float = Field(default=60.0, gt=0)
    telegram_answers: int = Field(default=3, ge=1, le=10, description="Sentences per reply")

    @field_validator("telegram_admins", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part for part in value.replace(" ", "").split(",") if part]
            if not all(part.isdigit() for part in parts):
                raise ValueError(
                    "should be numeric Telegram user ids, comma-separated (12345,67890)"
                )
            return frozenset(int(part) for part in parts)
        return value

    def writable_data_dir(self) -> Path:
        """The data directory, made if missing; SettingsError when it cannot be written."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            probe = self.data_dir / ".newsqa-write-test"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise SettingsError(
                f"{ENV_PREFIX}DATA_DIR={self.data_dir}: cannot write there ({reason})"
            ) from None
        return self.data_dir


# index.embedding.MODELS; spelled out so settings need not import the engine
_MODELS = ("minilm", "e5-small")
_LEVELS = {name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR")}


def _variable(loc: tuple[int | str, ...]) -> str:
    """The environment variable a validation error is about."""
    name = str(loc[0]) if loc else "?"
    field = Settings.model_fields.get(name)
    if name == "model":
        return ENV_PREFIX + "MODEL"
    if field is None:  # an alias (TELEGRAM_BOT_TOKEN ...) is its own variable name
        return name.upper()
    return (ENV_PREFIX + name).upper()


def describe(error: ValidationError) -> str:
    """One line per bad setting: the variable, the value given and what it should be."""
    lines = []
    for item in error.errors(include_url=False):
        message = str(item["msg"]).removeprefix("Value error, ")
        variable = _variable(tuple(item["loc"]))
        value = item.get("input")
        secret = any(word in variable for word in ("KEY", "TOKEN", "SECRET", "DATABASE_URL"))
        shown = f"={value}" if isinstance(value, str | int | float) and not secret else ""
        lines.append(f"{variable}{shown}: {message[:1].lower()}{message[1:]}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings (tests clear this cache after changing the environment).

    SettingsError when a variable holds something unusable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None
