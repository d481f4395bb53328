"""A throwaway PostgreSQL server for the benchmark: the tests' own (``tests/pg_server.py``:
initdb + pg_ctl on 127.0.0.1 in a temporary directory, durability off), with room for the
workers' connections, and the CPU its processes used.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repo: tests.pg_server
from tests.pg_server import Server, bin_dir  # noqa: E402

__all__ = ["Postgres", "available", "proc_cpu_s", "server_cpu_s"]

MAX_CONNECTIONS = 600    # 2 workers × (procrastinate's pool + an archive per running job) and the reads


def available() -> bool:
    return bin_dir() is not None


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


class Postgres:
    """A running server; ``database()`` creates a fresh database and returns its URL."""

    def __init__(self) -> None:
        self._server = Server(f"-c max_connections={MAX_CONNECTIONS}", prefix="cexledger-bench-pg-")
        self.port, self.root, self.pid = self._server.port, self._server.root, self._server.pid
        try:
            self.version = self.query("postgres", "SHOW server_version")[0][0]
        except BaseException:
            self._server.stop()
            raise

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
        self._server.stop()

    def __enter__(self) -> Postgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
