"""``Archive``: the durable store of raw records, normalized entries, checkpoints and coverage.

One ``Archive`` per process, safe to share between threads (each call takes its own pooled
connection). Every ``write_page`` is one transaction: records, entries, checkpoint and
coverage become visible together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ..errors import ArchiveError, NoArchiveError
from ..model import LedgerEntry, Record, StreamKey
from . import bulk, coverage, queries, writes
from .engine import (
    DEFAULT_BUSY_TIMEOUT,
    Target,
    create_engine,
    default_url,
    enable_wal,
    prepare_sqlite_path,
    quick_check,
    read_only_url,
    translate,
    writable_place,
    write_connection,
)
from .locks import AccountLocks, AdvisoryLocks, FileLocks
from .migrate import SchemaError, ensure_head
from .results import AccountIdentity, ArchivedRecord, Checkpoint, RederiveResult, StreamSummary, WriteResult

__all__ = ["Archive", "NewPages"]

_YIELD_PER = 1000


def _is_interval(cover: tuple[int, int]) -> bool:
    start, end = cover
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end))
    return integers and start < end


class NewPages:
    """Which streams' next page is likely wholly new, for ``Archive.write_page``'s
    ``expect_new``: those whose last page written in this run brought new records (a
    backfill's pages are nearly all new). A page of known records only (a re-sync reading
    what it has) turns the guess off for its stream. One per run: a later run of the same
    stream starts where the archive already has rows."""

    def __init__(self) -> None:
        self._filling: set[StreamKey] = set()

    def expected(self, key: StreamKey) -> bool:
        return key in self._filling

    def written(self, key: StreamKey, result: WriteResult) -> None:
        """What writing a page of the stream did."""
        if result.new:
            self._filling.add(key)
        elif result.updated or result.unchanged:
            self._filling.discard(key)


class Archive:
    """An opened archive database. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(self, target: Target, engine: sa.Engine, url: str) -> None:
        self.url = url
        self.display_url = target.display
        self._target = target
        self._engine = engine
        self._stream_ids: dict[StreamKey, int] = {}
        self._locks: AccountLocks | None = None
        #: Whether :meth:`open` created this archive (the database was new or empty).
        self.created = False

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        create: bool = True,
        read_only: bool = False,
    ) -> Archive:
        """Open (creating and migrating as needed) the archive at ``url`` (default: user data dir).

        ``busy_timeout`` is how many seconds a SQLite writer waits for another process's lock
        before :class:`~cexledger.errors.ArchiveLockedError`. ``create=False`` opens only an
        archive that exists: a missing SQLite file (its directories included) is not created,
        and a missing file or an empty database raises
        :class:`~cexledger.errors.NoArchiveError` ("no archive at …"). Any failure is a
        one-line :class:`~cexledger.errors.ArchiveError`; nothing this call created is left
        behind, and a database it refuses is not changed. A database with tables but no
        cexledger version table is refused ("is not a cexledger archive") before anything in
        it is changed, WAL mode included; so is one made by a newer cexledger, and a damaged
        SQLite file (``PRAGMA quick_check`` fails, or SQLite reports it corrupt or not a
        database), with what to do.

        ``read_only=True`` (implies ``create=False``) is for commands that only read: a SQLite
        file is opened read-only (see :func:`~.engine.read_only_url`: it works on read-only
        media) without the integrity check, which costs about 0.5 s per million records; a
        damaged page it reads still gives the one damaged-file error. A write open checks
        first that the file and its directory can be written.
        """
        text = default_url() if url is None else url
        target = Target.parse(text)
        path = target.sqlite_path
        create = create and not read_only
        where = target.display if path is None else str(path)
        missing = NoArchiveError(f"no archive at {where} (run `cexledger sync` first)", where)
        if not create and path is not None and not path.exists():
            raise missing

        created = False

        def creating() -> None:
            nonlocal created
            created = True

        def refuse_to_create() -> None:
            raise missing

        def prepare(engine: sa.Engine) -> None:
            problem = quick_check(engine)
            if problem is not None:
                raise target.damaged("open", f"integrity check failed, nothing was written: {problem}")
            enable_wal(engine)

        if read_only:
            undo: Callable[[], None] = lambda: None  # noqa: E731 - nothing is created
        else:
            writable_place(target)
            undo = prepare_sqlite_path(target)
        engine: sa.Engine | None = None
        try:
            engine = create_engine(target, busy_timeout, read_only=read_only)
            ensure_head(engine, empty=creating if create else refuse_to_create,
                        prepare=None if read_only else prepare, upgrade=not read_only)
        except BaseException as exc:
            if engine is not None:
                engine.dispose()
            undo()
            if isinstance(exc, (sa_exc.SQLAlchemyError, SchemaError, ImportError, OSError)) or (
                    isinstance(exc, Exception) and isinstance(exc, target.driver_error)):
                raise target.error_from("open", exc) from exc
            raise
        archive = cls(target, engine, text)
        archive.created = created
        return archive

    def close(self) -> None:
        """Release every account lock and every connection."""
        if self._locks is not None:
            self._locks.close()
        self._engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Archive({self.display_url!r})"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file (as given, not resolved); ``None`` for PostgreSQL."""
        return self._target.sqlite_path

    # ---- plumbing --------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        with translate(self._target, "write to"), write_connection(self._engine) as conn, conn.begin():
            yield conn

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        with translate(self._target, "read"), self._engine.connect() as conn:
            yield conn

    def _find_sid(self, conn: sa.Connection, key: StreamKey) -> int | None:
        sid = self._stream_ids.get(key)
        if sid is None:
            sid = writes.find_stream(conn, key)
            if sid is not None:  # committed: stream rows are never deleted
                self._stream_ids[key] = sid
        return sid

    def _ensure_sid(self, conn: sa.Connection, key: StreamKey) -> int:
        """The stream's id, created if needed; the caller caches it after its commit."""
        sid = self._stream_ids.get(key)
        return sid if sid is not None else writes.ensure_stream(conn, key)

    # ---- writing ---------------------------------------------------------------------

    def write_page(
        self,
        key: StreamKey,
        records: Sequence[Record],
        *,
        slot: str | None = None,
        state: dict[str, Any] | None = None,
        done: bool = False,
        cover: tuple[int, int] | None = None,
        expect_new: bool = False,
    ) -> WriteResult:
        """Upsert a page of records and, in the same transaction, its checkpoint and coverage.

        ``slot`` with ``done=False`` saves ``state`` as that slot's checkpoint; ``done=True``
        deletes it. ``cover=(start_ms, end_ms)`` (half-open) is merged into the coverage.
        ``expect_new``: the caller expects none of the records to be archived yet (see
        :class:`NewPages`); PostgreSQL then copies them without looking them up first. What
        is archived, and the result, are the same either way.
        """
        if slot is None and (state is not None or done):
            raise ValueError("state and done need a checkpoint slot")
        if cover is not None and not _is_interval(cover):
            raise ValueError(f"cover must be (start_ms, end_ms) integers with start < end, not {cover!r}")
        with self._writing() as conn:
            sid = self._ensure_sid(conn, key)
            result = writes.write_page(conn, sid, key, records, slot=slot, state=state, done=done, cover=cover,
                                       expect_new=expect_new)
        self._stream_ids[key] = sid
        return result

    def rederive(
        self,
        key: StreamKey,
        derive: writes.Derive,
        *,
        batch: int = 1000,
        progress: Callable[[int], None] | None = None,
    ) -> RederiveResult:
        """Re-derive every entry of ``key``'s records from their archived raw bytes with
        ``derive``, ``batch`` records per transaction (a kill leaves each record's entries
        wholly old or wholly new; running it again finishes the work). ``progress`` gets each
        batch's record count. Raw bytes and record versions are never changed."""
        total = RederiveResult()
        after: str | None = None
        while True:
            with self._writing() as conn:
                sid = self._find_sid(conn, key)
                if sid is None:
                    return total
                part = writes.rederive_batch(conn, sid, key, after, batch, derive)
            if part.last_id is None:
                return total
            total += part
            after = part.last_id
            if progress is not None:
                progress(part.records)

    def register_streams(self, keys: Sequence[StreamKey], planned_ms: int) -> None:
        """Mark the streams as planned by a sync at ``planned_ms``, in one transaction, so
        that :meth:`streams` lists them before anything is written to them."""
        with self._writing() as conn:
            sids = {key: self._ensure_sid(conn, key) for key in keys}
            writes.set_meta(conn, [(sid, queries.PLANNED_META, str(planned_ms)) for sid in sids.values()])
        self._stream_ids.update(sids)

    def record_run(self, account: str, exchange: str, started_ms: int, finished_ms: int, stats: dict[str, Any]) -> None:
        """Log one sync run with its statistics (any JSON-able dict)."""
        with self._writing() as conn:
            writes.record_run(conn, account, exchange, started_ms, finished_ms, stats)

    def set_meta(self, key: StreamKey, name: str, value: str) -> None:
        """Set a per-stream value (e.g. a connector's note about the stream)."""
        with self._writing() as conn:
            sid = self._ensure_sid(conn, key)
            writes.set_meta(conn, [(sid, name, value)])
        self._stream_ids[key] = sid

    def record_identity(self, identity: AccountIdentity) -> None:
        """Record (or replace) whose history ``identity.account`` holds."""
        with self._writing() as conn:
            writes.record_identity(conn, identity)

    # ---- account locks ---------------------------------------------------------------

    def try_lock_account(self, account: str) -> bool:
        """Take the cross-process lock of an account name without waiting (see :mod:`.locks`);
        ``True`` if this archive now holds it. Released by :meth:`unlock_account`, by
        :meth:`close`, or by the OS / server when this process dies."""
        if self._locks is None:
            path = self._target.sqlite_path
            self._locks = (AdvisoryLocks(self._engine) if path is None
                           else FileLocks(path.with_name(path.name + ".locks")))
        try:
            with translate(self._target, "lock an account in"):
                return self._locks.try_acquire(account)
        except OSError as exc:
            raise self._target.error("lock an account in", f"{exc.strerror or exc}") from None

    def unlock_account(self, account: str) -> None:
        """Release an account lock taken by :meth:`try_lock_account`."""
        if self._locks is not None:
            with translate(self._target, "unlock an account in"):
                self._locks.release(account)

    # ---- reading ---------------------------------------------------------------------

    def identity(self, account: str) -> AccountIdentity | None:
        """The identity recorded for an account name, ``None`` before its first sync."""
        with self._reading() as conn:
            return queries.identity(conn, account)

    def archived_raws(self, key: StreamKey, record_ids: Sequence[str]) -> dict[str, tuple[bytes, bool]]:
        """record_id -> (latest raw bytes, mutable) for those of ``record_ids`` the stream holds."""
        with self._reading() as conn:
            sid = self._find_sid(conn, key)
            return {} if sid is None else queries.archived_raws(conn, sid, list(record_ids))

    def get_meta(self, key: StreamKey, name: str) -> str | None:
        """A per-stream value set with :meth:`set_meta`, or ``None``."""
        with self._reading() as conn:
            sid = self._find_sid(conn, key)
            return None if sid is None else queries.get_meta(conn, sid, name)

    def has_records(self, key: StreamKey) -> bool:
        """Whether the stream holds any record."""
        with self._reading() as conn:
            sid = self._find_sid(conn, key)
            return sid is not None and queries.has_records(conn, sid)

    def meta_by_stream(self, name: str, accounts: Sequence[str] | None = None) -> dict[StreamKey, str | None]:
        """Every stream's per-stream value ``name`` (``None`` where unset), of ``accounts``
        (default all), cheaply."""
        with self._reading() as conn:
            return queries.meta_by_stream(conn, name, accounts)

    def checkpoints(self, account: str | None = None) -> list[Checkpoint]:
        """Saved checkpoints, ordered by stream and slot."""
        with self._reading() as conn:
            return queries.checkpoint_list(conn, account)

    def coverage(self, key: StreamKey) -> list[tuple[int, int]]:
        """The stream's covered ``[start_ms, end_ms)`` ranges: sorted, disjoint, non-adjacent."""
        with self._reading() as conn:
            sid = self._find_sid(conn, key)
            return [] if sid is None else coverage.intervals(conn, sid)

    def streams(self, account: str | None = None) -> list[StreamSummary]:
        """Every stream with records, a checkpoint or coverage, or planned by a sync
        (:meth:`register_streams`), by account, stream, partition."""
        with self._reading() as conn:
            return queries.stream_summaries(conn, account)

    def account_names(self) -> list[str]:
        """Every account with a stream :meth:`streams` lists, sorted."""
        with self._reading() as conn:
            return queries.account_names(conn)

    def mutable_ids(self, key: StreamKey) -> dict[str, int]:
        """record_id -> ts for the stream's records whose latest version is flagged mutable."""
        with self._reading() as conn:
            sid = self._find_sid(conn, key)
            return {} if sid is None else queries.mutable_ids(conn, sid)

    def iter_records(self, *, account: str | None = None, exchange: str | None = None,
                     since_ms: int | None = None, until_ms: int | None = None) -> Iterator[ArchivedRecord]:
        """Latest record versions with ``since_ms <= ts < until_ms``, ordered by stream key,
        ts, record_id; streamed in batches."""
        stmt = queries.records_statement(account, exchange, since_ms, until_ms)
        with self._reading() as conn:
            yield from queries.record_rows(conn.execution_options(yield_per=_YIELD_PER).execute(stmt))

    def iter_entries(
        self,
        *,
        account: str | None = None,
        exchange: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        shadows: Sequence[queries.Shadow] = (),
    ) -> Iterator[LedgerEntry]:
        """Entries with ``since_ms <= ts < until_ms``, ordered by (ts, account, record_id, seq); streamed.
        With ``shadows`` (``exchanges.ledger_shadows()``), the ledger's entries only: no
        movement twice (:func:`.queries.ledger_excluded`); without, every archived entry."""
        stmt = queries.entries_statement(account, exchange, since_ms, until_ms, shadows)
        with self._reading() as conn:
            yield from queries.entry_rows(conn.execution_options(yield_per=_YIELD_PER).execute(stmt))

    def record_batches(self, *, account: str | None = None, exchange: str | None = None,
                       since_ms: int | None = None, until_ms: int | None = None) -> Iterator[tuple[dict[int, StreamKey], list[tuple[int, str, bytes]]]]:
        """Latest versions with ``since_ms <= ts < until_ms`` as ``(stream_id, record_id,
        raw)`` driver tuples in batches, in :meth:`iter_records` order; each batch comes with
        the stream id -> key map (every stream the rows can name). For exports: nothing is
        built per row."""
        return self._batches(*bulk.record_lines(account, exchange, since_ms, until_ms))

    def arrow_batches(self, statement: Any, params: list[Any], schema: Any, rows: int | None = None) -> Iterator[Any]:
        """The rows of a :class:`~.prepared.Prepared` ``statement`` as ``pyarrow`` record
        batches of ``schema`` (``rows`` each, default :data:`.arrow.BATCH_ROWS`), read in C on SQLite (:mod:`.arrow`: how, and the rule for
        nullable text). A failure is the one-line :class:`ArchiveError` of every read."""
        from . import arrow

        path = self._target.sqlite_path
        immutable = path is not None and read_only_url(self._target).query.get("immutable") == "1"
        try:
            yield from arrow.record_batches(path, immutable, self._reading, statement, params, schema,
                                            rows or arrow.BATCH_ROWS)
        except ArchiveError:
            raise
        except Exception as exc:
            if path is None or not arrow.is_driver_error(exc):
                raise
            raise self._target.error("read", str(exc)) from exc

    def stream_keys(self) -> dict[int, StreamKey]:
        """Every stream id with its key (read it after rows that name stream ids)."""
        with self._reading() as conn:
            return bulk.stream_keys(conn)

    def entry_batches(self, *, account: str | None = None, exchange: str | None = None,
                      shadows: Sequence[queries.Shadow] = (), since_ms: int | None = None,
                      until_ms: int | None = None) -> Iterator[tuple[dict[int, StreamKey], list[tuple[Any, ...]]]]:
        """Entries with ``since_ms <= ts < until_ms`` as driver tuples of
        :data:`.bulk.ENTRY_COLUMNS` (amounts as canonical text) in batches, in
        :meth:`iter_entries` order, each with the stream id -> key map; ``shadows`` as for
        :meth:`iter_entries`."""
        return self._batches(*bulk.entry_columns(account, exchange, shadows, since_ms, until_ms))

    def _batches(self, statement: Any, params: list[Any]) -> Iterator[tuple[dict[int, StreamKey], list[tuple[Any, ...]]]]:
        with self._reading() as conn:
            yield from bulk.batches(conn, statement, params)

    def versions(self, key: StreamKey, record_id: str) -> list[bytes]:
        """Every version's raw bytes of one record, oldest first, latest last ([] if unknown)."""
        with self._reading() as conn:
            sid = self._find_sid(conn, key)
            return [] if sid is None else queries.versions(conn, sid, record_id)

    def other_types(self, account: str | None = None) -> list[tuple[str, str | None, int]]:
        """``(exchange, exchange_type, entries)`` of every exchange type whose entries are of
        kind ``other`` (not understood), by exchange then count, largest first."""
        with self._reading() as conn:
            return queries.other_types(conn, account)

    def entry_names(self) -> list[tuple[str, str, str | None, str | None]]:
        """Every distinct ``(exchange, account, category, coin)`` of the archive's entries
        (whatever their time: what an export names the same way in every file)."""
        with self._reading() as conn:
            return queries.entry_names(conn)

    def count_records(self, account: str | None = None) -> int:
        """How many records (latest versions) the archive holds."""
        with self._reading() as conn:
            return queries.count_records(conn, account)

    def count_without_entries(self, *, account: str | None = None, exchange: str | None = None,
                              since_ms: int | None = None, until_ms: int | None = None) -> int:
        """How many records (latest versions, ``since_ms <= ts < until_ms``) have no ledger
        entries: kept raw only, or without an amount. Exports made of entries have no row
        for them."""
        with self._reading() as conn:
            return queries.count_without_entries(conn, account, exchange, since_ms, until_ms)

    def count_ledger_excluded(self, *, account: str | None = None, exchange: str | None = None,
                              shadows: Sequence[queries.Shadow] = (), since_ms: int | None = None,
                              until_ms: int | None = None) -> int:
        """How many entries (``since_ms <= ts < until_ms``) the ledger (``iter_entries(shadows=…)``,
        the exports made of entries) leaves out: movements another stream already counts."""
        with self._reading() as conn:
            return queries.count_ledger_excluded(conn, account, exchange, shadows, since_ms, until_ms)

    def last_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest sync runs first: dicts with account, exchange, started_ms, finished_ms, stats."""
        with self._reading() as conn:
            return queries.last_runs(conn, limit)

