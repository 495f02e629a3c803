"""The command line keeps the habits of typer/click tools: one-line errors with the right exit
code, --version, completion, plain help, line editing, asking a running server."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import bots.cli
from bots.cli import app
from index.articles import article_from_record
from index.store import NewsIndex
from tests.api_support import ARTICLES
from tests.fakes import FakeEncoder

runner = CliRunner()
COMMAND = [sys.executable, "-c", "from bots.cli import main; main()"]
REPO = Path(__file__).resolve().parent.parent


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
    )


# ---- one line, the right exit code ----------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable", "command"),
    [
        ({"NEWSQA_PORT": "abc"}, "NEWSQA_PORT=abc", ["serve"]),
        ({"NEWSQA_PORT": "abc"}, "NEWSQA_PORT=abc", ["ingest", "samples/articles"]),
        ({"NEWSQA_TELEGRAM_ADMINS": "alice"}, "NEWSQA_TELEGRAM_ADMINS=alice", ["bot"]),
        ({"NEWSQA_TELEGRAM_ADMINS": "alice"}, "NEWSQA_TELEGRAM_ADMINS=alice", ["stats"]),
        ({"NEWSQA_LOG_LEVEL": "loud"}, "NEWSQA_LOG_LEVEL=loud", ["ask", "where?"]),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    env: dict[str, str], variable: str, command: list[str]
) -> None:
    result = _run(command, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}: ")
    assert "http://" not in result.stdout


def test_an_unwritable_data_dir_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for command in (["serve"], ["ingest", "samples/articles"]):
        result = _run(command, NEWSQA_DATA_DIR=str(blocker / "data"))
        assert result.returncode == 2, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: NEWSQA_DATA_DIR={blocker / 'data'}: cannot write")


def test_a_port_in_use_is_one_line_and_no_url(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run(["serve"], NEWSQA_PORT=str(port), NEWSQA_DATA_DIR=str(tmp_path / "d"))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use; stop what uses it or set NEWSQA_PORT"
    ]


def test_ingest_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nowhere.jsonl")])
    assert result.exit_code == 2
    assert result.output.strip() == f"error: no such file or folder: {tmp_path / 'nowhere.jsonl'}"


def test_eval_of_a_broken_set_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bots.wiring.load_encoder", lambda settings: FakeEncoder())
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "set.json").write_text("{not json", encoding="utf-8")
    result = runner.invoke(app, ["eval", str(broken)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.startswith("error: JSONDecodeError: ")
    assert len(result.output.strip().splitlines()) == 1


def test_batch_error_lines_keep_their_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bots.wiring.load_encoder", lambda settings: FakeEncoder())
    batch = tmp_path / "q.jsonl"
    lines = [{"id": "n", "question": 5}, {"id": "k", "question": "why?", "k": "x"}, [1]]
    batch.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["ask", "--batch", str(batch)])
    assert result.exit_code == 3
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(o["id"], "error" in o) for o in out] == [("n", True), ("k", True), (None, True)]


# ---- CLI habits -----------------------------------------------------------------------------


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"newsqa {version('newsqa')}"


def test_shell_completion_is_offered_and_completes() -> None:
    top = runner.invoke(app, ["--help"])
    assert "--install-completion" in top.output and "--show-completion" in top.output
    # What the installed bash script runs on each Tab press.
    for words, cword, expected in (
        ("newsqa as", "1", "ask"),
        ("newsqa ask --ser", "2", "--server"),
    ):
        result = subprocess.run(
            [str(Path(sys.executable).parent / "newsqa")],  # the installed script, as bash runs it
            env={
                **os.environ,
                "COMP_WORDS": words,
                "COMP_CWORD": cword,
                "_NEWSQA_COMPLETE": "complete_bash",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [expected]


@pytest.mark.parametrize(
    "command", [[], *([name] for name in ("ingest", "remove", "ask", "chat", "eval", "bench"))]
)
def test_help_has_no_type_tags(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    tags = re.findall(
        r"<[a-z\[\]A-Z]+>|\b(?:INTEGER|TEXT|FLOAT|BOOLEAN|FILENAME|DIRECTORY)\b", result.output
    )
    assert tags == [], result.output


def test_help_says_where_data_lives_and_whose_conversation_ids_they_are() -> None:
    top = runner.invoke(app, ["--help"]).output
    assert "NEWSQA_DATA_DIR" in top and "~/.local/share/newsqa" in top
    ask = " ".join(runner.invoke(app, ["ask", "--help"]).output.split())
    assert "The id is yours to choose" in ask
    assert "-k, --k N" in ask


def test_short_k_asks_for_that_many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bots.wiring.load_encoder", lambda settings: FakeEncoder())
    NewsIndex(tmp_path / "data", FakeEncoder()).ingest([article_from_record(a) for a in ARTICLES])
    one = runner.invoke(app, ["ask", "Where is the summit?", "-k", "1", "--closest", "--json"])
    two = runner.invoke(app, ["ask", "Where is the summit?", "--k", "2", "--closest", "--json"])
    assert len(json.loads(one.stdout)["answers"]) == 1
    assert len(json.loads(two.stdout)["answers"]) == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_ingest_progress_counts_sentences_and_starts_with_a_loading_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr("bots.wiring.load_encoder", lambda settings: FakeEncoder())
    records = [
        {
            "title": f"Story {i}",
            "text": " ".join(f"Sentence {j} of story {i}, and more." for j in range(30)),
        }
        for i in range(20)
    ]
    corpus = tmp_path / "stories.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in records), encoding="utf-8")
    service = bots.cli._service(announce=True)
    reports: list[tuple[int, int]] = []
    with bots.cli._progress_bar() as progress:

        def both(stage: str, done: int, total: int) -> None:
            reports.append((done, total))
            progress(stage, done, total)

        outcome = service.ingest_paths([corpus], both)
    shown = terminal.getvalue()
    assert shown.startswith("loading the model…\n")
    # 600 sentences (their clauses and titles are embedded too, but not counted)
    assert outcome.report.sentences == 600
    assert {total for _, total in reports} == {600}
    assert reports[-1] == (600, 600)
    assert "/600" in shown
    # The first rate shown is unknown, never a batch over microseconds.
    rates = [float(r) for r in re.findall(r"([\d.]+) sentences/s", shown)]
    assert all(rate < 1_000_000 for rate in rates), shown


@pytest.mark.model
def test_chat_has_line_editing_and_a_history(samples_index_dir: Path, tmp_path: Path) -> None:
    """Up-arrow brings back the last question, and the history outlives the session."""
    data_dir = tmp_path / "data"
    shutil.copytree(samples_index_dir, data_dir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEWSQA_DATA_DIR": str(data_dir), "TERM": "xterm"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: newsqa chat on a terminal
        os.execve(sys.executable, [*COMMAND, "chat", "-k", "1"], env)
    seen = b""

    def until(text: bytes, since: int = 0, timeout: float = 120) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text not in seen[since:]:
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                seen += os.read(fd, 4096)

    try:
        until(b"? ")
        os.write(fd, b"How many drones did Russia launch?\r")
        until(b"320 drones")
        mark = len(seen)
        os.write(fd, b"\x1b[A\r")  # up arrow, enter: the same question again
        until(b"320 drones", since=mark, timeout=60)
        # Ctrl-D only once the next prompt is up: sent earlier, the terminal may swallow it
        until(b"? ", since=seen.index(b"320 drones", mark), timeout=60)
        os.write(fd, b"\x04")
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0:
            assert time.monotonic() < deadline, "chat did not end on Ctrl-D"
            time.sleep(0.2)
        status = done[1]
    finally:
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0
    history = (data_dir / "chat_history").read_text(encoding="utf-8")
    assert "How many drones did Russia launch?" in history


# ---- a running server: logs in one format, and `ask --server` -------------------------------


@contextmanager
def _serving(data_dir: Path, **env: str) -> Iterator[tuple[str, list[str]]]:
    """A real `newsqa serve` on a free port; the list receives its stderr lines when it stops."""
    logs: list[str] = []
    process = subprocess.Popen(
        [*COMMAND, "serve"],
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "NEWSQA_DATA_DIR": str(data_dir),
            "NEWSQA_PORT": "0",
            "NEWSQA_ADMIN_KEY": "k",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", first)
        assert match, first
        url = f"http://127.0.0.1:{match.group(1)}"
        deadline = time.monotonic() + 120
        while httpx.get(url + "/readyz").status_code != 200:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.3)
        yield url, logs
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
        logs.extend(err.splitlines())


@pytest.mark.model
def test_serve_logs_json_lines_and_ask_server_renders_as_local(
    samples_index_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(samples_index_dir, data_dir)
    monkeypatch.setenv("NEWSQA_DATA_DIR", str(data_dir))
    question = "How many drones did Russia launch?"
    local = runner.invoke(app, ["ask", question, "-k", "2"])
    assert local.exit_code == 0, local.output

    def no_model(settings: object) -> None:
        raise AssertionError("ask --server must not load the model")

    with _serving(data_dir, NEWSQA_LOG_FORMAT="json") as (url, logs):
        monkeypatch.setattr("bots.wiring.load_encoder", no_model)
        remote = runner.invoke(app, ["ask", question, "-k", "2", "--server", url])
        refused = runner.invoke(app, ["ask", "   ", "--server", url])
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert refused.exit_code == 1
    assert refused.output.strip() == f"error: {url} answered 422: the question is empty"

    records = [json.loads(line) for line in logs if line.strip()]
    assert records, "the server logged nothing"
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", record["time"])
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any('"POST /ask HTTP/1.1" 200' in r["message"] for r in access), access
    assert any(r["logger"] == "uvicorn.error" for r in records)


def test_text_logs_carry_time_and_level_and_respect_the_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from bots.logs import configure

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure("WARNING", "text")
        logging.getLogger("newsqa.test").info("hidden")
        logging.getLogger("uvicorn.access").warning("shown")
        lines = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert len(lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} WARNING uvicorn\.access: shown", lines[0]
    ), lines


def test_a_dotenv_file_in_the_working_folder_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bots.settings import get_settings

    (tmp_path / ".env").write_text("NEWSQA_LOG_FORMAT=json\nNEWSQA_PORT=8123\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWSQA_PORT", "9000")  # the environment wins over the file
    get_settings.cache_clear()
    settings = get_settings()
    assert settings.log_format == "json"
    assert settings.port == 9000
