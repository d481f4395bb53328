"""Syncing and re-deriving from Python: the library twins of ``cexledger sync`` and
``cexledger reparse``.

    import cexledger

    results = cexledger.sync(config="cexledger.toml", db="archive.db")
    for r in results:
        print(r.account, r.ok, r.new, r.errors)

:func:`sync` runs exactly the CLI's sync (``cexledger.sync.sync_accounts``): it creates the
archive when there is none yet, and never raises for an account that failed — each
:class:`AccountResult` says ``ok`` and its error lines (one per cause), as the CLI's summary
does; it raises only for what stops everything (a config or archive error).

Event loops: :func:`sync` runs its own loop, so it refuses to run inside one that is running
(Jupyter, an ``async`` program) with an error naming :func:`sync_async`, the coroutine to
``await`` there. :func:`reparse` does no network I/O and is a plain function everywhere.

Progress and config warnings go to the ``cexledger`` logger (``logging``), never to a
terminal of the caller's.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .archive import Archive, default_url, url_of
from .archive.locks import DEFAULT_WAIT_S
from .archive.results import RederiveResult
from .config import Account, Config, default_config_path, load_config
from .errors import CexledgerError, ConfigError, NoArchiveError

if TYPE_CHECKING:
    from .sync import AccountReport

__all__ = ["AccountResult", "reparse", "sync", "sync_async"]

log = logging.getLogger("cexledger")

PathOrUrl = str | os.PathLike[str]


@dataclass(frozen=True, slots=True)
class AccountResult:
    """What a sync did for one account: ``new`` records archived, ``updated`` ones the
    exchange changed (their previous version kept); ``errors``: one line per cause of
    failure (empty when ``ok``); ``notes``: remarks worth reading (re-derived streams, …)."""

    account: str
    exchange: str
    ok: bool
    new: int
    updated: int
    errors: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def written(self) -> int:
        """Records written: new ones and new versions."""
        return self.new + self.updated

    @classmethod
    def of(cls, report: AccountReport) -> AccountResult:
        streams = report.streams.values()
        return cls(report.account, report.exchange, not report.errors,
                   sum(s.new for s in streams), sum(s.updated for s in streams),
                   tuple(report.error_lines()), tuple(report.notes))


def _config(config: PathOrUrl | Config | None) -> Config:
    if isinstance(config, Config):
        cfg = config
    else:
        path = default_config_path() if config is None else Path(config).expanduser()
        if not path.exists():
            raise ConfigError(f"no config file at {path}: give cexledger.sync(config=PATH) "
                              "the TOML file that names your accounts (see the README)")
        cfg = load_config(path)
    for warning in cfg.warnings:
        log.warning("%s", warning)
    return cfg


def _url(db: PathOrUrl | None) -> str:
    if isinstance(db, str) and not db.strip():
        raise ConfigError("db is empty: give the archive's file path or database URL")
    return default_url() if db is None else url_of(db)


def accepted_identities(selected: list[Account], accept: list[str] | None, option: str) -> list[str]:
    """The account names of ``accept`` (each once), each one of the ``selected`` accounts;
    ``ConfigError`` naming ``option`` for one that is not being synced."""
    names = [a.name for a in selected]
    accepted = list(dict.fromkeys(accept or []))
    unknown = [n for n in accepted if n not in names]
    if unknown:
        raise ConfigError(f"{option} {unknown[0]!r} is not an account being synced "
                          f"(syncing: {', '.join(names)})")
    return accepted


async def sync_async(config: PathOrUrl | Config | None = None, db: PathOrUrl | None = None,
                     accounts: list[str] | None = None, *, recheck_open: bool = False,
                     wait: float = DEFAULT_WAIT_S,
                     accept_new_identity: list[str] | None = None) -> list[AccountResult]:
    """:func:`sync`, to ``await`` inside a running event loop."""
    from .sync import sync_accounts

    selected = _config(config).select(accounts)
    accept = accepted_identities(selected, accept_new_identity, "accept_new_identity")

    def waiting(name: str) -> None:
        log.info("waiting for account %r: another cexledger process is syncing it", name)

    with Archive.open(_url(db)) as archive:
        if archive.created:
            log.info("created a new archive at %s", archive.display_url)
        report = await sync_accounts(selected, archive, recheck_open=recheck_open, wait=wait,
                                     on_wait=waiting, accept_identity=accept, announce=log.info)
    return [AccountResult.of(acc) for acc in report.accounts]


def sync(config: PathOrUrl | Config | None = None, db: PathOrUrl | None = None,
         accounts: list[str] | None = None, *, recheck_open: bool = False,
         wait: float = DEFAULT_WAIT_S, accept_new_identity: list[str] | None = None) -> list[AccountResult]:
    """Fetch everything new of ``accounts`` (default: every account of ``config``) into the
    archive at ``db`` (a path or URL; created if there is none), as ``cexledger sync`` does;
    one :class:`AccountResult` per account. ``config``: the TOML file's path, or a
    ``cexledger.config.Config``; ``None`` is the CLI's default config file. The options are
    the CLI's (``--recheck-open``, ``--wait``, ``--accept-new-identity``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise CexledgerError("cexledger.sync() cannot run inside a running event loop (Jupyter, "
                             "async code): use `await cexledger.sync_async(...)` there")
    return asyncio.run(sync_async(config, db, accounts, recheck_open=recheck_open, wait=wait,
                                  accept_new_identity=accept_new_identity))


def reparse(db: PathOrUrl | None = None, account: str | None = None) -> RederiveResult:
    """Re-derive the entries of the archive at ``db`` (of ``account``, default all) from the
    archived raw records, as ``cexledger reparse`` does (upgrading an archive an older
    cexledger wrote); raw records never change. Returns the counts: ``records`` re-derived,
    ``changed`` entries, ``raw_only`` still not understood."""
    from .reparse import reparse as run_reparse

    try:
        archive = Archive.open(_url(db), create=False)
    except NoArchiveError as exc:
        raise NoArchiveError(f"no archive at {exc.where} to re-derive: make one with "
                             "cexledger.sync(config=..., db=...)", exc.where) from None
    with archive:
        streams = archive.streams(account)
        if account is not None and not streams:
            names = archive.account_names()
            raise ConfigError(f"no account {account!r} in the archive "
                              f"(archived: {', '.join(names) or 'none'})")
        return run_reparse(archive, [s.key for s in streams])
