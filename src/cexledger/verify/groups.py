"""The rule for rows of one chain that share a ``ts`` (a *group*), decided without trying orders.

Each row is an edge ``balance - sum -> balance`` (sum = the record's ``amount + fee``). The
chain holds across the group iff its rows can be ordered so that each balance = the previous
one + its sum, starting from the balance the chain had before the group: iff the edges form
an Eulerian path from that start. That is: out-degree minus in-degree is +1 at the start and
-1 at the end (= start + the group's sum), 0 at every other vertex (all 0 when the group sums
to zero: a cycle through the start), and every edge is connected to the start. The group
then ends at start + its sum, whatever the order.

A group whose start is not known (the first of a chain, or after a row without a balance)
takes the vertex with out - in = +1, else (a cycle) the first row's balance before it.

Only when the rule fails is an order built, to name the breaks: from the start, take the
first unused row (in id order) whose balance before is the current balance; when none is,
the first unused row does not chain: a break (expected = current + its sum, reported = its
balance), and the walk re-anchors on its balance.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from .._json import EXACT

__all__ = ["GroupRow", "GroupBreak", "Walked", "walk_group"]


@dataclass(frozen=True, slots=True)
class GroupRow:
    record_id: str
    ts: int
    sum: Decimal
    balance: Decimal


@dataclass(frozen=True, slots=True)
class GroupBreak:
    """Row ``after`` (an index into the group's rows) does not chain from row ``before``
    (an index, or ``None``: the row before the group)."""

    before: int | None
    after: int
    expected: Decimal
    reported: Decimal


@dataclass(frozen=True, slots=True)
class Walked:
    """A group's outcome: the balance it ends at, the rows (indices) that start and end it,
    its breaks and, when it has any, the walk's order (indices)."""

    end: Decimal
    first: int
    last: int
    breaks: tuple[GroupBreak, ...] = ()
    order: tuple[int, ...] = ()


def _find(parent: dict[Decimal, Decimal], v: Decimal) -> Decimal:
    while parent[v] != v:
        parent[v] = parent[parent[v]]
        v = parent[v]
    return v


def _eulerian_from(start: Decimal, rows: list[GroupRow], total: Decimal) -> bool:
    """Whether the rows' edges form an Eulerian path from ``start`` (see the module docstring)."""
    diff: dict[Decimal, int] = defaultdict(int)
    parent: dict[Decimal, Decimal] = {}
    for row in rows:
        u, v = EXACT.subtract(row.balance, row.sum), row.balance
        diff[u] += 1
        diff[v] -= 1
        for x in (u, v):
            parent.setdefault(x, x)
        ru, rv = _find(parent, u), _find(parent, v)
        if ru != rv:
            parent[ru] = rv
    if start not in parent:
        return False
    end = EXACT.add(start, total)
    for vertex, d in diff.items():
        want = (1 if vertex == start else 0) - (1 if vertex == end else 0)
        if d != want:
            return False
    root = _find(parent, start)
    return all(_find(parent, v) == root for v in list(parent))


def _derived_start(rows: list[GroupRow]) -> Decimal:
    diff: dict[Decimal, int] = defaultdict(int)
    for row in rows:
        diff[EXACT.subtract(row.balance, row.sum)] += 1
        diff[row.balance] -= 1
    sources = [v for v, d in diff.items() if d == 1]
    return sources[0] if len(sources) == 1 else EXACT.subtract(rows[0].balance, rows[0].sum)


def _first_from(rows: list[GroupRow], start: Decimal) -> int:
    return next(i for i, row in enumerate(rows) if EXACT.subtract(row.balance, row.sum) == start)


def _last_ending(rows: list[GroupRow], end: Decimal) -> int:
    return max(i for i, row in enumerate(rows) if row.balance == end)


def walk_group(start: Decimal | None, rows: list[GroupRow]) -> Walked:
    """The outcome of one group (rows in id order, every one with a balance) after the
    chain's balance ``start`` (``None``: not known)."""
    total = Decimal(0)
    for row in rows:
        total = EXACT.add(total, row.sum)
    begin = _derived_start(rows) if start is None else start
    if _eulerian_from(begin, rows, total):
        end = EXACT.add(begin, total)
        return Walked(end, _first_from(rows, begin), _last_ending(rows, end))
    # not chainable in any order: name the breaks along a greedy walk
    waiting: dict[Decimal, list[int]] = defaultdict(list)
    for i in reversed(range(len(rows))):
        waiting[EXACT.subtract(rows[i].balance, rows[i].sum)].append(i)
    used = [False] * len(rows)
    breaks: list[GroupBreak] = []
    order: list[int] = []
    current, last, first_unused = begin, None, 0
    for _ in rows:
        candidates = waiting.get(current, [])
        while candidates and used[candidates[-1]]:
            candidates.pop()
        if candidates:
            i = candidates.pop()
        else:
            while used[first_unused]:
                first_unused += 1
            i = first_unused
            row = rows[i]
            breaks.append(GroupBreak(last, i, EXACT.add(current, row.sum), row.balance))
        used[i] = True
        order.append(i)
        current, last = rows[i].balance, i
    assert last is not None
    return Walked(current, order[0], last, tuple(breaks), tuple(order))
