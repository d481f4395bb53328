"""The archive from Python: ``cexledger.open(db)`` gives a :class:`Ledger` to read it.

    import cexledger

    with cexledger.open("archive.db") as led:          # a path, or a database URL
        for entry in led.entries(account="main", since="2026-01-01", until="2027-01-01"):
            ...
        table = led.to_arrow(kind="fee")               # pyarrow.Table, exact decimals

The rules:

- **Read-only.** :func:`open_ledger` opens the archive read-only and never creates one: no
  archive at the place given raises :class:`~cexledger.errors.NoArchiveError` (an archive is
  made by ``cexledger.sync``); nothing a :class:`Ledger` does writes to it.
- **Selections** (``account``, ``exchange``, ``kind``, ``since``, ``until``) are those of
  :class:`~cexledger.ledger.filters.Filters`: times are dates, datetimes, ISO text or Unix
  milliseconds, UTC unless they say otherwise, half-open (``since <= time < until``). An
  account the archive does not hold, an exchange cexledger does not know, a kind that does
  not exist raise :class:`~cexledger.errors.ConfigError` naming what exists, when the method
  is called (not at the first row).
- **Entries** are the ledger's (each movement once, ledger order), the same rows as the CSV
  and Parquet exports; entries an older cexledger derived raise
  :class:`~cexledger.ledger.current.OutdatedEntriesError` saying how to re-derive them.
- **Tables**: :meth:`Ledger.to_arrow` has the columns of
  :data:`~cexledger.ledger.columns.ENTRY_SCHEMA` (amounts ``decimal128(38, 18)``, exact;
  time ``timestamp[ms, UTC]``), built a batch at a time in Arrow. :meth:`Ledger.to_pandas`
  (amounts as ``decimal.Decimal`` objects) and :meth:`Ledger.to_polars` (``Decimal``
  columns) convert that table; pandas and polars are optional extras
  (``pip install 'cexledger[pandas]'``, ``'cexledger[polars]'``), and a missing one raises
  :class:`MissingExtraError` naming it.
- **Raw records** (:meth:`Ledger.records`): the latest version of each archived row, its
  bytes exactly as the exchange sent them (the JSONL export's ``raw``), in archive order
  (account, exchange, stream, partition, time, id).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from importlib import import_module
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .. import _json
from .._clock import DAY_MS, now_ms
from ..archive import Archive, StreamSummary, default_url, url_of
from ..errors import CexledgerError, ConfigError, NoArchiveError
from ..model import Kind, LedgerEntry, StreamKey
from .current import LIBRARY_FIX, require_current
from .entries import read_entries
from .filters import Filters, check_filters

if TYPE_CHECKING:
    import pandas
    import polars
    import pyarrow

__all__ = ["Ledger", "LedgerClosedError", "MissingExtraError", "RawRecord", "StreamStatus", "open_ledger"]

Time = str | date | datetime | int | None

_BOTH = "give only one of account= and exchange="
_TOO_WIDE = "read those entries with entries() instead (exact Decimal amounts)"
_SYNC_FIX = "sync it: cexledger.sync(config=..., db=...)"


class LedgerClosedError(CexledgerError):
    """A :class:`Ledger` was used after :meth:`Ledger.close`."""


class MissingExtraError(CexledgerError, ImportError):
    """An optional dependency (pandas, polars) is not installed; the message names the extra."""


def _extra(module: str, method: str) -> Any:
    try:
        return import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{method} needs {module}, which is not installed: pip install 'cexledger[{module}]'"
        ) from None


@dataclass(frozen=True, slots=True)
class RawRecord:
    """The latest version of one archived record; ``raw`` is exactly what the exchange sent."""

    account: str
    exchange: str
    stream: str
    partition: str
    record_id: str
    ts: int                 # event time, Unix ms UTC
    raw: bytes
    version: int            # 1 for a row never changed; each change the exchange made adds 1

    def json(self) -> Any:
        """``raw`` parsed, numbers exact (``Decimal``, integers as ``int``)."""
        return _json.loads(self.raw)


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What the archive holds of one stream partition (``cexledger status``'s row).

    ``coverage``: the time ranges completed syncs fetched in full, ``[(start_ms, end_ms)]``
    (half-open, oldest first). ``retention_days``: how far back the exchange serves the
    stream. ``safe_days``: days until history the archive lacks starts leaving the exchange
    (:mod:`cexledger.retention`); ``warning`` says so when that is under 30 days (else
    ``None``). ``outdated``: its entries were derived by an older cexledger, and reading them
    raises ``OutdatedEntriesError`` until ``cexledger.reparse(db)``."""

    account: str
    exchange: str
    stream: str
    partition: str
    records: int
    oldest_ts: int | None
    newest_ts: int | None
    coverage: tuple[tuple[int, int], ...]
    retention_days: int
    safe_days: float
    warning: str | None
    outdated: bool


def open_ledger(db: str | os.PathLike[str] | None = None) -> Ledger:
    """The archive at ``db`` (a file path, or a URL: ``sqlite:///…``,
    ``postgresql://user@host/db``; default: the archive ``cexledger`` uses without ``--db``,
    in the user data directory), opened read-only."""
    if isinstance(db, str) and not db.strip():
        raise ConfigError("db is empty: give the archive's file path or database URL")
    url = default_url() if db is None else url_of(db)
    try:
        archive = Archive.open(url, read_only=True)
    except NoArchiveError as exc:
        raise NoArchiveError(
            f"no archive at {exc.where}: cexledger.open() only reads an archive; make one "
            "with cexledger.sync(config=..., db=...)", exc.where
        ) from None
    return Ledger(archive)


class Ledger:
    """A read-only view of an archive (see the module docstring). Use as a context manager,
    or call :meth:`close`."""

    def __init__(self, archive: Archive) -> None:
        self._opened: Archive | None = archive
        self._url = archive.display_url
        self._streams: weakref.WeakSet[Generator[Any, None, None]] = weakref.WeakSet()

    def __repr__(self) -> str:
        return f"Ledger({self._url!r}{'' if self._opened is not None else ', closed'})"

    @property
    def _archive(self) -> Archive:
        if self._opened is None:
            raise LedgerClosedError(f"this Ledger of {self._url} is closed: open it again with cexledger.open()")
        return self._opened

    def _streamed(self, rows: Iterator[Any]) -> Iterator[Any]:
        """``rows`` as a generator :meth:`close` stops (its cursor and transaction end)."""
        def stream() -> Generator[Any, None, None]:
            yield from rows
        generator = stream()
        self._streams.add(generator)
        return generator

    def close(self) -> None:
        """Close the archive: iterators still open stop (their next step raises
        ``StopIteration``), later calls raise :class:`LedgerClosedError`. Closing twice is fine."""
        for generator in list(self._streams):
            generator.close()
        if self._opened is not None:
            self._opened.close()
            self._opened = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- selections ------------------------------------------------------------------

    def _select(self, account: str | None, exchange: str | None, kind: str | Kind | None,
                since: Time, until: Time) -> Filters:
        filters = Filters.of(account=account, exchange=exchange, kind=kind, since=since, until=until)
        exchange = check_filters(self._archive, filters.account, filters.exchange, both=_BOTH)
        return Filters(filters.account, exchange, filters.kind, filters.since_ms, filters.until_ms)

    def _entries_of(self, account: str | None, exchange: str | None, kind: str | Kind | None,
                    since: Time, until: Time) -> Filters:
        filters = self._select(account, exchange, kind, since, until)
        require_current(self._archive, filters.account, filters.exchange, fix=LIBRARY_FIX)
        return filters

    # ---- entries ---------------------------------------------------------------------

    def entries(self, account: str | None = None, exchange: str | None = None,
                kind: str | Kind | None = None, since: Time = None, until: Time = None) -> Iterator[LedgerEntry]:
        """The ledger's entries the selection names, in ledger order, streamed."""
        return self._streamed(read_entries(self._archive, self._entries_of(account, exchange, kind, since, until)))

    def to_arrow(self, account: str | None = None, exchange: str | None = None,
                 kind: str | Kind | None = None, since: Time = None, until: Time = None) -> pyarrow.Table:
        """The entries as one ``pyarrow.Table`` of ``ENTRY_SCHEMA`` (exact decimals)."""
        import pyarrow as pa

        from .columns import ENTRY_SCHEMA, entry_columns, entry_table

        filters = self._entries_of(account, exchange, kind, since, until)
        tables = [entry_table(columns, _TOO_WIDE) for columns in entry_columns(self._archive, filters)]
        return pa.concat_tables(tables) if tables else ENTRY_SCHEMA.empty_table()

    def to_pandas(self, account: str | None = None, exchange: str | None = None,
                  kind: str | Kind | None = None, since: Time = None, until: Time = None) -> pandas.DataFrame:
        """The entries as a ``pandas.DataFrame``: ``amount``/``balance`` hold ``Decimal``
        objects (``None`` where no balance), ``time`` is ``datetime64[ms, UTC]``."""
        _extra("pandas", "to_pandas()")
        return self.to_arrow(account, exchange, kind, since, until).to_pandas()

    def to_polars(self, account: str | None = None, exchange: str | None = None,
                  kind: str | Kind | None = None, since: Time = None, until: Time = None) -> polars.DataFrame:
        """The entries as a ``polars.DataFrame`` with ``Decimal(38, 18)`` amounts."""
        pl = _extra("polars", "to_polars()")
        return pl.from_arrow(self.to_arrow(account, exchange, kind, since, until))

    # ---- raw records and status ------------------------------------------------------

    def records(self, account: str | None = None, exchange: str | None = None,
                since: Time = None, until: Time = None) -> Iterator[RawRecord]:
        """The latest version of every archived record the selection names, streamed."""
        filters = self._select(account, exchange, None, since, until)
        return self._streamed(self._records(filters))

    def _records(self, filters: Filters) -> Iterator[RawRecord]:
        for rec in self._archive.iter_records(**filters.archive_args()):
            key = rec.key
            yield RawRecord(key.account, key.exchange, key.stream, key.partition, rec.record_id,
                            rec.ts, bytes(rec.raw), rec.version)

    def status(self, account: str | None = None) -> list[StreamStatus]:
        """Every stream partition the archive holds (of ``account``), by account, exchange,
        stream, partition: what ``cexledger status`` shows."""
        from ..reparse import outdated
        from ..retention import retention_ms, safe_days, shadow_coverage, warning

        check_filters(self._archive, account)
        summaries: list[StreamSummary] = self._archive.streams(account)
        stale: set[StreamKey] = set(outdated(self._archive, None if account is None else [account]))
        shadows = shadow_coverage(summaries)
        now = now_ms()
        result = []
        for s in summaries:
            days = safe_days(s, now, shadows[s.key])
            k = s.key
            result.append(StreamStatus(
                k.account, k.exchange, k.stream, k.partition, s.records, s.oldest_ts, s.newest_ts,
                tuple(tuple(c) for c in s.coverage), retention_ms(k) // DAY_MS, days,
                warning(k, days, now, _SYNC_FIX), k in stale,
            ))
        return result
