"""The write path: one page of records, its checkpoint and coverage, in the caller's transaction.

Per page: one SELECT of the page's ids that already exist (with their raw bytes; on
PostgreSQL the ids are one array parameter), then bulk
inserts (``executemany``; ``COPY`` on PostgreSQL) for new records and their entries; changed records get their
previous version copied to ``record_versions``, the new raw stored as latest and their
entries replaced; unchanged records are left alone (only a changed ``mutable`` flag is
updated). Statements run through :mod:`.prepared` (compiled Core on the DBAPI cursor).

On PostgreSQL a page the caller expects to be wholly new (``expect_new``; the sync's guess
is ``store.NewPages``: the stream's previous page in the run brought new records) skips
the lookup: its records are copied under a savepoint, and the primary key itself says
whether any already existed. If one did, the copy is rolled back to the savepoint and the
page takes the lookup path above, in the same transaction, so the outcome is the same
either way; only the work differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .._clock import now_ms
from .._json import dumps
from ..model import Record, StreamKey
from . import coverage
from .prepared import Cursor, Prepared, dialect_module
from .results import AccountIdentity, RederiveResult, WriteResult
from .schema import account_identities, checkpoints, entries, exact_decimal, record_versions, records, stream_meta, streams, sync_runs

__all__ = ["ensure_stream", "find_stream", "now_ms", "record_identity", "record_run", "rederive_batch", "set_meta", "write_page"]

#: What ``rederive_batch`` asks of a normalizer: a raw record's bytes -> (the record as it
#: would be archived now, whether understood); ``ValueError`` when its identity cannot be read.
Derive = Callable[[bytes], tuple[Record, bool]]

_b = sa.bindparam
_r = records.c
_PG_STREAM_LOCK = 0x63786C73  # "cxls": advisory lock namespace, one lock per stream id
_SELECT_SIZES = (16, 128, 512)  # IN-list lengths; shorter id lists are padded


def _select_existing(size: int) -> Prepared:
    ids = [f"b_id{i}" for i in range(size)]
    return Prepared(
        lambda _: sa.select(_r.record_id, _r.ts, _r.raw, _r.mutable, _r.version, _r.written_ms).where(
            _r.stream_id == _b("b_sid"), _r.record_id.in_([_b(name) for name in ids])
        ),
        ["b_sid", *ids],
        replan=True,
    )


_SELECT_EXISTING = {size: _select_existing(size) for size in _SELECT_SIZES}


def _select_existing_any(module: Any) -> sa.Executable:
    ids = sa.func.unnest(sa.cast(_b("b_ids"), module.ARRAY(sa.Text))).table_valued("id").render_derived(name="ids")
    one = (sa.select(_r.record_id, _r.ts, _r.raw, _r.mutable, _r.version, _r.written_ms)
           .where(_r.stream_id == _b("b_sid"), _r.record_id == ids.c.id)
           .limit(sa.literal_column("1")).lateral("r"))
    return sa.select(*one.c).select_from(ids).join(one, sa.true())


# PostgreSQL: the page's ids as one array parameter (no padding, one plan whatever the
# page's size), one primary-key lookup per id. The plain ``stream_id = $1 AND record_id =
# ANY($2)`` leaves the plan to the table's statistics, and a table that is filling has none
# until autovacuum analyzes it: PostgreSQL then scanned the stream's whole index range and
# filtered every row (7 ms a page at 20 000 rows, growing with the stream). The lateral
# ``LIMIT 1`` (exact: the two are the primary key) cannot be flattened into a join, so each
# id is an index probe whatever the estimates. Planned at each page for the reason
# ``Prepared.replan`` gives.
_SELECT_EXISTING_PG = Prepared(_select_existing_any, ["b_ids", "b_sid"], replan=True)
_UPDATE_RECORD = Prepared(
    lambda _: sa.update(records)
    .values(ts=_b("b_ts"), raw=_b("b_raw"), mutable=_b("b_mutable"), version=_b("b_version"), written_ms=_b("b_now"))
    .where(_r.stream_id == _b("b_sid"), _r.record_id == _b("b_rid")),
    ["b_ts", "b_raw", "b_mutable", "b_version", "b_now", "b_sid", "b_rid"],
)
_UPDATE_MUTABLE = Prepared(
    lambda _: sa.update(records)
    .values(mutable=_b("b_mutable"))
    .where(_r.stream_id == _b("b_sid"), _r.record_id == _b("b_rid")),
    ["b_mutable", "b_sid", "b_rid"],
)
_DELETE_ENTRIES = Prepared(
    lambda _: sa.delete(entries).where(entries.c.stream_id == _b("b_sid"), entries.c.record_id == _b("b_rid")),
    ["b_sid", "b_rid"],
)


def _upsert_checkpoint(dialect: Any) -> sa.Executable:
    stmt = dialect.insert(checkpoints).values(stream_id=_b("b_sid"), slot=_b("b_slot"), state=_b("b_state"), updated_ms=_b("b_now"))
    return stmt.on_conflict_do_update(
        index_elements=[checkpoints.c.stream_id, checkpoints.c.slot],
        set_={"state": stmt.excluded.state, "updated_ms": stmt.excluded.updated_ms},
    )


_UPSERT_CHECKPOINT = Prepared(_upsert_checkpoint, ["b_sid", "b_slot", "b_state", "b_now"])
_DELETE_CHECKPOINT = Prepared(
    lambda _: sa.delete(checkpoints).where(checkpoints.c.stream_id == _b("b_sid"), checkpoints.c.slot == _b("b_slot")),
    ["b_sid", "b_slot"],
)
_TOUCH_STREAM = Prepared(
    lambda _: sa.update(streams).values(last_write_ms=_b("b_now")).where(streams.c.id == _b("b_sid")),
    ["b_now", "b_sid"],
)
_LOCK_STREAM = Prepared(lambda _: sa.select(sa.func.pg_advisory_xact_lock(_b("b_ns"), _b("b_sid"))), ["b_ns", "b_sid"])
_SAVEPOINT = "cexledger_new_records"
_UNIQUE_VIOLATION = "23505"   # SQLSTATE


def _insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which offers ``ON CONFLICT`` on both SQLite and PostgreSQL."""
    return dialect_module(conn.dialect.name).insert(table)


def _stream_query(key: StreamKey) -> sa.Select[tuple[int]]:
    s = streams.c
    return sa.select(s.id).where(
        s.account == key.account, s.exchange == key.exchange, s.stream == key.stream, s.partition == key.partition
    )


def find_stream(conn: sa.Connection, key: StreamKey) -> int | None:
    """The id of ``key``'s stream row, ``None`` if it has none."""
    return conn.execute(_stream_query(key)).scalar()


def ensure_stream(conn: sa.Connection, key: StreamKey) -> int:
    """The id of ``key``'s stream row, created if missing (safe against concurrent creators)."""
    found = conn.execute(_stream_query(key)).scalar()
    if found is not None:
        return found
    values = {"account": key.account, "exchange": key.exchange, "stream": key.stream, "partition": key.partition}
    conn.execute(_insert(conn, streams).values(values).on_conflict_do_nothing())
    return conn.execute(_stream_query(key)).scalar_one()


def _entry_rows(sid: int, key: StreamKey, record: Record, exact: Callable[[Any], Any]) -> list[tuple[Any, ...]]:
    """One record's entries as ``entries`` rows (column order), checked to belong to it."""
    rows = []
    for e in record.entries:
        if e.record_id != record.record_id or e.account != key.account or e.exchange != key.exchange or e.stream != key.stream:
            raise ValueError(
                f"entry {e.account}/{e.exchange}/{e.stream}/{e.record_id}#{e.seq} does not belong to "
                f"record {record.record_id!r} of stream {key} ({key.exchange})"
            )
        rows.append(
            (sid, e.record_id, e.seq, e.account, e.ts, str(e.kind), e.coin, exact(e.amount),
             None if e.balance is None else exact(e.balance), e.category, e.symbol, e.exchange_type)
        )
    return rows


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    largest = _SELECT_SIZES[-1]
    for i in range(0, len(ids), largest):
        yield ids[i : i + largest]


def _existing(cur: Cursor, sid: int, ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """record_id -> (record_id, ts, raw, mutable, version, written_ms) for ids already stored."""
    if cur.dialect == "postgresql":
        return {row[0]: row for row in cur.execute(_SELECT_EXISTING_PG, [ids, sid])}
    found: dict[str, tuple[Any, ...]] = {}
    for chunk in _chunks(ids):
        size = next(size for size in _SELECT_SIZES if size >= len(chunk))
        padded = chunk + [chunk[-1]] * (size - len(chunk))
        found.update((row[0], row) for row in cur.execute(_SELECT_EXISTING[size], [sid, *padded]))
    return found


def _new_record(sid: int, record: Record, now: int) -> tuple[Any, ...]:
    """A record's first version as a ``records`` row (column order)."""
    return (sid, record.record_id, record.ts, record.raw, record.mutable, 1, now)


def _copy_all_new(cur: Cursor, sid: int, key: StreamKey, by_id: dict[str, Record], now: int) -> WriteResult | None:
    """PostgreSQL: copy every record of the page as new, with no lookup first, under a
    savepoint. ``None`` (and nothing written) if one of them already exists."""
    cur.command(f"SAVEPOINT {_SAVEPOINT}")
    try:
        cur.insert(records, [_new_record(sid, record, now) for record in by_id.values()])
    except Exception as exc:
        # Only the primary key is unique in ``records``; were it anything else, the lookup
        # path would meet it again and raise it.
        if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        cur.command(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        return None
    exact = exact_decimal(cur.dialect)
    cur.insert(entries, [row for record in by_id.values() for row in _entry_rows(sid, key, record, exact)])
    return WriteResult(len(by_id), 0, 0)


def _upsert_records(cur: Cursor, sid: int, key: StreamKey, page: Sequence[Record], now: int,
                    expect_new: bool) -> WriteResult:
    by_id = {record.record_id: record for record in page}  # the last occurrence wins
    if expect_new and cur.dialect == "postgresql":
        copied = _copy_all_new(cur, sid, key, by_id, now)
        if copied is not None:
            return copied
    existing = _existing(cur, sid, list(by_id))
    exact = exact_decimal(cur.dialect)
    new_records: list[tuple[Any, ...]] = []
    new_entries: list[tuple[Any, ...]] = []
    old_versions: list[tuple[Any, ...]] = []
    changed: list[tuple[Any, ...]] = []
    flags: list[tuple[Any, ...]] = []
    for record_id, record in by_id.items():
        old = existing.get(record_id)
        if old is None:
            new_records.append(_new_record(sid, record, now))
            new_entries.extend(_entry_rows(sid, key, record, exact))
            continue
        _, old_ts, old_raw, old_mutable, old_version, old_written = old
        if old_raw != record.raw:
            old_versions.append((sid, record_id, old_version, old_ts, old_raw, old_mutable, old_written, now))
            changed.append((record.ts, record.raw, record.mutable, old_version + 1, now, sid, record_id))
            new_entries.extend(_entry_rows(sid, key, record, exact))
        elif bool(old_mutable) != record.mutable:
            flags.append((record.mutable, sid, record_id))
    if new_records:
        cur.insert(records, new_records)
    if changed:
        cur.insert(record_versions, old_versions)
        cur.executemany(_UPDATE_RECORD, changed)
        cur.executemany(_DELETE_ENTRIES, [(sid, row[-1]) for row in changed])
    if new_entries:
        cur.insert(entries, new_entries)
    if flags:
        cur.executemany(_UPDATE_MUTABLE, flags)
    return WriteResult(len(new_records), len(changed), len(by_id) - len(new_records) - len(changed))


def write_page(
    conn: sa.Connection,
    sid: int,
    key: StreamKey,
    page: Sequence[Record],
    *,
    slot: str | None,
    state: dict[str, Any] | None,
    done: bool,
    cover: tuple[int, int] | None,
    expect_new: bool = False,
) -> WriteResult:
    """Records, then checkpoint, then coverage, then the stream's last-write time.

    On PostgreSQL the stream's advisory lock is taken first, so two workers never write
    the same stream at once. ``expect_new``: the page is likely wholly new (see the module's
    docstring); it changes only how the records are written, never what is.
    """
    now = now_ms()
    cur = Cursor(conn)
    try:
        if cur.dialect == "postgresql":
            cur.execute(_LOCK_STREAM, (_PG_STREAM_LOCK, sid))
        result = _upsert_records(cur, sid, key, page, now, expect_new) if page else WriteResult(0, 0, 0)
        if slot is not None and done:
            cur.execute(_DELETE_CHECKPOINT, (sid, slot))
        elif slot is not None:
            cur.execute(_UPSERT_CHECKPOINT, (sid, slot, dumps(state if state is not None else {}).decode(), now))
        if cover is not None:
            coverage.add(cur, sid, cover[0], cover[1])
        cur.execute(_TOUCH_STREAM, (now, sid))
    finally:
        cur.close()
    return result


def record_run(conn: sa.Connection, account: str, exchange: str, started_ms: int, finished_ms: int, stats: dict[str, Any]) -> None:
    """Log one sync run."""
    conn.execute(
        sa.insert(sync_runs).values(
            account=account, exchange=exchange, started_ms=started_ms,
            finished_ms=finished_ms, stats=dumps(stats).decode(),
        )
    )


def _upsert_meta(dialect: Any) -> sa.Executable:
    stmt = dialect.insert(stream_meta).values(stream_id=_b("b_sid"), name=_b("b_name"), value=_b("b_value"))
    return stmt.on_conflict_do_update(index_elements=[stream_meta.c.stream_id, stream_meta.c.name],
                                      set_={"value": stmt.excluded.value})


_UPSERT_META = Prepared(_upsert_meta, ["b_sid", "b_name", "b_value"])


def set_meta(conn: sa.Connection, values: Sequence[tuple[int, str, str]]) -> None:
    """Set per-stream values: (stream id, name, value) each, in one batch."""
    cur = Cursor(conn)
    try:
        cur.executemany(_UPSERT_META, values)
    finally:
        cur.close()


def rederive_batch(conn: sa.Connection, sid: int, key: StreamKey, after: str | None, limit: int, derive: Derive) -> RederiveResult:
    """Re-derive the entries (and ``mutable`` flag) of up to ``limit`` of the stream's records
    with ids after ``after``, in id order, from their archived raw bytes, in the caller's
    transaction. Only records whose derived entries differ are rewritten; raw bytes, ts,
    versions and ``record_versions`` are never touched."""
    r, e = records.c, entries.c
    if conn.dialect.name == "postgresql":  # the lock write_page takes: one writer per stream
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_STREAM_LOCK, sid)))
    stmt = sa.select(r.record_id, r.raw, r.mutable).where(r.stream_id == sid)
    if after is not None:
        stmt = stmt.where(r.record_id > after)
    rows = conn.execute(stmt.order_by(r.record_id).limit(limit)).all()
    if not rows:
        return RederiveResult()
    last = rows[-1].record_id
    span = [e.stream_id == sid, e.record_id <= last] + ([e.record_id > after] if after is not None else [])
    columns = list(entries.columns)
    old: dict[str, list[tuple[Any, ...]]] = {}
    exact = exact_decimal(conn.dialect.name)
    for row in conn.execute(sa.select(*columns).where(*span).order_by(e.record_id, e.seq)):
        values = list(row)
        for i in (7, 8):  # amount, balance: as the write path binds them
            if values[i] is not None:
                values[i] = exact(values[i])
        old.setdefault(row.record_id, []).append(tuple(values))
    changed_ids: list[str] = []
    new_entries: list[tuple[Any, ...]] = []
    flags: list[dict[str, Any]] = []
    raw_only = unreadable = 0
    for record_id, raw, mutable in rows:
        try:
            record, understood = derive(bytes(raw))
        except ValueError:
            unreadable += 1
            continue
        if record.record_id != record_id:
            unreadable += 1
            continue
        raw_only += not understood
        fresh = _entry_rows(sid, key, record, exact)
        if fresh != old.get(record_id, []):
            changed_ids.append(record_id)
            new_entries.extend(fresh)
        if bool(mutable) != record.mutable:
            flags.append({"b_mutable": record.mutable, "b_rid": record_id})
    if changed_ids:
        conn.execute(sa.delete(entries).where(e.stream_id == sid, e.record_id.in_(changed_ids)))
    if new_entries:
        cur = Cursor(conn)
        try:
            cur.insert(entries, new_entries)     # driver values, as the write path inserts them
        finally:
            cur.close()
    if flags:
        conn.execute(
            sa.update(records).where(r.stream_id == sid, r.record_id == sa.bindparam("b_rid"))
            .values(mutable=sa.bindparam("b_mutable")),
            flags,
        )
    changed = len(set(changed_ids) | {f["b_rid"] for f in flags})
    return RederiveResult(len(rows), changed, raw_only, unreadable, last)


def record_identity(conn: sa.Connection, identity: AccountIdentity) -> None:
    """Insert or replace an account's identity; ``created_ms`` of an existing row is kept."""
    now = now_ms()
    values = {"account": identity.account, "exchange": identity.exchange,
              "base_url": identity.base_url, "key_fingerprint": identity.key_fingerprint,
              "user_id": identity.user_id, "updated_ms": now}
    stmt = _insert(conn, account_identities).values(created_ms=now, **values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[account_identities.c.account],
        set_={k: v for k, v in values.items() if k != "account"},
    ))
