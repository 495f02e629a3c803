"""The FastAPI app: built by a factory, the model and index loaded once by its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from prometheus_fastapi_instrumentator import Instrumentator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bots.api import deps, edge
from bots.api.auth import admin_key
from bots.api.deps import ApiState, NotReadyError, ServiceLoader, UnauthorizedError
from bots.api.disk import DiskFullError
from bots.api.feeds import router as feeds_router
from bots.api.feeds import start_watching
from bots.api.jobs import JobNotFoundError, Jobs
from bots.api.messages import readable, size
from bots.api.ratelimit import RateLimitedError
from bots.api.routes import STATIC, UnsupportedMediaError, UploadTooLargeError, router
from bots.api.schemas import Problem
from bots.settings import Settings, get_settings
from qa.errors import (
    ArticleNotFoundError,
    ConversationNotFoundError,
    FeedNotFoundError,
    FetchError,
    IndexBusyError,
    IndexCorruptError,
    InvalidArticleError,
    InvalidQuestionError,
    ModelMismatchError,
    NewsqaError,
    is_disk_full,
)
from qa.service import QAService

log = logging.getLogger(__name__)

# How often idle conversations are swept (they are also ignored on read once expired).
_EXPIRY_EVERY = 3600.0


def _load(settings: Settings) -> QAService:
    from bots.wiring import build_service, load_encoder

    return build_service(settings, load_encoder(settings))


def _problem(status: int, detail: str) -> JSONResponse:
    return edge.problem(status, Problem(detail=detail).detail)


def _validation(loc: tuple[str, ...], message: str, kind: str) -> JSONResponse:
    """Domain validation errors use FastAPI's 422 shape, so clients parse one kind of 422."""
    return edge.SafeJSONResponse(
        {"detail": [{"loc": loc, "msg": message, "type": kind}]}, status_code=422
    )


_STATUS: list[tuple[type[Exception], int]] = [
    (ArticleNotFoundError, 404),
    (ConversationNotFoundError, 404),
    (JobNotFoundError, 404),
    (FeedNotFoundError, 404),
    (IndexBusyError, 409),
    (UploadTooLargeError, 413),
    (UnsupportedMediaError, 415),
    (ModelMismatchError, 503),
    (IndexCorruptError, 503),
    (NotReadyError, 503),
    (DiskFullError, 507),
]


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 shape, each `msg` a sentence ("the question is empty")."""
    assert isinstance(exc, RequestValidationError)
    # SafeJSONResponse: an item may still carry a lone surrogate the client sent
    return edge.SafeJSONResponse({"detail": readable(exc.errors())}, status_code=422)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    """Translate an engine error into its HTTP status with the engine's own message."""
    if isinstance(exc, UnauthorizedError):
        response = _problem(401, str(exc))
        response.headers["WWW-Authenticate"] = "APIKey"
        return response
    if isinstance(exc, InvalidQuestionError):
        return _validation(("body",), str(exc), "invalid_question")
    if isinstance(exc, InvalidArticleError):
        return _validation(("body",), str(exc), "invalid_article")
    if isinstance(exc, FetchError):
        return _validation(("body", "url"), str(exc), "invalid_url")
    if isinstance(exc, JobNotFoundError):
        return _problem(404, f"no job with id {exc}")
    if isinstance(exc, RateLimitedError):
        response = _problem(429, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            response = _problem(status, str(exc))
            if isinstance(exc, NotReadyError) and exc.retry_after is not None:
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
    if is_disk_full(exc):
        return _problem(507, f"disk full: nothing can be written now ({exc})")
    # an engine error no rule maps is the server's failure, not the request's: a client must
    # not be told to change a request that may succeed as it is
    log.error("unmapped engine error on %s: %s", request.url.path, exc)
    return _problem(500, str(exc))


class BodyLimit:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        # A multipart upload carries the file plus a little framing.
        upload = media == b"multipart/form-data"
        limit = self.max_upload + 64 * 1024 if upload else self.max_body
        refusal = (
            f"uploads are limited to {size(self.max_upload)}"
            if upload
            else f"the request body is larger than the limit of {size(self.max_body)}"
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(send, refusal)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route, so the app's own handler renders the 413.
                    raise HTTPException(413, refusal)
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    async def _reject(send: Send, message: str) -> None:
        response = _problem(413, message)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(response.body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": response.body})


# The docs pages may load nothing from elsewhere: ReDoc's bundle still reaches for its vendor's
# logo on a CDN, which the browser then does not even try.
_DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:"
)


class DocsPolicy:
    """Adds the content security policy to the docs pages (plain ASGI, so that request bodies
    stream through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in ("/docs", "/redoc"):
            await self.app(scope, receive, send)
            return

        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"content-security-policy", _POLICY)]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_policy)


_POLICY = _DOCS_POLICY.encode()


async def _expire_conversations(service: QAService, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            gone = await asyncio.to_thread(service.conversations.expire)
        except Exception:
            log.exception("expiring idle conversations failed")
        else:
            if gone:
                log.info("expired %d idle conversations", gone)


def create_app(
    settings: Settings | None = None,
    service: QAService | None = None,
    *,
    loader: ServiceLoader | None = None,
) -> FastAPI:
    """The app. With a service, that one is served; otherwise the lifespan loads the configured
    model and index in the background (readyz says 503 until then)."""
    settings = settings or get_settings()
    try:
        key = admin_key(settings)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        # Start anyway and answer questions; the key is made on the first write that has room.
        log.warning("disk full: the generated admin key cannot be saved yet (%s)", exc)
        key = None
    state = ApiState(settings=settings, key=key, jobs=Jobs(settings.jobs_kept))
    load = loader or _load

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[Any]] = []
        stoppers: list[Callable[[], None]] = []

        async def attempt() -> QAService | None:
            try:
                ready = service if service is not None else await asyncio.to_thread(load, settings)
                # Read the vectors now, not on the first question.
                await asyncio.to_thread(ready.index.load)
            except Exception as exc:
                if is_disk_full(exc):
                    # Freeing space is enough: the load is tried again, no restart needed.
                    log.warning("disk full: cannot load from %s (%s)", settings.data_dir, exc)
                    state.load_error = f"disk full: cannot load from {settings.data_dir}"
                    state.load_retrying = True
                    return None
                log.exception("loading the model and index failed")
                state.load_error = f"loading failed: {exc}"
                state.load_retrying = False
                return None
            return ready

        def serve(ready: QAService) -> None:
            state.load_error, state.load_retrying = None, False
            state.service = ready
            state.jobs.records = ready.job_records
            stoppers.append(start_watching(app.state, settings, ready))
            tasks.append(
                asyncio.create_task(
                    _expire_conversations(
                        ready, min(_EXPIRY_EVERY, settings.conversation_idle_seconds)
                    )
                )
            )
            log.info("ready: %s", ready.index.data_dir)

        async def keep_trying(ready: QAService | None) -> None:
            while ready is None and state.load_retrying:
                await asyncio.sleep(deps.LOAD_RETRY_SECONDS)
                ready = await attempt()
            if ready is not None:
                serve(ready)

        async def start() -> None:
            await keep_trying(await attempt())

        if service is not None:
            # A given service is loaded at once, so tests and callers get a ready app.
            ready = await attempt()
            if ready is not None:
                serve(ready)
            elif state.load_retrying:
                tasks.append(asyncio.create_task(keep_trying(None)))
        else:
            tasks.append(asyncio.create_task(start()))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(state.jobs.wait, 60.0)
            for halt in stoppers:
                await asyncio.to_thread(halt)

    # /docs and /redoc load Swagger UI and ReDoc from the installed fastapi-offline package, not
    # a CDN: the docs work on a machine without internet.
    app = FastAPIOffline(
        favicon_url="/static/favicon.svg",
        title="newsqa",
        version="0.1.0",
        summary="Questions answered with sentences quoted from news articles.",
        lifespan=lifespan,
        default_response_class=edge.SafeJSONResponse,
        responses={
            400: {"model": Problem, "description": "The body is not valid JSON."},
            413: {"model": Problem, "description": "The request body is too large."},
        },
    )
    app.state.api = state
    app.include_router(router)
    app.include_router(feeds_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    edge.install(app)
    app.add_exception_handler(NewsqaError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    for kind in (
        NotReadyError,
        UnauthorizedError,
        JobNotFoundError,
        UploadTooLargeError,
        UnsupportedMediaError,
        RateLimitedError,
        DiskFullError,
    ):
        app.add_exception_handler(kind, _domain_error)
    Instrumentator(
        registry=state.metrics.registry,
        excluded_handlers=["/metrics", "/static"],
    ).instrument(app, metric_namespace="newsqa")
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Content-Type", "X-API-Key"],
        )
    app.add_middleware(DocsPolicy)
    app.add_middleware(
        BodyLimit, max_body=settings.max_body_bytes, max_upload=settings.max_upload_bytes
    )
    return app
