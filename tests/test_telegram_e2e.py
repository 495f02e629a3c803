"""End to end: the real `newsqa bot` process against a fake Bot API server on 127.0.0.1.

The process loads the real model and a copy of the samples index, long-polls the fake server,
answers in a conversation, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from index.embedding import Encoder
from index.store import NewsIndex
from qa.conversations import Owner
from qa.service import QAService
from tests.conftest import REPO
from tests.telegram_fakes import check_telegram_html, visible_text

TOKEN = "123456:e2e-SECRET-token-never-logged"
BOT = {"id": 4242, "is_bot": True, "first_name": "NewsQA", "username": "newsqa_e2e_bot"}
CHAT = 1001
OTHER_CHAT = 1002
# values sent as plain strings (everything else arrives JSON-encoded)
STRING_FIELDS = frozenset({"text", "callback_query_id"})


class FakeTelegram:
    """A Bot API server that records every call and hands out queued updates by getUpdates."""

    def __init__(self, port: int = 0, first_update: int = 1) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.bad_paths: list[str] = []
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(first_update)
        self._messages = itertools.count(5000)
        self._changed = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode()
                prefix = f"/bot{TOKEN}/"
                if not self.path.startswith(prefix):
                    fake.bad_paths.append(self.path.replace(TOKEN, "<token>"))
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                method = self.path[len(prefix) :]
                params = {
                    k: v if k in STRING_FIELDS else _maybe_json(v) for k, v in parse_qsl(body)
                }
                status, payload = fake.answer(method, params)
                self._reply(status, payload)

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method != "getUpdates":
            with self._changed:
                self.calls.append((method, params))
                self._changed.notify_all()
        if method == "getMe":
            return 200, {"ok": True, "result": BOT}
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._next_updates(params)}
        if method == "sendMessage":
            message = {
                "message_id": next(self._messages),
                "date": int(time.time()),
                "chat": {"id": params["chat_id"], "type": "private"},
                "from": BOT,
                "text": params["text"],
            }
            return 200, {"ok": True, "result": message}
        if method in {"deleteWebhook", "setMyCommands", "sendChatAction", "answerCallbackQuery"}:
            return 200, {"ok": True, "result": True}
        return 404, {"ok": False, "error_code": 404, "description": f"Not Found: {method}"}

    def _next_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 0.5)
        with self._changed:
            self.calls.append(("getUpdates", params))
            self._changed.notify_all()
            self._changed.wait_for(
                lambda: any(u["update_id"] >= offset for u in self._updates), timeout=wait
            )
            return [u for u in self._updates if u["update_id"] >= offset]

    def push(self, kind: str, payload: dict[str, Any]) -> None:
        with self._changed:
            self._updates.append({"update_id": next(self._ids), kind: payload})
            self._changed.notify_all()

    def say(self, text: str, chat_id: int = CHAT) -> None:
        """A user writes to the bot in a private chat."""
        self.push(
            "message",
            {
                "message_id": next(self._messages),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"},
                "text": text,
            },
        )

    def press(self, data: str, chat_id: int = CHAT) -> None:
        """A user presses an inline button under one of the bot's messages."""
        self.push(
            "callback_query",
            {
                "id": f"cb{len(self._updates)}",
                "from": {"id": chat_id, "is_bot": False, "first_name": "Ann"},
                "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": 5000,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                    "from": BOT,
                    "text": "an answer",
                },
            },
        )

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout=timeout):
                raise AssertionError(f"timed out waiting for {what}")

    def sent(self) -> list[dict[str, Any]]:
        return [params for method, params in self.calls if method == "sendMessage"]

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]


def _maybe_json(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


@contextmanager
def serving(port: int = 0, first_update: int = 1) -> Iterator[FakeTelegram]:
    """A fake Bot API on a loopback port (any free one by default), stopped afterwards."""
    fake = FakeTelegram(port, first_update)
    thread = threading.Thread(target=fake.server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with serving() as fake:
        yield fake


def _command() -> list[str]:
    script = Path(sys.executable).with_name("newsqa")
    return [str(script), "bot"] if script.exists() else [sys.executable, "-m", "bots.cli", "bot"]


@pytest.mark.model
@pytest.mark.timeout(180)
def test_the_bot_process_answers_follow_ups_and_stops_on_sigterm(
    fake_telegram: FakeTelegram, samples_index_dir: Path, encoder: Encoder, tmp_path: Path
) -> None:
    data_dir = tmp_path / "bot-data"
    shutil.copytree(samples_index_dir, data_dir)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and "TELEGRAM" not in k}
    env.update(
        PYTHONPATH=str(REPO),
        NEWSQA_DATA_DIR=str(data_dir),
        HF_HUB_OFFLINE="1",
        NO_PROXY="127.0.0.1,localhost",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{fake_telegram.port}/bot",
    )
    out_path, err_path = tmp_path / "bot.out", tmp_path / "bot.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(_command(), env=env, stdout=out, stderr=err, cwd=tmp_path)
    try:
        fake = fake_telegram
        fake.wait_for(lambda: "getUpdates" in fake.methods(), 90, "the bot to start polling")
        assert set(fake.methods()[:3]) == {"getMe", "setMyCommands", "deleteWebhook"}

        # a first question in a fresh chat: Budapest is among the quoted sentences
        fake.say("where will they meet?", chat_id=OTHER_CHAT)
        fake.wait_for(lambda: len(fake.sent()) == 1, 60, "the first answer")
        [standalone] = fake.sent()
        assert standalone["chat_id"] == OTHER_CHAT
        assert any("Budapest" in quote for quote in _quotes(standalone))

        fake.say("What did Trump and Putin agree on?")
        fake.wait_for(lambda: len(fake.sent()) == 2, 60, "the first answer in the conversation")
        fake.say("where will they meet?")
        fake.wait_for(lambda: len(fake.sent()) == 3, 60, "the follow-up's answer")
        first, follow_up = fake.sent()[1:]
        for payload in (first, follow_up):
            assert payload["chat_id"] == CHAT and payload["parse_mode"] == "HTML"
            check_telegram_html(payload["text"])
            assert payload["text"].startswith("<b>1.</b> ") and "<blockquote>" in payload["text"]
        assert any("Budapest, Hungary" in quote for quote in _quotes(follow_up))

        # the context button under the Budapest answer
        budapest = _button_for(follow_up, "Budapest, Hungary")
        fake.press(budapest)
        fake.wait_for(lambda: len(fake.sent()) == 4, 30, "the context")
        context = fake.sent()[3]
        assert "answerCallbackQuery" in fake.methods()
        check_telegram_html(context["text"])
        assert '<b>"Then President Putin and I will meet' in context["text"]
        assert context["text"].startswith("<b>Trump et Poutine vont se voir à Budapest</b>")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    logs = out_path.read_text() + err_path.read_text()
    assert TOKEN not in logs and TOKEN.split(":")[1] not in logs
    assert not fake_telegram.bad_paths
    assert set(fake_telegram.methods()) <= {
        "getMe",
        "setMyCommands",
        "deleteWebhook",
        "getUpdates",
        "sendChatAction",
        "sendMessage",
        "answerCallbackQuery",
    }

    # both questions are turns of the chat's one conversation, persisted beside the index
    service = QAService(NewsIndex(data_dir, encoder))
    conversation = service.conversation(f"telegram-{CHAT}", owner=Owner.TELEGRAM)
    assert [t.question for t in conversation.turns] == [
        "What did Trump and Putin agree on?",
        "where will they meet?",
    ]
    assert all(t.shown > 0 for t in conversation.turns)  # answered, not abstained

    record = os.environ.get("NEWSQA_E2E_RECORD")
    if record:  # for the write-up: the exchange exactly as the fake server saw it
        Path(record).write_text(json.dumps(fake_telegram.calls, indent=2, ensure_ascii=False))


def _quotes(payload: dict[str, Any]) -> list[str]:
    """The quoted sentences of an answer message, as a reader sees them."""
    return [visible_text(q) for q in re.findall(r"<blockquote>(.*?)</blockquote>", payload["text"])]


def _button_for(payload: dict[str, Any], words: str) -> str:
    """The callback data of the context button under the answer quoting these words."""
    text = visible_text(payload["text"])
    rows = payload["reply_markup"]["inline_keyboard"]
    buttons = [button for row in rows for button in row]
    for button in buttons:
        number = button["text"].removeprefix("Context ")
        start = text.find(f"{number}. ")
        end = text.find(f"{int(number) + 1}. ", start)
        if words in text[start : end if end >= 0 else None]:
            return str(button["callback_data"])
    raise AssertionError(f"no answer quotes {words!r}")


# The bot over a fake encoder: what is tested here is start-up, not answers.
_BOT_WITH_A_FAKE_ENCODER = """
from bots.settings import get_settings
from bots.telegram.app import run_bot
from index.store import NewsIndex
from qa.service import QAService
from tests.fakes import FakeEncoder

settings = get_settings()
run_bot(settings, QAService(NewsIndex(settings.data_dir, FakeEncoder())))
"""
_ATTEMPT = re.compile(r"WARNING .*cannot reach the Telegram Bot API \(attempt (\d+)\): (.+)")


@pytest.mark.timeout(120)
def test_an_unreachable_bot_api_is_retried_with_one_line_per_attempt(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower() and "TELEGRAM" not in k}
    env.update(
        PYTHONPATH=str(REPO),
        NEWSQA_DATA_DIR=str(tmp_path / "bot-data"),
        NO_PROXY="127.0.0.1,localhost",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{port}/bot",
    )
    err_path = tmp_path / "bot.err"
    with err_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", _BOT_WITH_A_FAKE_ENCODER],
            env=env,
            stdout=err,
            stderr=err,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 60
        while len(_ATTEMPT.findall(err_path.read_text())) < 2:
            assert process.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, "no second attempt: " + err_path.read_text()
            time.sleep(0.1)
        with serving(port) as fake:  # the Bot API comes back
            fake.wait_for(lambda: "getUpdates" in fake.methods(), 60, "the bot to start polling")
            fake.say("where will they meet?")
            fake.wait_for(lambda: len(fake.sent()) == 1, 30, "an answer")
        # ... goes away while the bot polls, and comes back again
        while "while polling" not in err_path.read_text():
            assert process.poll() is None, err_path.read_text()
            assert time.monotonic() < deadline, "the lost Bot API was not logged"
            time.sleep(0.1)
        with serving(port, first_update=100) as fake:  # the same server, later updates
            fake.say("and when?")
            fake.wait_for(lambda: len(fake.sent()) == 1, 60, "an answer after the outage")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    logs = err_path.read_text()
    attempts = _ATTEMPT.findall(logs)
    assert [int(n) for n, _ in attempts] == list(range(1, len(attempts) + 1))
    assert all(reason.endswith("trying again with backoff") for _, reason in attempts)
    assert "Traceback" not in logs
    assert f"after {len(attempts)} failed attempts" in logs
    assert re.search(r"WARNING .*cannot reach the Telegram Bot API while polling: .+", logs)
    assert TOKEN not in logs and TOKEN.split(":")[1] not in logs
