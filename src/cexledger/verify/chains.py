"""Bitget balance chains, checked in Arrow: Python only where a row does not chain in id order.

A chain is one stream (account, endpoint, category partition), entry ``category`` and
``coin``. Its rows are records: the sum of the record's entries (= ``amount + fee``) and the
balance on its last entry, in exchange order ``(ts, length(record_id), record_id)`` (numeric
ids in numeric order). :class:`ChainWalker` takes record rows in that order, a slice at a
time, each slice ending at the end of a group (rows of one chain at one ``ts``; the caller
holds back the last group of a batch, which may continue in the next).

The fast path, vectorised on ``decimal256`` (a sum of two ``decimal(38, 18)`` needs 39
digits): row ``j`` chains iff it is in the chain of row ``j - 1`` and ``balance[j] ==
balance[j - 1] + sum[j]``. Every group holding a row that does not is a *candidate*, and goes
through :func:`.groups.walk_group` (the order rule for equal ``ts``) with the chain's balance
before it; so does the group after a candidate whose end is not its last row's balance (the
fast path compared that group with the wrong balance). A chain's first group, and the group
after a row without a balance, have no known start (``walk_group`` derives it); rows
without a balance are counted ``unprovable`` and never reported as breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from .._json import EXACT
from .groups import GroupRow, walk_group
from .model import Break, Chain, Stretch

__all__ = ["ChainKey", "ChainWalker", "MONEY", "RECORD_SCHEMA"]

MONEY = pa.decimal256(40, 18)
"""Money while chaining: ``decimal(38, 18)`` values, with room for their sums."""

ChainKey = tuple[int, "str | None", "str | None"]      # stream id, category, coin

RECORD_SCHEMA = pa.schema([
    ("stream_id", pa.int64()), ("category", pa.string()), ("coin", pa.string()),
    ("ts", pa.int64()), ("record_id", pa.string()), ("sum", MONEY), ("balance", MONEY),
])
"""One row per record, in chain order: what :meth:`ChainWalker.feed` takes."""

_NUL = "\x00"


@dataclass
class _State:
    """One chain as walked so far."""

    rows: int = 0
    unprovable: int = 0
    breaks: list[Break] = field(default_factory=list)
    stretches: list[Stretch] = field(default_factory=list)
    open: tuple[str, int] | None = None       # (id, ms) the current stretch starts at
    open_rows: int = 0
    last: tuple[str, int] | None = None       # the chain's last row with a balance: (id, ms)
    end: Decimal | None = None                # the balance after it (None: re-anchor)

    def extend(self, record_id: str, ts: int, rows: int = 1) -> None:
        if self.open is None:
            self.open = (record_id, ts)
        self.open_rows += rows
        self.last = (record_id, ts)

    def close(self) -> None:
        if self.open is not None and self.last is not None:
            self.stretches.append(Stretch(*self.open, *self.last, self.open_rows))
        self.open, self.open_rows = None, 0

    def chain(self, key: ChainKey) -> Chain:
        self.close()
        return Chain(key[1], key[2], self.rows, tuple(self.breaks), tuple(self.stretches),
                     self.unprovable)


def _differs(column: pa.Array, before: object) -> pa.Array:
    """``column[j] != column[j - 1]`` (``column[-1]`` = ``before``), nulls equal to nulls."""
    if pa.types.is_string(column.type):
        column = column.fill_null(_NUL)
        before = _NUL if before is None else before
    previous = pa.concat_arrays([pa.array([before], column.type), column[:-1]])
    return pc.fill_null(pc.not_equal(column, previous), True)


class ChainWalker:
    """Walks record rows (:data:`RECORD_SCHEMA`, chain order) slice by slice; :meth:`chains`
    gives every chain's verdict, per stream id."""

    def __init__(self) -> None:
        self._states: dict[ChainKey, _State] = {}
        self._key: ChainKey | None = None       # the chain the previous slice ended in

    def _state(self, key: ChainKey) -> _State:
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = _State()
        return state

    def feed(self, rows: pa.Table) -> None:
        """Walk one slice (whole groups; a chain continues from the previous slice)."""
        n = rows.num_rows
        if not n:
            return
        sid, cat, coin, ts, ids, total, balance = (
            rows.column(name).combine_chunks() for name in RECORD_SCHEMA.names)
        key = self._key if self._key is not None else (None, None, None)
        new_chain = pc.or_(pc.or_(_differs(sid, key[0]), _differs(cat, key[1])), _differs(coin, key[2]))
        carried = self._states[self._key].end if self._key is not None else None
        previous = pa.concat_arrays([pa.array([carried], MONEY), balance[:-1]])
        chains = pc.fill_null(pc.equal(balance, pc.add(previous, total)), False)
        fine = pc.and_(pc.invert(new_chain), chains)
        group_start = pc.or_(new_chain, _differs(ts, None))
        starts = pc.indices_nonzero(group_start).to_pylist()
        group_of = pc.subtract(pc.cumulative_sum(group_start.cast(pa.int32())), 1)
        pending = pc.unique(pc.filter(group_of, pc.invert(fine))).to_pylist()   # ascending
        begins_chain = new_chain.to_numpy(zero_copy_only=False)
        columns = (ids, ts, total, balance)

        done, forced, at = 0, None, 0
        while True:
            upcoming = pending[at] if at < len(pending) else None
            if forced is not None and (upcoming is None or forced <= upcoming):
                g = forced
                at += upcoming == forced
            elif upcoming is not None:
                g = upcoming
                at += 1
            else:
                break
            a = starts[g]
            b = starts[g + 1] if g + 1 < len(starts) else n
            self._extend_fine(done, a, columns)
            if begins_chain[a]:
                self._key = (sid[a].as_py(), cat[a].as_py(), coin[a].as_py())
            ends_as_listed = self._walk(columns, a, b)
            done = b
            # the fast path compared the next group with its last row's balance: walk it too
            forced = g + 1 if not ends_as_listed and b < n and not begins_chain[b] else None
        self._extend_fine(done, n, columns)
        self._key = (sid[n - 1].as_py(), cat[n - 1].as_py(), coin[n - 1].as_py())

    def chains(self) -> dict[int, list[Chain]]:
        """Every chain walked, per stream id, by category and coin."""
        out: dict[int, list[Chain]] = {}
        for key in sorted(self._states, key=lambda k: (k[0], k[1] or "", k[2] or "")):
            out.setdefault(key[0], []).append(self._states[key].chain(key))
        return out

    def _extend_fine(self, a: int, b: int, columns: tuple[pa.Array, ...]) -> None:
        """Rows ``a..b`` all chain in id order, in the current chain."""
        if b <= a:
            return
        assert self._key is not None
        state = self._state(self._key)
        ids, ts, _, balance = columns
        state.rows += b - a
        state.extend(ids[b - 1].as_py(), ts[b - 1].as_py(), b - a)
        state.end = balance[b - 1].as_py()

    def _walk(self, columns: tuple[pa.Array, ...], a: int, b: int) -> bool:
        """Walk group ``a..b`` of the current chain; whether it ends at the balance of its
        last row (as the fast path assumes for the next row)."""
        assert self._key is not None
        state = self._state(self._key)
        record_ids, times, sums, balances = (column[a:b].to_pylist() for column in columns)
        state.rows += b - a
        known = [GroupRow(record_ids[k], times[k], sums[k], balances[k])
                 for k in range(b - a) if balances[k] is not None]
        if len(known) < b - a:            # rows without a balance: re-anchor after them
            state.unprovable += b - a - len(known)
            state.close()
            state.end = None
        if not known:
            return False
        if state.end is None:
            state.close()
        walked = walk_group(state.end, known)
        if not walked.breaks:
            first = known[walked.first]
            if state.open is None:
                state.open = (first.record_id, first.ts)
            state.open_rows += len(known)
        else:
            at = {brk.after: brk for brk in walked.breaks}
            for k in walked.order:
                row, brk = known[k], at.get(k)
                if brk is not None:
                    before = state.last if brk.before is None else (
                        known[brk.before].record_id, known[brk.before].ts)
                    assert before is not None
                    state.breaks.append(Break(before[0], before[1], row.record_id, row.ts,
                                              brk.expected, brk.reported,
                                              EXACT.subtract(brk.reported, brk.expected)))
                    state.close()
                state.extend(row.record_id, row.ts)
        ender = known[walked.last]
        state.last = (ender.record_id, ender.ts)
        state.end = walked.end
        return walked.end == balances[-1]
