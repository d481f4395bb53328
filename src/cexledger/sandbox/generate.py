"""The deterministic history generator: plans every account's rows, then fills the stores.

Each account plans its own rows (when, which category/instrument, what state) from an RNG
seeded by ``(seed, account name)``. Rows of all accounts are then merged in time order so one
allocator can hand out ids unique per exchange and increasing with (ts, insertion).

Bitget, per account of ``n`` rows (smaller accounts get the parts that fit):
one row per category on every 30-day grid point; a same-``ts`` cluster in the busiest
category (300 rows when ``n >= 2000``, else ``n // 8``); three smaller clusters of 20-60 rows
(the first in spot: several fills of one symbol in one millisecond);
a tiny (``1E-18``), a huge (18-decimal), a ``SOME_NEW_TYPE_2026`` row, one unpaired fill
leg (``Special.UNPAIRED``, at a ``ts`` no other row of the account has), and the 0.1 + 0.2
transfers (``Special.POINT``: two rows); ``old_records``
(default 3 %) rows older than retention, over the history (``Timeline.history``); the rest
uniform over the servable range, by category weight (a share of rows, whatever the
category's events are). In spot and margin a share of the events (``PAIR_SHARE``; every pair
of rows in a smaller cluster there) are fills or conversions, two rows each; the grid rows,
the big cluster and the specials but ``POINT`` are single rows. The funding wallet is generated apart,
from its own RNG (``bitget_funding``), so it changes no financial record.

CoinW, per account: 3 % old rows; a 30-row same-``createdDate`` cluster in the first
instrument; the rest uniform. Rows of the last 7 days are open with probability 0.3 (the three
newest always are), 3 % are cancelled, the others closed some time after creation.
"""

from __future__ import annotations

import heapq
import random

from .accounts import Account
from .bitget_data import CATEGORIES, PAIR_SHARE, BitgetBook, Special, category_weights, rows_of
from .bitget_funding import generate_funding
from .coinw_data import Deals
from .config import DAY_MS, SECOND_MS, SandboxConfig
from .timeline import IdAllocator, Timeline

__all__ = ["generate_bitget", "generate_coinw", "instrument_weights", "COINW_ID_OFFSET"]

COINW_ID_OFFSET = 2 * 10**18  # CoinW ids: 19 digits, above 2**53
_OPEN, _CLOSE, _CANCEL = range(3)


def _uniform_times(rng: random.Random, tl: Timeline, k: int) -> list[int]:
    span = tl.t0 - tl.first_servable
    return [tl.first_servable + int(rng.random() * span) for _ in range(k)]


def _plan_bitget(rng: random.Random, tl: Timeline, n: int, weights: list[float],
                 old: int | None = None) -> list[tuple[int, int, int]]:
    """(ts, category index, special) for one account, sorted; ``n`` rows in all (an event
    of ``Special.PAIR`` is two)."""
    cats = range(len(CATEGORIES))
    SPOT = CATEGORIES.index("SPOT")
    busiest = max(cats, key=weights.__getitem__)
    shares = [PAIR_SHARE.get(c, 0.0) for c in CATEGORIES]
    per_event = [w / (1 + share) for w, share in zip(weights, shares)]  # rows by ``weights``

    def shape(cat: int, room: int) -> int:
        """An ordinary event of ``cat`` with ``room`` rows left: a pair or a single row."""
        return Special.PAIR if shares[cat] and room >= 2 and rng.random() < shares[cat] else Special.NONE

    grid = tl.grid()
    events: list[tuple[int, int, int]] = []
    for point in grid:
        if n >= 100:
            events += [(point, c, Special.NONE) for c in cats]
        elif n >= 2 * len(grid):
            events.append((point, busiest, Special.NONE))
    if n >= 80:
        ts = tl.recent(rng)
        events += [(ts, busiest, Special.NONE)] * (300 if n >= 2000 else n // 8)
    if n >= 500:
        for k in range(3):
            ts, cat = tl.recent(rng), SPOT if k == 0 else rng.choices(cats, weights)[0]
            size = rng.randint(20, 60)
            pairs = size // 2 if shares[cat] else 0
            events += [(ts, cat, Special.PAIR)] * pairs + [(ts, cat, Special.NONE)] * (size - 2 * pairs)
    if n >= 20:
        for special in (Special.TINY, Special.HUGE, Special.UNKNOWN_TYPE, Special.UNPAIRED):
            events.append((tl.recent(rng), CATEGORIES.index(Special.CATEGORY[special]), special))
        # a millisecond after the huge row: drawing no number keeps the other rows' draws
        events.append((events[-3][0] + 1, CATEGORIES.index(Special.CATEGORY[Special.POINT]), Special.POINT))
    rows = 0
    old = round(n * 0.03) if old is None else old
    while rows < old:
        cat = rng.choices(cats, per_event)[0]
        events.append((tl.history(rng), cat, shape(cat, old - rows)))
        rows += rows_of(events[-1][2])
    kept, rows = [], 0
    for event in events:
        if rows + rows_of(event[2]) > n:
            break
        kept.append(event)
        rows += rows_of(event[2])
    events = kept
    rest = n - rows
    for ts, cat in zip(_uniform_times(rng, tl, rest), rng.choices(cats, per_event, k=rest)):
        if rows == n:
            break
        events.append((ts, cat, shape(cat, n - rows)))
        rows += rows_of(events[-1][2])
    _alone(rng, tl, events)
    events.sort()
    return events


def _alone(rng: random.Random, tl: Timeline, events: list[tuple[int, int, int]]) -> None:
    """Move the unpaired leg to a ``ts`` no other event has, so no fill can be its partner."""
    for k, (ts, cat, special) in enumerate(events):
        if special == Special.UNPAIRED:
            taken = {e[0] for j, e in enumerate(events) if j != k}
            while ts in taken:
                ts = tl.recent(rng)
            events[k] = (ts, cat, special)


def generate_bitget(config: SandboxConfig, tl: Timeline, accounts: list[Account],
                    ids: IdAllocator) -> dict[str, BitgetBook]:
    """A book per Bitget account, filled with ``config.records`` rows each."""
    weights = category_weights(config.dense_share)
    books: dict[str, BitgetBook] = {}
    plans: list[list[tuple[int, int, int, int]]] = []
    for k, account in enumerate(accounts):
        plan_rng = random.Random(f"bitget-plan-{config.seed}-{account.name}")
        books[account.name] = BitgetBook(random.Random(f"bitget-rows-{config.seed}-{account.name}"))
        plan = _plan_bitget(plan_rng, tl, config.records, weights, config.old_records)
        plans.append([(ts, k, cat, special) for ts, cat, special in plan])
    for ts, k, cat, special in heapq.merge(*plans):
        book = books[accounts[k].name]
        if special == Special.PAIR:
            book.add_pair((ids.next(ts), ids.next(ts)), ts, CATEGORIES[cat])
        elif special == Special.POINT:
            book.add_point((ids.next(ts), ids.next(ts)), ts, CATEGORIES[cat])
        else:
            book.add_row(ids.next(ts), ts, CATEGORIES[cat], special)
    funding = config.records // 20 if config.funding_records is None else config.funding_records
    for account in accounts:
        book = books[account.name]
        book.funding_rng = random.Random(f"bitget-funding-{config.seed}-{account.name}")
        book.funding = generate_funding(book.funding_rng, tl, funding)
    return books


def instrument_weights(count: int, dense_share: float | None) -> list[float]:
    """Share per instrument: harmonic by default; ``dense_share`` pins the first one."""
    if dense_share is None:
        return [1 / (i + 1) for i in range(count)]
    if count == 1:
        return [1.0]
    return [dense_share] + [(1 - dense_share) / (count - 1)] * (count - 1)


def _plan_coinw(rng: random.Random, tl: Timeline, n: int, weights: list[float]) -> list[tuple[int, int, int, int]]:
    """(createdDate, instrument index, state, updatedDate) for one account, sorted."""
    idx = range(len(weights))
    times = [tl.old(rng) for _ in range(round(n * 0.03))]
    insts = rng.choices(idx, weights, k=len(times))
    if n >= 200:
        times += [tl.recent(rng)] * 30
        insts += [0] * 30
    del times[n:], insts[n:]
    rest = n - len(times)
    times += _uniform_times(rng, tl, rest)
    insts += rng.choices(idx, weights, k=rest)
    order = sorted(range(n), key=lambda j: (times[j], insts[j]))
    recent_from = tl.t0 - 7 * DAY_MS
    events = []
    for rank, j in enumerate(order):
        created = times[j]
        roll = rng.random()
        if created >= recent_from and (roll < 0.3 or (n >= 10 and rank >= n - 3)):
            state = _OPEN
        else:
            state = _CANCEL if roll > 0.97 else _CLOSE
        updated = min(tl.t0, created + rng.randint(SECOND_MS, 2 * DAY_MS))
        events.append((created, insts[j], state, updated))
    return events


def generate_coinw(config: SandboxConfig, tl: Timeline, accounts: list[Account],
                   ids: IdAllocator) -> tuple[dict[str, dict[str, Deals]], dict[str, random.Random]]:
    """Per CoinW account: a ``Deals`` store per instrument, and the account's row RNG."""
    weights = instrument_weights(len(config.instruments), config.dense_share)
    stores: dict[str, dict[str, Deals]] = {}
    rngs: dict[str, random.Random] = {}
    plans = []
    for k, account in enumerate(accounts):
        plan_rng = random.Random(f"coinw-plan-{config.seed}-{account.name}")
        rngs[account.name] = random.Random(f"coinw-rows-{config.seed}-{account.name}")
        stores[account.name] = {i: Deals(i, account.user_id) for i in config.instruments}
        plan = _plan_coinw(plan_rng, tl, config.records, weights)
        plans.append([(c, k, i, s, u) for c, i, s, u in plan])
    names = ("open", "close", "cancel")
    for created, k, inst, state, updated in heapq.merge(*plans):
        name, instrument = accounts[k].name, config.instruments[inst]
        stores[name][instrument].add(rngs[name], ids.next(created), created, updated, names[state])
    return stores, rngs
