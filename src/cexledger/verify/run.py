"""``verify(archive, filters)``: every check of ``docs/verify.md``, aggregated in Arrow.

Two reads (:mod:`.read`), both in primary-key order (stream, record id), taken side by side
one stream at a time. The entries are reduced as each batch arrives to one compact row per
record (:mod:`.compact`: its id, ``ts``, chain code, the sum of its entries, the balance on its
last entry, whether it has a CoinW result entry): that is all memory holds of a stream, about
70 bytes a record. The records are checked batch by batch as they come: their ids against the
compact rows' (the same ids in the same order, unless a record lacks entries or entries lack
a record), their ``ts`` against the coverage. Then, per stream:

* records without entries and entries without a record (their ids compared);
* each record's ``ts`` inside the stream's coverage, the coverage ranges sorted and disjoint;
* Bitget: the balance chains (:mod:`.chains`): the compact rows' chain order is sorted (indices
  by chain code, ``ts``, id length, id) and walked a slice of whole groups at a time;
* CoinW: the entries of a record that has a result entry (a settled row), or none at all,
  sum to its ``netProfit`` (the entries of a row that is not settled are its fee alone: the
  ledger convention, ``docs/ledger.md``); and, over the account's CoinW streams, no record id
  twice. A CoinW stream's records are kept whole for it (their ``netProfit`` text).

Memory is given back to the system after each stream (``release_unused``), and no Python
value is handed to ``pyarrow`` (:mod:`.arrays`: that imports pandas).

``since``/``until`` (and ``kind``) are ignored: a chain is proven from its first row, so a
part of one would prove nothing about the rest; the streams are checked whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .._json import loads, to_decimal
from ..archive import Archive
from ..ledger.filters import Filters
from ..model import StreamKey
from .arrays import bools, decimals, from_numpy, strings, view
from .chains import MONEY, RECORD_SCHEMA, ChainWalker
from .compact import AMOUNT, COMPACT, ChainCodes, compact_records, exact, stream_pieces
from .model import Chain, StreamVerdict, Verification
from .read import ENTRY_ROWS, RECORD_ROWS, entry_rows, record_rows

__all__ = ["verify"]

_SHOWN = 3          # record ids a problem line names
_BATCH_ROWS = 32_768
"""Rows per batch of each of the two reads (each batch is reduced at once: memory holds one
batch of each, a few MB)."""
_SLICE_ROWS = 16_384
"""Record rows per slice the chain walk takes (more, to the end of a group)."""
_TRUE, _FALSE = bools(np.ones(1, bool))[0], bools(np.zeros(1, bool))[0]
_NULL_TEXT = pa.nulls(1, pa.string())[0]
_JSON_NULL = strings(["null"])[0]
_ZERO = decimals([Decimal(0)], MONEY)[0]


class _Pieces:
    """An iterator of ``(stream id, rows)`` that shows its next item (``head``)."""

    def __init__(self, items: Iterator[tuple[int, pa.RecordBatch]]) -> None:
        self._items = items
        self.head = next(items, None)

    def of(self, sid: int) -> Iterator[pa.RecordBatch]:
        """The next items while they are of stream ``sid``."""
        while self.head is not None and self.head[0] == sid:
            rows = self.head[1]
            self.head = next(self._items, None)
            yield rows


def _compact(pieces: Iterator[pa.RecordBatch]) -> pa.Table:
    """One stream's compact rows as one chunk per column (``take`` from a chunked string or
    decimal column copies it whole each time), concatenated a column at a time: each
    column's pieces are let go as soon as it is built."""
    parts: dict[str, list[pa.Array]] = {name: [] for name in COMPACT.names}
    for piece in pieces:
        for name in COMPACT.names:
            parts[name].append(piece.column(name))
    columns = []
    for f in COMPACT:
        arrays = parts.pop(f.name)
        columns.append(pa.concat_arrays([pa.nulls(0, f.type), *arrays]))
        del arrays
    return pa.Table.from_arrays(columns, schema=COMPACT)


@dataclass
class _Records:
    """One stream's records, checked batch by batch against its compact entry rows' ids
    (``ids``) and its coverage; a CoinW stream's are kept (``keep``)."""

    ids: pa.ChunkedArray
    ranges: list[tuple[int, int]]
    keep: bool
    count: int = 0
    outside: int = 0
    shown: list[str] = field(default_factory=list)
    matched: int = 0                           # records so far equal to ids[:matched]
    aligned: bool = True
    rest: list[pa.Array] = field(default_factory=list)
    kept: list[pa.RecordBatch] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._starts = np.array([a for a, _ in self.ranges], dtype=np.int64)
        self._ends = np.array([b for _, b in self.ranges], dtype=np.int64)

    def add(self, rows: pa.RecordBatch) -> None:
        n, ids = rows.num_rows, rows.column("record_id")
        self.count += n
        ts = view(rows.column("ts"))
        if len(self.ranges):
            where = np.searchsorted(self._starts, ts, side="right") - 1
            inside = (where >= 0) & (ts < self._ends[np.maximum(where, 0)])
        else:
            inside = np.zeros(n, bool)
        outside = np.flatnonzero(~inside)
        self.outside += len(outside)
        if len(outside) and len(self.shown) < _SHOWN:
            self.shown += ids.take(from_numpy(outside[:_SHOWN - len(self.shown)], pa.int64())).to_pylist()
        if (self.aligned and self.matched + n <= len(self.ids)
                and pc.all(pc.equal(ids, self.ids.slice(self.matched, n))).as_py()):
            self.matched += n
        else:
            self.aligned = False
            self.rest.append(ids)
        if self.keep:
            self.kept.append(rows)

    def same_ids(self) -> bool:
        """Whether the records' ids are the entry rows' ids, in the same order."""
        return self.aligned and self.matched == len(self.ids)

    def record_ids(self) -> pa.Array:
        return pa.concat_arrays([pa.nulls(0, pa.string()), *self.ids.slice(0, self.matched).chunks,
                                 *self.rest])

    def coverage_problems(self) -> list[str]:
        ranges, problems = self.ranges, []
        if any(a >= b for a, b in ranges) or any(ranges[i][1] > ranges[i + 1][0] for i in range(len(ranges) - 1)):
            problems.append("coverage ranges are not sorted and disjoint")
        if self.outside:
            problems.append(f"{self.outside} records outside the stream's coverage (a sync that "
                            f"stopped half-way, or coverage lost): {_named(self.outside, self.shown)}")
        return problems


def _streams(archive: Archive, filters: Filters, coverage: dict[StreamKey, list[tuple[int, int]]],
             keys: dict[int, StreamKey]) -> Iterator[tuple[int, _Records, pa.Table, ChainCodes]]:
    """``(stream id, its records as checked, its compact entry rows, the chain codes)`` of
    every stream that has either; ``keys`` learns each stream's key."""
    codes = ChainCodes()
    entry_side = _Pieces(compact_records(archive.arrow_batches(
        *entry_rows(filters.account, filters.exchange), ENTRY_ROWS, _BATCH_ROWS), codes))
    record_side = _Pieces(stream_pieces(archive.arrow_batches(
        *record_rows(filters.account, filters.exchange), RECORD_ROWS, _BATCH_ROWS)))
    while entry_side.head is not None or record_side.head is not None:
        sid = min(side.head[0] for side in (entry_side, record_side) if side.head is not None)
        if sid not in keys:
            keys.update(archive.stream_keys())  # read after the rows: it knows every stream
        key = keys[sid]
        entries = _compact(entry_side.of(sid))
        records = _Records(entries.column("record_id"), coverage.get(key, []),
                           keep=key.exchange == "coinw")
        for rows in record_side.of(sid):
            records.add(rows)
        yield sid, records, entries, codes


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
    quoted = pc.fill_null(pc.starts_with(column, '"'), _FALSE)
    bare = pc.if_else(quoted, pc.utf8_slice_codeunits(column, 1, -1), column)
    bare = pc.if_else(pc.fill_null(pc.equal(bare, _JSON_NULL), _FALSE), _NULL_TEXT, bare)
    return bare.cast(AMOUNT).cast(MONEY)


def _ids(ids: pa.Array) -> tuple[int, list[str]]:
    return len(ids), ids.slice(0, _SHOWN).to_pylist()


def _named(count: int, ids: list[str]) -> str:
    more = f", … {count - len(ids)} more" if count > len(ids) else ""
    return f"{', '.join(ids)}{more}"


def _coinw_problems(rows: pa.Table) -> list[str]:
    """A CoinW stream's records (with ``sum`` and ``result`` of their entries, null when they
    have none) whose entries do not sum to their ``netProfit``: in Arrow, or value by value
    with ``cexledger._json`` for a stream where one ``netProfit`` does not cast exactly."""
    one = from_numpy(np.ones(1, np.int8), pa.int8())[0]
    checked = pc.or_(pc.fill_null(pc.equal(rows.column("result"), one), _FALSE),
                     pc.is_null(rows.column("sum")))
    rows = rows.filter(checked)
    total = pc.fill_null(rows.column("sum").cast(MONEY), _ZERO)
    try:
        nets = _nets(rows.column("net").combine_chunks())
        wrong = pc.and_(pc.is_valid(nets), pc.invert(pc.fill_null(pc.equal(total, nets), _FALSE)))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        nets_py = [_net_of(text) for text in rows.column("net").to_pylist()]
        wrong = bools(np.array([net is not None and net != have
                                for net, have in zip(nets_py, total.to_pylist())], dtype=bool))
    bad = rows.filter(wrong)
    if not bad.num_rows:
        return []
    return [f"{bad.num_rows} records whose entries do not sum to their netProfit: "
            f"{_named(*_ids(bad.column('record_id')))}"]


def _duplicates(ids: dict[int, pa.Array], keys: dict[int, StreamKey]) -> dict[int, str]:
    """CoinW ids (``ids``: per stream) archived in two streams of one account: each stream's
    problem line."""
    out: dict[int, str] = {}
    one = from_numpy(np.ones(1, np.int64), pa.int64())[0]
    for account in sorted({keys[sid].account for sid in ids}):
        mine = [sid for sid in ids if keys[sid].account == account]
        counts = pc.value_counts(pa.concat_arrays([ids[sid] for sid in mine]))
        twice = counts.filter(pc.greater(counts.field("counts"), one)).field("values")
        if not len(twice):
            continue
        for sid in mine:
            own = ids[sid].filter(pc.is_in(ids[sid], value_set=twice))
            if len(own):
                shown = own.slice(0, _SHOWN).to_pylist()
                out[sid] = (f"{len(own)} record ids also archived in another CoinW stream of "
                            f"account {account!r}: {_named(len(own), shown)}")
    return out


def _slice_end(order: pa.Array, chain: pa.ChunkedArray, ts: pa.ChunkedArray, a: int) -> int:
    """Where the slice of the chain walk from row ``a`` (in ``order``) ends: at the first
    group (chain code and ``ts``) that starts at or after ``a + _SLICE_ROWS``."""
    n, end, width = len(order), a + _SLICE_ROWS, 256
    if end >= n:
        return n
    while True:
        at = order.slice(end - 1, width + 1)
        codes, times = view(chain.take(at).combine_chunks()), view(ts.take(at).combine_chunks())
        differ = np.flatnonzero((codes[1:] != codes[0]) | (times[1:] != times[0]))
        if len(differ):
            return end + int(differ[0])
        if end + width >= n:                 # the group runs to the end
            return n
        width *= 4


def _walk_chains(sid: int, rows: pa.Table, codes: ChainCodes) -> list[Chain]:
    """A stream's compact rows walked in chain order (chain code, ``ts``, id length, id: the
    order of :mod:`.chains` within a chain; the chains' own order does not matter), a slice
    of whole groups at a time; memory holds the order (8 bytes a row) beside the rows."""
    n = rows.num_rows
    if not n:
        return []
    ids, chain, ts = rows.column("record_id"), rows.column("chain"), rows.column("ts")
    order = pc.sort_indices(
        pa.Table.from_arrays([chain, ts, pc.utf8_length(ids), ids],
                             names=["chain", "ts", "id_length", "record_id"]),
        sort_keys=[(name, "ascending") for name in ("chain", "ts", "id_length", "record_id")])
    stream = from_numpy(np.full(1, sid, np.int64), pa.int64())
    walker = ChainWalker()
    a = 0
    while a < n:
        b = _slice_end(order, chain, ts, a)
        part = rows.take(order.slice(a, b - a))
        codes_part = part.column("chain")
        walker.feed(pa.Table.from_arrays([
            stream.take(from_numpy(np.zeros(b - a, np.int64), pa.int64())),
            codes.category.take(codes_part), codes.coin.take(codes_part),
            part.column("ts"), part.column("record_id"),
            part.column("sum").cast(MONEY), part.column("balance").cast(MONEY),
        ], schema=RECORD_SCHEMA))
        a = b
    return walker.chains().get(sid, [])


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
    keys: dict[int, StreamKey] = {}
    for sid, records, entries, codes in _streams(archive, filters, coverage, keys):
        key = keys[sid]
        findings = found[sid] = _Findings(key)
        _check_stream(findings, sid, records, entries, codes)
        if key.exchange == "coinw":
            coinw_ids[sid] = records.record_ids()
        del records, entries
        pa.default_memory_pool().release_unused()
    if not keys:
        keys.update(archive.stream_keys())
    duplicated = _duplicates(coinw_ids, keys)
    for sid, problem in duplicated.items():
        found[sid].problems.append(problem)
    for sid in coinw_ids.keys() - duplicated.keys():
        found[sid].checks.append("no record id twice in the account's CoinW streams")
    by_key = {f.key: f for f in found.values()}
    verdicts = []
    for summary in summaries:
        findings = by_key.get(summary.key)
        if findings is None:
            findings = _Findings(summary.key)
            findings.checks.append("no records")
        verdicts.append(findings.verdict())
    return Verification(tuple(verdicts))


def _check_stream(findings: _Findings, sid: int, records: _Records, entries: pa.Table,
                  codes: ChainCodes) -> None:
    key, problems, checks = findings.key, findings.problems, findings.checks
    findings.records = records.count
    if records.same_ids():
        sums, results, bare, orphans = entries.column("sum"), entries.column("result"), 0, []
    else:                                    # a record without entries, or entries without one
        rids, eids = records.record_ids(), records.ids.combine_chunks()
        where = pc.index_in(rids, value_set=eids)
        sums, results = entries.column("sum").take(where), entries.column("result").take(where)
        missing = rids.filter(pc.is_null(where))
        lost = eids.filter(pc.invert(pc.is_in(eids, value_set=rids)))
        bare, orphans = len(missing), lost.slice(0, _SHOWN).to_pylist()
        if len(lost):
            problems.append(f"entries of {len(lost)} records that are not archived: "
                            f"{_named(len(lost), orphans)}")
        if key.exchange == "bitget" and bare:
            problems.append(f"{bare} records without entries (kept raw only, or their entries "
                            f"lost: `cexledger reparse` re-derives them): {_named(*_ids(missing))}")
        if key.exchange != "bitget":
            bare = 0                         # a cancelled CoinW row has no entries
    if not (orphans or bare):
        checks.append("every record has its entries, every entry its record" if key.exchange == "bitget"
                      else "every entry has its record")
    outside = records.coverage_problems()
    problems += outside
    if not outside:
        checks.append("every record's time inside the stream's coverage")
    if key.exchange == "bitget":
        findings.chains = _walk_chains(sid, entries, codes)
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
        kept = pa.Table.from_batches(records.kept, RECORD_ROWS)
        wrong = _coinw_problems(kept.append_column("sum", sums).append_column("result", results))
        problems += wrong
        if not wrong:
            checks.append("every settled record's entries sum to its netProfit")
