"""`newsqa ingest --ray` and `rebuild --ray` on a real Ray cluster (a head node with 2 CPUs on
127.0.0.1, so 2 embedding workers) over a few hundred articles: the index they build answers
exactly as a plain ingest's. The cluster and both indexes are built once for the module."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from index.embedding import Encoder
from index.store import NewsIndex
from qa.service import QAService
from tests.conftest import SHARED

pytestmark = [pytest.mark.model, pytest.mark.ray]

BIN = Path(sys.executable).parent
SETS = ("coqa-cnn", "trecqa")


def _eval_dir() -> Path:
    """The eval sets: beside the clone (CI, a worktree's main checkout), else /work/shared."""
    for shared in (SHARED, Path("/work/shared")):
        if (shared / "eval" / "trecqa" / "docs.jsonl").is_file():
            return shared / "eval"
    # Like the scale bench test: the public sets live beside the clone, never in git.
    pytest.skip("the eval sets of shared/ are not here")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def token() -> str:
    """The cluster's authentication token: a secret that must appear in no output."""
    return secrets.token_hex(32)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, token: str) -> dict[str, str]:
    """The environment of the cluster and of the commands: no developer settings, offline."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSQA_", "TELEGRAM_"))}
    return {
        **base,
        "HF_HUB_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        "NEWSQA_DATA_DIR": str(tmp_path_factory.mktemp("unused")),
    }


@pytest.fixture(scope="module")
def cluster(env: dict[str, str]) -> Iterator[str]:
    """A Ray head node with 2 CPUs on 127.0.0.1; its address. Stopped with its whole process
    group (it runs in a session of its own), whatever the tests did."""
    if not (BIN / "ray").exists():
        pytest.fail("Ray is not installed: `make install` installs the ray extra")
    port = _free_port()
    # Short: Ray puts unix sockets under it, whose paths are limited to about 100 bytes.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    head = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            "--num-cpus=2",
            f"--port={port}",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--temp-dir={temp}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the Ray head node did not start")
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
        for _ in range(100):  # its workers go once their raylet is gone
            try:
                os.killpg(head.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few hundred articles from the eval sets, in JSONL and text files, with one broken
    JSONL line and one binary file among them."""
    root = tmp_path_factory.mktemp("corpus")
    records = []
    for line in (_eval_dir() / "coqa-cnn" / "docs.jsonl").read_text().splitlines():
        doc = json.loads(line)
        paragraphs = [p for p in doc["text"].split("\n") if p.strip()]
        for part in range(0, len(paragraphs), 2):
            records.append(
                {
                    "id": f"{doc['id']}-{part}",
                    "title": doc["title"],
                    "text": "\n\n".join(paragraphs[part : part + 2]),
                    "source": "CNN",
                }
            )
    lines = [json.dumps(record) for record in records]
    lines.insert(len(lines) // 2, '{"title": "cut short", "text": ')
    (root / "cnn.jsonl").write_text("\n".join(lines) + "\n")
    trec = root / "trec"
    trec.mkdir()
    for line in (_eval_dir() / "trecqa" / "docs.jsonl").read_text().splitlines()[:15]:
        doc = json.loads(line)
        (trec / f"{doc['id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")
    (trec / "broken.txt").write_bytes(b"\x00\x01\x02 not text \xff\xfe\x00")
    return root


def _newsqa(env: dict[str, str], data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "newsqa"), *args],
        env={**env, "NEWSQA_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], corpus: Path) -> tuple:
    """The index of a plain `newsqa ingest`, and what the command said."""
    data_dir = tmp_path_factory.mktemp("plain")
    return data_dir, _newsqa(env, data_dir, "ingest", str(corpus))


@pytest.fixture(scope="module")
def on_ray(
    tmp_path_factory: pytest.TempPathFactory, env: dict[str, str], corpus: Path, cluster: str
) -> tuple:
    """The index of `newsqa ingest --ray` on the cluster, and what the command said."""
    data_dir = tmp_path_factory.mktemp("on-ray")
    return data_dir, _newsqa(env, data_dir, "ingest", "--ray", cluster, str(corpus))


def _questions(count: int) -> list[str]:
    """Questions of both sets, spread over them."""
    found = []
    for name in SETS:
        lines = (_eval_dir() / name / "questions.jsonl").read_text().splitlines()
        found += [json.loads(line)["question"] for line in lines[:: max(1, len(lines) // count)]]
    return found[: 2 * count]


def _answers(data_dir: Path, encoder: Encoder) -> list[list[tuple[str, int, int, float]]]:
    service = QAService(NewsIndex(data_dir, encoder))
    result = []
    for question in _questions(20):
        answer = service.ask(question, k=5, include_closest=True)
        result.append(
            [(a.article_id, a.start or 0, a.end or 0, a.score) for a in answer.answers]
            + [("abstained", int(answer.abstained), 0, 0.0)]
        )
    return result


def _assert_same_answers(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        assert [a[:3] for a in mine] == [a[:3] for a in other]
        assert [a[3] for a in mine] == pytest.approx([a[3] for a in other], abs=1e-4)


def test_ray_ingest_reports_what_a_plain_ingest_reports(plain: tuple, on_ray: tuple) -> None:
    (_, expected), (_, got) = plain, on_ray
    assert expected.returncode == got.returncode == 3  # done, but something was skipped
    assert got.stdout == expected.stdout
    added = [line for line in got.stdout.splitlines() if line.startswith("added ")]
    assert len(added) > 250
    skipped = sorted(line for line in got.stderr.splitlines() if line.startswith("skipped "))
    assert skipped == sorted(
        line for line in expected.stderr.splitlines() if line.startswith("skipped ")
    )
    assert any("broken.txt" in line for line in skipped)
    assert any("cnn.jsonl:" in line and "invalid JSON" in line for line in skipped)
    # the work was done on the cluster's workers, not here
    assert re.search(r"connected to Ray at 127\.0\.0\.1:\d+ \(2 CPUs\)", got.stderr)
    embedded = re.search(r"embedded (\d+) texts in (\d+) batches on (\d+) Ray workers", got.stderr)
    assert embedded is not None, got.stderr
    assert int(embedded.group(1)) > 1000 and int(embedded.group(2)) > 2
    assert int(embedded.group(3)) >= 1


def test_ray_ingest_stores_the_same_sentences_and_vectors(
    plain: tuple, on_ray: tuple, encoder: Encoder
) -> None:
    ours, theirs = NewsIndex(on_ray[0], encoder), NewsIndex(plain[0], encoder)
    assert ours.model_id == theirs.model_id
    ids, _ = theirs.articles(0, 10_000)
    assert len(ids) > 250
    for item in ids:
        mine = ours.sentence_ids(item.id)
        other = theirs.sentence_ids(item.id)
        spans = ours.sentences(mine)
        assert [(spans[i].start, spans[i].end) for i in mine] == [
            (s.start, s.end) for s in (theirs.sentences(other)[i] for i in other)
        ]
        for context in (False, True):
            np.testing.assert_allclose(
                ours.sentence_vectors(mine, context=context),
                theirs.sentence_vectors(other, context=context),
                atol=1e-6,
            )
        mine_clauses, other_clauses = ours.clause_vectors(mine), theirs.clause_vectors(other)
        assert [i in mine_clauses for i in mine] == [i in other_clauses for i in other]
        for a, b in zip(mine, other, strict=True):
            if a in mine_clauses:
                np.testing.assert_allclose(mine_clauses[a], other_clauses[b], atol=1e-3)
    titles = [item.id for item in ids]
    ours_titles, theirs_titles = ours.title_vectors(titles), theirs.title_vectors(titles)
    for article_id in titles:
        np.testing.assert_allclose(ours_titles[article_id], theirs_titles[article_id], atol=1e-6)


def test_ray_ingest_answers_exactly_as_a_plain_ingest(
    plain: tuple, on_ray: tuple, encoder: Encoder
) -> None:
    _assert_same_answers(_answers(on_ray[0], encoder), _answers(plain[0], encoder))


def test_rebuild_on_ray_answers_exactly_as_a_plain_rebuild(
    plain: tuple,
    on_ray: tuple,
    env: dict[str, str],
    cluster: str,
    encoder: Encoder,
    tmp_path: Path,
) -> None:
    # A rebuild embeds the articles in another order than the ingest did, and a batch's
    # vectors depend a little on which texts share it: compare with a plain rebuild.
    here, there = tmp_path / "rebuilt-here", tmp_path / "rebuilt-on-ray"
    shutil.copytree(plain[0], here)
    shutil.copytree(on_ray[0], there)
    QAService(NewsIndex(here, encoder)).rebuild()
    done = _newsqa(env, there, "rebuild", "--ray", cluster)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rebuilt: ")
    _assert_same_answers(_answers(there, encoder), _answers(here, encoder))


def test_the_cluster_token_is_never_printed(on_ray: tuple, token: str) -> None:
    _, got = on_ray
    assert token not in got.stdout + got.stderr
