"""Shared fixtures: a throwaway PostgreSQL server for the session, a fresh database per test.

The server is the throwaway one of :mod:`tests.pg_server` (initdb + pg_ctl on 127.0.0.1 in a
temporary directory, as an unprivileged user under root).

Without server binaries the PostgreSQL tests are skipped — or fail when ``CI`` is set,
because there a missing server is a broken environment, not a reason to test less.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import pg_server


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway server; ``admin_url`` connects as its superuser ``postgres``."""

    host: str
    port: int

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://postgres@{self.host}:{self.port}/{database}"

    @property
    def admin_conninfo(self) -> str:
        return f"host={self.host} port={self.port} user=postgres dbname=postgres"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, stopped and deleted at the end."""
    if pg_server.bin_dir() is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        server = pg_server.Server()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}")
    try:
        yield PostgresServer(server.host, server.port)
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server; dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server.admin_conninfo, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.url(name)
    with psycopg.connect(postgres_server.admin_conninfo, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


DEMO_RECORDS = 1500
"""Rows per sandbox account in :func:`demo_archive`."""


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive of every stream of both exchanges (Bitget financial records, funding wallet
    and a year of tax records; CoinW deals), built once per session by the real CLI: `cexledger
    demo --db FILE` syncs the real sandbox over HTTP on 127.0.0.1 at its demo rate. Treat it
    as read-only; copy it to change it."""
    import sys

    path = tmp_path_factory.mktemp("demo-archive") / "archive.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "cexledger"), "--db", str(path), "demo",
         "--records", str(DEMO_RECORDS), "--seed", "3"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return path
