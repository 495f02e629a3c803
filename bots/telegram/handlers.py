"""Telegram handlers: parse the update, call the service once off the event loop, render.

The engine is blocking (model, FAISS, SQLite), so every service call runs in a worker thread
via `asyncio.to_thread`; those threads see only plain values, never PTB objects.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import NetworkError, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bots.settings import Settings
from bots.telegram import render
from bots.telegram.ratelimit import RateLimiter, Verdict
from qa.conversations import Owner
from qa.errors import (
    ArticleNotFoundError,
    IndexBusyError,
    IndexCorruptError,
    InvalidArticleError,
    ModelMismatchError,
    NewsqaError,
)
from qa.models import AnswerSet
from qa.records import IngestReport, pasted_article
from qa.service import IngestOutcome, QAService
from qa.web import WebSources

logger = logging.getLogger(__name__)

CONTEXT_DATA = re.compile(r"^ctx:(\d+)$")
FILTER = re.compile(r'(?<!\S)(since|until|source):("([^"]+)"|\S+)', re.IGNORECASE)
# a message that is nothing but a link: from an admin, a page to add
LINK = re.compile(r"^https?://\S+$", re.IGNORECASE)
UPLOAD_SUFFIXES = frozenset({".txt", ".md", ".jsonl"})
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # the Bot API serves files up to 20 MB
BUTTONS_PER_ROW = 5
OWNER = Owner.TELEGRAM  # chats' conversations are the bot's alone, never reachable over HTTP

HELP = (
    "I answer questions about the news articles I have read, by quoting the sentences that "
    "answer them, with the article each comes from.\n\n"
    "I know <b>{articles}</b> articles ({sentences} sentences). Just ask, for example "
    "<i>Where will Trump and Putin meet?</i> Follow-up questions such as <i>when?</i> "
    "use what you asked before.\n\n"
    "/more the next answers to your last question\n"
    "/context the first answer with the sentences around it (/context 2 for the second)\n"
    "/article keep asking about the article of the last answer; /article off to leave it\n"
    "/sources the most recent articles\n"
    "/reset forget this conversation\n"
    "Add <i>since:2025-10-01</i>, <i>until:2025-10-31</i> or <i>source:AFP</i> to a question "
    "to ask only about those articles.\n"
    "/help this message"
)
HELP_GROUP = "\n\nIn a group, mention me or reply to one of my messages."
HELP_ADMIN = (
    "\n\nYou are an admin: send a .txt, .md or .jsonl file, /add followed by a title line "
    "and the article text, or a link to an article page, to add articles."
)
HINT = "I only read text. Ask me a question in words, or see /help."
NOT_ADMIN = "Sorry, only the bot's admins can add articles. You are welcome to ask questions!"
SLOW_DOWN = "You are asking faster than I can read. Please wait {seconds} seconds and ask again."
FAILED = "Sorry, something went wrong on my side. Please try again in a moment."
ASK_FIRST = "Ask me a question first."


def conversation_id(chat_id: int) -> str:
    """Each chat is one conversation in the engine, shared with nothing else."""
    return f"telegram-{chat_id}"


@dataclass(frozen=True, slots=True)
class Reply:
    """Messages to send, with buttons under the last one."""

    messages: list[str]
    buttons: list[tuple[str, str]] | None = None  # (label, callback data)


class _Addressed(filters.MessageFilter):
    """A group message that mentions the bot or replies to one of its messages."""

    def filter(self, message: Message) -> bool:
        bot = message.get_bot()
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        mention = f"@{bot.username}".lower()
        found = message.parse_entities([MessageEntity.MENTION]).values()
        return any(value.lower() == mention for value in found)


class NewsBot:
    """The bot's handlers, over one QAService."""

    def __init__(self, service: QAService, settings: Settings, limiter: RateLimiter) -> None:
        self.service = service
        self.settings = settings
        self.limiter = limiter
        self.k = min(settings.telegram_answers, service.max_k)
        self._web: WebSources | None = None

    def register(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Attach every handler and the error handler."""
        private = filters.ChatType.PRIVATE
        new = filters.UpdateType.MESSAGE
        app.add_handler(CommandHandler(["start", "help"], self.help, filters=new))
        app.add_handler(CommandHandler("more", self.more, filters=new))
        app.add_handler(CommandHandler("context", self.context, filters=new))
        app.add_handler(CommandHandler("article", self.article, filters=new))
        app.add_handler(CommandHandler("sources", self.sources, filters=new))
        app.add_handler(CommandHandler("reset", self.reset, filters=new))
        app.add_handler(CommandHandler("add", self.add, filters=new))
        app.add_handler(CallbackQueryHandler(self.context_button, pattern=CONTEXT_DATA))
        app.add_handler(MessageHandler(new & private & filters.Document.ALL, self.document))
        app.add_handler(
            MessageHandler(
                new & filters.TEXT & ~filters.COMMAND & (private | _Addressed()), self.question
            )
        )
        app.add_handler(MessageHandler(new & private & filters.COMMAND, self.unknown_command))
        app.add_handler(MessageHandler(new & private & ~filters.TEXT, self.hint))
        app.add_error_handler(self.on_error)

    # ---- plumbing -----------------------------------------------------------------------

    async def _admit(self, update: Update) -> bool:
        """The per-chat rate limit: the first refusal gets a polite reply, later ones none."""
        chat = update.effective_chat
        if chat is None:
            return False
        verdict = self.limiter.check(chat.id)
        if verdict is Verdict.REFUSE:
            seconds = max(1, round(self.limiter.wait_seconds(chat.id)))
            await self._send(update, Reply([SLOW_DOWN.format(seconds=seconds)]))
        return verdict is Verdict.ALLOW

    async def _admit_admin(self, update: Update) -> bool:
        """The rate limit, then the admin list: anyone else is told that only admins add."""
        if not await self._admit(update):
            return False
        if not self._is_admin(update):
            await self._send(update, Reply([NOT_ADMIN]))
            return False
        return True

    async def _send(self, update: Update, reply: Reply) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        message = update.message
        in_group = chat.type != ChatType.PRIVATE
        markup = None
        if reply.buttons:
            buttons = [
                InlineKeyboardButton(label, callback_data=data) for label, data in reply.buttons
            ]
            rows = [
                buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)
            ]
            markup = InlineKeyboardMarkup(rows)
        last = len(reply.messages) - 1
        for i, text in enumerate(reply.messages):
            keyboard = markup if i == last else None
            if message is not None and in_group and i == 0:
                # in a group, quote the message being answered so people see which one
                await message.reply_text(
                    text, parse_mode=ParseMode.HTML, reply_markup=keyboard, do_quote=True
                )
            else:
                await chat.send_message(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)

    async def _typing(self, update: Update) -> None:
        if update.effective_chat is not None:
            await update.effective_chat.send_action(ChatAction.TYPING)

    def _is_admin(self, update: Update) -> bool:
        user = update.effective_user
        return user is not None and user.id in self.settings.telegram_admins

    @staticmethod
    def _cid(update: Update) -> str:
        assert update.effective_chat is not None
        return conversation_id(update.effective_chat.id)

    # ---- questions ----------------------------------------------------------------------

    async def question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any text in a private chat, or addressed to the bot in a group, is a question."""
        message = update.message
        if message is None or message.text is None or not await self._admit(update):
            return
        text = _strip_mention(message.text, message.get_bot().username)
        if not text:
            await self._send(update, Reply([HINT]))
            return
        if LINK.match(text) and self._is_admin(update):
            await self._typing(update)
            await self._send(update, await asyncio.to_thread(self._add_link, text))
            return
        await self._typing(update)
        reply = await asyncio.to_thread(self._ask, text, self._cid(update))
        await self._send(update, reply)

    def _ask(self, question: str, cid: str) -> Reply:
        question, filters = _filters(question)
        if not question:
            return Reply([HINT])
        try:
            answer_set = self.service.ask(
                question,
                k=self.k,
                conversation_id=cid,
                owner=OWNER,
                source=filters.get("source"),
                since=filters.get("since"),
                until=filters.get("until"),
            )
        except NewsqaError as exc:
            return Reply([_reason(exc)])
        return self._answers(answer_set)

    def _answers(self, answer_set: AnswerSet, first_number: int = 1) -> Reply:
        messages = render.render_answers(answer_set, first_number=first_number)
        ids = self._sentence_ids(answer_set)
        buttons = [
            (f"Context {number}", f"ctx:{sentence_id}")
            for number, sentence_id in enumerate(ids, start=first_number)
            if sentence_id is not None
        ]
        return Reply(messages, buttons or None)

    def _sentence_ids(self, answer_set: AnswerSet) -> list[int | None]:
        """Answers carry article and offsets; the context buttons need sentence ids."""
        by_article: dict[str, dict[int, int]] = {}
        for answer in answer_set.answers:
            if answer.article_id not in by_article:
                try:
                    _, sentences = self.service.article(answer.article_id)
                except NewsqaError:
                    sentences = []
                by_article[answer.article_id] = {s.start: s.id for s in sentences}
        return [
            by_article[a.article_id].get(a.start) if a.start is not None else None
            for a in answer_set.answers
        ]

    async def more(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/more: the next answers to the last question."""
        if not await self._admit(update):
            return
        await self._send(update, await asyncio.to_thread(self._more, self._cid(update)))

    def _more(self, cid: str) -> Reply:
        last = self.service.conversation(cid, owner=OWNER).last
        if last is None:
            return Reply([ASK_FIRST])
        try:
            answer_set = self.service.more(cid, self.k, owner=OWNER)
        except NewsqaError as exc:
            return Reply([_reason(exc)])
        return self._answers(answer_set, first_number=last.shown + 1)

    # ---- context and focus --------------------------------------------------------------

    async def context(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/context [n]: answer n of the last question with its neighbouring sentences."""
        if not await self._admit(update):
            return
        number = _number(context.args)
        if number is None:
            await self._send(update, Reply(["Use /context or /context 2 (an answer's number)."]))
            return
        await self._send(
            update, await asyncio.to_thread(self._context_of, self._cid(update), number)
        )

    def _context_of(self, cid: str, number: int) -> Reply:
        sentence_id = self._shown(cid, number)
        if sentence_id is None:
            return Reply([ASK_FIRST if number == 1 else f"There is no answer {number}."])
        return self._context(sentence_id)

    def _shown(self, cid: str, number: int) -> int | None:
        """The sentence id of answer `number` of the conversation's last question."""
        last = self.service.conversation(cid, owner=OWNER).last
        if last is None or not 1 <= number <= last.shown:
            return None
        return last.ranked[number - 1]

    def _context(self, sentence_id: int) -> Reply:
        try:
            sentence = self.service.context(sentence_id)
        except NewsqaError:
            return Reply(["That sentence is no longer in my articles."])
        return Reply(render.render_context(sentence))

    async def context_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The "Context n" button under an answer."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        await query.answer()
        match = CONTEXT_DATA.match(query.data)
        if match is None or not await self._admit(update):
            return
        await self._send(update, await asyncio.to_thread(self._context, int(match.group(1))))

    async def article(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/article [n]: keep asking about the article of answer n; /article off to leave."""
        if not await self._admit(update):
            return
        args = context.args or []
        cid = self._cid(update)
        if args and args[0].lower() in ("off", "all", "stop"):
            reply = await asyncio.to_thread(self._focus_off, cid)
        else:
            number = _number(args)
            if number is None:
                reply = Reply(["Use /article, /article 2 (an answer's number) or /article off."])
            else:
                reply = await asyncio.to_thread(self._focus, cid, number)
        await self._send(update, reply)

    def _focus(self, cid: str, number: int) -> Reply:
        sentence_id = self._shown(cid, number)
        if sentence_id is None:
            return Reply([ASK_FIRST if number == 1 else f"There is no answer {number}."])
        try:
            sentence = self.service.context(sentence_id)
            self.service.focus(cid, sentence.article_id, owner=OWNER)
        except NewsqaError as exc:
            return Reply([_reason(exc)])
        where = render.source_line(sentence.title, sentence.url, sentence.published)
        return Reply(
            [f"From now on I answer from {where} only. /article off to ask about all articles."]
        )

    def _focus_off(self, cid: str) -> Reply:
        self.service.focus(cid, None, owner=OWNER)
        return Reply(["I answer from all articles again."])

    # ---- other commands -----------------------------------------------------------------

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/start and /help: what the bot knows and how to ask."""
        if not await self._admit(update):
            return
        stats = await asyncio.to_thread(self.service.stats)
        text = HELP.format(articles=stats.articles, sentences=stats.sentences)
        chat = update.effective_chat
        if chat is not None and chat.type != ChatType.PRIVATE:
            text += HELP_GROUP
        if self._is_admin(update):
            text += HELP_ADMIN
        await self._send(update, Reply([text]))

    async def sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/sources: the most recent articles."""
        if not await self._admit(update):
            return
        articles, total = await asyncio.to_thread(self.service.articles, 0, 10)
        await self._send(update, Reply(render.render_sources(articles, total)))

    async def reset(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/reset: forget this chat's conversation."""
        if not await self._admit(update):
            return
        await asyncio.to_thread(partial(self.service.reset, self._cid(update), owner=OWNER))
        await self._send(update, Reply(["Forgotten. Ask me something new."]))

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not have."""
        if await self._admit(update):
            await self._send(update, Reply(["I don't know that command. See /help."]))

    async def hint(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stickers, photos, voice and the like."""
        if await self._admit(update):
            await self._send(update, Reply([HINT]))

    # ---- adding articles (admins) -------------------------------------------------------

    def _add_link(self, url: str) -> Reply:
        """An admin's link: fetch the page, index its article, say what was indexed."""
        if self._web is None:
            from bots.wiring import build_web

            self._web = build_web(self.settings, self.service)
        try:
            page = self._web.reader.read_url(url)
        except NewsqaError as exc:
            reason = getattr(exc, "reason", str(exc))
            return Reply([f"I could not add that page: {render.text(reason)}"])
        report, copies = self._web.ingester.ingest([page.article])
        article = page.article
        if copies:
            _, original = copies[0]
            kept, _ = self.service.article(original)
            return Reply(
                [
                    f"I already had this story as <b>{render.text(kept.title)}</b>; "
                    f"{render.text(article.source or article.url or 'this page')} is now listed "
                    "as another source of it."
                ]
            )
        verb = "Added" if report.added else "Updated" if report.replaced else "Already had"
        where = " · ".join(
            render.text(part) for part in (article.source, article.published) if part
        )
        return Reply(
            [
                f"{verb}: <b>{render.text(article.title)}</b>"
                + (f"\n{where}" if where else "")
                + f"\n({_plural(report.sentences, 'sentence')} embedded)"
            ]
        )

    async def add(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/add followed by a title line and the article text."""
        message = update.message
        if message is None or message.text is None or not await self._admit_admin(update):
            return
        parts = message.text.split(maxsplit=1)
        body = parts[1] if len(parts) > 1 else ""
        try:
            # known by its title, so /add of a corrected text replaces the earlier one
            article = pasted_article(body, "telegram", max_bytes=self.service.max_article_bytes)
        except InvalidArticleError:
            await self._send(
                update, Reply(["Send /add, then a title line, then the article text below it."])
            )
            return
        await self._typing(update)
        report = await asyncio.to_thread(self.service.ingest, [article])
        await self._send(update, Reply([_ingest_text(IngestOutcome(report, []))]))

    async def document(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A file sent to the bot: admins add its articles; everyone else is refused."""
        message = update.message
        if message is None or message.document is None or not await self._admit_admin(update):
            return
        document = message.document
        name = document.file_name or "upload"
        if Path(name).suffix.lower() not in UPLOAD_SUFFIXES:
            await self._send(
                update, Reply(["I can read .txt, .md and .jsonl files. Send one of those."])
            )
            return
        if document.file_size is not None and document.file_size > MAX_UPLOAD_BYTES:
            await self._send(update, Reply(["That file is too large; the limit is 10 MB."]))
            return
        await self._typing(update)
        payload = bytes(await (await document.get_file()).download_as_bytearray())
        outcome = await asyncio.to_thread(self.service.ingest_upload, name, payload)
        await self._send(update, Reply([_ingest_text(outcome)]))

    # ---- errors -------------------------------------------------------------------------

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the failure and tell the user, rather than leave them waiting."""
        if update is None and isinstance(context.error, NetworkError):
            # polling lost the Bot API: PTB polls again with backoff; one line, no traceback
            logger.warning(
                "cannot reach the Telegram Bot API while polling: %s; trying again", context.error
            )
            return
        update_id = update.update_id if isinstance(update, Update) else None
        logger.error("handling update %s failed", update_id, exc_info=context.error)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await update.effective_chat.send_message(FAILED, parse_mode=ParseMode.HTML)
            except TelegramError:
                logger.warning("could not tell chat about the failure", exc_info=True)


GONE = "That article is no longer among mine. /article off to ask about all articles again."
BUSY = "I am updating my articles right now. Please ask again in a minute."
BROKEN = (
    "I cannot read my articles right now; whoever runs me has to fix that. Please try again later."
)


def _reason(exc: NewsqaError) -> str:
    """Why a request failed, in words for the reader of the chat (the log keeps the details)."""
    if isinstance(exc, ArticleNotFoundError):
        return GONE
    if isinstance(exc, IndexBusyError):
        return BUSY
    if isinstance(exc, ModelMismatchError | IndexCorruptError):
        logger.error("the index cannot be used: %s", exc)
        return BROKEN
    return _sentence(str(exc))


def _sentence(message: str) -> str:
    """A domain error's message as a sentence for the chat."""
    message = render.text(message.strip().rstrip("."))
    return message[:1].upper() + message[1:] + "."


def _filters(text: str) -> tuple[str, dict[str, str]]:
    """`since:2025-10-01`, `until:…` and `source:AFP` (or `source:"Le Monde"`) taken out of a
    question as filters."""
    found: dict[str, str] = {}

    def take(match: re.Match[str]) -> str:
        found[match.group(1).lower()] = match.group(3) or match.group(2)
        return " "

    rest = FILTER.sub(take, text)
    return " ".join(rest.split()), found


def _strip_mention(text: str, username: str | None) -> str:
    if username:
        text = re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _number(args: Sequence[str] | None) -> int | None:
    """The answer number a command was given: none means 1; anything else not a number is None."""
    if not args:
        return 1
    return int(args[0]) if args[0].isdigit() and 0 < int(args[0]) < 1000 else None


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _ingest_text(outcome: IngestOutcome) -> str:
    report: IngestReport = outcome.report
    lines = [
        f"Added {_plural(len(report.added), 'article')}, replaced {len(report.replaced)}, "
        f"{len(report.unchanged)} unchanged ({_plural(report.sentences, 'sentence')} embedded)."
    ]
    if outcome.skipped:
        lines.append(f"Skipped {len(outcome.skipped)}:")
        lines += [f"• {render.text(str(skipped))}" for skipped in outcome.skipped[:10]]
    return "\n".join(lines)
