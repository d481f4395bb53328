"""Shared fixtures: a throwaway PostgreSQL server for the session, a fresh database per test.

The server is found on ``PATH`` or under ``/usr/lib/postgresql/*/bin``, initialised into a
temporary directory and started by ``pg_ctl`` on 127.0.0.1 at a free port (its unix socket
inside the temporary directory, ``fsync`` off: throwaway data). PostgreSQL refuses to run as
root, so under root the server commands run as the ``postgres`` system user (or a dedicated
``cexledger-pg`` user, created if neither exists) via ``runuser``.

Without server binaries the PostgreSQL tests are skipped — or fail when ``CI`` is set,
because there a missing server is a broken environment, not a reason to test less.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_PG_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_PG_SERVER_USER = "cexledger-pg"


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


def _postgres_bin_dir() -> Path | None:
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    installed = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    installed.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)  # newest first
    candidates += installed
    for directory in candidates:
        if all((directory / program).is_file() for program in _PG_PROGRAMS):
            return directory
    return None


def _server_user() -> str | None:
    """The unprivileged user to run the server as, when we are root (else ``None``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _PG_SERVER_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _PG_SERVER_USER],
        check=True, capture_output=True,
    )
    return _PG_SERVER_USER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, stopped and deleted at the end."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    user = _server_user()
    prefix = ["runuser", "-u", user, "--"] if user else []
    root = Path(tempfile.mkdtemp(prefix="cexledger-pg-"))
    if user:
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, log = root / "data", root / "server.log"
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        _run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
        try:
            _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
        except RuntimeError as exc:
            server_log = log.read_text() if log.exists() else ""
            pytest.fail(f"PostgreSQL did not start: {exc}\n{server_log}")
        try:
            yield PostgresServer("127.0.0.1", port)
        finally:
            _run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
