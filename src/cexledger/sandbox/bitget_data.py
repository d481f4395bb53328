"""Bitget financial records: the deterministic generator, a compact store and the row bytes.

Storage is columnar per (account, category): ``array`` columns for id, ts and small indices
into a fixed vocabulary (coin, symbol, type), plus one short ``bytes`` per row holding the
numeric texts ``amount|fee|balance[|positionType|positionAmount|positionBalance]`` (the
last three only on a futures position's rows; ``positionType`` ``crossed``/``isolated``). About
100 bytes a row, so a million rows fit comfortably. Ids grow with (ts, insertion), so each
column is sorted by both and ``bisect`` finds windows and cursors.

Balances are exact: per (category, coin), in (ts, id) ascending order,
``balance = previous balance + amount + fee``. Outflows that would overdraw become
``TRANSFER_IN`` rows instead.

Spot and margin fills are booked as Bitget books them, two rows (:meth:`BitgetBook.add_pair`)
with the same ``ts`` and ``symbol`` and consecutive ids: ``ORDER_DEALT_IN`` of the coin
received, with the fee (negative, in that coin), then ``ORDER_DEALT_FROZEN_OUT`` of the coin
paid; buys and sells, at a price inside the coin's plausible range (:data:`_PRICES`). A
conversion (spot only) is likewise ``EXCHANGE_TARGET_TOKEN_USER_IN`` of the coin got, then
``EXCHANGE_SOURCE_TOKEN_USER_OUT`` of the coin given, same ``ts``, no symbol, no fee. A pair is never broken: a
fill pays at most half the paying coin's balance (it is made smaller to fit; when neither
side of the symbol can pay, the pair is two ``TRANSFER_IN`` rows instead), and all fills of
one (category, symbol, ``ts``) go the same way, so each such group is one trade. Single rows
of these categories are never legs, except the one ``Special.UNPAIRED`` row per account: an
``ORDER_DEALT_IN`` without its partner.

Tax records (``/api/v3/tax/records``) are the same rows seen through the tax API: a
category's tax records are its financial records, reaching further back. In the standard
dialect a tax row's id is its financial record's id; in the variant it is that id XOR
``TAX_ID_KEY`` (``tax_id``), so a client can rely on neither.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from typing import Iterator

from .bitget_funding import FundingLedger
from .fixed import Weighted, between, pad8 as _pad8, pick, text
from .timeline import ts_window

__all__ = ["CATEGORIES", "Ledger", "BitgetBook", "PAIR_SHARE", "Special", "TAX_ID_KEY",
           "category_weights", "rows_of", "tax_id"]

CATEGORIES = ("SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES", "OTHER")
_DEFAULT_WEIGHTS = {"SPOT": 25, "MARGIN": 8, "USDT-FUTURES": 40, "COIN-FUTURES": 10,
                    "USDC-FUTURES": 7, "OTHER": 10}
_ROW_CATEGORY = {c: ("Margin" if c == "MARGIN" else c) for c in CATEGORIES}
_FUTURES = frozenset({"USDT-FUTURES", "COIN-FUTURES", "USDC-FUTURES"})

TAX_ID_KEY = 0x0B3D_5A71_C2E9_4F68  # variant tax ids: the financial id XOR this
_E10 = 10**10  # amounts are integers of 1E-18; 8-decimal values are multiples of this

# How a type moves money.
_IN, _OUT, _TRADE_IN, _FEE_ONLY, _PNL, _FUND_IN, _FUND_OUT, _LIQ = range(8)

# coin: (smallest, largest) typical amount, in units of 1E-8
_COINS = {"USDT": (10**8, 5000 * 10**8), "USDC": (10**8, 5000 * 10**8), "BTC": (10**4, 5 * 10**7),
          "ETH": (10**5, 5 * 10**8), "SOL": (10**6, 5 * 10**9), "BGB": (10**8, 1000 * 10**8)}
_REBATE_SHARE = 0.05                        # futures trades' fees that are maker rebates
_TINY = 1                                   # 0.000000000000000001
_HUGE = 98765432_123456789012345678         # 98765432.123456789012345678
_POINT_AMOUNTS = (10**17, 2 * 10**17)       # 0.1, 0.2
# coin: (lowest, highest) price in USDT, in units of 1E-4
_PRICES = {"USDT": (10_000, 10_000), "USDC": (10_000, 10_000), "BTC": (600_000_000, 1_000_000_000),
           "ETH": (20_000_000, 40_000_000), "SOL": (1_000_000, 2_500_000), "BGB": (5_000, 60_000)}
_QUOTE = "USDT"
_FILL_TYPES = ("ORDER_DEALT_IN", "ORDER_DEALT_FROZEN_OUT")             # (coin received, coin paid)
_CONVERT_TYPES = ("EXCHANGE_TARGET_TOKEN_USER_IN", "EXCHANGE_SOURCE_TOKEN_USER_OUT")  # likewise
PAIR_SHARE = {"SPOT": 0.5, "MARGIN": 0.4}
"""Of a category's planned events, the share that are two-row pairs (fills, conversions)."""
_CONVERT_SHARE = {"SPOT": 0.1}
"""Of a category's pairs, the share that are conversions; the others are fills."""


@dataclass(frozen=True)
class _Profile:
    """What one category's rows look like: coins, their symbols, and weighted types."""

    coins: tuple[str, ...]
    symbols: dict[str, tuple[str, ...]]
    types: tuple[tuple[str, int, int, bool], ...]  # (type, money kind, weight, has symbol)



_SPOT_SYMBOLS = {"USDT": ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BGBUSDT"), "BTC": ("BTCUSDT",),
                 "ETH": ("ETHUSDT",), "SOL": ("SOLUSDT",), "BGB": ("BGBUSDT",)}
_FUTURES_TYPES = (
    ("OPEN_LONG", _FEE_ONLY, 18, True), ("OPEN_SHORT", _FEE_ONLY, 14, True),
    ("CLOSE_LONG", _PNL, 16, True), ("CLOSE_SHORT", _PNL, 12, True),
    ("BUY_DEAL", _FEE_ONLY, 6, True), ("SELL_DEAL", _FEE_ONLY, 6, True),
    ("CONTRACT_MAIN_SETTLE_FEE_USER_IN", _FUND_IN, 10, True),
    ("CONTRACT_MAIN_SETTLE_FEE_USER_OUT", _FUND_OUT, 10, True),
    ("FORCE_CLOSE_LONG", _LIQ, 1, True), ("BURST_CLOSE_SHORT", _LIQ, 1, True),
    ("OFFSET_REDUCE_CLOSE_LONG", _PNL, 1, True), ("RISK_LIQ_USER_OUT", _LIQ, 1, True),
    ("TRANSFER_IN", _IN, 3, False), ("TRANSFER_OUT", _OUT, 2, False),
    ("UNDOCUMENTED_BONUS_IN", _IN, 1, True),
)
_PROFILES = {
    "SPOT": _Profile(("USDT", "BTC", "ETH", "SOL", "BGB"), _SPOT_SYMBOLS, (
        ("ORDER_PLF_FEE_OUT", _FEE_ONLY, 5, True), ("TRANSFER_IN", _IN, 8, False),
        ("TRANSFER_OUT", _OUT, 6, False))),
    "MARGIN": _Profile(("USDT", "BTC", "ETH"), _SPOT_SYMBOLS, (
        ("BORROW", _IN, 8, True), ("REPAYMENT", _OUT, 8, True),
        ("INTEREST_SETTLEMENT_OUT", _FUND_OUT, 9, True), ("INTEREST_REPAYMENT", _FUND_OUT, 4, True),
        ("MARGIN_SETTLE_FEE_USER_OUT", _FUND_OUT, 3, True), ("FORCE_BUY_SSM", _TRADE_IN, 1, True),
        ("BURST_SELL_SSM", _LIQ, 1, True), ("TRANSFER_IN", _IN, 5, False),
        ("TRANSFER_OUT", _OUT, 4, False))),
    "USDT-FUTURES": _Profile(("USDT",), {"USDT": ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT")},
                             _FUTURES_TYPES),
    "COIN-FUTURES": _Profile(("BTC", "ETH"), {"BTC": ("BTCUSD",), "ETH": ("ETHUSD",)},
                             _FUTURES_TYPES),
    "USDC-FUTURES": _Profile(("USDC",), {"USDC": ("BTCPERP", "ETHPERP")}, _FUTURES_TYPES),
    "OTHER": _Profile(("USDT", "BGB", "BTC"), {}, (
        ("TRANSFER_IN", _IN, 10, False), ("TRANSFER_OUT", _OUT, 8, False),
        ("TRACE_TRANSFER_USER_IN", _IN, 3, False), ("TRACE_TRANSFER_USER_OUT", _OUT, 3, False),
        ("RISK_LIQ_USER_IN", _IN, 1, False), ("SOME_NEW_TYPE_2026", _IN, 2, False))),
}

_PAIR_SYMBOLS = {"SPOT": ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BGBUSDT"), "MARGIN": ("BTCUSDT", "ETHUSDT")}
"""The symbols a category's fills trade (each ``<coin>USDT``)."""

# One fixed vocabulary of coin/symbol/type names; rows store indices into it.
_VOCAB: tuple[str, ...] = tuple(sorted(
    {""} | set(_COINS)
    | {s for p in _PROFILES.values() for ss in p.symbols.values() for s in ss}
    | {t[0] for p in _PROFILES.values() for t in p.types} | set(_FILL_TYPES) | set(_CONVERT_TYPES)))
_INDEX = {name: i for i, name in enumerate(_VOCAB)}
_PICKERS = {c: Weighted(p.types, [t[2] for t in p.types]) for c, p in _PROFILES.items()}


class Special:
    """Rows every account gets once, so clients prove they keep extreme values and types;
    ``UNPAIRED`` is a fill's ``ORDER_DEALT_IN`` whose partner is missing (a leg exports must
    report, never drop). ``POINT`` is two rows, transfers in of 0.1 then 0.2 USDT
    (:meth:`BitgetBook.add_point`): a balance chain a float sum gets wrong
    (0.30000000000000004). ``PAIR`` is no special row: it marks a planned event of two
    rows, a fill or a conversion (:meth:`BitgetBook.add_pair`)."""

    NONE, TINY, HUGE, UNKNOWN_TYPE, UNPAIRED, PAIR, POINT = range(7)
    CATEGORY = {TINY: "SPOT", HUGE: "SPOT", UNKNOWN_TYPE: "OTHER", UNPAIRED: "SPOT", POINT: "OTHER"}


def rows_of(special: int) -> int:
    """How many rows a planned event of ``special`` is."""
    return 2 if special in (Special.PAIR, Special.POINT) else 1


def category_weights(dense_share: float | None) -> list[float]:
    """Row share per category (``CATEGORIES`` order); ``dense_share`` pins USDT-FUTURES."""
    if dense_share is None:
        return [float(_DEFAULT_WEIGHTS[c]) for c in CATEGORIES]
    rest = sum(w for c, w in _DEFAULT_WEIGHTS.items() if c != "USDT-FUTURES")
    return [dense_share if c == "USDT-FUTURES" else (1 - dense_share) * _DEFAULT_WEIGHTS[c] / rest
            for c in CATEGORIES]


def _amount(rng: random.Random, coin: str) -> int:
    """A positive amount typical for ``coin`` in 1E-18 units: 8 decimals, sometimes 18."""
    low, high = _COINS[coin]
    if rng.random() < 0.02:
        return between(rng, 1, high * _E10)
    return between(rng, low, high) * _E10


def _fee(rng: random.Random, base: int, rebates: bool = False) -> int:
    """A paid (negative) fee on ``base`` at a realistic rate, rounded down to 8 decimals; with
    ``rebates``, a share :data:`_REBATE_SHARE` of them is a maker rebate instead (positive,
    0.01 %)."""
    if rebates and rng.random() < _REBATE_SHARE:
        return base // 10_000 // _E10 * _E10
    return -(base * pick(rng, (10, 6, 2)) // 10_000 // _E10 * _E10)


def _money(rng: random.Random, kind: int, coin: str) -> tuple[int, int]:
    """(amount, fee) in 1E-18 units for a row of money kind ``kind``."""
    amount = _amount(rng, coin)
    if kind == _IN:
        return amount, 0
    if kind == _OUT:
        return -amount, 0
    if kind == _TRADE_IN:
        return amount, _fee(rng, amount)
    if kind == _FEE_ONLY:
        return 0, _fee(rng, amount, rebates=True)
    if kind == _PNL:
        return (amount if rng.random() < 0.55 else -amount), _fee(rng, amount, rebates=True)
    if kind == _FUND_IN:
        return amount // 100 // _E10 * _E10, 0
    if kind == _FUND_OUT:
        return -(amount // 100 // _E10 * _E10), 0
    return -amount, _fee(rng, amount)  # _LIQ


def tax_id(row_id: int, variant: bool) -> int:
    """The tax-records id of financial record ``row_id`` (and back: XOR is its own inverse)."""
    return row_id ^ TAX_ID_KEY if variant else row_id


class Ledger:
    """One (account, category) column store, rows in (ts, id) ascending order."""

    __slots__ = ("category", "ids", "ts", "coin", "symbol", "type", "nums", "raw_rows",
                 "tax_raw_rows")

    def __init__(self, category: str) -> None:
        self.category = category
        self.ids = array("q")
        self.ts = array("q")
        self.coin = array("H")
        self.symbol = array("H")
        self.type = array("H")
        self.nums: list[bytes] = []
        self.raw_rows: dict[int, bytes] = {}  # row id -> exact bytes served instead
        self.tax_raw_rows: dict[int, bytes] = {}  # row id -> exact tax-record bytes served instead

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, row_id: int, ts: int, coin: str, symbol: str, type_: str, nums: bytes) -> None:
        if self.ids and row_id <= self.ids[-1]:
            raise ValueError("ledger rows must be added in id order")
        self.ids.append(row_id)
        self.ts.append(ts)
        self.coin.append(_INDEX[coin])
        self.symbol.append(_INDEX[symbol])
        self.type.append(_INDEX[type_])
        self.nums.append(nums)

    def window(self, start: int, end: int, inclusive: bool) -> tuple[int, int]:
        """Index range ``[lo, hi)`` of rows inside the bounds (see ``ts_window``)."""
        return ts_window(self.ts, start, end, inclusive)

    def position(self, row_id: int) -> int | None:
        """Index of the row with ``row_id``, or None."""
        i = bisect_left(self.ids, row_id)
        return i if i < len(self.ids) and self.ids[i] == row_id else None

    def scan(self, lo: int, hi: int, *, newest_first: bool, limit: int,
             coin: str | None, type_: str | None) -> tuple[list[int], bool]:
        """Up to ``limit`` matching indices in ``[lo, hi)`` in serving order, and whether more match."""
        want_coin = _INDEX.get(coin, -1) if coin is not None else None
        want_type = _INDEX.get(type_, -1) if type_ is not None else None
        order = range(hi - 1, lo - 1, -1) if newest_first else range(lo, hi)
        found: list[int] = []
        for i in order:
            if want_coin is not None and self.coin[i] != want_coin:
                continue
            if want_type is not None and self.type[i] != want_type:
                continue
            if len(found) == limit:
                return found, True
            found.append(i)
        return found, False

    def render(self, i: int, variant: bool) -> bytes:
        """Row ``i`` exactly as the API serves it in the standard or variant dialect (an
        injected row's bytes, as given, in both)."""
        injected = self.raw_rows.get(self.ids[i])
        if injected is not None:
            return injected
        nums = self.nums[i].decode().split("|")
        if variant:
            nums = [_pad8(n) if n[:1].isdigit() or n[:1] == "-" else n for n in nums]
        symbol = _VOCAB[self.symbol[i]]
        symbol_part = "" if variant and not symbol else f'"symbol":"{symbol}",'
        text = (f'{{"category":"{_ROW_CATEGORY[self.category]}","id":"{self.ids[i]}",{symbol_part}'
                f'"coin":"{_VOCAB[self.coin[i]]}","type":"{_VOCAB[self.type[i]]}",'
                f'"amount":"{nums[0]}","fee":"{nums[1]}","balance":"{nums[2]}","ts":"{self.ts[i]}"')
        if len(nums) > 3:
            text += (f',"positionType":"{nums[3]}","positionAmount":"{nums[4]}",'
                     f'"positionBalance":"{nums[5]}"')
        return (text + "}").encode()

    def render_tax(self, i: int, variant: bool) -> bytes:
        """Row ``i`` as the tax records serve it: ``id`` (``tax_id``), ``coin``, ``type``,
        ``amount``, ``fee``, ``balance``, ``ts``, numbers as the dialect writes them (an
        injected tax row's bytes, as given, in both)."""
        injected = self.tax_raw_rows.get(self.ids[i])
        if injected is not None:
            return injected
        nums = self.nums[i].decode().split("|")[:3]
        if variant:
            nums = [_pad8(n) for n in nums]
        return (f'{{"id":"{tax_id(self.ids[i], variant)}","coin":"{_VOCAB[self.coin[i]]}",'
                f'"type":"{_VOCAB[self.type[i]]}","amount":"{nums[0]}","fee":"{nums[1]}",'
                f'"balance":"{nums[2]}","ts":"{self.ts[i]}"}}').encode()


class BitgetBook:
    """All categories of one Bitget account plus the running balances of its chains, and
    the account's funding wallet (``funding``, with ``funding_rng`` for rows added later)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ledgers = {c: Ledger(c) for c in CATEGORIES}
        self.balances: dict[tuple[str, str], int] = {}  # 1E-18 units
        self.funding = FundingLedger()
        self.funding_rng = random.Random(0)
        self._ways_ts = -1                               # the ts ``_ways`` holds
        self._ways: dict[tuple[str, str], tuple[str, str]] = {}  # (category, symbol) -> (in, out)

    def add_row(self, row_id: int, ts: int, category: str, special: int = Special.NONE) -> None:
        """Generate one row's content, continue its balance chain, and store it."""
        rng, profile = self.rng, _PROFILES[category]
        symbol: str | None = None                        # None: picked for the coin below
        if special == Special.NONE:
            coin = pick(rng, profile.coins)
            type_, kind, _, has_symbol = _PICKERS[category].pick(rng)
            amount, fee = _money(rng, kind, coin)
        elif special == Special.UNKNOWN_TYPE:
            coin, type_, has_symbol = "USDT", "SOME_NEW_TYPE_2026", False
            amount, fee = _amount(rng, coin), 0
        elif special == Special.UNPAIRED:
            coin, type_, has_symbol, symbol = "BTC", _FILL_TYPES[0], True, "BTCUSDT"
            amount = _amount(rng, coin)
            fee = _fee(rng, amount)
        else:                                            # TINY, HUGE
            coin = "ETH" if special == Special.TINY else "USDT"
            type_, has_symbol, fee = "TRANSFER_IN", False, 0
            amount = _TINY if special == Special.TINY else _HUGE
        if self._balance(category, coin) + amount + fee < 0:
            type_, has_symbol, fee = "TRANSFER_IN", False, 0
            amount = _amount(rng, coin) * 10
        if not has_symbol:
            symbol = ""
        elif symbol is None:
            symbol = pick(rng, profile.symbols[coin])
        self._store(row_id, ts, category, coin, symbol, type_, amount, fee)

    def add_point(self, row_ids: tuple[int, int], ts: int, category: str) -> None:
        """The ``Special.POINT`` rows: transfers in of 0.1 then 0.2 USDT, in id order."""
        for row_id, amount in zip(row_ids, _POINT_AMOUNTS):
            self._store(row_id, ts, category, "USDT", "", "TRANSFER_IN", amount, 0)

    def add_pair(self, row_ids: tuple[int, int], ts: int, category: str) -> None:
        """Generate one fill (or, by :data:`_CONVERT_SHARE`, one conversion) of ``category``
        as its two rows, ``row_ids`` in order: the coin received, then the coin paid."""
        rng = self.rng
        if ts != self._ways_ts:
            self._ways_ts, self._ways = ts, {}
        if rng.random() < _CONVERT_SHARE.get(category, 0):
            symbol, types = "", _CONVERT_TYPES
            way = self._ways.get((category, symbol)) or tuple(rng.sample(_PROFILES[category].coins, 2))
        else:
            symbol, types = pick(rng, _PAIR_SYMBOLS[category]), _FILL_TYPES
            base = symbol.removesuffix(_QUOTE)
            way = self._ways.get((category, symbol)) or pick(rng, ((base, _QUOTE), (_QUOTE, base)))
        coin_in, coin_out = way
        moved = self._priced(category, coin_in, coin_out)
        if moved is None:                                # neither leg can be paid for: no fill
            for row_id, coin in zip(row_ids, way):
                self._store(row_id, ts, category, coin, "", "TRANSFER_IN", _amount(rng, coin) * 10, 0)
            return
        self._ways[(category, symbol)] = (coin_in, coin_out)
        received, paid = moved
        fee = _fee(rng, received) if types is _FILL_TYPES else 0
        self._store(row_ids[0], ts, category, coin_in, symbol, types[0], received, fee)
        self._store(row_ids[1], ts, category, coin_out, symbol, types[1], -paid, 0)

    def _priced(self, category: str, coin_in: str, coin_out: str) -> tuple[int, int] | None:
        """(received, paid), 8-decimal amounts in 1E-18 units, of a fill at a plausible price:
        paid a typical amount of ``coin_out``, at most half its balance; ``None`` when that
        buys nothing."""
        rng = self.rng
        price_in, price_out = (between(rng, *_PRICES[coin]) for coin in (coin_in, coin_out))
        low, high = _COINS[coin_out]
        cap = self._balance(category, coin_out) // 2 // _E10
        paid = min(between(rng, low, high), cap) * _E10
        received = paid * price_out // price_in // _E10 * _E10
        return (received, paid) if received else None

    def _balance(self, category: str, coin: str) -> int:
        """The (category, coin) chain's balance, opened at a random amount when new."""
        key = (category, coin)
        before = self.balances.get(key)
        if before is None:
            before = self.balances[key] = _amount(self.rng, coin) * between(self.rng, 20, 200)
        return before

    def _store(self, row_id: int, ts: int, category: str, coin: str, symbol: str, type_: str,
               amount: int, fee: int) -> None:
        """Continue the (category, coin) chain by ``amount + fee`` and store the row."""
        rng = self.rng
        balance = self.balances[(category, coin)] = self._balance(category, coin) + amount + fee
        parts = [text(amount, 18), text(fee, 18), text(balance, 18)]
        if category in _FUTURES:
            # a position's rows carry its margin mode and size; transfers and funding
            # settlements carry none of the three fields (as a live funding row does)
            position = "LONG" in type_ or "SHORT" in type_ or type_ in ("BUY_DEAL", "SELL_DEAL")
            mode = "crossed" if row_id % 3 else "isolated"
            extra = [mode, text(between(rng, 0, 100_000), 4), text(_amount(rng, coin), 18)]
            if position:
                parts += extra
        self.ledgers[category].add(row_id, ts, coin, symbol, type_, "|".join(parts).encode())

    def rows_since(self, cutoff: int) -> Iterator[tuple[int, Ledger, int]]:
        """(id, ledger, index) of every row with ``ts >= cutoff``, unordered."""
        for ledger in self.ledgers.values():
            for i in range(bisect_left(ledger.ts, cutoff), len(ledger)):
                yield ledger.ids[i], ledger, i

    def find(self, row_id: int) -> tuple[Ledger, int] | None:
        """The ledger and index holding ``row_id``."""
        for ledger in self.ledgers.values():
            i = ledger.position(row_id)
            if i is not None:
                return ledger, i
        return None
