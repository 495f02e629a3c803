"""The `newsqa` command line: a thin layer over the service."""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.settings import Settings, get_settings
from index.errors import NewsqaError
from qa.models import AnswerSet
from qa.service import IngestOutcome, QAService

if TYPE_CHECKING:
    from qa.web import WebSources

EXIT_ERROR = 1
EXIT_SKIPPED = 3

app = typer.Typer(
    name="newsqa",
    help="Ask questions of news articles; answers are sentences quoted from them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Domain errors end the command with one clear line, not a traceback."""
    try:
        yield
    except NewsqaError as exc:
        raise _fail(str(exc)) from None


def _service(settings: Settings | None = None, *, model: bool = True) -> QAService:
    from bots.wiring import build_service, load_encoder

    settings = settings or get_settings()
    with _errors():
        return build_service(settings, load_encoder(settings) if model else None)


@contextmanager
def _progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on a terminal; nothing when output goes elsewhere."""
    if not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if total < 200:
            return
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="sentence", leave=False)
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


@app.command()
def ingest(
    paths: Annotated[
        list[str],
        typer.Argument(help="Files (.txt .md .json .jsonl .html .htm), folders or http(s) URLs."),
    ],
) -> None:
    """Add articles; unchanged ones are left alone, changed ones replaced.

    An article is known by its id, else its url, else its file (see the README), so an edited
    file replaces what it held before. Prints one line for each article added or replaced.
    """
    service = _service()
    with _errors(), _progress_bar() as progress:
        outcome = _ingest_inputs(service, paths, progress)
    report = outcome.report
    for verb, ids in (("added", report.added), ("replaced", report.replaced)):
        for article_id in ids:
            typer.echo(f"{verb} {article_id}  {outcome.titles.get(article_id, '')}".rstrip())
    for old, new in outcome.superseded.items():
        typer.echo(f"replaced {old} by {new}  {outcome.titles.get(new, '')}".rstrip())
    for warning in outcome.warnings:
        typer.echo(f"warning {warning}", err=True)
    for skipped in outcome.skipped:
        typer.echo(f"skipped {skipped}", err=True)
    typer.echo(
        f"{len(report.added)} added, {len(report.replaced)} replaced, "
        f"{len(report.unchanged)} unchanged, {report.sentences} sentences embedded, "
        f"{len(outcome.skipped)} skipped"
    )
    if outcome.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def _ingest_inputs(
    service: QAService, values: list[str], progress: Callable[[str, int, int], None]
) -> IngestOutcome:
    """Files through the file reader; URLs and HTML pages through the web reader as well."""
    from index.web.pages import HTML_SUFFIXES, is_url

    paths = [Path(v) for v in values]
    web = any(is_url(v) for v in values) or any(
        p.suffix.lower() in HTML_SUFFIXES
        or (p.is_dir() and any(f.suffix.lower() in HTML_SUFFIXES for f in p.rglob("*")))
        for p in paths
    )
    if not web:
        return service.ingest_paths(paths, progress)
    from bots.wiring import build_web

    sources = build_web(get_settings(), service)
    try:
        return sources.ingest_inputs(values)
    finally:
        sources.close()


@app.command(name="list")
def list_articles(
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many.")] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Show this many.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List articles, newest first (by published date; undated ones last)."""
    service = _service(model=False)
    with _errors():
        items, total = service.articles(offset, limit)
    if as_json:
        page = {
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": [dataclasses.asdict(item) for item in items],
        }
        typer.echo(json.dumps(page, ensure_ascii=False))
        return
    for item in items:
        # the parsed date where there is one, else the text as given, marked as not a date
        when = (item.published_at or "")[:10] or (f"({item.published})" if item.published else "-")
        source = f" · {item.source}" if item.source else ""
        count = f"{item.sentences} sentence" + ("" if item.sentences == 1 else "s")
        typer.echo(f"{item.id}  {when}  {item.title}{source}  ({count})")
    shown = f"{offset + 1}-{offset + len(items)}" if items else "none"
    typer.echo(f"{shown} of {total} articles", err=True)


@app.command()
def remove(article_id: Annotated[str, typer.Argument(help="The article's id.")]) -> None:
    """Remove an article and its sentences."""
    service = _service(model=False)
    with _errors():
        count = service.remove(article_id)
    typer.echo(f"removed {article_id} ({count} sentences)")


@app.command()
def rebuild() -> None:
    """Re-split and re-embed every article into a fresh index, swapped in when complete."""
    service = _service()
    with _errors(), _progress_bar() as progress:
        stats = service.rebuild(progress)
    typer.echo(f"rebuilt: {stats.articles} articles, {stats.sentences} sentences ({stats.model})")


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Print what the index holds."""
    service = _service(model=False)
    with _errors():
        figures = service.stats()
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(figures)))
        return
    typer.echo(f"articles:   {figures.articles}")
    typer.echo(f"sentences:  {figures.sentences}")
    typer.echo(f"vectors:    {figures.vectors}")
    typer.echo(f"model:      {figures.model or '(none yet)'}")
    typer.echo(f"generation: {figures.generation}")
    typer.echo(f"data dir:   {figures.data_dir}")


def render(answer_set: AnswerSet) -> str:
    """An answer set as text for a terminal."""
    lines: list[str] = []
    if answer_set.abstained:
        lines.append("Nothing in the indexed articles answers that.")
        if answer_set.answers:
            lines.append("Closest sentences:")
    for i, answer in enumerate(answer_set.answers, start=1):
        # typographic marks, so a sentence that opens with its own quotation mark reads clearly
        lines.append(f"{i}. \u201c{answer.sentence}\u201d")
        where = " · ".join(part for part in (answer.title, answer.source, answer.published) if part)
        lines.append(f"   {where}  (score {answer.score:.2f}, article {answer.article_id})")
        if answer.also_in:
            others = (
                f"{o.source or o.title} ({o.url})" if o.url else o.source or o.title
                for o in answer.also_in
            )
            lines.append(f"   also in: {', '.join(others)}")
    return "\n".join(lines)


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    k: Annotated[int, typer.Option("--k", help="How many sentences.")] = 3,
    article: Annotated[str | None, typer.Option("--article", help="Only this article.")] = None,
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="A follow-up in this conversation.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer object.")] = False,
    closest: Annotated[
        bool, typer.Option("--closest", help="Show the closest sentences even when abstaining.")
    ] = False,
    batch: Annotated[
        Path | None, typer.Option("--batch", help="JSONL of questions in, JSONL of answers out.")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Only articles from this source.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only articles published on or after (2025-10-01)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only articles published on or before this date.")
    ] = None,
) -> None:
    """Answer a question with the best sentences, quoted."""
    if (question is None) == (batch is None):
        raise _fail("give a question or --batch FILE (not both)", 2)
    service = _service()
    if batch is not None:
        failures = _ask_batch(service, batch, closest)
        if failures:
            raise typer.Exit(EXIT_SKIPPED)
        return
    assert question is not None
    with _errors():
        answer_set = service.ask(
            question,
            k=k,
            article_id=article,
            conversation_id=conversation,
            include_closest=closest,
            source=source,
            since=since,
            until=until,
        )
    if as_json:
        typer.echo(answer_set.model_dump_json())
        return
    typer.echo(render(answer_set))
    if answer_set.abstained and service.stats().articles == 0:
        typer.echo("The index is empty: add articles with `newsqa ingest PATH`.", err=True)


def _ask_batch(service: QAService, path: Path, closest: bool) -> int:
    """One answer object a line, in input order; a bad line gets an error object instead."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror}") from None
    failures = 0
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            request_id: Any = None
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or not isinstance(request.get("question"), str):
                    raise ValueError('each line needs {"question": "..."}')
                request_id = request.get("id")
                k = request.get("k", 3)
                if not isinstance(k, int) or isinstance(k, bool):
                    raise ValueError("k must be a whole number")
                answer_set = service.ask(
                    request["question"],
                    k=k,
                    article_id=request.get("article_id"),
                    conversation_id=request.get("conversation_id"),
                    include_closest=closest,
                    source=_optional(request, "source"),
                    since=_optional(request, "since"),
                    until=_optional(request, "until"),
                )
                out: dict[str, Any] = {"id": request_id, **answer_set.model_dump()}
            except (ValueError, NewsqaError) as exc:
                failures += 1
                typer.echo(f"{path}:{number}: {exc}", err=True)
                out = {"id": request_id, "error": str(exc), "line": number}
            typer.echo(json.dumps(out, ensure_ascii=False))
    return failures


def _optional(request: dict[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


@app.command()
def chat(
    k: Annotated[int, typer.Option("--k", help="How many sentences per answer.")] = 3,
    article: Annotated[str | None, typer.Option("--article", help="Only this article.")] = None,
) -> None:
    """Ask questions at a prompt, as one conversation; follow-ups use what came before."""
    service = _service()
    conversation_id = service.conversations.new_id()
    figures = service.stats()
    typer.echo(
        f"newsqa: {figures.articles} articles, {figures.sentences} sentences. "
        "Ask a question; 'more' for more answers, 'reset' to start over, Ctrl-D to quit."
    )
    while True:
        try:
            question = input("? ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        if not question:
            continue
        with _chat_errors():
            if question.lower() == "more":
                typer.echo(render(service.more(conversation_id, k)) or "No more answers.")
            elif question.lower() == "reset":
                service.reset(conversation_id)
                typer.echo("Conversation forgotten.")
            else:
                answer_set = service.ask(
                    question, k=k, article_id=article, conversation_id=conversation_id
                )
                typer.echo(render(answer_set))


@contextmanager
def _chat_errors() -> Iterator[None]:
    try:
        yield
    except NewsqaError as exc:
        typer.echo(f"error: {exc}", err=True)


@app.command(name="eval")
def evaluate(
    folders: Annotated[list[Path], typer.Argument(help="Evaluation set folders.")],
    no_abstention: Annotated[
        bool, typer.Option("--no-abstention", help="Skip the abstention measurement.")
    ] = False,
) -> None:
    """Score answer quality on evaluation sets; one line of figures per set."""
    from bots.wiring import build_service, load_encoder
    from qa.evaluate import evaluate_set

    settings = get_settings()
    encoder = load_encoder(settings)
    # Scratch indexes come and go here; their progress lines would bury the figures.
    logging.getLogger("newsqa.index").setLevel(logging.WARNING)
    for folder in folders:
        if not (folder / "set.json").is_file():
            typer.echo(f"skipped {folder}: not an evaluation set (no set.json)", err=True)
            continue
        result = evaluate_set(
            folder,
            lambda scratch: build_service(settings, encoder, data_dir=scratch),
            abstention=not no_abstention,
        )
        typer.echo(result.line())


@app.command()
def bench(
    paths: Annotated[
        list[Path], typer.Argument(help="Articles to index: files, folders, evaluation sets.")
    ],
    questions: Annotated[
        int, typer.Option("--questions", help="How many questions to time.")
    ] = 300,
) -> None:
    """Measure ingest throughput, question latency and peak memory on a corpus."""
    from bots.wiring import build_service, load_encoder
    from qa.bench import run_bench

    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}", 2)
    settings = get_settings()
    encoder = load_encoder(settings)
    logging.getLogger("newsqa.index").setLevel(logging.WARNING)
    result = run_bench(
        paths, lambda scratch: build_service(settings, encoder, data_dir=scratch), count=questions
    )
    if result.articles == 0:
        raise _fail(f"nothing to measure: no articles in {', '.join(map(str, paths))}")
    for line in result.lines():
        typer.echo(line)


@app.command()
def bot() -> None:
    """Answer questions in Telegram: long polling, or a webhook when one is configured."""
    settings = get_settings()
    if settings.telegram_bot_token is None:
        raise _fail("set TELEGRAM_BOT_TOKEN to the token @BotFather gave you", 2)
    try:
        from bots.telegram.app import run_bot
    except ImportError:
        raise _fail("the bot needs python-telegram-bot: pip install 'newsqa[bot]'") from None
    service = _service(settings)
    with _errors():
        run_bot(settings, service)


# ---- feeds and watch: news from the web (qa.web) ------------------------------------------------

feeds_app = typer.Typer(help="Follow RSS and Atom feeds (polled by `newsqa watch` and `serve`).")
app.add_typer(feeds_app, name="feeds")


def _web(*, model: bool = False) -> WebSources:
    from bots.wiring import build_web

    settings = get_settings()
    return build_web(settings, _service(settings, model=model))


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval", help="Minutes between polls (default NEWSQA_FEED_INTERVAL_MINUTES)."
        ),
    ] = None,
) -> None:
    """Follow a feed; `newsqa watch` (or `serve`) polls it."""
    web = _web()
    with _errors():
        feed, created = web.add_feed(url, None if interval is None else interval * 60)
    typer.echo(
        f"{'following' if created else 'already following'} feed {feed.id}: {feed.url} "
        f"(every {feed.interval_s / 60:g} min)"
    )


@feeds_app.command("list")
def feeds_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The feeds followed, with their last poll and last error."""
    feeds = _web().feeds()
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(feed) for feed in feeds]))
        return
    if not feeds:
        typer.echo("no feeds; add one with `newsqa feeds add URL`")
    for feed in feeds:
        typer.echo(
            f"{feed.id}  {feed.url}  {feed.title or ''}\n"
            f"    every {feed.interval_s / 60:g} min · last poll {_when(feed.last_poll)} · "
            f"next {_when(feed.next_poll)} · {feed.entries} entries "
            f"({feed.pending} pending, {feed.failed} failed)"
            + (
                f"\n    last error: {feed.last_error} ({feed.failures} in a row)"
                if feed.last_error
                else ""
            )
        )


@feeds_app.command("remove")
def feeds_remove(
    feed: Annotated[str, typer.Argument(help="The feed's URL or id.")],
) -> None:
    """Stop following a feed (its articles stay in the index)."""
    web = _web()
    with _errors():
        gone = web.remove_feed(feed)
    typer.echo(f"stopped following feed {gone.id}: {gone.url}")


@app.command()
def watch(
    once: Annotated[
        bool, typer.Option("--once", help="Poll the feeds that are due once, then exit.")
    ] = False,
    every: Annotated[
        bool, typer.Option("--all", help="With --once: poll every feed, due or not.")
    ] = False,
) -> None:
    """Poll the followed feeds and ingest their new and changed entries."""
    import signal
    import threading

    web = _web(model=True)
    if once:
        with _errors():
            report = web.poll(every=every)
        for failed in report.failed:
            typer.echo(f"skipped {failed}", err=True)
        typer.echo(
            f"{report.feeds} feeds polled ({report.not_modified} not modified), "
            f"{report.new_entries} new or changed entries, {len(report.added)} added, "
            f"{len(report.replaced)} replaced, {len(report.failed)} failed"
        )
        if report.failed:
            raise typer.Exit(EXIT_SKIPPED)
        return
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()
        web.watcher.wake.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    typer.echo(f"watching {len(web.feeds())} feeds; Ctrl-C to stop", err=True)
    web.watch(stop)


# ---- serve: the HTTP API and web page (bots.api) ----------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Default: NEWSQA_HOST.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: NEWSQA_PORT.")] = None,
) -> None:
    """Serve the HTTP API and the web chat page (uvicorn)."""
    import logging

    import uvicorn

    from bots.api.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    settings = get_settings()
    host = host or settings.host
    port = settings.port if port is None else port
    with _errors():
        api = create_app(settings)
    typer.echo(f"newsqa web page: http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(api, host=host, port=port, log_level="info")


def main() -> None:
    """Entry point of the `newsqa` script."""
    logging.basicConfig(level=logging.INFO, format="newsqa: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app()


if __name__ == "__main__":
    main()
