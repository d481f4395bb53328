"""Account locks (issue 8 item 15): exclusive across processes, released when the holder dies.

Run on SQLite (``flock`` files beside the database) and on a real PostgreSQL (session-level
advisory locks).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.errors import ArchiveError

_HOLDER = """
import sys
from cexledger.archive import Archive
from cexledger.errors import ArchiveError
archive = Archive.open(sys.argv[1])
assert archive.try_lock_account("main")
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.db'}"
    return request.getfixturevalue("postgres_url")


def _eventually_free(archive: Archive, account: str, attempts: int = 500) -> bool:
    """Try the lock until it is had, a bounded number of times (the server may take a moment
    to notice a dead client's connection is gone)."""
    for _ in range(attempts):
        if archive.try_lock_account(account):
            return True
        time.sleep(0.01)
    return False


def test_the_lock_is_released_when_its_holder_is_sigkilled(url: str) -> None:
    Archive.open(url).close()    # created and migrated before the holder starts
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with Archive.open(url) as archive:
            assert not archive.try_lock_account("main")
            assert archive.try_lock_account("other")       # one lock per account name
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            assert _eventually_free(archive, "main")
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_a_released_lock_can_be_taken_by_another_archive(url: str) -> None:
    with Archive.open(url) as one, Archive.open(url) as two:
        assert one.try_lock_account("main")
        assert not one.try_lock_account("main")            # held already: a second sync waits
        assert not two.try_lock_account("main")
        one.unlock_account("main")
        assert two.try_lock_account("main")
        assert not one.try_lock_account("main")
    with Archive.open(url) as three:                       # closing released everything
        assert three.try_lock_account("main")


def test_a_lost_postgresql_session_releases_quietly(postgres_url: str) -> None:
    """The lock's connection dies (server restart, network): its session's locks are gone
    with it, so releasing is not an error (it would end a sync whose pages were written),
    and the next lock opens a new session."""
    with Archive.open(postgres_url) as archive:
        assert archive.try_lock_account("main")
        assert _terminate(postgres_url, "pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')") == 1
        archive.unlock_account("main")          # no error: the session is gone
        assert archive.try_lock_account("main")
        archive.unlock_account("main")


def test_a_lock_tried_on_a_lost_session_fails_once_then_opens_a_new_one(postgres_url: str) -> None:
    """An archive kept open for many syncs (a worker's): the lock's session dies while no
    account is locked; the next try fails (one error, that sync's), the one after it opens a
    new session and locks again: the archive is not left with a dead lock connection."""
    with Archive.open(postgres_url) as archive:
        assert archive.try_lock_account("main")
        archive.unlock_account("main")          # the session stays open, holding nothing
        assert _terminate(postgres_url, "query LIKE '%advisory_unlock%'") == 1
        with pytest.raises(ArchiveError):
            archive.try_lock_account("main")
        assert archive.try_lock_account("main")
        assert archive.try_lock_account("other")
        archive.unlock_account("main")


def test_the_postgresql_lock_session_keeps_tcp_alive(postgres_url: str) -> None:
    """A holder on a lost machine sends no FIN: the server finds its session dead through
    TCP keepalives set on the lock's session (seconds, not the system's two hours)."""
    import sqlalchemy as sa

    with Archive.open(postgres_url) as archive:
        assert archive.try_lock_account("main")
        engine = sa.create_engine(postgres_url)
        with engine.connect() as admin:
            pid = admin.execute(sa.text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' "
                                        "AND pid <> pg_backend_pid()")).scalar_one()
            # the settings of that backend, as it reports them to itself
            shown = admin.execute(sa.text(
                "SELECT client_port IS NOT NULL FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar_one()
        engine.dispose()
        assert shown                              # over TCP, where keepalives apply
        conn = archive._locks._conn  # type: ignore[union-attr]
        values = {name: conn.execute(sa.text(f"SHOW {name}")).scalar_one()
                  for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")}
        assert values == {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5",
                          "tcp_keepalives_count": "3"}


def _terminate(postgres_url: str, which: str) -> int:
    """Terminate the backends of this database (not the asking one) that match ``which`` (a
    condition on ``pg_stat_activity``); how many were."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
                              if postgres_url.startswith("postgresql://") else postgres_url)
    try:
        with engine.connect() as admin:
            killed = admin.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE pid <> "
                f"pg_backend_pid() AND datname = current_database() AND {which}")).scalar()
            admin.commit()
    finally:
        engine.dispose()
    return killed
