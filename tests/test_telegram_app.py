"""Starting the bot: settings, the command, webhook secret checking, a refused token kept secret."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bots import cli
from bots.settings import Settings, get_settings
from bots.telegram import app as bot_app
from bots.telegram.app import BotStartError, build_application, file_base_url, webhook_options
from bots.telegram.ratelimit import RateLimiter, Verdict
from qa.service import QAService
from tests.fakes import FakeEncoder
from tests.telegram_fakes import FakeBotAPI, bot_service, message_update

TOKEN = "987654:very-SECRET-token"


@pytest.fixture
def service(tmp_path: Path, fake_encoder: FakeEncoder) -> QAService:
    return bot_service(tmp_path / "bot-data", fake_encoder)


def test_settings_read_telegram_names_and_admin_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("NEWSQA_TELEGRAM_ADMINS", "12, 34,,56")
    monkeypatch.setenv("NEWSQA_TELEGRAM_WEBHOOK_URL", "https://bot.example.com/hook")
    settings = get_settings()
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())
    assert settings.telegram_api_base_url == "http://127.0.0.1:9/bot"
    assert settings.telegram_admins == frozenset({12, 34, 56})
    assert settings.telegram_webhook_url == "https://bot.example.com/hook"
    assert file_base_url(settings.telegram_api_base_url) == "http://127.0.0.1:9/file/bot"


def test_defaults_are_telegram_and_nobody_is_admin() -> None:
    settings = get_settings()
    assert settings.telegram_bot_token is None
    assert settings.telegram_api_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_admins == frozenset()
    assert settings.telegram_webhook_url is None


def test_the_bot_command_needs_a_token() -> None:
    result = CliRunner().invoke(cli.app, ["bot"])
    assert result.exit_code == 2
    assert "set TELEGRAM_BOT_TOKEN" in result.output


def test_a_refused_token_ends_with_one_line_that_does_not_repeat_it(
    service: QAService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Refusing(FakeBotAPI):
        async def do_request(self, url: str, method: str, *args: Any, **kw: Any) -> Any:
            self.calls.append((url.rsplit("/", 1)[-1], {}))
            return 401, b'{"ok": false, "error_code": 401, "description": "Unauthorized"}'

    api = Refusing()
    built = bot_app.build_application
    monkeypatch.setattr(
        bot_app,
        "build_application",
        lambda settings, svc: built(settings, svc, request=api, get_updates_request=Refusing()),
    )
    settings = Settings.model_validate({"telegram_bot_token": TOKEN})
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # run_polling runs on (and closes) the current loop
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(BotStartError) as raised:
            bot_app.run_bot(settings, service)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert str(raised.value) == "Telegram refused the bot token; check TELEGRAM_BOT_TOKEN"
    assert api.methods() == ["getMe"]
    assert TOKEN.split(":")[1] not in caplog.text
    assert logging.getLogger("httpx").level == logging.WARNING


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_webhook_refuses_updates_without_telegrams_secret(service: QAService) -> None:
    port = _free_port()
    settings = Settings.model_validate(
        {
            "telegram_bot_token": TOKEN,
            "telegram_webhook_url": "https://bot.example.com/tg/hook",
            "telegram_webhook_secret": "s3cret-Value_1",
            "telegram_webhook_listen": "127.0.0.1",
            "telegram_webhook_port": port,
        }
    )
    options = webhook_options(settings)
    assert options["url_path"] == "tg/hook" and options["secret_token"] == "s3cret-Value_1"
    api = FakeBotAPI()
    app = build_application(settings, service, request=api, get_updates_request=FakeBotAPI())
    statuses: list[int] = []

    async def scenario() -> None:
        async with app:
            assert app.updater is not None
            await app.updater.start_webhook(**options)
            await app.start()
            try:
                async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                    for secret in (None, "wrong", "s3cret-Value_1"):
                        headers = {"Content-Type": "application/json"}
                        if secret:
                            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
                        response = await client.post(
                            f"http://127.0.0.1:{port}/tg/hook",
                            content=json.dumps(message_update("heavy rain?")),
                            headers=headers,
                        )
                        statuses.append(response.status_code)
                for _ in range(200):
                    if api.sent():
                        break
                    await asyncio.sleep(0.025)
            finally:
                await app.updater.stop()
                await app.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert statuses == [403, 403, 200]
    [(_, hook)] = [c for c in api.calls if c[0] == "setWebhook"]
    assert hook["url"] == "https://bot.example.com/tg/hook"
    assert hook["secret_token"] == "s3cret-Value_1"
    assert len(api.sent()) == 1 and "Heavy rain" in api.sent()[0]["text"]


def test_without_a_configured_secret_each_start_makes_a_random_one() -> None:
    settings = Settings.model_validate(
        {"telegram_bot_token": TOKEN, "telegram_webhook_url": "https://x.org/hook"}
    )
    first, second = webhook_options(settings), webhook_options(settings)
    assert len(first["secret_token"]) >= 32 and first["secret_token"] != second["secret_token"]


def test_the_rate_limiter_window_slides() -> None:
    limiter = RateLimiter(limit=2, window=1.0)
    assert [limiter.check(1) for _ in range(4)] == [
        Verdict.ALLOW,
        Verdict.ALLOW,
        Verdict.REFUSE,
        Verdict.DROP,
    ]
    assert 0.5 < limiter.wait_seconds(1) <= 1.0
    assert limiter.check(2) is Verdict.ALLOW  # chats are counted apart
    assert limiter.wait_seconds(2) == 0.0
    time.sleep(1.05)
    assert limiter.check(1) is Verdict.ALLOW  # the first two have slid out of the window
    assert limiter.check(1) is Verdict.ALLOW
    assert limiter.check(1) is Verdict.REFUSE  # told again, once: it is a new refusal


def test_the_rate_limiter_is_the_limits_library() -> None:
    from limits.strategies import MovingWindowRateLimiter

    limiter = RateLimiter(limit=10, window=60.0)
    assert isinstance(limiter._limiter, MovingWindowRateLimiter)
    assert (limiter.item.amount, limiter.item.get_expiry()) == (10, 60)
