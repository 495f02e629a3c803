"""Web sources over HTTP: articles by URL, followed feeds, and the watcher inside `serve`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bots.api.deps import Admin, ApiState, Service, State
from bots.settings import Settings
from qa.records import Feed
from qa.service import IngestOutcome, QAService
from qa.web import WebSources

log = logging.getLogger(__name__)

MAX_URL_CHARS = 2000
MAX_URLS = 20

router = APIRouter()


class UrlIn(BaseModel):
    """An article page to fetch and ingest."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8, max_length=MAX_URL_CHARS, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$"
    )


class FeedIn(BaseModel):
    """A feed to follow."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8, max_length=MAX_URL_CHARS, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://\S+$"
    )
    interval_minutes: float | None = Field(
        default=None, ge=1, le=7 * 24 * 60, description="Minutes between polls."
    )


class FeedOut(BaseModel):
    """A followed feed and how polling it goes."""

    id: int
    url: str
    title: str | None
    interval_minutes: float
    last_poll: float | None
    last_ok: float | None
    next_poll: float
    last_error: str | None
    failures: int
    entries: int
    pending: int
    failed: int


def feed_out(feed: Feed) -> FeedOut:
    """A feed as the API shows it."""
    return FeedOut(
        id=feed.id,
        url=feed.url,
        title=feed.title,
        interval_minutes=feed.interval_s / 60,
        last_poll=feed.last_poll,
        last_ok=feed.last_ok,
        next_poll=feed.next_poll,
        last_error=feed.last_error,
        failures=feed.failures,
        entries=feed.entries,
        pending=feed.pending,
        failed=feed.failed,
    )


_lock = threading.Lock()


def web_sources(app_state: Any, settings: Settings, service: QAService) -> WebSources:
    """The app's one WebSources (made on first use, kept on the app)."""
    with _lock:
        web: WebSources | None = getattr(app_state, "web_sources", None)
        if web is None or web.service is not service:
            from bots.wiring import build_web

            web = build_web(settings, service)
            app_state.web_sources = web
        return web


def get_web(request: Request, state: State, service: Service) -> WebSources:
    """The WebSources of the app serving this request."""
    return web_sources(request.app.state, state.settings, service)


Web = Annotated[WebSources, Depends(get_web)]


def is_url_body(data: Any) -> bool:
    """A JSON body of `{"url": ...}` objects (pages to fetch) rather than article records."""
    items = data if isinstance(data, list) else [data]
    return bool(items) and all(
        isinstance(item, dict) and "url" in item and "text" not in item and "title" not in item
        for item in items
    )


async def ingest_url_body(
    request: Request, state: ApiState, service: QAService, data: Any
) -> IngestOutcome:
    """Validate `{"url": ...}` (or a list of them), fetch the pages, ingest what they hold."""
    from fastapi.exceptions import RequestValidationError
    from pydantic import TypeAdapter, ValidationError

    try:
        parsed = (
            TypeAdapter(list[UrlIn]).validate_python(data)
            if isinstance(data, list)
            else [UrlIn.model_validate(data)]
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None
    if len(parsed) > MAX_URLS:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"at most {MAX_URLS} URLs at once", "type": "too_long"}]
        )
    web = web_sources(request.app.state, state.settings, service)
    return await run_in_threadpool(web.ingest_urls, [item.url for item in parsed])


_WRITE: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or wrong X-API-Key."},
    503: {"description": "The model and index are still loading."},
}


@router.get("/feeds", response_model=list[FeedOut], tags=["feeds"], responses={**_WRITE})
async def list_feeds(web: Web) -> list[FeedOut]:
    """The feeds followed, with their last poll, last error and entry counts."""
    return [feed_out(feed) for feed in await run_in_threadpool(web.feeds)]


@router.post(
    "/feeds",
    response_model=FeedOut,
    status_code=status.HTTP_201_CREATED,
    tags=["feeds"],
    dependencies=[Admin],
    responses={
        **_WRITE,
        200: {"model": FeedOut, "description": "Already followed."},
        422: {"description": "The request is invalid (see `detail`)."},
    },
)
async def add_feed(body: FeedIn, web: Web, response: Response) -> FeedOut:
    """Follow an RSS or Atom feed; it is polled at once, then every `interval_minutes`."""
    interval = None if body.interval_minutes is None else body.interval_minutes * 60
    feed, created = await run_in_threadpool(web.add_feed, body.url, interval)
    if not created:
        response.status_code = status.HTTP_200_OK
    return feed_out(feed)


@router.delete(
    "/feeds/{feed_id}",
    response_model=FeedOut,
    tags=["feeds"],
    dependencies=[Admin],
    responses={**_WRITE, 404: {"description": "No such feed."}},
)
async def remove_feed(feed_id: Annotated[int, PathParam(ge=1)], web: Web) -> FeedOut:
    """Stop following a feed (its articles stay)."""
    return feed_out(await run_in_threadpool(web.remove_feed, str(feed_id)))


def start_watching(app_state: Any, settings: Settings, service: QAService) -> Callable[[], None]:
    """Poll feeds in a background thread (never on the event loop); returns how to stop it."""
    if not settings.watch:
        return lambda: None
    try:
        web = web_sources(app_state, settings, service)
    except Exception as exc:  # a full disk, say: questions are still answered, feeds wait
        log.warning("feeds are not watched: %s", exc)
        return lambda: None
    stop = threading.Event()
    thread = threading.Thread(target=web.watch, args=(stop,), name="newsqa-watch", daemon=True)
    thread.start()
    log.info("watching feeds (%d followed)", len(web.feeds()))

    def halt() -> None:
        stop.set()
        web.watcher.wake.set()
        thread.join(30)
        with _lock:
            if getattr(app_state, "web_sources", None) is web:
                app_state.web_sources = None
        web.close()

    return halt
