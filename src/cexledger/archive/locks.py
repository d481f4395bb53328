"""Account locks: only one process syncs an account at a time, across processes and machines.

One small interface, :class:`AccountLocks` (``try_acquire`` / ``release`` / ``close``, never
blocking), with one implementation per backend. Both are released by the operating system
or the server when their holder dies, SIGKILL included:

- SQLite: ``flock`` on a file per account in a ``<database>.locks/`` directory beside the
  database, named by a hash of the account name. Lock files are never deleted (deleting one
  another process has open would let two processes hold "the" lock).
- PostgreSQL: a session-level ``pg_try_advisory_lock`` per account, in its own namespace,
  on one dedicated connection the archive keeps while it is open.

The lock is per account name: the name the archive's identity, coverage and checkpoints
belong to. It excludes within one process too: an account this object holds is refused to a
second ``try_acquire`` until released, so syncs sharing one archive (a worker's jobs) never
sync one account at once either.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import threading
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

__all__ = ["DEFAULT_WAIT_S", "AccountLocks", "AdvisoryLocks", "FileLocks", "lock_digest"]

DEFAULT_WAIT_S = 900.0
"""How long a sync waits, by default, for an account another process is syncing."""

_PG_ACCOUNT_LOCK = 0x63786C61  # "cxla": advisory lock namespace, one lock per account name
#: TCP keepalives of the lock's session, server side: a holder whose machine is lost (no
#: FIN, no RST) is found dead, and its locks released, within 10 + 5 * 3 = 25 s, not the
#: system's default two hours. (A killed process's socket is closed at once anyway.)
_PG_KEEPALIVES = (("tcp_keepalives_idle", 10), ("tcp_keepalives_interval", 5),
                  ("tcp_keepalives_count", 3))


def lock_digest(account: str) -> bytes:
    """The hash an account's lock is named by (SHA-256 of a prefix and the name)."""
    return hashlib.sha256(b"cexledger account lock\x00" + account.encode()).digest()


class AccountLocks(Protocol):
    def try_acquire(self, account: str) -> bool:
        """Take the account's lock if no one holds it (another process, or this object
        already); ``True`` if now held by this caller."""
        ...

    def release(self, account: str) -> None:
        """Give the account's lock back (a no-op if not held)."""
        ...

    def close(self) -> None:
        """Release every lock this object holds."""
        ...


class FileLocks:
    """``flock`` on ``<directory>/<hash>.lock``, one open file per held account."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._held: dict[str, int] = {}

    def path(self, account: str) -> Path:
        return self.directory / f"{lock_digest(account).hex()[:32]}.lock"

    def try_acquire(self, account: str) -> bool:
        if account in self._held:
            return False
        self.directory.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.path(account), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        self._held[account] = fd
        return True

    def release(self, account: str) -> None:
        fd = self._held.pop(account, None)
        if fd is not None:
            os.close(fd)  # closing the only descriptor releases the flock

    def close(self) -> None:
        for account in list(self._held):
            self.release(account)


class AdvisoryLocks:
    """Session-level advisory locks on one dedicated PostgreSQL connection (thread-safe)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._conn: sa.Connection | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    @staticmethod
    def key(account: str) -> int:
        return int.from_bytes(lock_digest(account)[:4], "big", signed=True)

    def _call(self, function: str, account: str) -> bool:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            for setting, seconds in _PG_KEEPALIVES:
                self._conn.execute(sa.text(f"SET {setting} = {seconds}"))
        fn = getattr(sa.func, function)
        return bool(self._conn.execute(sa.select(fn(_PG_ACCOUNT_LOCK, self.key(account)))).scalar())

    def try_acquire(self, account: str) -> bool:
        with self._mutex:
            if account in self._held:
                return False
            try:
                taken = self._call("pg_try_advisory_lock", account)
            except sa.exc.DBAPIError:
                self._lost()
                raise
            if taken:
                self._held.add(account)
                return True
            return False

    def release(self, account: str) -> None:
        """Unlock ``account``. A lost connection has ended the session, and with it every lock
        it held: then there is nothing to unlock, and the next lock opens a new session."""
        with self._mutex:
            if account in self._held:
                self._held.discard(account)
                try:
                    self._call("pg_advisory_unlock", account)
                except sa.exc.DBAPIError:
                    self._lost()

    def _lost(self) -> None:
        """The lock's connection failed: its session, and every lock it held, is gone (or
        will be, once the server notices); the next lock opens a new session. An archive
        kept open for many syncs (a worker's) is not left with a dead connection."""
        self._held.clear()
        if self._conn is not None:
            self._conn.invalidate()
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._mutex:
            self._held.clear()
            if self._conn is not None:
                self._conn.invalidate()  # ends the session (not back to the pool): locks released
                self._conn.close()
                self._conn = None
