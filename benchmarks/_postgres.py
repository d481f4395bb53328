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

__all__ = ["ARCHIVE_RELATIONS", "Postgres", "available", "proc_cpu_s", "proc_cpu_split",
           "server_cpu_s", "server_cpu_split", "server_written_bytes", "stored_bytes", "wal_position"]

MAX_CONNECTIONS = 600    # 2 workers × (procrastinate's pool + an archive per running job) and the reads


def available() -> bool:
    return bin_dir() is not None


_TICK = os.sysconf("SC_CLK_TCK")


def _stat(path: Path) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` after the command name (which may hold spaces)."""
    return path.read_text().rsplit(")", 1)[1].split()


def _times(fields: list[str], children: bool) -> tuple[int, int]:
    """(user, system) clock ticks of a process, with its reaped children's if asked."""
    return (int(fields[11]) + (int(fields[13]) if children else 0),
            int(fields[12]) + (int(fields[14]) if children else 0))


def proc_cpu_split(pid: int, children: bool = False) -> tuple[float, float]:
    """CPU seconds (user, system) of a live process, with its reaped children's if asked."""
    user, system = _times(_stat(Path(f"/proc/{pid}/stat")), children)
    return user / _TICK, system / _TICK


def proc_cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of a live process, with its reaped children's if asked."""
    return sum(proc_cpu_split(pid, children))


def server_cpu_split(postmaster: int) -> tuple[float, float]:
    """CPU seconds of a PostgreSQL server so far, (user, system): the postmaster, its exited
    backends (which it reaps) and its live ones. System time is the kernel's work for the
    server: its sockets, and copying the WAL and the data files it writes into the page cache."""
    user, system = _times(_stat(Path(f"/proc/{postmaster}/stat")), True)
    for entry in _children(postmaster):
        try:
            u, s = _times(_stat(entry / "stat"), False)
        except (OSError, IndexError, ValueError):
            continue                            # it ended in between (the postmaster counts it)
        user, system = user + u, system + s
    return user / _TICK, system / _TICK


def _children(postmaster: int) -> list[Path]:
    """The ``/proc`` directories of a server's live processes (the postmaster's children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(entry / "stat")[1]) == postmaster:
                    found.append(entry)
            except (OSError, IndexError, ValueError):
                continue
    return found


def server_written_bytes(postmaster: int) -> int:
    """Bytes a PostgreSQL server has handed to ``write``-like calls so far (``wchar`` of
    ``/proc/<pid>/io``: its WAL, its data files, its answers on sockets), the postmaster's
    (which counts its reaped children's) and its live processes'."""
    total = 0
    for entry in [Path(f"/proc/{postmaster}"), *_children(postmaster)]:
        try:
            text = (entry / "io").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in text.splitlines() if line.startswith("wchar:"))
    return total


def server_cpu_s(postmaster: int) -> float:
    """CPU seconds of a PostgreSQL server so far, user and system (:func:`server_cpu_split`)."""
    return sum(server_cpu_split(postmaster))


#: The archive's relations whose size a write costs: the two tables a backfill fills and their indexes.
ARCHIVE_RELATIONS = ("records", "pk_records", "ix_records_stream_ts", "entries", "pk_entries", "ix_entries_order")


def wal_position(conn: psycopg.Connection) -> int:
    """The server's WAL insert position in bytes: the difference of two is the WAL written between."""
    return int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')").fetchone()[0])


def stored_bytes(conn: psycopg.Connection) -> dict[str, int]:
    """The on-disk size of each of :data:`ARCHIVE_RELATIONS` in the connection's database."""
    rows = conn.execute("SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
                        [list(ARCHIVE_RELATIONS)]).fetchall()
    return {name: int(size) for name, size in sorted(rows, key=lambda r: ARCHIVE_RELATIONS.index(r[0]))}


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

    def cpu_split(self) -> tuple[float, float]:
        return server_cpu_split(self.pid)

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
