"""``verify(archive, filters)``: every check of ``docs/verify.md``, aggregated in Arrow.

Two reads (:mod:`.read`), each in primary-key order: every entry, reduced batch by batch to
one row per record (the sum of its entries, the balance on its last entry, whether it has a
CoinW result entry), and every record (its time, CoinW's ``netProfit``). Then, on those
record rows:

* records without entries and entries without a record: a full outer join of the two;
* each record's ``ts`` inside its stream's coverage, the coverage ranges sorted and
  disjoint;
* Bitget: the balance chains (:mod:`.chains`), each stream's record rows sorted into chain
  order;
* CoinW: the entries of a record that has a result entry (a settled row), or none at all,
  sum to its ``netProfit`` (the entries of a row that is not settled are its fee alone: the
  ledger convention, ``docs/ledger.md``); no record id twice across an account's CoinW
  streams.

``since``/``until`` are refused: a chain is proven from its first row, so a part of one
proves nothing about the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._json import loads, to_decimal
from ..archive import Archive
from ..errors import ConfigError
from ..ledger.columns import AmountRangeError
from ..ledger.filters import Filters
from ..model import Kind, StreamKey
from .chains import MONEY, RECORD_SCHEMA, ChainWalker
from .model import Chain, StreamVerdict, Verification
from .read import ENTRY_ROWS, RECORD_ROWS, entry_rows, record_rows

__all__ = ["verify"]

_AMOUNT = pa.decimal128(38, 18)
_RESULT_KINDS = pa.array([Kind.REALIZED_PNL.value, Kind.LIQUIDATION.value])
_SHOWN = 3          # record ids a problem line names


def _money(column: pa.Array) -> pa.Array:
    try:
        return column.cast(_AMOUNT).cast(MONEY)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise AmountRangeError(f"an amount does not fit decimal(38, 18) exactly ({exc})") from None


def _starts(*columns: pa.Array) -> pa.Array:
    """Where a row's values differ from the previous row's (the first row: true)."""
    flags = None
    for column in columns:
        previous = pa.concat_arrays([pa.nulls(1, column.type), column[:-1]])
        differs = pc.fill_null(pc.not_equal(column, previous), True)
        flags = differs if flags is None else pc.or_(flags, differs)
    assert flags is not None
    return flags


def _per_record(rows: pa.Table) -> pa.Table:
    """Entry rows (whole records, by stream and id) as one row per record."""
    sid, rid = rows.column("stream_id").combine_chunks(), rows.column("record_id").combine_chunks()
    start = _starts(sid, rid)
    index = pc.subtract(pc.cumulative_sum(start.cast(pa.int64())), 1)
    result = pc.is_in(rows.column("kind"), value_set=_RESULT_KINDS).cast(pa.int8())
    sums = (pa.table({"rec": index, "amount": _money(rows.column("amount").combine_chunks()),
                      "result": result})
            .group_by("rec", use_threads=False)
            .aggregate([("amount", "sum"), ("result", "max")])
            .sort_by("rec"))
    last = pa.concat_arrays([start[1:], pa.array([True])])
    ends = rows.filter(last)
    return pa.table({
        "stream_id": ends.column("stream_id"), "category": ends.column("category"),
        "coin": ends.column("coin"), "ts": ends.column("ts"), "record_id": ends.column("record_id"),
        "sum": sums.column("amount_sum").cast(MONEY), "balance": _money(ends.column("balance").combine_chunks()),
        "result": sums.column("result_max"),
    })


def _entry_records(archive: Archive, filters: Filters) -> pa.Table:
    """Every record's entry row (:func:`_per_record`), reduced a batch at a time; a batch's
    last record waits for the next batch (its entries may continue there)."""
    parts: list[pa.Table] = []
    held: pa.Table | None = None
    for batch in archive.arrow_batches(*entry_rows(filters.account, filters.exchange), ENTRY_ROWS):
        rows = pa.Table.from_batches([batch])
        if held is not None:
            rows = pa.concat_tables([held, rows])
        n = rows.num_rows
        sid, rid = rows.column("stream_id"), rows.column("record_id")
        tail = pc.sum(pc.and_(pc.equal(sid, sid[n - 1]), pc.equal(rid, rid[n - 1]))).as_py()
        held = rows.slice(n - tail)
        if n > tail:
            parts.append(_per_record(rows.slice(0, n - tail)))
    if held is not None and held.num_rows:
        parts.append(_per_record(held))
    if not parts:
        return RECORD_SCHEMA.append(pa.field("result", pa.int8())).empty_table()
    return pa.concat_tables(parts).combine_chunks()


def _record_rows(archive: Archive, filters: Filters) -> pa.Table:
    batches = list(archive.arrow_batches(*record_rows(filters.account, filters.exchange), RECORD_ROWS))
    return pa.Table.from_batches(batches, RECORD_ROWS).combine_chunks()


def _net_of(text: str | None) -> Decimal | None:
    """A ``netProfit`` JSON text as an exact decimal, ``None`` when unreadable (the record is
    then kept raw only: the normalizer refuses it too)."""
    if text is None:
        return None
    try:
        value = loads(text)
    except Exception:
        value = text
    try:
        return to_decimal(value)
    except ValueError:
        return None


def _nets(column: pa.Array) -> pa.Array:
    """The ``netProfit`` texts as ``MONEY`` (null where absent); raises ``ArrowInvalid`` when
    one does not cast exactly (more than 18 decimals, a string with escapes, not a number)."""
    quoted = pc.fill_null(pc.starts_with(column, '"'), False)
    bare = pc.if_else(quoted, pc.utf8_slice_codeunits(column, 1, -1), column)
    bare = pc.if_else(pc.fill_null(pc.equal(bare, "null"), False), pa.scalar(None, pa.string()), bare)
    return bare.cast(_AMOUNT).cast(MONEY)


def _ids(rows: pa.Table) -> tuple[int, list[str]]:
    return rows.num_rows, rows.column("record_id").slice(0, _SHOWN).to_pylist()


def _named(count: int, ids: list[str]) -> str:
    more = f", … {count - len(ids)} more" if count > len(ids) else ""
    return f"{', '.join(ids)}{more}"


def _coverage_problems(ts: np.ndarray, ids: pa.Array, ranges: list[tuple[int, int]]) -> list[str]:
    problems = []
    if any(a >= b for a, b in ranges) or any(ranges[i][1] > ranges[i + 1][0] for i in range(len(ranges) - 1)):
        problems.append("coverage ranges are not sorted and disjoint")
    starts = np.array([a for a, _ in ranges], dtype=np.int64)
    ends = np.array([b for _, b in ranges], dtype=np.int64)
    where = np.searchsorted(starts, ts, side="right") - 1
    inside = (where >= 0) & (ts < ends[np.maximum(where, 0)]) if len(ranges) else np.zeros(len(ts), bool)
    outside = np.flatnonzero(~inside)
    if len(outside):
        shown = ids.take(pa.array(outside[:_SHOWN])).to_pylist()
        problems.append(f"{len(outside)} records outside the stream's coverage (a sync that "
                        f"stopped half-way, or coverage lost): {_named(len(outside), shown)}")
    return problems


def _coinw_problems(joined: pa.Table) -> list[str]:
    """A CoinW stream's records (joined with their entry rows) whose entries do not sum to
    their ``netProfit``: in Arrow, or value by value with ``cexledger._json`` for a stream
    where one ``netProfit`` does not cast exactly."""
    checked = pc.or_(pc.fill_null(pc.equal(joined.column("result"), 1), False),
                     pc.is_null(joined.column("sum")))
    rows = joined.filter(checked)
    total = pc.fill_null(rows.column("sum"), pa.scalar(Decimal(0), MONEY))
    try:
        nets = _nets(rows.column("net").combine_chunks())
        wrong = pc.and_(pc.is_valid(nets), pc.invert(pc.fill_null(pc.equal(total, nets), False)))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        nets_py = [_net_of(text) for text in rows.column("net").to_pylist()]
        wrong = pa.array([net is not None and net != have
                          for net, have in zip(nets_py, total.to_pylist())])
    bad = rows.filter(wrong)
    if not bad.num_rows:
        return []
    return [f"{bad.num_rows} records whose entries do not sum to their netProfit: "
            f"{_named(*_ids(bad))}"]


def _duplicates(records: pa.Table, keys: dict[int, StreamKey]) -> dict[int, list[str]]:
    """CoinW ids archived in two streams of one account: the problem line of each stream."""
    coinw = [sid for sid, key in keys.items() if key.exchange == "coinw"]
    rows = records.filter(pc.is_in(records.column("stream_id"), value_set=pa.array(coinw, pa.int64())))
    out: dict[int, list[str]] = {}
    for account in sorted({keys[sid].account for sid in coinw}):
        sids = pa.array([sid for sid in coinw if keys[sid].account == account], pa.int64())
        mine = rows.filter(pc.is_in(rows.column("stream_id"), value_set=sids))
        counts = pc.value_counts(mine.column("record_id").combine_chunks())
        twice = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        if not len(twice):
            continue
        hit = mine.filter(pc.is_in(mine.column("record_id"), value_set=twice))
        for sid in pc.unique(hit.column("stream_id")).to_pylist():
            own = hit.filter(pc.equal(hit.column("stream_id"), sid))
            out[sid] = [f"{own.num_rows} record ids also archived in another CoinW stream of "
                        f"account {account!r}: {_named(*_ids(own))}"]
    return out


def _chain_order(rows: pa.Table) -> pa.Table:
    """A stream's record rows in chain order (:mod:`.chains`)."""
    order = pc.sort_indices(
        rows.append_column("id_length", pc.utf8_length(rows.column("record_id"))),
        sort_keys=[(name, "ascending", "at_start")
                   for name in ("category", "coin", "ts", "id_length", "record_id")])
    return rows.take(order).select(RECORD_SCHEMA.names)


def _stream_slices(table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    """``table`` (sorted by ``stream_id``) one stream at a time."""
    sids = table.column("stream_id").to_numpy()
    if not len(sids):
        return
    cuts = np.flatnonzero(np.diff(sids)) + 1
    bounds = [0, *cuts.tolist(), len(sids)]
    for a, b in zip(bounds, bounds[1:]):
        yield int(sids[a]), table.slice(a, b - a)


def verify(archive: Archive, filters: Filters = Filters()) -> Verification:
    """Check every stream ``filters`` selects (account and exchange; ``since``/``until``
    and ``kind`` are refused: see the module docstring)."""
    if filters.since_ms is not None or filters.until_ms is not None or filters.kind is not None:
        raise ConfigError("verify checks whole streams: it takes no time range or kind, "
                          "only an account and an exchange")
    entry_side = _entry_records(archive, filters)
    record_side = _record_rows(archive, filters)
    keys = archive.stream_keys()
    summaries = [s for s in archive.streams(filters.account)
                 if filters.exchange is None or s.key.exchange == filters.exchange]

    joined = record_side.join(entry_side.drop_columns(["ts"]), keys=["stream_id", "record_id"],
                              join_type="full outer")
    joined = joined.sort_by([("stream_id", "ascending"), ("record_id", "ascending")])
    by_stream = dict(_stream_slices(joined))
    chains: dict[int, list[Chain]] = {}
    for sid, rows in _stream_slices(entry_side):
        if keys[sid].exchange == "bitget":
            walker = ChainWalker()
            walker.feed(_chain_order(rows.select(RECORD_SCHEMA.names)))
            chains.update(walker.chains())
    duplicates = _duplicates(record_side, keys)

    ids = {key: sid for sid, key in keys.items()}
    verdicts = []
    for summary in summaries:
        sid = ids[summary.key]
        rows = by_stream.get(sid, joined.slice(0, 0))
        verdicts.append(_verdict(summary.key, summary.coverage, rows, chains.get(sid, []),
                                 duplicates.get(sid, [])))
    return Verification(tuple(verdicts))


def _verdict(key: StreamKey, coverage: list[tuple[int, int]], rows: pa.Table,
             chains: list[Chain], duplicates: list[str]) -> StreamVerdict:
    problems: list[str] = []
    checks: list[str] = []
    known = rows.filter(pc.is_valid(rows.column("ts")))
    orphans = rows.filter(pc.is_null(rows.column("ts")))
    bare = known.filter(pc.is_null(known.column("sum")))
    if orphans.num_rows:
        problems.append(f"entries of {orphans.num_rows} records that are not archived: "
                        f"{_named(*_ids(orphans))}")
    if key.exchange == "bitget" and bare.num_rows:
        problems.append(f"{bare.num_rows} records without entries (kept raw only, or their entries "
                        f"lost: `cexledger reparse` re-derives them): {_named(*_ids(bare))}")
    if not (orphans.num_rows or (key.exchange == "bitget" and bare.num_rows)):
        checks.append("every record has its entries, every entry its record")
    ts = known.column("ts").to_numpy()
    found = _coverage_problems(ts, known.column("record_id").combine_chunks(), coverage)
    problems += found
    if not found:
        checks.append("every record's time inside the stream's coverage")
    if key.exchange == "bitget":
        breaks = sum(len(c.breaks) for c in chains)
        rows_chained = sum(c.rows for c in chains)
        if breaks:
            broken = sum(1 for c in chains if c.breaks)
            problems.append(f"{breaks} break{'s' if breaks != 1 else ''} in {broken} of "
                            f"{len(chains)} balance chains")
        else:
            checks.append(f"{len(chains)} balance chains hold over {rows_chained} rows: "
                          "each balance = the previous + amount + fee")
    if key.exchange == "coinw":
        found = _coinw_problems(known)
        problems += found
        if not found:
            checks.append("every settled record's entries sum to its netProfit")
        problems += duplicates
        if not duplicates:
            checks.append("no record id twice in the account's CoinW streams")
    return StreamVerdict(key, known.num_rows, tuple(chains), tuple(checks), tuple(problems))
