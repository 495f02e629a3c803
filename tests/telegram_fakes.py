"""Test doubles for the Telegram bot: a Bot API that never leaves the process, and an HTML check."""

from __future__ import annotations

import itertools
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from telegram.request import BaseRequest, RequestData

from index.articles import Article
from index.embedding import Encoder
from index.store import NewsIndex
from qa.service import QAService

# Two small articles for the bot's tests; the summit one carries HTML that must come out escaped.
SUMMIT = Article(
    id="summit",
    title="Tom & Jerry <b>summit</b>",
    source="AFP",
    url="https://example.com/summit?id=1&lang=en",
    published="2025-10-16",
    text=(
        "Putin and Trump will meet in Budapest next month. "
        "The summit <b>will</b> take place in Budapest & Vienna, said <script>officials</script>. "
        "Orban said Hungary is ready to host the leaders. "
        "Russia launched 320 drones overnight."
    ),
)
WEATHER = Article(
    id="weather",
    title="Weather report",
    text="Heavy rain fell on Paris on Monday. The river Seine rose two meters. Snow is expected.",
)


def bot_service(data_dir: Path, encoder: Encoder) -> QAService:
    """An index of the two articles above (with a fake encoder: the bot's plumbing, not meaning)."""
    service = QAService(NewsIndex(data_dir, encoder))
    service.ingest([SUMMIT, WEATHER])
    return service


BOT_USER = {"id": 4242, "is_bot": True, "first_name": "NewsQA", "username": "newsqa_test_bot"}

# What Telegram's HTML parse mode accepts (https://core.telegram.org/bots/api#html-style).
ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
    | {"blockquote", "span", "tg-spoiler", "tg-emoji"}
)
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
_TAG = re.compile(r"<[^<>]*>")


class FakeBotAPI(BaseRequest):
    """Records every Bot API call as (method, parameters) and answers like Telegram would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1000)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if "/file/bot" in url:
            return 200, self.files[url.rsplit("/", 1)[-1]]
        name = url.rsplit("/", 1)[-1]
        params = request_data.parameters if request_data is not None else {}
        self.calls.append((name, params))
        return 200, json.dumps({"ok": True, "result": self._result(name, params)}).encode()

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getMe":
            return BOT_USER
        if name == "sendMessage":
            return {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": params["chat_id"], "type": "private"},
                "from": BOT_USER,
                "text": params["text"],
            }
        if name == "getFile":
            file_id = params["file_id"]
            return {"file_id": file_id, "file_unique_id": file_id, "file_path": f"docs/{file_id}"}
        return True

    def sent(self) -> list[dict[str, Any]]:
        """The sendMessage payloads, in order."""
        return [params for name, params in self.calls if name == "sendMessage"]

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def clear(self) -> None:
        self.calls.clear()


_update_ids = itertools.count(1)


def message_update(
    text: str | None,
    chat_id: int = 501,
    *,
    user_id: int | None = None,
    chat_type: str = "private",
    **extra: Any,
) -> dict[str, Any]:
    """An update carrying a message; a leading /command gets its entity like Telegram sends."""
    update_id = next(_update_ids)
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type != "private":
        chat["title"] = "Newsroom"
    message: dict[str, Any] = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": chat,
        "from": {"id": user_id or abs(chat_id), "is_bot": False, "first_name": "Ann"},
        **extra,
    }
    if text is not None:
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}


def callback_update(data: str, chat_id: int = 501, message_id: int = 1000) -> dict[str, Any]:
    """An update for a press on an inline button under one of the bot's messages."""
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Ann"},
            "chat_instance": "ci",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": "earlier answer",
            },
        },
    }


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}> is not allowed")
        if tag == "a" and [name for name, _ in attrs] != ["href"]:
            self.problems.append(f"<a> attributes {attrs}")
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def check_telegram_html(html: str, limit: int = 4096) -> None:
    """Fail unless Telegram would accept this as an HTML-mode message."""
    assert html.strip(), "empty message"
    assert len(html.encode("utf-16-le")) // 2 <= limit, "message over the length limit"
    for piece in _TAG.split(html):
        assert "<" not in piece and ">" not in piece, f"unescaped < or > in {piece!r}"
        assert "&" not in _ENTITY.sub("", piece), f"unescaped & in {piece!r}"
    checker = _TagChecker()
    checker.feed(html)
    checker.close()
    assert not checker.problems, checker.problems
    assert not checker.stack, f"unclosed tags {checker.stack}"


def visible_text(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded."""
    from html import unescape

    return unescape(_TAG.sub("", html))
