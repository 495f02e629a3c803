"""The `newsqa` command line: a thin layer over the service."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bots.settings import Settings, SettingsError, get_settings
from qa.errors import NewsqaError
from qa.models import AnswerSet
from qa.service import IngestOutcome, QAService

if TYPE_CHECKING:
    from qa.web import WebSources

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3

app = typer.Typer(
    name="newsqa",
    help=(
        "Ask questions of news articles; answers are sentences quoted from them.\n\n"
        "The index lives in NEWSQA_DATA_DIR (default ~/.local/share/newsqa); settings come from"
        " the environment or a .env file in the current folder."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Click's plain help: options show what they take (N, ID, URL), never type tags like <int>.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# Options show what they take (N, ID, URL), never Click's type names (INTEGER, TEXT).
def _argument(metavar: str) -> Any:
    """A positional argument named in the usage line and explained in the command's help
    (typer's Arguments section would add a type tag such as <list[Path]>)."""
    return typer.Argument(metavar=metavar, hidden=True, show_default=False)


K_OPTION = typer.Option("--k", "-k", metavar="N", help="How many sentences.")
ARTICLE_OPTION = typer.Option("--article", metavar="ID", help="Only this article.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"newsqa {version('newsqa')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Ask questions of news articles; answers are sentences quoted from them."""


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


def _service(
    settings: Settings | None = None,
    *,
    model: bool = True,
    announce: bool = False,
) -> QAService:
    from bots.wiring import build_service, load_encoder

    settings = settings or get_settings()
    settings.writable_data_dir()
    if model and announce and sys.stderr.isatty():
        # Loading takes seconds; say so before the progress bar can.
        typer.echo("loading the model…", err=True)
    with _errors():
        encoder = load_encoder(settings) if model else None
        return build_service(settings, encoder)


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
            # Started at the first report's count, so the first rate shown is measured over
            # real work, not a batch divided by the microseconds since the bar appeared.
            bar = bars[stage] = tqdm(
                total=total, initial=done, desc=stage, unit=" sentences", leave=False
            )
            return
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        for bar in bars.values():
            bar.close()


RAY_OPTION = typer.Option(
    "--ray",
    metavar="ADDRESS",
    help="Read, split and embed on a Ray cluster: auto, local, ray://HOST:PORT or HOST:PORT "
    "(needs newsqa[ray]).",
)


def _ray_address(address: str | None) -> None:
    """A malformed --ray address is a usage error, found before the model loads."""
    if address is not None:
        from qa.bulk import RayAddressError, check_address

        try:
            check_address(address)
        except RayAddressError as exc:
            raise _fail(str(exc), EXIT_USAGE) from None


@app.command()
def ingest(
    paths: Annotated[list[str], _argument("PATH")],
    ray: Annotated[str | None, RAY_OPTION] = None,
) -> None:
    """Add articles from PATH... (.txt .md .json .jsonl .html .htm files, folders of them, or
    http(s) URLs of article pages); unchanged ones are left alone, changed ones replaced.

    An article is known by its id, else its url, else its file (see the README), so an edited
    file replaces what it held before. Prints one line for each article added or replaced.
    """
    from qa.records import is_url

    _must_exist([Path(p) for p in paths if not is_url(p)])
    _ray_address(ray)
    if ray is not None and _is_web(paths):
        raise _fail("--ray reads files and folders of .txt .md .json .jsonl", EXIT_USAGE)
    service = _service(announce=True)
    with _errors(), _progress_bar() as progress:
        outcome = _ingest_inputs(service, paths, progress, ray)
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
    service: QAService,
    values: list[str],
    progress: Callable[[str, int, int], None],
    ray: str | None = None,
) -> IngestOutcome:
    """Files through the file reader; URLs and HTML pages through the web reader as well."""
    paths = [Path(v) for v in values]
    web = _is_web(values)
    if ray is not None:
        from qa.bulk import ingest_on_ray

        settings = get_settings()
        return ingest_on_ray(
            service,
            paths,
            ray,
            model=settings.model,
            backend=settings.encoder_backend,
            progress=progress,
        )
    if not web:
        return service.ingest_paths(paths, progress)
    from bots.wiring import build_web

    sources = build_web(get_settings(), service)
    try:
        return sources.ingest_inputs(values)
    finally:
        sources.close()


def _is_web(values: list[str]) -> bool:
    """Whether any input is a URL, an HTML page or a folder holding one."""
    from qa.records import HTML_SUFFIXES, is_url

    return any(is_url(v) for v in values) or any(
        p.suffix.lower() in HTML_SUFFIXES
        or (p.is_dir() and any(f.suffix.lower() in HTML_SUFFIXES for f in p.rglob("*")))
        for p in map(Path, values)
    )


@app.command(name="list")
def list_articles(
    offset: Annotated[
        int, typer.Option("--offset", min=0, metavar="N", help="Skip this many.")
    ] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, metavar="N", help="Show this many.")] = 20,
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
def remove(article_id: Annotated[str, _argument("ID")]) -> None:
    """Remove the article ID and its sentences."""
    service = _service(model=False)
    with _errors():
        count = service.remove(article_id)
    typer.echo(f"removed {article_id} ({count} sentences)")


@app.command()
def rebuild(ray: Annotated[str | None, RAY_OPTION] = None) -> None:
    """Re-split and re-embed every article into a fresh index, swapped in when complete."""
    _ray_address(ray)
    service = _service(announce=True)  # also from an index of another model or backend
    with _errors(), _progress_bar() as progress:
        if ray is None:
            stats = service.rebuild(progress)
        else:
            from qa.bulk import rebuild_on_ray

            settings = get_settings()
            stats = rebuild_on_ray(
                service,
                ray,
                model=settings.model,
                backend=settings.encoder_backend,
                progress=progress,
            )
    typer.echo(f"rebuilt: {stats.articles} articles, {stats.sentences} sentences ({stats.model})")


@app.command()
def migrate() -> None:
    """Create or upgrade the tables in NEWSQA_DATABASE_URL (PostgreSQL); safe to run again."""
    settings = get_settings()
    if settings.database_url is None:
        raise _fail("NEWSQA_DATABASE_URL is not set: only PostgreSQL is migrated", EXIT_USAGE)
    try:
        import psycopg

        from qa.postgres import migrate as apply
    except ImportError:
        raise _fail("PostgreSQL needs its client: pip install 'newsqa[postgres]'") from None
    try:
        applied = apply(settings.database_url.get_secret_value(), settings.database_schema)
    except psycopg.Error as exc:
        raise _fail(f"cannot migrate the database: {str(exc).strip()}") from None
    if applied:
        typer.echo(f"migrated: applied {', '.join(applied)}")
    else:
        typer.echo("migrated: the schema is up to date")


@app.command()
def compact() -> None:
    """Merge the vector segments into one, dropping removed sentences' vectors."""
    service = _service(model=False)
    with _errors():
        merged = service.compact()
    figures = service.stats()
    typer.echo(f"compacted: {merged} segments merged; {figures.vectors} vectors")


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
    question: Annotated[str | None, _argument("QUESTION")] = None,
    k: Annotated[int, K_OPTION] = 3,
    article: Annotated[str | None, ARTICLE_OPTION] = None,
    conversation: Annotated[
        str | None,
        typer.Option(
            "--conversation",
            metavar="ID",
            help="A follow-up in this conversation. The id is yours to choose (letters, digits,"
            " _ . : -); ask again with the same id to follow up.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer object.")] = False,
    closest: Annotated[
        bool, typer.Option("--closest", help="Show the closest sentences even when abstaining.")
    ] = False,
    batch: Annotated[
        Path | None,
        typer.Option(
            "--batch", metavar="FILE", help="JSONL of questions in, JSONL of answers out."
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="Ask a running `newsqa serve` (e.g. http://127.0.0.1:8000) instead of loading"
            " the model here.",
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", metavar="NAME", help="Only articles from this source.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", metavar="DATE", help="Only articles published on or after (2025-10-01)."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until", metavar="DATE", help="Only articles published on or before this date."
        ),
    ] = None,
) -> None:
    """Answer QUESTION with the best sentences, quoted."""
    if (question is None) == (batch is None):
        raise _fail("give a question or --batch FILE (not both)", 2)
    if server is not None:
        if batch is not None:
            raise _fail("--server asks one question; --batch runs here", 2)
        assert question is not None
        _ask_server(server, question, k, article, conversation, as_json, closest)
        return
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
                if isinstance(request, dict):
                    # read first, so that every error line still says which request it was
                    request_id = request.get("id")
                if not isinstance(request, dict) or not isinstance(request.get("question"), str):
                    raise ValueError('each line needs {"question": "..."}')
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


def _ask_server(
    server: str,
    question: str,
    k: int,
    article: str | None,
    conversation: str | None,
    as_json: bool,
    closest: bool,
) -> None:
    """One question to a running server's POST /ask, rendered as a local answer would be."""
    import httpx

    body: dict[str, Any] = {"question": question, "k": k, "include_closest": closest}
    if article is not None:
        body["article_id"] = article
    if conversation is not None:
        body["conversation_id"] = conversation
    url = server.rstrip("/") + "/ask"
    try:
        response = httpx.post(url, json=body, timeout=60.0)
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {server}: {exc}") from None
    if response.status_code != 200:
        raise _fail(f"{server} answered {response.status_code}: {_detail(response)}")
    answer_set = AnswerSet.model_validate(response.json())
    if as_json:
        typer.echo(answer_set.model_dump_json())
    else:
        typer.echo(render(answer_set))


def _detail(response: Any) -> str:
    """The reason an API error gives, as one line."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return str(response.reason_phrase)
    if isinstance(detail, list):
        return "; ".join(str(item.get("msg", item)) for item in detail)
    return str(detail)


@contextmanager
def _line_editing(data_dir: Path) -> Iterator[None]:
    """Arrow keys, editing and a history kept across sessions, where readline exists."""
    try:
        import readline
    except ImportError:  # Windows without pyreadline: plain input still works
        yield
        return
    history = data_dir / "chat_history"
    with suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(1000)
    yield
    with suppress(OSError):
        readline.write_history_file(history)


@app.command()
def chat(
    k: Annotated[int, typer.Option("--k", "-k", metavar="N", help="Sentences per answer.")] = 3,
    article: Annotated[str | None, ARTICLE_OPTION] = None,
) -> None:
    """Ask questions at a prompt, as one conversation; follow-ups use what came before.

    Arrow keys edit the line and recall earlier questions (kept in the data dir)."""
    settings = get_settings()
    service = _service(settings)
    with _line_editing(settings.writable_data_dir()):
        _chat_loop(service, k, article)


def _chat_loop(service: QAService, k: int, article: str | None) -> None:
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


@contextmanager
def _no_traceback() -> Iterator[None]:
    """Long measuring commands end on a bad input with one line, whatever raised."""
    try:
        yield
    except NewsqaError as exc:
        raise _fail(str(exc)) from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(f"{type(exc).__name__}: {exc}") from None


def _must_exist(paths: list[Path]) -> None:
    """A path that is not there is a mistake on the command line (exit 2), as for bench."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}", EXIT_USAGE)


@app.command(name="eval")
def evaluate(
    folders: Annotated[list[Path], _argument("DIR")],
    no_abstention: Annotated[
        bool, typer.Option("--no-abstention", help="Skip the abstention measurement.")
    ] = False,
) -> None:
    """Score answer quality on the evaluation sets in DIR...; one line of figures per set."""
    from bots.wiring import load_encoder
    from qa.evaluate import evaluate_set

    _must_exist(folders)
    settings = get_settings()
    with _no_traceback():
        encoder = load_encoder(settings)
    # Scratch indexes come and go here; their progress lines would bury the figures.
    logging.getLogger("newsqa.index").setLevel(logging.WARNING)
    for folder in folders:
        if not (folder / "set.json").is_file():
            typer.echo(f"skipped {folder}: not an evaluation set (no set.json)", err=True)
            continue
        with _no_traceback(), _scratch_services(settings, encoder) as scratch_service:
            result = evaluate_set(folder, scratch_service, abstention=not no_abstention)
        typer.echo(result.line())


@contextmanager
def _scratch_services(settings: Settings, encoder: Any) -> Iterator[Callable[[Path], QAService]]:
    """Makes services over scratch indexes; on PostgreSQL their schemas are dropped at the
    end (a scratch data directory is removed by whoever made it)."""
    from bots.wiring import build_service

    made: list[QAService] = []

    def scratch_service(scratch: Path) -> QAService:
        made.append(build_service(settings, encoder, data_dir=scratch))
        return made[-1]

    try:
        yield scratch_service
    finally:
        if settings.database_url is not None:
            from qa.postgres import discard_scratch

            for service in made:
                discard_scratch(service)


@app.command()
def bench(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(metavar="PATH", hidden=True, show_default=False),
    ] = None,
    questions: Annotated[
        int, typer.Option("--questions", metavar="N", help="How many questions to time.")
    ] = 300,
    scale: Annotated[
        int | None,
        typer.Option(
            "--scale",
            min=1,
            metavar="N",
            help="Instead: build (once, cached in the data directory) an index of N sentences, "
            "real then synthetic, and measure writes, questions, recall, memory and disk.",
        ),
    ] = None,
    real: Annotated[
        int,
        typer.Option(
            "--real", min=1, metavar="N", help="With --scale: sentences embedded for real."
        ),
    ] = 2000,
    train: Annotated[
        Path,
        typer.Option("--train", metavar="DIR", help="With --scale: the training sets' folder."),
    ] = Path("../shared/train"),
) -> None:
    """Measure ingest throughput, question latency and peak memory on the articles in PATH...
    (files, folders, evaluation sets)."""
    from bots.wiring import load_encoder
    from qa.bench import run_bench

    if scale is not None:
        _bench_scale(scale, real, train, questions)
        return
    if not paths:
        raise _fail("give the articles to measure on, or --scale N", EXIT_USAGE)
    _must_exist(paths)
    settings = get_settings()
    logging.getLogger("newsqa.index").setLevel(logging.WARNING)
    with _no_traceback():
        encoder = load_encoder(settings)
        with _scratch_services(settings, encoder) as scratch_service:
            result = run_bench(paths, scratch_service, count=questions)
    if result.articles == 0:
        raise _fail(f"nothing to measure: no articles in {', '.join(map(str, paths))}")
    for line in result.lines():
        typer.echo(line)


def _bench_scale(n: int, real: int, train: Path, questions: int) -> None:
    """Each phase in its own process, so that each peak memory figure is that phase's alone."""
    import subprocess

    from qa import scale as scaled

    if not train.is_dir():
        raise _fail(f"no such folder: {train} (the training sets, see --train)", EXIT_USAGE)
    if get_settings().database_url is not None:
        raise _fail("bench --scale measures the embedded index: unset NEWSQA_DATABASE_URL")
    figures = {}
    for phase in ("build", "serve", "write"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bots.cli",
                "bench-phase",
                phase,
                str(n),
                str(real),
                str(train),
                str(questions),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise _fail(f"bench {phase} failed: {done.stderr.strip().splitlines()[-1:]}")
        figures[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    for line in scaled.lines(figures["build"], figures["serve"], figures["write"]):
        typer.echo(line)


@app.command(name="bench-phase", hidden=True)
def bench_phase(phase: str, n: int, real: int, train: Path, questions: int) -> None:
    """One phase of `bench --scale`, run by it in a fresh process; prints JSON."""
    from bots.wiring import build_service, load_encoder
    from qa import scale as scaled

    settings = get_settings()
    encoder = load_encoder(settings)
    logging.getLogger("newsqa.index").setLevel(logging.WARNING)

    def service(folder: Path) -> QAService:
        return build_service(settings, encoder, data_dir=folder)

    result: dict[str, Any]
    if phase == "build":
        # _bench_scale refused the shared backend: this index is the embedded one
        result = scaled.build(
            settings.data_dir,
            n,
            lambda folder: service(folder).index,  # type: ignore[arg-type,return-value]
            train,
            real,
        )
        result.pop("questions")
    elif phase == "serve":
        result = scaled.serve(settings.data_dir, n, service, count=questions)
    else:
        result = scaled.write(settings.data_dir, n, service)
    typer.echo(json.dumps(result))


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
    url: Annotated[str, _argument("URL")],
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            metavar="MINUTES",
            help="Minutes between polls (default NEWSQA_FEED_INTERVAL_MINUTES).",
        ),
    ] = None,
) -> None:
    """Follow the feed at URL (RSS or Atom); `newsqa watch` (or `serve`) polls it."""
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
    feed: Annotated[str, _argument("FEED")],
) -> None:
    """Stop following FEED (its URL or id); its articles stay in the index."""
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
    host: Annotated[
        str | None, typer.Option("--host", metavar="HOST", help="Default: NEWSQA_HOST.")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", metavar="PORT", help="Default: NEWSQA_PORT.")
    ] = None,
) -> None:
    """Serve the HTTP API and the web chat page (uvicorn)."""
    import uvicorn

    from bots.api.app import create_app
    from bots.logs import config

    settings = get_settings()
    settings.writable_data_dir()
    host = host or settings.host
    port = settings.port if port is None else port
    # Bound before anything is announced: a port in use is one line and exit 1, not a URL
    # printed as if serving followed by uvicorn's traceback.
    sock = _bind(host, port)
    with _errors():
        api = create_app(settings)
    shown = sock.getsockname()[1]
    typer.echo(f"newsqa web page: http://{host}:{shown}/  (API docs: http://{host}:{shown}/docs)")
    server = uvicorn.Server(
        uvicorn.Config(
            api,
            log_config=config(settings.log_level, settings.log_format),
            log_level=settings.log_level.lower(),
        )
    )
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one line saying why there cannot be one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise _fail(f"cannot listen on {host}: {exc.strerror} (NEWSQA_HOST)") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _fail(
                f"port {port} on {host} is already in use; stop what uses it or set NEWSQA_PORT"
            ) from None
        raise _fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def main() -> None:
    """Entry point of the `newsqa` script: logging set up, bad settings told in one line."""
    from bots.logs import configure

    try:
        settings: Settings | None = get_settings()
    except SettingsError:
        settings = None  # the command says so when it reads them; --help still works
    if settings is None:
        configure()
    else:
        configure(settings.log_level, settings.log_format)
    try:
        app()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
