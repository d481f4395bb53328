"""A throwaway PostgreSQL server for the benchmark, started as the tests' fixture starts one.

``initdb`` + ``pg_ctl`` from the newest ``/usr/lib/postgresql/*/bin`` (or ``PATH``), into a
temporary directory, listening on 127.0.0.1 at a free port, its unix socket inside that
directory, durability off (``fsync``, ``synchronous_commit``, ``full_page_writes``: throwaway
data, as in ``tests/conftest.py``). Under root the server commands run as the ``postgres``
system user (or ``cexledger-pg``, created if neither exists) via ``runuser``.
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
from pathlib import Path

import psycopg

__all__ = ["Postgres", "available", "proc_cpu_s", "server_cpu_s"]

_PROGRAMS = ("initdb", "pg_ctl", "postgres")
_SERVER_USER = "cexledger-pg"
MAX_CONNECTIONS = 600    # 2 workers × (procrastinate's pool + an archive per running job) and the reads


def _bin_dir() -> Path | None:
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    installed = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")]
    installed.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    candidates += installed
    return next((d for d in candidates if all((d / p).is_file() for p in _PROGRAMS)), None)


def available() -> bool:
    return _bin_dir() is not None


_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of a live process, with its reaped children's if asked."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return used / _TICK


def server_cpu_s(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL server so far: the postmaster, its exited backends (which
    it reaps) and its live ones."""
    total = proc_cpu_s(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    total += (int(fields[11]) + int(fields[12])) / _TICK
            except (OSError, IndexError, ValueError):
                continue
    return total


def _server_user() -> str | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SERVER_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _SERVER_USER],
                   check=True, capture_output=True)
    return _SERVER_USER


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


class Postgres:
    """A running server; ``database()`` creates a fresh database and returns its URL."""

    def __init__(self) -> None:
        bin_dir = _bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found on PATH or in /usr/lib/postgresql/*/bin")
        user = _server_user()
        self._prefix = ["runuser", "-u", user, "--"] if user else []
        self._bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="cexledger-bench-pg-"))
        if user:
            entry = pwd.getpwnam(user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._data = self.root / "data"
        self.port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off -c max_connections={MAX_CONNECTIONS}")
        try:
            _run([*self._prefix, str(bin_dir / "initdb"), "-D", str(self._data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-sync"])
            _run([*self._prefix, str(bin_dir / "pg_ctl"), "-D", str(self._data), "-l", str(self.root / "server.log"),
                  "-o", options, "-w", "-t", "60", "start"])
        except Exception:
            shutil.rmtree(self.root, ignore_errors=True)
            raise
        self.version = self.query("postgres", "SHOW server_version")[0][0]
        self.pid = int((self._data / "postmaster.pid").read_text().split()[0])

    def cpu_s(self) -> float:
        return server_cpu_s(self.pid)

    def conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def query(self, database: str, sql: str, params: dict | None = None) -> list[tuple]:
        with psycopg.connect(self.conninfo(database), autocommit=True) as conn:
            cur = conn.execute(sql, params or {})
            return cur.fetchall() if cur.description is not None else []

    def database(self, prefix: str = "bench") -> str:
        """A fresh, empty database; its name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.query("postgres", f"CREATE DATABASE {name}")
        return name

    def close(self) -> None:
        try:
            _run([*self._prefix, str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
