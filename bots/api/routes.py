"""The endpoints: each parses its request, calls the service once (off the event loop), renders."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path, PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from bots.api.deps import Admin, Limited, Service, State, Writable
from bots.api.disk import write_problem
from bots.api.feeds import UrlIn, ingest_url_body, is_url_body
from bots.api.jobs import Job
from bots.api.messages import size
from bots.api.metrics import CONTENT_TYPE
from bots.api.schemas import (
    CONVERSATION_ID_PATTERN,
    ArticleDetail,
    ArticleIn,
    ArticlePage,
    ArticleSummary,
    AskRequest,
    FocusOut,
    FocusRequest,
    Health,
    IngestOut,
    JobOut,
    MoreRequest,
    Problem,
    RemovedOut,
    SentenceOut,
    SkippedOut,
    StatsOut,
)
from qa.conversations import Owner
from qa.errors import InvalidArticleError
from qa.models import AnswerSet
from qa.records import SUFFIXES, Article, Skipped, Stats, article_from_record
from qa.service import IngestOutcome

STATIC = Path(__file__).parent / "static"
MAX_OFFSET = 1_000_000_000


Responses = dict[int | str, dict[str, Any]]


def _problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


NOT_READY: Responses = {503: _problem("The model and index are still loading.")}
NOT_FOUND: Responses = {404: _problem("No such article.")}
NO_CONVERSATION: Responses = {
    404: _problem("No such conversation (never started here, forgotten or expired).")
}
ASK_NOT_FOUND: Responses = {404: _problem("No such article, or no such conversation.")}
FOCUS_NOT_FOUND: Responses = {404: _problem("No such conversation, or no such article.")}
INVALID: Responses = {422: {"description": "The request is invalid (see `detail`)."}}
WRITE: Responses = {
    401: _problem("Missing or wrong X-API-Key."),
    **NOT_READY,
    507: _problem("The disk is full: nothing can be written until space is freed."),
}
LIMITED: Responses = {
    429: {
        "model": Problem,
        "description": "Too many requests from this address (NEWSQA_RATE_LIMIT).",
        "headers": {
            "Retry-After": {
                "description": "Seconds until a request from this address is accepted again.",
                "schema": {"type": "integer"},
            }
        },
    }
}

router = APIRouter()
_article_list: TypeAdapter[list[ArticleIn]] = TypeAdapter(list[ArticleIn])


# ---- questions ------------------------------------------------------------------------------


@router.post(
    "/ask",
    response_model=AnswerSet,
    tags=["questions"],
    dependencies=[Limited],
    responses={**LIMITED, **ASK_NOT_FOUND, **INVALID, **NOT_READY},
)
async def ask(body: AskRequest, service: Service, state: State) -> AnswerSet:
    """The best sentences for a question, quoted, or an abstention.

    Nothing is stored unless `start_conversation` is true: then the answer carries a new
    `conversation_id`; send it back with follow-ups. Only ids this API gave out are accepted;
    conversations expire after an idle time.
    """
    answer_set = await run_in_threadpool(
        partial(
            service.ask,
            body.question,
            k=body.k,
            article_id=body.article_id,
            conversation_id=body.conversation_id,
            start_conversation=body.start_conversation,
            include_closest=body.include_closest,
            owner=Owner.API,
            source=body.source,
            since=body.since,
            until=body.until,
        )
    )
    state.metrics.observe(answer_set)
    return answer_set


ConversationId = Annotated[str, PathParam(pattern=CONVERSATION_ID_PATTERN)]


@router.post(
    "/conversations/{conversation_id}/more",
    response_model=AnswerSet,
    tags=["questions"],
    dependencies=[Limited],
    responses={**LIMITED, **NO_CONVERSATION, **INVALID, **NOT_READY},
)
async def more(conversation_id: ConversationId, body: MoreRequest, service: Service) -> AnswerSet:
    """The next answers to the conversation's last question (empty when there are no more)."""
    return await run_in_threadpool(partial(service.more, conversation_id, body.k, owner=Owner.API))


@router.put(
    "/conversations/{conversation_id}/focus",
    response_model=FocusOut,
    tags=["questions"],
    dependencies=[Limited],
    responses={**LIMITED, **FOCUS_NOT_FOUND, **INVALID, **NOT_READY},
)
async def focus(conversation_id: ConversationId, body: FocusRequest, service: Service) -> FocusOut:
    """Keep a conversation on one article, or (`null`) on every article again."""
    await run_in_threadpool(
        partial(service.focus, conversation_id, body.article_id, owner=Owner.API)
    )
    return FocusOut(conversation_id=conversation_id, article_id=body.article_id)


@router.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["questions"],
    dependencies=[Limited],
    responses={**LIMITED, **NO_CONVERSATION, **INVALID, **NOT_READY},
)
async def forget(conversation_id: ConversationId, service: Service) -> Response:
    """Forget a conversation."""
    await run_in_threadpool(partial(service.reset, conversation_id, owner=Owner.API))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- articles -------------------------------------------------------------------------------


def _stats_out(stats: Stats) -> StatsOut:
    return StatsOut(
        articles=stats.articles,
        sentences=stats.sentences,
        vectors=stats.vectors,
        generation=stats.generation,
        model=stats.model,
    )


@router.get(
    "/stats",
    response_model=StatsOut,
    tags=["articles"],
    dependencies=[Limited],
    responses={**LIMITED, **NOT_READY},
)
async def stats(service: Service) -> StatsOut:
    """What the index holds."""
    return _stats_out(await run_in_threadpool(service.stats))


@router.get(
    "/articles",
    response_model=ArticlePage,
    tags=["articles"],
    dependencies=[Limited],
    responses={**LIMITED, **INVALID, **NOT_READY},
)
async def list_articles(
    service: Service,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    q: Annotated[
        str | None, Query(max_length=200, description="Only articles whose title contains this.")
    ] = None,
) -> ArticlePage:
    """A page of articles, newest first; `q` searches the titles."""
    items, total = await run_in_threadpool(service.articles, offset, limit, q or None)
    return ArticlePage(
        total=total,
        offset=offset,
        limit=limit,
        items=[ArticleSummary(**dataclasses.asdict(item)) for item in items],
    )


@router.get(
    "/articles/{article_id:path}",
    response_model=ArticleDetail,
    tags=["articles"],
    dependencies=[Limited],
    responses={**LIMITED, **NOT_FOUND, **NOT_READY},
)
async def get_article(article_id: str, service: Service) -> ArticleDetail:
    """An article with its text and its sentences in reading order."""
    article, sentences = await run_in_threadpool(service.article, article_id)
    return ArticleDetail(
        id=article.id,
        title=article.title,
        text=article.text,
        source=article.source,
        url=article.url,
        published=article.published,
        sentences=[
            SentenceOut(id=s.id, position=s.position, start=s.start, end=s.end, text=s.text)
            for s in sentences
        ],
    )


_UPLOAD_SCHEMA = {
    "type": "object",
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "A .txt (first line is the title) or .jsonl (one article a line).",
        }
    },
    "required": ["file"],
}
_ARTICLE_SCHEMA = ArticleIn.model_json_schema()
_URL_SCHEMA = UrlIn.model_json_schema()
_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "anyOf": [
                        _ARTICLE_SCHEMA,
                        {"type": "array", "items": _ARTICLE_SCHEMA, "title": "Articles"},
                        _URL_SCHEMA,
                        {"type": "array", "items": _URL_SCHEMA, "title": "Urls"},
                    ]
                }
            },
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
        },
    }
}


class UnsupportedMediaError(Exception):
    """A body that is neither JSON nor a multipart upload."""


class UploadTooLargeError(Exception):
    """An uploaded file over the configured size."""


def _invalid(loc: tuple[str | int, ...], message: str, kind: str = "value_error") -> Exception:
    return RequestValidationError([{"loc": loc, "msg": message, "type": kind}])


def _records(parsed: ArticleIn | list[ArticleIn]) -> tuple[list[Article], list[Skipped]]:
    many = isinstance(parsed, list)
    items = parsed if isinstance(parsed, list) else [parsed]
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for i, item in enumerate(items):
        where = f"body[{i}]" if many else "body"
        try:
            # refuses lone surrogates too, so a record that is not text is skipped with a reason
            articles.append(article_from_record(item.model_dump()))
        except InvalidArticleError as exc:
            skipped.append(Skipped(where, str(exc)))
    return articles, skipped


async def _read_upload(request: Request, limit: int) -> tuple[str, bytes]:
    # The context closes the spooled temporary file however this ends.
    async with request.form(max_files=1, max_fields=5) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _invalid(("body", "file"), "upload one file in the form field 'file'", "missing")
        payload = await upload.read(limit + 1)
    if len(payload) > limit:
        raise UploadTooLargeError(f"uploads are limited to {size(limit)}")
    name = upload.filename or "upload"
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise UnsupportedMediaError(
            f"unsupported file type {suffix or '(none)'}: upload a "
            + ", ".join(sorted(SUFFIXES))
            + " file"
        )
    return name, payload


@router.post(
    "/articles",
    response_model=IngestOut,
    tags=["articles"],
    dependencies=[Admin, Writable],
    openapi_extra=_INGEST_BODY,
    responses={
        **WRITE,
        413: _problem("The body or the uploaded file is too large."),
        415: _problem(
            "The body is neither JSON nor a multipart upload, or the file is of a type that is "
            "not read (only .txt, .md, .json and .jsonl are)."
        ),
        **INVALID,
    },
)
async def add_articles(request: Request, service: Service, state: State) -> IngestOut:
    """Add articles: one or many as JSON, or an uploaded `.txt` or `.jsonl` file, or article
    pages to fetch: `{"url": "https://..."}` (or a list of them).

    Unchanged articles are left alone and changed ones replaced; what could not be read is
    listed under `skipped` with the reason.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        name, payload = await _read_upload(request, state.settings.max_upload_bytes)
        outcome = await run_in_threadpool(service.ingest_upload, name, payload)
    elif media == "application/json" or media.endswith("+json"):
        raw = await request.body()
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _invalid(("body",), f"invalid JSON: {exc}", "json_invalid") from None
        except RecursionError:
            raise _invalid(
                ("body",), "invalid JSON: nested too deeply to read", "json_invalid"
            ) from None
        if is_url_body(data):
            outcome = await ingest_url_body(request, state, service, data)
            return _ingest_out(outcome)
        try:
            # Validate as what it is, so errors name the list index or the field, not the union.
            parsed: ArticleIn | list[ArticleIn] = (
                _article_list.validate_python(data)
                if isinstance(data, list)
                else ArticleIn.model_validate(data)
            )
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None
        articles, skipped = _records(parsed)
        report = await run_in_threadpool(service.ingest, articles)
        outcome = IngestOutcome(report, skipped)
    else:
        raise UnsupportedMediaError(
            "send application/json (an article or a list) or multipart/form-data with 'file'"
        )
    return _ingest_out(outcome)


def _ingest_out(outcome: IngestOutcome) -> IngestOut:
    return IngestOut(
        added=outcome.report.added,
        replaced=outcome.report.replaced,
        unchanged=outcome.report.unchanged,
        sentences=outcome.report.sentences,
        skipped=[SkippedOut(where=s.where, reason=s.reason) for s in outcome.skipped],
    )


@router.delete(
    "/articles/{article_id:path}",
    response_model=RemovedOut,
    tags=["articles"],
    dependencies=[Admin, Writable],
    responses={**WRITE, **NOT_FOUND},
)
async def remove_article(article_id: str, service: Service) -> RemovedOut:
    """Remove an article and its sentences."""
    count = await run_in_threadpool(service.remove, article_id)
    return RemovedOut(id=article_id, sentences=count)


# ---- index jobs -----------------------------------------------------------------------------


def _job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        status=job.status,  # type: ignore[arg-type]
        stage=job.stage,
        done=job.done,
        total=job.total,
        created_at=job.created_at,
        finished_at=job.finished_at,
        error=job.error,
        result=None if job.result is None else _stats_out(job.result),
    )


@router.post(
    "/index/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    tags=["index"],
    dependencies=[Admin, Writable],
    responses={**WRITE, 409: _problem("A rebuild or another write is already running.")},
)
async def rebuild(service: Service, state: State) -> JobOut:
    """Re-embed every article into a fresh index in the background; questions are answered from
    the current index meanwhile, and the new one is swapped in when complete."""
    job = await run_in_threadpool(state.jobs.start, partial(service.rebuild, wait=False))
    return _job_out(job)


@router.get(
    "/index/jobs/{job_id}",
    response_model=JobOut,
    tags=["index"],
    dependencies=[Limited],
    responses={**LIMITED, 404: _problem("No such job (or it was forgotten).")},
)
async def get_job(job_id: str, state: State) -> JobOut:
    """A rebuild job's progress and outcome."""
    return _job_out(state.jobs.get(job_id))


# ---- operations -----------------------------------------------------------------------------


@router.get("/healthz", response_model=Health, tags=["operations"])
async def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    tags=["operations"],
    responses={
        503: {
            "model": Health,
            "description": "The index is not loaded (yet): loading, retrying after a full disk, "
            "or failed.",
        }
    },
)
async def readyz(state: State) -> Any:
    """Ready once the model and index are loaded: `ok`, or `degraded` (still answering
    questions) when the data directory cannot take writes, with the reason in `detail`."""
    if state.service is not None:
        problem = await run_in_threadpool(write_problem, state.settings.data_dir)
        return Health(status="ok" if problem is None else "degraded", detail=problem)
    failed = state.load_error is not None and not state.load_retrying
    body = Health(status="failed" if failed else "loading", detail=state.load_error)
    return JSONResponse(body.model_dump(), status_code=status.HTTP_503_SERVICE_UNAVAILABLE)


@router.get(
    "/metrics",
    tags=["operations"],
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(state: State) -> Response:
    """Prometheus metrics: requests, latencies, questions answered and abstained, index size."""
    body = await run_in_threadpool(state.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)


# ---- the web page ---------------------------------------------------------------------------


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The chat page."""
    return FileResponse(STATIC / "index.html", media_type="text/html")
