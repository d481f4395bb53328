"""Balance chains (``cexledger.verify.chains``): the order rule for rows that share a ``ts``
never breaks a correct chain, whatever order the ids give them, and a missing row is found."""

from __future__ import annotations

import random
from decimal import Decimal

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from cexledger._json import EXACT
from cexledger.verify.chains import RECORD_SCHEMA, ChainWalker
from cexledger.verify.groups import GroupRow, walk_group
from cexledger.verify.model import Chain

Row = tuple[int, str, str, int, str, Decimal, "Decimal | None"]   # RECORD_SCHEMA's fields
START = Decimal("1000")


def chain_rows(sums: list[Decimal], sizes: list[int], start: Decimal = START,
               no_balance: frozenset[int] = frozenset()) -> list[Row]:
    """One chain: ``sums`` in order, grouped into ``ts`` groups of ``sizes``; ids follow the
    chain (numeric, so ``9`` before ``10``)."""
    rows, balance, ts, k = [], start, 1_700_000_000_000, 0
    for size in sizes:
        for _ in range(size):
            if k == len(sums):
                break
            balance = EXACT.add(balance, sums[k])       # exact: 38 digits and more
            rows.append((1, "USDT-FUTURES", "USDT", ts, str(k + 1), sums[k],
                         None if k in no_balance else balance))
            k += 1
        ts += 1
    assert k == len(sums)
    return rows


def shuffled(rows: list[Row], rng: random.Random) -> list[Row]:
    """``rows`` with the ids inside each ``ts`` group permuted, in chain order again (by id)."""
    out: list[Row] = []
    for ts in sorted({r[3] for r in rows}):
        group = [r for r in rows if r[3] == ts]
        ids = [r[4] for r in group]
        rng.shuffle(ids)
        out += sorted((r[:4] + (i,) + r[5:] for r, i in zip(group, ids)), key=lambda r: (len(r[4]), r[4]))
    return out


def walk(rows: list[Row], cuts: int = 1) -> Chain:
    """The rows' one chain, fed in ``cuts`` slices cut at group ends (as ``run`` feeds them)."""
    walker = ChainWalker()
    ends = [i for i in range(1, len(rows)) if rows[i][3] != rows[i - 1][3]]
    chosen = sorted(random.Random(len(rows)).sample(ends, min(cuts - 1, len(ends))))
    for a, b in zip([0, *chosen], [*chosen, len(rows)]):
        cells = list(zip(*rows[a:b]))
        walker.feed(pa.table([pa.array(c, f.type) for c, f in zip(cells, RECORD_SCHEMA)], schema=RECORD_SCHEMA))
    (chain,) = walker.chains()[1]
    return chain


def orderable(rows: list[Row]) -> bool:
    """Whether some order of the rows inside each ``ts`` group chains them all (each balance =
    the previous one + its sum; the first group may start anywhere): found by trying orders,
    not by the verifier's rule, so that the tests can ask what the data itself pins down."""
    def ends(start: Decimal, left: frozenset[int], group: list[Row], seen: dict) -> frozenset[Decimal]:
        if not left:
            return frozenset({start})
        if (start, left) not in seen:
            seen[start, left] = frozenset().union(*(
                ends(group[i][6], left - {i}, group, seen) for i in left
                if EXACT.subtract(group[i][6], group[i][5]) == start))
        return seen[start, left]

    states: set[Decimal] | None = None              # the balances the chain may be at
    for ts in sorted({r[3] for r in rows}):
        group = [r for r in rows if r[3] == ts]
        starts = states if states is not None else {EXACT.subtract(r[6], r[5]) for r in group}
        seen: dict = {}
        states = set().union(*(ends(s, frozenset(range(len(group))), group, seen) for s in starts))
        if not states:
            return False
    return True


amounts = st.decimals(min_value=-50, max_value=100, places=8, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(sums=st.lists(amounts, min_size=1, max_size=80),
       sizes=st.lists(st.integers(1, 12), min_size=80, max_size=80),
       seed=st.integers(0, 2**32), cuts=st.integers(1, 4))
def test_any_order_of_ids_within_a_ts_never_breaks_a_correct_chain(sums, sizes, seed, cuts):
    rows = shuffled(chain_rows(sums, sizes), random.Random(seed))
    chain = walk(rows, cuts)
    assert chain.breaks == () and chain.rows == len(rows) and chain.unprovable == 0
    assert [s.rows for s in chain.stretches] == [len(rows)]


@settings(max_examples=300, deadline=None)
@given(sums=st.lists(amounts, min_size=3, max_size=60),
       sizes=st.lists(st.integers(1, 8), min_size=60, max_size=60),
       seed=st.integers(0, 2**32), where=st.integers(1, 10**6))
def test_a_missing_row_anywhere_is_found(sums, sizes, seed, where):
    # the chain's first row alone at its ts: a first group has no balance before it, so a
    # row missing from it could have been at either end
    rows = chain_rows(sums, [1, *sizes])
    k = 1 + where % (len(rows) - 2)            # neither end: those have no neighbour to miss it
    chain = walk(shuffled(rows[:k] + rows[k + 1:], random.Random(seed)))
    # found whenever no order of the ids chains the rest (a row that moved nothing, or one a
    # later group's ties can absorb, leaves no trace)
    assert bool(chain.breaks) == (not orderable(rows[:k] + rows[k + 1:]))


@settings(max_examples=200, deadline=None)
@given(sums=st.lists(amounts.filter(bool), min_size=3, max_size=60),
       sizes=st.lists(st.integers(1, 8), min_size=60, max_size=60), where=st.integers(1, 10**6))
def test_with_ids_in_chain_order_a_missing_row_is_one_break_of_its_amount(sums, sizes, where):
    rows = chain_rows(sums, [1, *sizes])
    k = 1 + where % (len(rows) - 2)
    rest = rows[:k] + rows[k + 1:]
    breaks = walk(rest, cuts=3).breaks
    if orderable(rest):         # the missing row's amount is absorbed by ties (or is zero)
        assert breaks == ()
        return
    (brk,) = breaks
    assert brk.difference == rows[k][5]
    ids = [r[4] for r in rows]
    assert ids.index(brk.after_id) > k              # never before the gap
    alone = [sum(r[3] == rows[i][3] for r in rows) == 1 for i in (k - 1, k + 1)]
    if all(alone):                                  # neither neighbour has ties to reorder
        assert (brk.before_id, brk.after_id) == (rows[k - 1][4], rows[k + 1][4])


def test_ties_after_a_gap_can_absorb_it_and_move_the_break():
    # id 2 (+1E-8) missing; ids 3 (-1E-8) and 4 (+1E-8) share a ts, and in the order 4, 3 they
    # chain from the balance before the gap: the data cannot place the gap before them
    sums = [Decimal(v) for v in ("1", "1E-8", "-1E-8", "1E-8", "5")]
    rows = chain_rows(sums, [1, 1, 2, 1])
    (brk,) = walk(rows[:1] + rows[2:]).breaks
    assert (brk.before_id, brk.after_id, brk.difference) == ("3", "5", Decimal("1E-8"))
    assert not orderable(rows[:1] + rows[2:])
    # at the chain's end the gap leaves no trace
    assert walk(rows[:1] + rows[2:4]).breaks == () and orderable(rows[:1] + rows[2:4])


def test_a_missing_row_is_a_break_between_its_neighbours():
    sums = [Decimal(v) for v in ("5", "-1.5", "2.25", "0.1", "0.2", "-3", "7")]
    rows = chain_rows(sums, [1, 3, 1, 2])       # groups: 1 | 2 3 4 | 5 | 6 7
    for k in range(1, len(rows) - 1):
        (brk,) = walk(rows[:k] + rows[k + 1:]).breaks
        assert (brk.before_id, brk.after_id) == (rows[k - 1][4], rows[k + 1][4])
        assert (brk.before_ms, brk.after_ms) == (rows[k - 1][3], rows[k + 1][3])
        assert brk.difference == sums[k] and brk.reported == rows[k + 1][6]
        assert brk.expected == rows[k - 1][6] + sums[k + 1]


def test_point_one_plus_point_two_is_exact():
    rows = chain_rows([Decimal("0.1"), Decimal("0.2"), Decimal("-0.3")], [2, 1], start=Decimal(0))
    assert rows[1][6] == Decimal("0.3") and walk(rows).breaks == ()


def test_zero_amount_rows_and_a_group_summing_to_zero_chain():
    sums = [Decimal(v) for v in ("0", "4", "-4", "0", "2.5", "-2.5", "0", "1")]
    rows = chain_rows(sums, [1, 3, 4])          # 4 -4 0 and 2.5 -2.5 0 1: cycles through the start
    for seed in range(20):
        chain = walk(shuffled(rows, random.Random(seed)))
        assert chain.breaks == () and chain.stretches[0].rows == len(rows)


def test_first_group_of_a_chain_with_many_rows_derives_its_start():
    sums = [Decimal(v) for v in ("3", "-1", "7", "2", "-5")]
    rows = chain_rows(sums, [4, 1])
    for seed in range(20):
        chain = walk(shuffled(rows, random.Random(seed)))
        assert chain.breaks == () and chain.rows == 5


def test_rows_without_balance_are_unprovable_never_breaks():
    sums = [Decimal(v) for v in ("1", "2", "3", "4", "5", "6")]
    rows = chain_rows(sums, [1, 1, 2, 1, 1], no_balance=frozenset({2}))
    # and the row after it moved money the fast path cannot see: still re-anchored, no break
    rows[3] = rows[3][:6] + (rows[3][6] + 100,)
    rows[4] = rows[4][:6] + (rows[4][6] + 100,)
    rows[5] = rows[5][:6] + (rows[5][6] + 100,)
    chain = walk(rows)
    assert chain.breaks == () and chain.unprovable == 1 and chain.rows == 6
    assert [s.rows for s in chain.stretches] == [2, 3]


def test_a_group_that_cannot_be_ordered_is_a_break():
    rows = [GroupRow("1", 5, Decimal(1), Decimal(11)), GroupRow("2", 5, Decimal(1), Decimal(13))]
    walked = walk_group(Decimal(10), rows)
    assert [(b.before, b.after, b.expected, b.reported) for b in walked.breaks] == [(0, 1, Decimal(12), Decimal(13))]
    assert walked.end == Decimal(13)


def test_disconnected_cycle_inside_a_group_is_not_accepted():
    # degrees balance (a path 10->11 plus a cycle 50->51->50) but the cycle is not reachable
    rows = [GroupRow("1", 5, Decimal(1), Decimal(11)), GroupRow("2", 5, Decimal(1), Decimal(51)),
            GroupRow("3", 5, Decimal(-1), Decimal(50))]
    assert walk_group(Decimal(10), rows).breaks


def test_balances_at_the_edge_of_decimal_38_18_chain_exactly():
    # 20 integer digits and 18 decimals: a balance plus a sum needs 39 digits
    top = Decimal("99999999999999999999.999999999999999999")
    sums = [Decimal("-0.000000000000000001"), Decimal("-99999999999999999999"), Decimal("99999999999999999999")]
    rows = chain_rows(sums, [1, 1, 1], start=top)
    assert walk(rows).breaks == ()
    broken = rows[:2] + [rows[2][:6] + (EXACT.add(rows[2][6], Decimal("0.000000000000000001")),)]
    (brk,) = walk(broken).breaks
    assert brk.difference == Decimal("0.000000000000000001")
