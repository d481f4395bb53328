"""Bitget's funding wallet (``funding-financial-records``): its store, generator and row bytes.

One ``FundingLedger`` per account: deposits, withdrawals and transfers between the funding
wallet and the trading account, rows kept in (ts, insertion) order. As live, ids do not grow
with ``ts``: an id is ``FUNDING_ID_OFFSET + (ts + jitter) * 100_000 + random``, the jitter up
to three days either way, so the ids of rows days apart come in any order; a dict finds a row
by id. The balance chain is exact, per coin, in (ts, insertion) order from an empty wallet:
``balance = previous balance + amount`` (no fee column); an outflow that would overdraw
becomes a deposit. ``groupType``/``type`` pairs: ``deposit``/``deposit``,
``withdraw``/``withdraw``, ``transfer``/``transfer_in``, ``transfer``/``transfer_out``, and
``withdraw``/``""`` (positive, as seen live: money brought in to fund a withdrawal).
"""

from __future__ import annotations

import random
from array import array

from .fixed import Weighted, between, pad8, pick, text
from .timeline import Timeline, ts_window

__all__ = ["FUNDING_ID_OFFSET", "FundingLedger", "generate_funding"]

FUNDING_ID_OFFSET = 10**18   # 19-digit ids above 2**53, apart from financial and CoinW ids
_JITTER_MS = 3 * 86_400_000
_E10 = 10**10                # amounts in 1E-18 units, 8 decimals
# coin: (smallest, largest) amount in 1E-8 units
_COINS = {"USDT": (10 * 10**8, 20_000 * 10**8), "USDC": (10 * 10**8, 20_000 * 10**8),
          "BTC": (10**5, 2 * 10**8), "ETH": (10**6, 20 * 10**8)}
_COIN_NAMES = tuple(_COINS)
# (groupType, type, sign)
_KINDS = Weighted((("deposit", "deposit", 1), ("withdraw", "withdraw", -1),
                   ("transfer", "transfer_in", 1), ("transfer", "transfer_out", -1),
                   ("withdraw", "", 1)), (30, 22, 20, 22, 6))


class FundingLedger:
    """The funding-wallet rows of one account, in (ts, insertion) order; the same interface
    the financial-records handler pages a category's ``Ledger`` by."""

    __slots__ = ("ids", "ts", "rows", "raw_rows", "balances", "_index")

    def __init__(self) -> None:
        self.ids = array("q")
        self.ts = array("q")
        self.rows: list[tuple[str, str, str, int, int]] = []  # coin, groupType, type, amount, balance
        self.raw_rows: dict[int, bytes] = {}  # row id -> exact bytes served instead
        self.balances: dict[str, int] = {}    # 1E-18 units
        self._index: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def new_id(self, rng: random.Random, ts: int) -> int:
        """A fresh id near ``ts``'s place in id space, not ordered with its neighbours'."""
        while True:
            row_id = (FUNDING_ID_OFFSET + (ts + between(rng, -_JITTER_MS, _JITTER_MS)) * 100_000
                      + between(rng, 0, 99_999))
            if row_id not in self._index:
                return row_id

    def add_movement(self, rng: random.Random, ts: int) -> int:
        """Generate one movement at ``ts`` (not before the last row), continue its coin's
        chain, store it; returns its id."""
        if self.ts and ts < self.ts[-1]:
            raise ValueError("funding rows must be added in time order")
        coin = pick(rng, _COIN_NAMES)
        group, type_, sign = _KINDS.pick(rng)
        low, high = _COINS[coin]
        amount = sign * between(rng, low, high) * _E10
        before = self.balances.get(coin, 0)
        if before + amount < 0:
            group, type_ = "deposit", "deposit"
            amount = -amount
        balance = self.balances[coin] = before + amount
        row_id = self.new_id(rng, ts)
        self._index[row_id] = len(self.ids)
        self.ids.append(row_id)
        self.ts.append(ts)
        self.rows.append((coin, group, type_, amount, balance))
        return row_id

    def window(self, start: int, end: int, inclusive: bool) -> tuple[int, int]:
        """Index range ``[lo, hi)`` of rows inside the bounds (see ``ts_window``)."""
        return ts_window(self.ts, start, end, inclusive)

    def position(self, row_id: int) -> int | None:
        """Index of the row with ``row_id``, or None."""
        return self._index.get(row_id)

    def scan(self, lo: int, hi: int, *, newest_first: bool, limit: int,
             coin: str | None, type_: str | None) -> tuple[list[int], bool]:
        """Up to ``limit`` matching indices in ``[lo, hi)`` in serving order, and whether more match."""
        order = range(hi - 1, lo - 1, -1) if newest_first else range(lo, hi)
        found: list[int] = []
        for i in order:
            row = self.rows[i]
            if (coin is not None and row[0] != coin) or (type_ is not None and row[2] != type_):
                continue
            if len(found) == limit:
                return found, True
            found.append(i)
        return found, False

    def render(self, i: int, variant: bool) -> bytes:
        """Row ``i`` exactly as the API serves it (an injected row's bytes, as given)."""
        injected = self.raw_rows.get(self.ids[i])
        if injected is not None:
            return injected
        coin, group, type_, amount, balance = self.rows[i]
        amount_text, balance_text = text(amount, 18), text(balance, 18)
        if variant:
            amount_text, balance_text = pad8(amount_text), pad8(balance_text)
        return (f'{{"id":"{self.ids[i]}","coin":"{coin}","groupType":"{group}","type":"{type_}",'
                f'"amount":"{amount_text}","balance":"{balance_text}","ts":"{self.ts[i]}"}}').encode()


def generate_funding(rng: random.Random, tl: Timeline, n: int) -> FundingLedger:
    """``n`` movements uniform over the servable 90 days plus 5 % (at least 3) older ones."""
    old = max(3, round(n * 0.05)) if n else 0
    times = sorted([tl.history(rng) for _ in range(old)] + [tl.recent(rng) for _ in range(n)])
    ledger = FundingLedger()
    for ts in times:
        ledger.add_movement(rng, ts)
    return ledger
