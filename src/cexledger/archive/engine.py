"""Database URLs and engines: validation, password masking, SQLite setup, error mapping.

Two backends are supported: SQLite (``sqlite:///PATH``, the default) and PostgreSQL through
psycopg 3 (``postgresql+psycopg://USER:PASSWORD@HOST/DB``; a bare ``postgresql://`` means
psycopg too). Every database error leaves this package as one line of
:class:`~cexledger.errors.ArchiveError` naming the URL with its password masked.

SQLite connections run with ``synchronous=NORMAL``, foreign keys on and a busy timeout;
the database is switched to WAL mode (a persistent change to the file) by
:func:`enable_wal`, called only once the database is known to be an archive or empty. The driver's implicit transactions are switched off and ``BEGIN`` is issued
explicitly: ``BEGIN IMMEDIATE`` for writes (taking the write lock up front, so a writer waits
for the busy timeout instead of failing on a stale read snapshot), plain ``BEGIN`` for reads.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Engine

from ..errors import ArchiveError, ArchiveLockedError

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "Target",
    "create_engine",
    "default_url",
    "enable_wal",
    "mask_passwords",
    "prepare_sqlite_path",
    "translate",
    "write_connection",
]

DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds a SQLite writer waits for another process's lock before ArchiveLockedError."""

_PG_CONNECT_TIMEOUT = 10
_WRITE_OPTION = "cexledger_write"
_SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")
#: ``password=…`` in a libpq conninfo string: a bare word or a single-quoted value.
_PASSWORD_IN_CONNINFO = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s'][^\s]*)", re.IGNORECASE)


def mask_passwords(text: str) -> str:
    """``text`` with every password masked where it stands as one: the userinfo of a URL
    (``scheme://user:***@``) and ``password=***`` in a conninfo. Other words are left alone,
    even one that equals the password (a user, database or host named like it)."""
    return _PASSWORD_IN_CONNINFO.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", text))


def default_url() -> str:
    """``sqlite:///<user data dir>/archive.db``. Creates nothing: opening the archive creates
    the directory when it creates the database."""
    directory = Path(platformdirs.user_data_dir("cexledger"))
    return f"sqlite:///{directory / 'archive.db'}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Target:
    """A validated database URL and its password-masked rendering."""

    url: URL
    display: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse and check a URL; ``ArchiveError`` for bad syntax or an unsupported driver."""
        try:
            url = sa.make_url(text)
        except (sa_exc.ArgumentError, ValueError):
            masked = mask_passwords(text)
            raise ArchiveError(
                f"cannot open archive {_one_line(masked)!r}: not a valid database URL "
                f"(expected {_SUPPORTED})"
            ) from None
        backend, _, driver = url.drivername.partition("+")
        if backend == "postgresql" and driver in ("", "psycopg"):
            url = url.set(drivername="postgresql+psycopg")
        elif not (backend == "sqlite" and driver in ("", "pysqlite")):
            display = url.render_as_string(hide_password=True)
            raise ArchiveError(
                f"cannot open archive {display}: unsupported database driver "
                f"{url.drivername!r} (expected {_SUPPORTED})"
            )
        target = cls(url, url.render_as_string(hide_password=True))
        if backend == "sqlite" and url.database in (None, "", ":memory:"):
            raise target.error("open", "an in-memory SQLite database is not an archive: give a file, e.g. sqlite:///archive.db")
        return target

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite URL, ``None`` for PostgreSQL."""
        if self.url.get_backend_name() != "sqlite":
            return None
        return Path(str(self.url.database)).expanduser()

    def error(self, action: str, reason: str, *, locked: bool = False) -> ArchiveError:
        """``cannot <action> archive <url>: <reason>`` on one line, never with the password:
        it is masked where the reason shows it as a password (:func:`mask_passwords`)."""
        reason = mask_passwords(reason)
        cls = ArchiveLockedError if locked else ArchiveError
        return cls(f"cannot {action} archive {self.display}: {_one_line(reason)}")

    @property
    def driver_error(self) -> type[Exception]:
        """The DBAPI driver's base exception (raised by statements run on its raw cursor)."""
        if self.url.get_backend_name() == "sqlite":
            return sqlite3.Error
        import psycopg

        return psycopg.Error

    def error_from(self, action: str, exc: BaseException) -> ArchiveError:
        """Map a driver, SQLAlchemy, import or OS error to a one-line ArchiveError."""
        if isinstance(exc, ImportError):
            return self.error(
                action, f"database driver not installed ({exc.name or exc}); "
                "for PostgreSQL: pip install 'cexledger[postgres]'"
            )
        if isinstance(exc, sa_exc.DBAPIError):
            orig: BaseException = exc.orig
        elif isinstance(exc, self.driver_error):
            orig = exc
        else:
            return self.error(action, str(exc) or type(exc).__name__)
        locked = getattr(orig, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
        return self.error(action, str(orig) or type(orig).__name__, locked=locked)


@contextmanager
def translate(target: Target, action: str) -> Iterator[None]:
    """Turn database errors raised inside the block into one-line ``ArchiveError``.

    Both SQLAlchemy's wrapped errors and the driver's own (from the raw-cursor write path).
    """
    try:
        yield
    except Exception as exc:
        if isinstance(exc, (sa_exc.DBAPIError, target.driver_error)):
            raise target.error_from(action, exc) from exc
        raise


def prepare_sqlite_path(target: Target) -> Callable[[], None]:
    """Create a SQLite file's missing parent directories; return an undo for a failed open.

    The undo removes only what this open created: the database file and its ``-wal``/``-shm``
    companions if they did not exist before, then the directories made here (if empty).
    """
    path = target.sqlite_path
    if path is None:
        return lambda: None
    if path.is_dir():
        raise target.error("open", f"{path} is a directory, not a database file")
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise target.error("open", f"cannot create directory {path.parent}: {exc.strerror or exc}") from None
    companions = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    absent = [p for p in companions if not p.exists()]

    def undo() -> None:
        for file in absent:
            file.unlink(missing_ok=True)
        for directory in missing:  # deepest first
            try:
                directory.rmdir()
            except OSError:
                return

    return undo


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun explicitly, see below
    cursor = dbapi_connection.cursor()
    try:  # per-connection settings only: nothing here changes the file
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def enable_wal(engine: Engine) -> None:
    """Switch a SQLite database to WAL mode (persistent; a no-op once done, and on PostgreSQL).

    Run outside any transaction (SQLite refuses the switch inside one), on the raw connection.
    """
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        finally:
            cursor.close()
    finally:
        raw.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get(_WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def create_engine(target: Target, busy_timeout: float) -> Engine:
    """An engine for ``target``; SQLite gets its pragmas and explicit transactions."""
    if target.url.get_backend_name() == "sqlite":
        engine = sa.create_engine(target.url, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args = {} if "connect_timeout" in target.url.query else {"connect_timeout": _PG_CONNECT_TIMEOUT}
    return sa.create_engine(target.url, connect_args=connect_args)


def write_connection(engine: Engine) -> sa.Connection:
    """A connection whose transactions take the write lock at ``BEGIN`` (SQLite)."""
    return engine.connect().execution_options(**{_WRITE_OPTION: True})
