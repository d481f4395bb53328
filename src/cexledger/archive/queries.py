"""The read side: statements and row mapping behind ``Archive``'s query methods."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa

from .._json import loads
from ..model import KIND_OF_TEXT, Kind, LedgerEntry, StreamKey
from .results import AccountIdentity, ArchivedRecord, Checkpoint, StreamSummary
from .schema import account_identities, checkpoints, coverage, entries, record_versions, records, stream_meta, streams, sync_runs

__all__ = [
    "ENTRY_ORDER",
    "PLANNED_META",
    "account_names",
    "RECORD_ORDER",
    "archived_raws",
    "checkpoint_list",
    "count_records",
    "count_ledger_excluded",
    "count_without_entries",
    "entries_statement",
    "ledger_excluded",
    "ledger_kept",
    "Shadow",
    "get_meta",
    "identity",
    "last_runs",
    "entry_rows",
    "mutable_ids",
    "other_types",
    "meta_by_stream",
    "record_rows",
    "records_statement",
    "stream_summaries",
    "versions",
]

_s = streams.c
_r = records.c
_e = entries.c


#: The order records and entries are read and exported in (shared with :mod:`.bulk`).
RECORD_ORDER = (_s.account, _s.exchange, _s.stream, _s.partition, _r.ts, _r.record_id)
ENTRY_ORDER = (_e.ts, _e.account, _e.record_id, _e.stream_id, _e.seq)


class _Keys(dict[int, StreamKey]):
    """stream id -> StreamKey, built once per stream while rows stream by."""

    def of(self, row: Any) -> StreamKey:
        key = self.get(row.stream_id)
        if key is None:
            key = self[row.stream_id] = StreamKey(row.account, row.exchange, row.stream, row.partition)
        return key


def count_without_entries(conn: sa.Connection, account: str | None, exchange: str | None,
                          since_ms: int | None = None, until_ms: int | None = None) -> int:
    """Records (latest versions) of the chosen streams, with ``since_ms <= ts < until_ms``,
    that have no entries, in one query.

    Every record's entries are numbered from ``seq`` 0 and ``(stream_id, record_id, seq)``
    is unique, so the records with entries are exactly the entries with ``seq`` 0: the
    count is records minus those (a record's entries carry its ``ts``, so a time range
    selects both alike). Two index-only counts without a time range (about 50 ms per
    million rows on SQLite), where a per-record ``NOT EXISTS`` probe costs eight times as much.
    """
    wanted = [column == value for column, value in ((_s.account, account), (_s.exchange, exchange)) if value is not None]
    chosen = sa.select(_s.id).where(*wanted).scalar_subquery() if wanted else None

    def count(table: sa.Table, *where: Any) -> Any:
        stmt = sa.select(sa.func.count()).select_from(table).where(*where, *_in_range(table.c.ts, since_ms, until_ms))
        if chosen is not None:
            stmt = stmt.where(table.c.stream_id.in_(chosen))
        return stmt.scalar_subquery()

    return int(conn.execute(sa.select(count(records) - count(entries, _e.seq == 0))).scalar_one())


def _account_filter(stmt: sa.Select[Any], account: str | None) -> sa.Select[Any]:
    return stmt if account is None else stmt.where(_s.account == account)


def checkpoint_list(conn: sa.Connection, account: str | None) -> list[Checkpoint]:
    """Every checkpoint, ordered by stream key then slot."""
    c = checkpoints.c
    stmt = (
        sa.select(_s.id.label("stream_id"), _s.account, _s.exchange, _s.stream, _s.partition, c.slot, c.state, c.updated_ms)
        .join(checkpoints, c.stream_id == _s.id)
        .order_by(_s.account, _s.exchange, _s.stream, _s.partition, c.slot)
    )
    keys = _Keys()
    return [
        Checkpoint(keys.of(row), row.slot, loads(row.state), row.updated_ms)
        for row in conn.execute(_account_filter(stmt, account))
    ]


def stream_summaries(conn: sa.Connection, account: str | None) -> list[StreamSummary]:
    """Streams with records, a checkpoint or coverage, or planned by a sync (with nothing
    archived yet), sorted by account, stream, partition. With ``account``, only that
    account's streams are read (a sync's planner asks for its own account's: a read of the
    whole archive per account made a worker's job cost grow with every other account)."""

    def mine(stmt: sa.Select[Any], sid: Any) -> sa.Select[Any]:
        if account is None:
            return stmt
        return stmt.where(sid.in_(sa.select(_s.id).where(_s.account == account).scalar_subquery()))

    counts = {
        row.stream_id: row
        for row in conn.execute(mine(
            sa.select(_r.stream_id, sa.func.count().label("n"), sa.func.min(_r.ts).label("oldest"),
                      sa.func.max(_r.ts).label("newest")).group_by(_r.stream_id), _r.stream_id))
    }
    covered: dict[int, list[tuple[int, int]]] = {}
    c = coverage.c
    for row in conn.execute(mine(sa.select(coverage).order_by(c.stream_id, c.start_ms), c.stream_id)):
        covered.setdefault(row.stream_id, []).append((row.start_ms, row.end_ms))
    with_checkpoint = set(conn.execute(
        mine(sa.select(checkpoints.c.stream_id).distinct(), checkpoints.c.stream_id)).scalars())
    planned = set(conn.execute(mine(
        sa.select(stream_meta.c.stream_id).where(stream_meta.c.name == PLANNED_META), stream_meta.c.stream_id)).scalars())
    stmt = sa.select(streams.c.id.label("stream_id"), streams).order_by(_s.account, _s.stream, _s.partition, _s.exchange)
    summaries = []
    for row in conn.execute(_account_filter(stmt, account)):
        sid = row.stream_id
        if sid not in counts and sid not in covered and sid not in with_checkpoint and sid not in planned:
            continue
        stats = counts.get(sid)
        summaries.append(
            StreamSummary(
                key=StreamKey(row.account, row.exchange, row.stream, row.partition),
                records=stats.n if stats else 0,
                oldest_ts=stats.oldest if stats else None,
                newest_ts=stats.newest if stats else None,
                coverage=covered.get(sid, []),
                last_write_ms=row.last_write_ms,
            )
        )
    return summaries


#: Stream meta a sync's plan sets on every stream it names (``Archive.register_streams``):
#: such a stream is listed even before anything is written to it.
PLANNED_META = "planned_ms"


def _listed(sid: Any) -> Any:
    """Whether the stream ``sid`` is one the archive lists: it has records, coverage, a
    checkpoint, or a sync planned it."""
    sm = stream_meta.c
    return sa.or_(
        sa.exists().where(_r.stream_id == sid),
        sa.exists().where(coverage.c.stream_id == sid),
        sa.exists().where(checkpoints.c.stream_id == sid),
        sa.exists().where(sm.stream_id == sid, sm.name == PLANNED_META),
    )


def account_names(conn: sa.Connection) -> list[str]:
    """Every account with a listed stream (see :func:`stream_summaries`), sorted."""
    stmt = sa.select(_s.account).where(_listed(_s.id)).distinct().order_by(_s.account)
    return list(conn.execute(stmt).scalars())


def mutable_ids(conn: sa.Connection, sid: int) -> dict[str, int]:
    """record_id -> ts of a stream's latest versions flagged mutable."""
    rows = conn.execute(sa.select(_r.record_id, _r.ts).where(_r.stream_id == sid, _r.mutable))
    return {row.record_id: row.ts for row in rows}


def records_statement(account: str | None, exchange: str | None, since_ms: int | None = None,
                      until_ms: int | None = None) -> sa.Select[Any]:
    """Latest record versions with ``since_ms <= ts < until_ms`` in (account, exchange,
    stream, partition, ts, record_id) order."""
    stmt = (
        sa.select(_r.stream_id, _s.account, _s.exchange, _s.stream, _s.partition, _r.record_id, _r.ts, _r.raw, _r.version)
        .join(streams, _s.id == _r.stream_id)
        .order_by(*RECORD_ORDER)
    )
    if exchange is not None:
        stmt = stmt.where(_s.exchange == exchange)
    if since_ms is not None:
        stmt = stmt.where(_r.ts >= since_ms)
    if until_ms is not None:
        stmt = stmt.where(_r.ts < until_ms)
    return _account_filter(stmt, account)


def record_rows(rows: Iterator[Any]) -> Iterator[ArchivedRecord]:
    """Rows of :func:`records_statement` as ``ArchivedRecord``."""
    keys = _Keys()
    for row in rows:
        yield ArchivedRecord(keys.of(row), row.record_id, row.ts, row.raw, row.version)


#: ``(exchange, stream, shadowed_by)``: entries of ``stream`` describe the same movements as
#: those of ``shadowed_by`` (same exchange, account and partition); see :func:`ledger_excluded`.
Shadow = tuple[str, str, str]

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def _name(value: str) -> Any:
    """A stream or exchange name from the code's registry as an SQL literal: statements stay
    compiled once, without bind parameters the bulk reads would have to order."""
    if not _NAME.fullmatch(value):
        raise ValueError(f"not a stream name: {value!r}")
    return sa.literal_column(f"'{value}'", sa.Text())


def _covering(own_stream: str, other_stream: str, exchange: str, stream_id: Any, ts: Any) -> sa.Select[Any]:
    """The covered ranges holding ``ts`` of stream ``other_stream`` of the same account,
    exchange and partition as the entry's stream ``stream_id``, when that is ``own_stream``.
    Uncorrelated but for the last three conditions, so PostgreSQL turns a top-level
    ``NOT EXISTS`` of it into an anti join; SQLite probes the streams key and the coverage
    primary key per row."""
    own, other = streams.alias("own"), streams.alias("other")
    c = coverage.alias("c")
    return (
        sa.select(sa.literal_column("1"))
        .select_from(own.join(other, sa.and_(other.c.account == own.c.account,
                                             other.c.exchange == own.c.exchange,
                                             other.c.stream == _name(other_stream),
                                             other.c.partition == own.c.partition))
                     .join(c, c.c.stream_id == other.c.id))
        .where(own.c.exchange == _name(exchange), own.c.stream == _name(own_stream),
               own.c.id == stream_id, c.c.start_ms <= ts, c.c.end_ms > ts)
    )


_EVER = 2**62     # before and after every timestamp


def _coverage_gaps() -> Any:
    """``(stream_id, start_ms, end_ms)``: every stream's uncovered ranges, half-open — before
    its first covered range, between two, after its last; the whole line for a stream
    without coverage. Coverage ranges are disjoint, so a point is uncovered iff a gap holds it."""
    c = coverage.c
    between = sa.select(c.stream_id, sa.func.coalesce(
        sa.func.lag(c.end_ms).over(partition_by=c.stream_id, order_by=c.start_ms),
        sa.literal_column(str(-_EVER))).label("start_ms"),
        c.start_ms.label("end_ms"))
    after = sa.select(c.stream_id, sa.func.max(c.end_ms), sa.literal_column(str(_EVER))).group_by(c.stream_id)
    bare = sa.select(_s.id, sa.literal_column(str(-_EVER)), sa.literal_column(str(_EVER))).where(
        ~sa.select(c.stream_id).where(c.stream_id == _s.id).exists())
    return sa.union_all(between, after, bare).subquery("gap")


def ledger_excluded(shadows: Sequence[Shadow], stream_id: Any, ts: Any, *, guarded: bool = False) -> list[Any]:
    """The ledger rule: which entries a ledger (the CSV and Parquet exports) leaves out, so
    that no movement is counted twice. Conditions, each true for an entry to leave out (a
    ledger keeps the entries for which none is: ``NOT EXISTS`` each); none when no stream
    is shadowed.

    A stream S *shadowed by* F (``StreamSpec.shadowed_by``: Bitget's ``tax-records`` by
    ``financial-records``) holds the same movements as F, per account and partition
    (category), and reaches further back. Ids need not agree, so movements are not matched
    row by row; each instant of one account and category has one authority instead:

    * where F's coverage holds the instant, F: entries of S there are left out (even one no
      row of F matches: F read that time completely);
    * else, where S's coverage holds it, S: entries of F there are left out (rows of an F
      window that stopped half-way: S read that time completely);
    * where neither covers it (half-read windows of both), F: entries of S there are left
      out until S's window is read to its end, so a movement is never counted twice (F is
      the stream whose window the next sync finishes within its reach).

    Entries of every other stream (the funding wallet is another wallet) are always kept.
    Raw records (the JSONL export) keep everything; ``status`` counts what is archived.
    ``EXISTS`` against the coverage table, in SQL on SQLite and PostgreSQL, however many rows
    (``guarded``: see :func:`ledger_kept`).
    """
    conditions = []
    for exchange, stream, by in shadows:
        def streams_of(name: str) -> sa.Select[Any]:
            return sa.select(_s.id).where(_s.exchange == _name(exchange), _s.stream == _name(name))

        shadowed = _covering(stream, by, exchange, stream_id, ts).exists()
        half_read = _covering(by, stream, exchange, stream_id, ts)
        if not guarded:
            # outside the stream's own coverage = inside one of its gaps: uncorrelated, so
            # PostgreSQL keeps one anti join (a NOT EXISTS here would be a call per row)
            gap = _coverage_gaps()
            half_read = (half_read.select_from(gap)
                         .where(gap.c.stream_id == stream_id, gap.c.start_ms <= ts, gap.c.end_ms > ts).exists())
            own_gap = _coverage_gaps()
            unread = (sa.select(own_gap.c.stream_id)
                      .where(own_gap.c.stream_id == stream_id, own_gap.c.start_ms <= ts, own_gap.c.end_ms > ts,
                             own_gap.c.stream_id.in_(streams_of(stream).scalar_subquery()))
                      .exists())
        else:
            own = coverage.alias("own_coverage")
            in_own = (sa.select(sa.literal_column("1"))
                      .where(own.c.stream_id == stream_id, own.c.start_ms <= ts, own.c.end_ms > ts)
                      .correlate_except(own).exists())       # the entry two levels up
            # each guarded by what it implies (the entry's stream is the one it is about):
            # uncorrelated, evaluated once, so the other rows skip the correlated call
            shadowed = sa.and_(stream_id.in_(streams_of(stream).scalar_subquery()), shadowed)
            half_read = sa.and_(streams_of(stream).exists(), stream_id.in_(streams_of(by).scalar_subquery()),
                                half_read.where(~in_own).exists())
            unread = sa.and_(stream_id.in_(streams_of(stream).scalar_subquery()), ~in_own)
        conditions += [shadowed, half_read, unread]
    return conditions


def ledger_kept(shadows: Sequence[Shadow], stream_id: Any, ts: Any, dialect: str = "postgresql") -> Any:
    """The condition of the entries the ledger keeps (:func:`ledger_excluded`), ``None``
    when it keeps every entry. On PostgreSQL, top-level ``NOT EXISTS`` (anti joins); on
    SQLite, which runs a correlated ``EXISTS`` as a call per row, each guarded by the
    uncorrelated test of the entry's stream it implies (an archive without tax records
    pays one lookup per row)."""
    conditions = ledger_excluded(shadows, stream_id, ts, guarded=dialect == "sqlite")
    return sa.and_(*(~c for c in conditions)) if conditions else None


def _in_range(ts: Any, since_ms: int | None, until_ms: int | None) -> list[Any]:
    """The conditions of ``since_ms <= ts < until_ms`` (none for an open end)."""
    return ([] if since_ms is None else [ts >= since_ms]) + ([] if until_ms is None else [ts < until_ms])


def count_ledger_excluded(conn: sa.Connection, account: str | None, exchange: str | None,
                          shadows: Sequence[Shadow], since_ms: int | None = None,
                          until_ms: int | None = None) -> int:
    """How many entries of the chosen streams, with ``since_ms <= ts < until_ms``, the ledger
    leaves out (:func:`ledger_excluded`); one probe when no shadowed stream is archived."""
    present = [sh for sh in shadows if conn.execute(
        sa.select(_s.id).where(_s.exchange == sh[0], _s.stream == sh[1]).limit(1)).first() is not None]
    excluded = ledger_excluded(present, _e.stream_id, _e.ts)
    if not excluded:
        return 0
    stmt = sa.select(sa.func.count()).select_from(entries).where(sa.or_(*excluded), *_in_range(_e.ts, since_ms, until_ms))
    if account is not None:
        stmt = stmt.where(_e.account == account)
    if exchange is not None:
        stmt = stmt.where(_e.stream_id.in_(sa.select(_s.id).where(_s.exchange == exchange).scalar_subquery()))
    return int(conn.execute(stmt).scalar_one())


def entries_statement(account: str | None, exchange: str | None, since_ms: int | None, until_ms: int | None,
                      shadows: Sequence[Shadow] = ()) -> sa.Select[Any]:
    """Entries with ``since_ms <= ts < until_ms``, in (ts, account, record_id, seq) order;
    with ``shadows``, the ledger's (:func:`ledger_excluded`).

    Records with the same id in different streams are kept apart by the stream id, ordered
    after ``record_id`` and before ``seq``.
    """
    stmt = (
        sa.select(
            _e.account, _s.exchange, _s.stream, _e.record_id, _e.seq, _e.ts, _e.kind, _e.coin,
            _e.amount, _e.balance, _e.category, _e.symbol, _e.exchange_type,
        )
        .join(streams, _s.id == _e.stream_id)
        .order_by(*ENTRY_ORDER)
    )
    if account is not None:
        stmt = stmt.where(_e.account == account)
    if exchange is not None:
        stmt = stmt.where(_s.exchange == exchange)
    if since_ms is not None:
        stmt = stmt.where(_e.ts >= since_ms)
    if until_ms is not None:
        stmt = stmt.where(_e.ts < until_ms)
    kept = ledger_kept(shadows, _e.stream_id, _e.ts)
    return stmt if kept is None else stmt.where(kept)


def entry_rows(rows: Iterator[Any]) -> Iterator[LedgerEntry]:
    """Rows of :func:`entries_statement` as ``LedgerEntry``; unknown kinds read as ``OTHER``.

    The columns are unpacked by position (the statement's order is ``LedgerEntry``'s field
    order): attribute access on each row cost more than the rest of an export together.
    """
    kinds = KIND_OF_TEXT
    other = Kind.OTHER
    for (account, exchange, stream, record_id, seq, ts, kind, coin, amount, balance,
         category, symbol, exchange_type) in rows:
        yield LedgerEntry(account, exchange, stream, record_id, seq, ts, kinds.get(kind, other),
                          coin, amount, balance, category, symbol, exchange_type)


def versions(conn: sa.Connection, sid: int, record_id: str) -> list[bytes]:
    """Every version's raw bytes, oldest first, the latest last."""
    v = record_versions.c
    older = conn.execute(
        sa.select(v.raw).where(v.stream_id == sid, v.record_id == record_id).order_by(v.version)
    ).scalars()
    latest = conn.execute(sa.select(_r.raw).where(_r.stream_id == sid, _r.record_id == record_id)).scalar()
    return [*older, latest] if latest is not None else []


def other_types(conn: sa.Connection, account: str | None) -> list[tuple[str, str | None, int]]:
    """(exchange, exchange_type, count) of entries of kind ``other``, by exchange, then the
    most frequent type first, then the type."""
    count = sa.func.count().label("n")
    stmt = (
        sa.select(_s.exchange, _e.exchange_type, count)
        .join(streams, _s.id == _e.stream_id)
        .where(_e.kind == Kind.OTHER.value)
        .group_by(_s.exchange, _e.exchange_type)
        .order_by(_s.exchange, count.desc(), _e.exchange_type)
    )
    if account is not None:
        stmt = stmt.where(_e.account == account)
    return [(row.exchange, row.exchange_type, row.n) for row in conn.execute(stmt)]


def entry_names(conn: sa.Connection) -> list[tuple[str, str, str | None, str | None]]:
    """Every distinct (exchange, account, category, coin) of the archive's entries."""
    stmt = (sa.select(_s.exchange, _s.account, _e.category, _e.coin).distinct()
            .join(streams, _s.id == _e.stream_id))
    return [tuple(row) for row in conn.execute(stmt)]


def count_records(conn: sa.Connection, account: str | None) -> int:
    """How many records (latest versions) the archive holds."""
    stmt = sa.select(sa.func.count()).select_from(records)
    if account is not None:
        stmt = stmt.join(streams, _s.id == _r.stream_id).where(_s.account == account)
    return conn.execute(stmt).scalar_one()


def last_runs(conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest sync runs first."""
    c = sync_runs.c
    rows = conn.execute(sa.select(sync_runs).order_by(c.started_ms.desc(), c.id.desc()).limit(limit))
    return [
        {"account": row.account, "exchange": row.exchange, "started_ms": row.started_ms,
         "finished_ms": row.finished_ms, "stats": loads(row.stats)}
        for row in rows
    ]


def meta_by_stream(conn: sa.Connection, name: str,
                   accounts: Sequence[str] | None = None) -> dict[StreamKey, str | None]:
    """Every stream's value of ``name`` (``None`` where unset), of ``accounts`` (default
    all), one query, no record scan."""
    c = stream_meta.c
    stmt = sa.select(_s.account, _s.exchange, _s.stream, _s.partition, c.value).select_from(
        streams.outerjoin(stream_meta, sa.and_(c.stream_id == _s.id, c.name == name))
    ).order_by(_s.account, _s.exchange, _s.stream, _s.partition)
    if accounts is not None:
        stmt = stmt.where(_s.account.in_(list(accounts)))
    return {StreamKey(row.account, row.exchange, row.stream, row.partition): row.value
            for row in conn.execute(stmt)}


def has_records(conn: sa.Connection, sid: int) -> bool:
    """Whether the stream holds any record (one primary-key probe)."""
    r = records.c
    return conn.execute(sa.select(sa.literal(1)).where(r.stream_id == sid).limit(1)).first() is not None


def get_meta(conn: sa.Connection, sid: int, name: str) -> str | None:
    """One per-stream value, ``None`` if unset."""
    c = stream_meta.c
    return conn.execute(sa.select(c.value).where(c.stream_id == sid, c.name == name)).scalar()


def identity(conn: sa.Connection, account: str) -> AccountIdentity | None:
    """The identity recorded for ``account``, ``None`` if none is."""
    c = account_identities.c
    row = conn.execute(sa.select(account_identities).where(c.account == account)).first()
    if row is None:
        return None
    return AccountIdentity(row.account, row.exchange, row.base_url, row.key_fingerprint,
                           row.user_id, row.created_ms, row.updated_ms)


def archived_raws(conn: sa.Connection, sid: int, ids: list[str]) -> dict[str, tuple[bytes, bool]]:
    """record_id -> (latest raw bytes, mutable) for those of ``ids`` the stream holds."""
    found: dict[str, tuple[bytes, bool]] = {}
    for i in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(_r.record_id, _r.raw, _r.mutable)
            .where(_r.stream_id == sid, _r.record_id.in_(ids[i : i + 500]))
        )
        found.update((row.record_id, (bytes(row.raw), bool(row.mutable))) for row in rows)
    return found
