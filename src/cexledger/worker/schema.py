"""The queue's schema in the archive's database, installed and upgraded by cexledger itself.

procrastinate keeps its jobs in its own tables (``procrastinate_*``) beside the archive's.
Its full schema is one SQL file (``procrastinate/sql/schema.sql``) and every change since is
a migration file named by the procrastinate version that brought it
(``sql/migrations/MM.mm.pp_NN_name.sql``). cexledger records, in :data:`VERSION_TABLE`, the
procrastinate version whose schema the database holds, and every command that opens the
queue (``worker``, ``enqueue``, ``queue``) calls :func:`ensure_queue_schema`:

- no procrastinate tables yet: ``schema.sql`` is applied and the version recorded;
- the recorded version is the installed procrastinate's: nothing to do (one query);
- an older one: the migration files of the versions after it, up to the installed one, are
  applied in order (pre- and post-migrations alike: run the upgrade with no older worker
  still running);
- a newer one (this machine's procrastinate is older than the one that made the schema):
  refused with one line, before anything changes.

All of it runs in one transaction under a PostgreSQL advisory lock, so workers starting on
several machines at once install the schema once; the others wait for it and find it done.
Beside procrastinate's tables, :data:`RUNS_TABLE` records where each job runs (host, process)
and the one-line reason its last run failed, which procrastinate does not store, for
``cexledger queue``.
"""

from __future__ import annotations

import re
from importlib import resources

from ..errors import ArchiveError

__all__ = ["RUNS_TABLE", "VERSION_TABLE", "ensure_queue_schema"]

VERSION_TABLE = "cexledger_queue_schema"
RUNS_TABLE = "cexledger_job_runs"

_PG_QUEUE_SCHEMA_LOCK = 0x63786C71  # "cxlq": serializes installs of the queue's schema

_MIGRATION = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql$")

_OWN_DDL = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version text NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} ("
    " job_id bigint PRIMARY KEY, account text NOT NULL, host text NOT NULL,"
    " pid integer NOT NULL, started timestamptz NOT NULL DEFAULT now(),"
    " error text, failed_at timestamptz)",
)
# Columns added to RUNS_TABLE after its first form: (name, type), added when missing.
_RUNS_ADDED = (("error", "text"), ("failed_at", "timestamptz"))


def _version(text: str) -> tuple[int, int, int]:
    parts = re.findall(r"\d+", text)[:3]
    return tuple(int(p) for p in parts + ["0"] * (3 - len(parts)))  # type: ignore[return-value]


def installed_version() -> str:
    from importlib.metadata import version

    return version("procrastinate")


def _migrations(after: tuple[int, int, int], upto: tuple[int, int, int]) -> list[str]:
    """The SQL of procrastinate's migrations of versions in ``(after, upto]``, in order."""
    folder = resources.files("procrastinate.sql") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            v = tuple(int(g) for g in match.groups()[:3])
            if after < v <= upto:
                found.append(((*v, int(match.group(4))), entry.name, entry.read_text(encoding="utf-8")))
    return [sql for _, _, sql in sorted(found)]


def ensure_queue_schema(conninfo: str) -> None:
    """Install or upgrade procrastinate's schema (and cexledger's job table) in the database
    at ``conninfo`` (a libpq URL); cheap when it is current. ``ArchiveError`` for a schema
    made by a newer procrastinate."""
    import psycopg

    current = installed_version()
    with psycopg.connect(conninfo) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_QUEUE_SCHEMA_LOCK,))
            for ddl in _OWN_DDL:
                conn.execute(ddl)
            have = {r[0] for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s", (RUNS_TABLE,)).fetchall()}
            for column, kind in _RUNS_ADDED:
                if column not in have:
                    conn.execute(f"ALTER TABLE {RUNS_TABLE} ADD COLUMN {column} {kind}")
            row = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
            has_jobs = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]
            recorded = row[0] if row else None
            if recorded == current and has_jobs:
                return
            if not has_jobs:
                schema = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
                conn.execute(schema)
            elif recorded is None:
                raise ArchiveError(
                    "the database holds procrastinate tables cexledger did not install: give "
                    "cexledger a database of its own (or drop the procrastinate_* objects)")
            elif _version(recorded) > _version(current):
                raise ArchiveError(
                    f"the job queue's schema was made by procrastinate {recorded}, newer than "
                    f"this machine's {current}: upgrade cexledger[workers] here "
                    f"(pip install -U 'cexledger[workers]')")
            else:
                for sql in _migrations(_version(recorded), _version(current)):
                    conn.execute(sql)
            conn.execute(f"DELETE FROM {VERSION_TABLE}")
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (%s)", (current,))
