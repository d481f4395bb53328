"""The procrastinate app on the archive's PostgreSQL database, and what a job is keyed by.

:func:`open_queue` checks the archive URL (PostgreSQL only: a queue shared by machines
needs a server), opens the archive (creating or migrating it as every command does), installs
the queue's schema (:mod:`.schema`) and builds the app with cexledger's tasks (:mod:`.tasks`).

A sync job's ``lock`` (:func:`job_locks`) stands for every exchange key its sync uses: the
account's API key and its tax key (Bitget), each known by its exchange, normalised base URL
and fingerprint (:mod:`cexledger.identity`). Accounts of the config that share a key —
directly, or through a chain of accounts each sharing one with the next — get one lock, so no
two workers ever send one key's requests at once, whatever the accounts' names. The lock is
computed from the config of the process that queues the job; the worker that runs it checks
it against its own config (:mod:`.tasks`). Its ``queueing_lock`` is the account's name
(:func:`queueing_lock`): an account waits in the queue at most once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from ..config import Account
from ..errors import ConfigError
from ..identity import configured_identity, key_fingerprint

if TYPE_CHECKING:
    import procrastinate

__all__ = ["EXTRA_HINT", "QUEUE", "SYNC_TASK", "TICK_TASK", "Runtime", "conninfo_of",
           "job_locks", "open_queue", "queue_to_read", "queueing_lock", "require_procrastinate"]

QUEUE = "cexledger"
SYNC_TASK = "cexledger.sync_account"
TICK_TASK = "cexledger.schedule_tick"

EXTRA_HINT = "install them with: pip install 'cexledger[workers]'"

_LOCK_PREFIX = b"cexledger job lock v1\x00"


@dataclass(frozen=True)
class Runtime:
    """What a worker's tasks need: the archive's URL (SQLAlchemy) and libpq's form of it,
    and the config file (read again by a job when it has changed, so an edited config is
    taken up: ``tasks.current_config``)."""

    db_url: str
    conninfo: str
    config_path: Path | None


def require_procrastinate() -> None:
    """``ConfigError`` naming the extra to install when procrastinate is missing."""
    try:
        import procrastinate  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError:
        raise ConfigError(f"the worker commands need procrastinate and psycopg: {EXTRA_HINT}") from None


def conninfo_of(db_url: str) -> str:
    """libpq's URL of a PostgreSQL archive URL; ``ConfigError`` for any other database."""
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "postgres":
        raise ConfigError(f"unsupported database URL {url.render_as_string()}: write "
                          "postgresql+psycopg://… (SQLAlchemy's name for PostgreSQL), not postgres://")
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "workers need a PostgreSQL archive (the job queue lives in it, shared by every "
            f"machine), not {url.get_backend_name()}: give --db postgresql+psycopg://user@host/db "
            "(or use `cexledger sync` on one machine)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _keys_of(account: Account) -> list[tuple[str, str, str]]:
    """The exchange keys a sync of ``account`` sends requests with: (exchange, normalised
    base URL, key fingerprint) of its API key and of its tax key when one is configured."""
    main = configured_identity(account)
    keys = [(main.exchange, main.base_url, main.key_fingerprint)]
    if account.tax_api_key:
        keys.append((main.exchange, main.base_url, key_fingerprint(account.exchange, account.tax_api_key)))
    return keys


def job_locks(accounts: Iterable[Account]) -> dict[str, str]:
    """The job lock of every account of ``accounts`` (a config's), by name: a digest of the
    least key (see :func:`_keys_of`) of the accounts linked to it by shared keys, so all of
    them get the same lock. An account sharing no key has the digest of its API key's
    identity. One pass over the accounts, however many are asked for."""
    parent: dict[tuple[str, str, str], tuple[str, str, str]] = {}

    def root(key: tuple[str, str, str]) -> tuple[str, str, str]:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    api_key_of: dict[str, tuple[str, str, str]] = {}
    for acc in accounts:
        first, *others = _keys_of(acc)
        api_key_of[acc.name] = first
        for key in others:
            a, b = root(first), root(key)
            parent[max(a, b)] = min(a, b)
    digest: dict[tuple[str, str, str], str] = {}
    locks = {}
    for name, key in api_key_of.items():
        least = root(key)      # a set's root is its least key: see the union above
        if least not in digest:
            digest[least] = hashlib.sha256(_LOCK_PREFIX + "\x00".join(least).encode()).hexdigest()
        locks[name] = f"cexledger-identity:{digest[least][:32]}"
    return locks


def queueing_lock(name: str) -> str:
    """The queueing lock of an account name: one waiting job per account."""
    return f"cexledger-account:{name}"


def open_queue(db_url: str, config_path: Path | None, *, schedule: str | None = None,
               pool_size: int = 4) -> procrastinate.App:
    """The app (not opened yet) on the PostgreSQL archive at ``db_url``, after the archive's
    and the queue's schemas are brought up to date. ``schedule``: the cron of the periodic
    sync of every account (registered on the app: its workers defer it)."""
    conninfo = conninfo_of(db_url)
    require_procrastinate()
    import procrastinate

    from ..archive import Archive
    from .schema import ensure_queue_schema
    from .tasks import register

    with Archive.open(db_url):        # creates or migrates the archive, as every command does
        pass
    ensure_queue_schema(conninfo)
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=pool_size)
    app = procrastinate.App(connector=connector)
    register(app, Runtime(db_url, conninfo, config_path), schedule=schedule)
    return app


def queue_to_read(db_url: str) -> str:
    """libpq's URL of the PostgreSQL archive at ``db_url``, for a command that only reads the
    queue (``cexledger queue``): nothing is created or changed, and a database without an
    archive is refused in one line (``NoArchiveError``), as every read command does."""
    conninfo = conninfo_of(db_url)
    require_procrastinate()
    from ..archive import Archive

    from ..errors import NoArchiveError

    try:
        with Archive.open(db_url, read_only=True):
            pass
    except NoArchiveError as exc:
        raise NoArchiveError(f"no archive at {exc.where} yet: start `cexledger worker` (it creates "
                             "it), or queue a sync with `cexledger enqueue`", exc.where) from None
    return conninfo
