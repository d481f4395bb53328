"""Database URLs and engines: validation, password masking, SQLite setup, error mapping.

Two backends are supported: SQLite (``sqlite:///PATH``, the default) and PostgreSQL through
psycopg 3 (``postgresql+psycopg://USER:PASSWORD@HOST/DB``; a bare ``postgresql://`` means
psycopg too). Every database error leaves this package as one line of
:class:`~cexledger.errors.ArchiveError` naming the URL with its password masked.

SQLite connections run with ``synchronous=NORMAL``, foreign keys on and a busy timeout;
an archive opened only to be read (``status``, ``export``) is opened read-only, see
:func:`read_only_url`;
the database is switched to WAL mode (a persistent change to the file) by
:func:`enable_wal`, called only once the database is known to be an archive or empty. The driver's implicit transactions are switched off and ``BEGIN`` is issued
explicitly: ``BEGIN IMMEDIATE`` for writes (taking the write lock up front, so a writer waits
for the busy timeout instead of failing on a stale read snapshot), plain ``BEGIN`` for reads.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

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
    "url_of",
    "enable_wal",
    "is_sqlite_file",
    "mask_passwords",
    "prepare_sqlite_path",
    "quick_check",
    "read_only_url",
    "translate",
    "writable_place",
    "write_connection",
]

DEFAULT_BUSY_TIMEOUT = 5.0
"""Seconds a SQLite writer waits for another process's lock before ArchiveLockedError."""

_PG_CONNECT_TIMEOUT = 10
_WRITE_OPTION = "cexledger_write"
_SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@]*@")
_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
_SQLITE_HEADER = b"SQLite format 3\x00"
_WAL_MODE = 2  # the file-format version bytes (offsets 18 and 19) of a WAL-mode database
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


def url_of(where: str | os.PathLike[str]) -> str:
    """The archive URL of ``where``: a URL (it has ``://``) as it is, anything else a SQLite
    file path (``~`` expanded, made absolute)."""
    text = os.fspath(where)
    if isinstance(where, str) and "://" in text:
        return text
    return "sqlite:///" + str(Path(text).expanduser().resolve())


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
        name = getattr(orig, "sqlite_errorname", "")
        if name.startswith(_DAMAGED):
            return self.damaged(action, str(orig) or name)
        locked = name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
        return self.error(action, str(orig) or type(orig).__name__, locked=locked)

    def damaged(self, action: str, detail: str) -> ArchiveError:
        """The one message for a SQLite file that is damaged (or not a database at all):
        SQLite's own words, and what to do."""
        path = self.sqlite_path
        if path is not None and path.is_file() and not is_sqlite_file(path):
            return self.error(
                action,
                f"{path} is not a SQLite database ({detail}: it does not start with SQLite's "
                "header); give the archive's path, or a new file for a new archive",
            )
        name = "archive.db" if path is None else shlex.quote(str(path))
        return self.error(
            action,
            f"{detail} — the file is damaged or not a SQLite database. Restore it from a backup, "
            f"or save what is readable into a new file: sqlite3 {name} .recover | sqlite3 "
            "recovered.db, and use recovered.db as the archive",
        )


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


def writable_place(target: Target) -> None:
    """Refuse, in one line, to write to a SQLite archive whose file or directory cannot be
    written (read-only media, another user's files): SQLite needs both (its journal or WAL
    files live next to the database)."""
    path = target.sqlite_path
    if path is None:
        return
    for place in (path, path.parent):
        if place.exists() and not os.access(place, os.W_OK):
            raise target.error(
                "write to", f"{place} is read-only; reads (`cexledger status`, `cexledger export`, "
                "cexledger.open()) work on it, a sync needs a writable copy: copy the file and "
                "sync into the copy"
            )


def read_only_url(target: Target) -> URL:
    """The URL that opens a SQLite archive for reading only, changing nothing on disk.

    Every read-only connection runs with ``PRAGMA query_only`` (SQLite refuses any change).
    Where the file and its directory can be written, that is the whole difference: the
    connection is an ordinary one, so closing it removes the ``-wal``/``-shm`` files as any
    last connection does. Elsewhere (read-only media, another user's files) the file is
    opened with ``mode=ro``, following SQLite's rules: a rollback-journal database is then
    readable as it is. A WAL-mode database also needs its ``-shm`` and ``-wal`` files: a
    reader uses them if both exist, or creates them if the directory is writable. In a
    directory that cannot be written, without both, the only way in is ``immutable=1`` (no
    locks, no ``-shm``), which ignores the ``-wal`` file: exact when there is no ``-wal`` or
    it is empty (a cleanly closed archive: the last connection checkpointed it into the
    database and deleted it) and no process writes meanwhile, which a place nobody can
    write guarantees. A non-empty ``-wal`` without a ``-shm`` there cannot be read exactly
    and is refused.
    """
    path = target.sqlite_path
    assert path is not None
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return target.url
    query = {"mode": "ro", "uri": "true"}
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    if _wal_mode(path) and not os.access(path.parent, os.W_OK) and not (wal.exists() and shm.exists()):
        if wal.exists() and wal.stat().st_size > 0:
            raise target.error(
                "read", f"{wal} holds changes not yet in the database and {path.parent} is "
                "read-only: copy the archive with its -wal file to a writable place"
            )
        query["immutable"] = "1"
    return target.url.set(database="file:" + quote(str(path)), query=query)


def _wal_mode(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[:16] == _SQLITE_HEADER and header[18] == _WAL_MODE


def is_sqlite_file(path: Path) -> bool:
    """Whether ``path`` is an existing regular file that starts with SQLite's 16-byte header
    (a device or named pipe is never opened: reading one could block or consume data)."""
    try:
        if not path.is_file():
            return False
        with path.open("rb") as file:
            return file.read(16) == _SQLITE_HEADER
    except OSError:
        return False


def quick_check(engine: Engine) -> str | None:
    """SQLite's ``PRAGMA quick_check`` (every page and b-tree, not index contents): ``None``
    when the file is sound, else the first problems it names. Reads only; ``None`` on
    PostgreSQL. About 0.5 s per million records, so it runs only before a write open."""
    if engine.dialect.name != "sqlite":
        return None
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            rows = [row[0] for row in cursor.execute("PRAGMA quick_check(3)")]
        except sqlite3.DatabaseError as exc:  # damage bad enough to stop the check itself
            if getattr(exc, "sqlite_errorname", "").startswith(_DAMAGED):
                return str(exc)
            raise
        finally:
            cursor.close()
    finally:
        raw.close()
    return None if rows == ["ok"] else "; ".join(str(row) for row in rows)


def _sqlite_on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun explicitly, see below
    cursor = dbapi_connection.cursor()
    try:  # per-connection settings only: nothing here changes the file
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_on_connect_read_only(dbapi_connection: sqlite3.Connection, record: Any) -> None:
    _sqlite_on_connect(dbapi_connection, record)
    dbapi_connection.execute("PRAGMA query_only=ON")


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


def create_engine(target: Target, busy_timeout: float, *, read_only: bool = False) -> Engine:
    """An engine for ``target``; SQLite gets its pragmas and explicit transactions. With
    ``read_only`` a SQLite file is opened as :func:`read_only_url` says, and PostgreSQL
    sessions default to read-only transactions."""
    if target.url.get_backend_name() == "sqlite":
        url = read_only_url(target) if read_only else target.url
        engine = sa.create_engine(url, connect_args={"timeout": busy_timeout})
        event.listen(engine, "connect", _sqlite_on_connect_read_only if read_only else _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args: dict[str, Any] = {} if "connect_timeout" in target.url.query else {"connect_timeout": _PG_CONNECT_TIMEOUT}
    if read_only and "options" not in target.url.query:   # the server refuses any change
        connect_args["options"] = "-c default_transaction_read_only=on"
    return sa.create_engine(target.url, connect_args=connect_args)


def write_connection(engine: Engine) -> sa.Connection:
    """A connection whose transactions take the write lock at ``BEGIN`` (SQLite)."""
    return engine.connect().execution_options(**{_WRITE_OPTION: True})
