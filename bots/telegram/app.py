"""Building and running the Telegram application: the one place its parts are put together."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, BaseUpdateProcessor, Defaults
from telegram.request import BaseRequest

from bots.settings import Settings
from bots.telegram.handlers import NewsBot
from bots.telegram.ratelimit import RateLimiter
from qa.errors import NewsqaError
from qa.service import QAService

logger = logging.getLogger(__name__)

BotApplication = Application[Any, Any, Any, Any, Any, Any]

COMMANDS = [
    BotCommand("help", "What I know and how to ask"),
    BotCommand("more", "More answers to the last question"),
    BotCommand("context", "An answer with the sentences around it"),
    BotCommand("article", "Keep asking about the last answer's article (off to leave)"),
    BotCommand("sources", "The most recent articles"),
    BotCommand("reset", "Forget this conversation"),
]
MAX_CONCURRENT_UPDATES = 256  # waiting tasks are cheap; the thread pool bounds the work


class BotStartError(NewsqaError):
    """The bot could not start (for instance, Telegram refused the token)."""


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Chats are served concurrently; the updates of one chat are handled in arrival order.

    Order within a chat matters: a follow-up must see the question before it in the
    conversation, and /more must follow the question it continues.
    """

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run one update once the earlier updates of its chat are done."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._waiting[chat.id] = self._waiting.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[chat.id] -= 1
            if not self._waiting[chat.id]:
                del self._waiting[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


class NewsApplication(Application[Any, Any, Any, Any, Any, Any]):
    """PTB's Application, saying in one log line why each start-up attempt failed.

    python-telegram-bot retries start-up itself (`bootstrap_retries=-1`: for ever, waiting
    1.5 times longer each time, at most 30 s) but logs those attempts only at DEBUG.
    """

    _attempts = 0

    async def initialize(self) -> None:
        """Initialise, logging a failed attempt as one line (not a traceback) before PTB retries."""
        try:
            await super().initialize()
        except InvalidToken:
            raise  # no retry can fix a token Telegram refused
        except TelegramError as exc:
            self._attempts += 1
            logger.warning(
                "cannot reach the Telegram Bot API (attempt %d): %s; trying again with backoff",
                self._attempts,
                exc,
            )
            raise
        if self._attempts:
            logger.info("reached the Telegram Bot API after %d failed attempts", self._attempts)


def file_base_url(base_url: str) -> str:
    """Where files are downloaded from, beside the Bot API address (`.../bot` → `.../file/bot`)."""
    if base_url.endswith("/bot"):
        return base_url[: -len("bot")] + "file/bot"
    return "https://api.telegram.org/file/bot"


async def _post_init(app: BotApplication) -> None:
    await app.bot.set_my_commands(COMMANDS)
    logger.info("bot @%s ready", app.bot.username)


def build_application(
    settings: Settings,
    service: QAService,
    *,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
    limiter: RateLimiter | None = None,
) -> BotApplication:
    """The Telegram application over a service; tests pass request layers that stay local."""
    if settings.telegram_bot_token is None:
        raise BotStartError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        Application.builder()
        .application_class(NewsApplication)
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_base_url(settings.telegram_api_base_url))
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(_post_init)
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    app = builder.build()
    limiter = limiter or RateLimiter(
        settings.telegram_rate_limit, settings.telegram_rate_window_seconds
    )
    NewsBot(service, settings, limiter).register(app)
    return app


class _Redact(logging.Filter):
    """Belt and braces: no log line carries the token, not even a traceback.

    PTB itself logs "The token `...` was rejected" with a traceback when Telegram refuses it.
    """

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._secret in message:
            record.msg = message.replace(self._secret, "[token]")
            record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text and self._secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self._secret, "[token]")
        if record.stack_info and self._secret in record.stack_info:
            record.stack_info = record.stack_info.replace(self._secret, "[token]")
        return True


def configure_logging(settings: Settings) -> None:
    """INFO logs without the token: httpx logs every request URL, which contains it."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if settings.telegram_bot_token is not None:
        redact = _Redact(settings.telegram_bot_token.get_secret_value())
        for handler in logging.getLogger().handlers:
            handler.addFilter(redact)


def webhook_options(settings: Settings) -> dict[str, Any]:
    """How to receive updates by webhook; Telegram must send the secret with every update."""
    assert settings.telegram_webhook_url is not None
    secret = (
        settings.telegram_webhook_secret.get_secret_value()
        if settings.telegram_webhook_secret is not None
        else secrets.token_urlsafe(32)
    )
    return {
        "listen": settings.telegram_webhook_listen,
        "port": settings.telegram_webhook_port,
        "url_path": urlsplit(settings.telegram_webhook_url).path.lstrip("/"),
        "webhook_url": settings.telegram_webhook_url,
        "secret_token": secret,
        "allowed_updates": Update.ALL_TYPES,
    }


def run_bot(settings: Settings, service: QAService) -> None:
    """Serve until SIGINT or SIGTERM: long polling, or a webhook when a webhook URL is set."""
    configure_logging(settings)
    app = build_application(settings, service)
    try:
        if settings.telegram_webhook_url:
            logger.info("receiving updates by webhook at %s", settings.telegram_webhook_url)
            app.run_webhook(**webhook_options(settings), bootstrap_retries=-1)
        else:
            logger.info("receiving updates by long polling")
            app.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
    except InvalidToken:
        # PTB's message quotes the token; never repeat it
        raise BotStartError("Telegram refused the bot token; check TELEGRAM_BOT_TOKEN") from None
