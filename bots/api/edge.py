"""The last line at the HTTP edge: whatever a client sends, it gets a status and a reason.

Hostile bodies (lone surrogates, JSON nested past Python's recursion limit) and a full disk
raise errors the engine does not know as its own; they are mapped here so that none of them
turns into a bare 500 or a reset connection.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.errors import is_disk_full

log = logging.getLogger(__name__)

NESTED_TOO_DEEP = "the request holds JSON nested too deeply to read"
NOT_TEXT = (
    "the request contains a character that is not text (a lone UTF-16 surrogate such as "
    "\\ud800); send plain UTF-8 text"
)
DISK_FULL = "the server's disk is full, so nothing can be written now; try again later"


class SafeJSONResponse(JSONResponse):
    """JSON as UTF-8, falling back to ASCII escapes when a string is not encodable (a lone
    surrogate echoed back), instead of failing while the response is written."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def problem(status: int, detail: str) -> SafeJSONResponse:
    """The API's error body, `{"detail": "..."}`."""
    return SafeJSONResponse({"detail": detail}, status_code=status)


def _plain_input(error: dict[str, Any]) -> dict[str, Any]:
    if error.get("type") == "string_unicode":
        # pydantic's "unable to parse raw data as a unicode string" says little to a client
        error = {**error, "msg": NOT_TEXT}
    # A deeply nested input cannot be encoded again; scalars are echoed as FastAPI does.
    if isinstance(error.get("input"), (dict, list)):
        return {key: value for key, value in error.items() if key != "input"}
    return error


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_plain_input(dict(e)) for e in exc.errors()]
    return SafeJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError):
        return problem(400, NESTED_TOO_DEEP)
    return await http_exception_handler(request, exc)


async def _not_text(request: Request, exc: Exception) -> Response:
    return SafeJSONResponse(
        {"detail": [{"loc": ["body"], "msg": NOT_TEXT, "type": "invalid_text"}]},
        status_code=422,
    )


async def _too_deep(request: Request, exc: Exception) -> Response:
    return problem(400, NESTED_TOO_DEEP)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_disk_full(exc):
        log.warning("disk full on %s %s: %s", request.method, request.url.path, exc)
        return problem(507, DISK_FULL)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "something went wrong on the server; it has been logged")


class Shield:
    """Outside the app's own handlers: any other exception still gets a JSON answer (and the
    traceback goes to the log), unless the response had already started."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    """Register the edge's handlers and its shield on an app."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(UnicodeError, _not_text)
    app.add_exception_handler(RecursionError, _too_deep)
    # A full disk arrives as one of these from the store or the conversations.
    app.add_exception_handler(OSError, _unexpected)
    app.add_exception_handler(sqlite3.Error, _unexpected)
    app.add_middleware(Shield)
