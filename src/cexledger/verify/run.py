"""``verify(archive, filters)``: every check of ``docs/verify.md``, aggregated in Arrow.

Two reads (:mod:`.read`), both in primary-key order (stream, record id), taken side by side
one stream at a time, so memory holds one stream, never the archive: its entries, reduced to
one row per record (the sum of its entries, the balance on its last entry, whether it has a
CoinW result entry), and its records (their time, CoinW's ``netProfit``). Then, per stream:

* records without entries and entries without a record (their ids compared);
* each record's ``ts`` inside the stream's coverage, the coverage ranges sorted and disjoint;
* Bitget: the balance chains (:mod:`.chains`), the stream's record rows sorted into chain
  order;
* CoinW: the entries of a record that has a result entry (a settled row), or none at all,
  sum to its ``netProfit`` (the entries of a row that is not settled are its fee alone: the
  ledger convention, ``docs/ledger.md``); and, over the account's CoinW streams, no record id
  twice.

Nothing here uses Arrow's query engine (``group_by``, ``join``): importing it alone costs
about 60 MB of memory; a record's entries are adjacent, so their sum is a few shifted adds.

``since``/``until`` (and ``kind``) are ignored: a chain is proven from its first row, so a
part of one would prove nothing about the rest; the streams are checked whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._json import loads, to_decimal
from ..archive import Archive
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
_BATCH_ROWS = 16_384
"""Rows per batch of each of the two reads: side by side, 65 536 each measured 30 MB more peak
memory on 676 000 entries, in the same time."""
_EMPTY = pa.schema([pa.field(f.name, _AMOUNT) if f.name in ("sum", "balance") else f
                    for f in RECORD_SCHEMA]).append(pa.field("result", pa.int8())).empty_table()
"""A stream's per-record entry rows when it has none."""


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
    """A stream's entry rows (whole records, by id) as one row per record: the columns of
    :data:`RECORD_SCHEMA` and ``result`` (1 when the record has a CoinW result entry)."""
    rows = rows.combine_chunks()
    start = _starts(rows.column("record_id").combine_chunks())
    first = pc.indices_nonzero(start)
    last = pc.subtract(pa.concat_arrays([first[1:].cast(pa.int64()), pa.array([rows.num_rows], pa.int64())]), 1)
    counts = pc.add(pc.subtract(last, first.cast(pa.int64())), 1)
    amount = _money(rows.column("amount").combine_chunks())
    total = amount.take(last)
    for back in range(1, pc.max(counts).as_py()):       # a record's other entries, adjacent
        more = pc.greater(counts, back)
        earlier = amount.take(pc.max_element_wise(pc.subtract(last, back), 0))
        total = pc.if_else(more, pc.add(total, earlier), total).cast(MONEY)
    result = pc.is_in(rows.column("kind"), value_set=_RESULT_KINDS).cast(pa.int8())
    has_result = result.take(last)
    for back in range(1, pc.max(counts).as_py()):
        earlier = result.take(pc.max_element_wise(pc.subtract(last, back), 0))
        has_result = pc.if_else(pc.greater(counts, back), pc.max_element_wise(has_result, earlier), has_result)
    ends = rows.take(last)
    try:
        total = total.cast(_AMOUNT)          # held compactly; MONEY again where it is summed
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise AmountRangeError(f"a record's entries sum beyond decimal(38, 18) ({exc})") from None
    return pa.table({
        "stream_id": ends.column("stream_id"), "category": ends.column("category"),
        "coin": ends.column("coin"), "ts": ends.column("ts"), "record_id": ends.column("record_id"),
        "sum": total, "balance": _money(ends.column("balance").combine_chunks()).cast(_AMOUNT),
        "result": has_result,
    })


def _by_stream(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[tuple[int, pa.Table]]:
    """Rows (sorted by ``stream_id``) one stream at a time."""
    parts: list[pa.RecordBatch] = []
    current: int | None = None
    for batch in batches:
        sids = batch.column("stream_id").to_numpy()
        bounds = [0, *(np.flatnonzero(np.diff(sids)) + 1).tolist(), len(sids)]
        for a, b in zip(bounds, bounds[1:]):
            sid = int(sids[a])
            if current is not None and sid != current:
                yield current, pa.Table.from_batches(parts, schema)
                parts = []
            current = sid
            parts.append(batch.slice(a, b - a))
    if current is not None:
        yield current, pa.Table.from_batches(parts, schema)


def _entry_records(batches: Iterator[pa.RecordBatch]) -> Iterator[tuple[int, pa.Table]]:
    """Entry rows (by stream, record id) as one row per record (:func:`_per_record`), one
    stream at a time, reduced a batch at a time: a batch's last record waits for the next
    batch, where its entries may continue."""
    held: pa.Table | None = None
    parts: list[pa.Table] = []
    current: int | None = None

    def ready(rows: pa.Table) -> Iterator[tuple[int, pa.Table]]:
        nonlocal parts, current
        for sid, part in _by_stream(iter(rows.to_batches()), ENTRY_ROWS):
            if current is not None and sid != current:
                yield current, pa.concat_tables(parts).combine_chunks()
                parts = []
            current = sid
            parts.append(_per_record(part))

    for batch in batches:
        rows = pa.Table.from_batches([batch]) if held is None else pa.concat_tables([held, pa.Table.from_batches([batch])])
        n = rows.num_rows
        sid, rid = rows.column("stream_id"), rows.column("record_id")
        tail = pc.sum(pc.and_(pc.equal(sid, sid[n - 1]), pc.equal(rid, rid[n - 1]))).as_py()
        held = rows.slice(n - tail)
        yield from ready(rows.slice(0, n - tail))
    if held is not None:
        yield from ready(held)
    if current is not None:
        yield current, pa.concat_tables(parts).combine_chunks()


def _streams(archive: Archive, filters: Filters) -> Iterator[tuple[int, pa.Table, pa.Table]]:
    """``(stream id, records, entry rows per record)`` of every stream that has either."""
    entry_side = _entry_records(archive.arrow_batches(*entry_rows(filters.account, filters.exchange),
                                                      ENTRY_ROWS, _BATCH_ROWS))
    record_side = _by_stream(archive.arrow_batches(*record_rows(filters.account, filters.exchange),
                                                   RECORD_ROWS, _BATCH_ROWS), RECORD_ROWS)
    e, r = next(entry_side, None), next(record_side, None)
    while e is not None or r is not None:
        sid = min(x[0] for x in (e, r) if x is not None)
        records, entries = RECORD_ROWS.empty_table(), _EMPTY
        if r is not None and r[0] == sid:
            records, r = r[1], next(record_side, None)
        if e is not None and e[0] == sid:
            entries, e = e[1], next(entry_side, None)
        yield sid, records.combine_chunks(), entries


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


def _coinw_problems(rows: pa.Table) -> list[str]:
    """A CoinW stream's records (with ``sum`` and ``result`` of their entries, null when they
    have none) whose entries do not sum to their ``netProfit``: in Arrow, or value by value
    with ``cexledger._json`` for a stream where one ``netProfit`` does not cast exactly."""
    checked = pc.or_(pc.fill_null(pc.equal(rows.column("result"), 1), False),
                     pc.is_null(rows.column("sum")))
    rows = rows.filter(checked)
    total = pc.fill_null(rows.column("sum").cast(MONEY), pa.scalar(Decimal(0), MONEY))
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


def _duplicates(ids: dict[int, pa.Array], keys: dict[int, StreamKey]) -> dict[int, str]:
    """CoinW ids (``ids``: per stream) archived in two streams of one account: each stream's
    problem line."""
    out: dict[int, str] = {}
    for account in sorted({keys[sid].account for sid in ids}):
        mine = [sid for sid in ids if keys[sid].account == account]
        counts = pc.value_counts(pa.concat_arrays([ids[sid] for sid in mine]))
        twice = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        if not len(twice):
            continue
        for sid in mine:
            own = ids[sid].filter(pc.is_in(ids[sid], value_set=twice))
            if len(own):
                shown = own.slice(0, _SHOWN).to_pylist()
                out[sid] = (f"{len(own)} record ids also archived in another CoinW stream of "
                            f"account {account!r}: {_named(len(own), shown)}")
    return out


def _chain_order(rows: pa.Table) -> pa.Table:
    """A stream's record rows in chain order (:mod:`.chains`)."""
    order = pc.sort_indices(
        rows.append_column("id_length", pc.utf8_length(rows.column("record_id"))),
        sort_keys=[(name, "ascending", "at_start")
                   for name in ("category", "coin", "ts", "id_length", "record_id")])
    return rows.take(order).select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)


class _Findings:
    """One stream's verdict as it is being found."""

    def __init__(self, key: StreamKey) -> None:
        self.key = key
        self.records = 0
        self.chains: list[Chain] = []
        self.checks: list[str] = []
        self.problems: list[str] = []

    def verdict(self) -> StreamVerdict:
        return StreamVerdict(self.key, self.records, tuple(self.chains), tuple(self.checks),
                             tuple(self.problems))


def verify(archive: Archive, filters: Filters = Filters()) -> Verification:
    """Check every stream ``filters`` selects: its account and exchange are honoured; its
    ``since``/``until`` and ``kind`` are not (a stream is checked whole: see the module
    docstring), so a report of one year shows the verdict of the streams it draws on."""
    summaries = [s for s in archive.streams(filters.account)
                 if filters.exchange is None or s.key.exchange == filters.exchange]
    coverage = {s.key: s.coverage for s in summaries}
    found: dict[int, _Findings] = {}
    coinw_ids: dict[int, pa.Array] = {}
    keys: dict[int, StreamKey] | None = None
    for sid, records, entries in _streams(archive, filters):
        if keys is None or sid not in keys:
            keys = archive.stream_keys()        # read after the rows: it knows every stream
        key = keys[sid]
        findings = found[sid] = _Findings(key)
        _check_stream(findings, records, entries, coverage.get(key, []))
        if key.exchange == "coinw":
            coinw_ids[sid] = records.column("record_id").combine_chunks()
    if keys is None:
        keys = archive.stream_keys()
    for sid, problem in _duplicates(coinw_ids, keys).items():
        found[sid].problems.append(problem)
    for findings in found.values():
        if findings.key.exchange == "coinw" and not any("also archived" in p for p in findings.problems):
            findings.checks.append("no record id twice in the account's CoinW streams")
    by_key = {f.key: f for f in found.values()}
    verdicts = []
    for summary in summaries:
        findings = by_key.get(summary.key)
        if findings is None:
            findings = _Findings(summary.key)
            findings.checks.append("no records")
        verdicts.append(findings.verdict())
    return Verification(tuple(verdicts))


def _check_stream(findings: _Findings, records: pa.Table, entries: pa.Table,
                  coverage: list[tuple[int, int]]) -> None:
    key, problems, checks = findings.key, findings.problems, findings.checks
    findings.records = records.num_rows
    rids, eids = records.column("record_id"), entries.column("record_id")
    if records.num_rows == entries.num_rows and pc.all(pc.equal(rids, eids)).as_py() is not False:
        sums, results, bare, orphans = entries.column("sum"), entries.column("result"), 0, []
    else:                                    # a record without entries, or entries without one
        where = pc.index_in(rids, value_set=eids)
        sums, results = entries.column("sum").take(where), entries.column("result").take(where)
        missing = records.filter(pc.is_null(where))
        lost = entries.filter(pc.invert(pc.is_in(eids, value_set=rids)))
        bare, orphans = missing.num_rows, lost.column("record_id").slice(0, _SHOWN).to_pylist()
        if lost.num_rows:
            problems.append(f"entries of {lost.num_rows} records that are not archived: "
                            f"{_named(lost.num_rows, orphans)}")
        if key.exchange == "bitget" and bare:
            problems.append(f"{bare} records without entries (kept raw only, or their entries "
                            f"lost: `cexledger reparse` re-derives them): {_named(*_ids(missing))}")
        if key.exchange != "bitget":
            bare = 0                         # a cancelled CoinW row has no entries
    if not (orphans or bare):
        checks.append("every record has its entries, every entry its record" if key.exchange == "bitget"
                      else "every entry has its record")
    outside = _coverage_problems(records.column("ts").to_numpy(), rids.combine_chunks(), coverage)
    problems += outside
    if not outside:
        checks.append("every record's time inside the stream's coverage")
    if key.exchange == "bitget":
        walker = ChainWalker()
        walker.feed(_chain_order(entries.select(RECORD_SCHEMA.names)))
        findings.chains = [c for chains in walker.chains().values() for c in chains]
        breaks = sum(len(c.breaks) for c in findings.chains)
        if breaks:
            broken = sum(1 for c in findings.chains if c.breaks)
            problems.append(f"{breaks} break{'s' if breaks != 1 else ''} in {broken} of "
                            f"{len(findings.chains)} balance chains")
        else:
            checks.append(f"{len(findings.chains)} balance chains hold over "
                          f"{sum(c.rows for c in findings.chains)} rows: each balance = the "
                          "previous + amount + fee")
    elif key.exchange == "coinw":
        wrong = _coinw_problems(records.append_column("sum", sums).append_column("result", results))
        problems += wrong
        if not wrong:
            checks.append("every settled record's entries sum to its netProfit")
