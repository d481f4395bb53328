"""CoinW futures transaction details: the row generator, a compact store and the row bytes.

One ``Deals`` store per (account, instrument), rows in (createdDate, id) ascending order:
``array`` columns for createdDate, id, positionModel, originalType and "filled" (orderStatus
``finish``/``part``, the rows the ``originType`` filter cannot hide), plus one ``bytes`` per
row version holding the other field texts joined by ``|``. Every version a row ever had is
kept (oldest first) so tests can check that an archive kept history.

Numbers are stored as exact decimal text and written into JSON verbatim: never via float.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left
from decimal import ROUND_DOWN, Context, Decimal

from .._json import canonical_decimal

__all__ = ["Deals", "ORIGINS", "instrument_spec", "make_deal", "PUBLIC_EXTRA"]

_CTX = Context(prec=100)
ORIGINS = ("execute", "plan", "planTrigger")
PUBLIC_EXTRA = ("XRP", "DOGE")  # listed publicly, never traded by sandbox accounts

# instrument: (typical price, price decimals, contract size)
_SPECS = {"BTC": ("85000", 1, "0.001"), "ETH": ("3000", 2, "0.01"), "SOL": ("150", 3, "0.1"),
          "1000PEPE": ("0.0125", 7, "1"), "XRP": ("2.3", 4, "1"), "DOGE": ("0.2", 5, "10")}

# Row keys in the order the API writes them, and how each value is written.
# N: JSON number (BigDecimal), I: integer, S: string, Q: decimal as a JSON string,
# F: the fee (Q in the standard dialect, N in the variant), O: optional string,
# C: per-store constant, R: from the store's columns (id, createdDate, hedgeId).
_FIELDS = (
    ("baseSize", "C"), ("closePrice", "N"), ("closedPiece", "N"), ("contractType", "C"),
    ("createdDate", "R"), ("currentPiece", "N"), ("direction", "S"), ("fee", "F"),
    ("feeRate", "Q"), ("fundingFee", "Q"), ("fundingSettle", "N"), ("hedgeId", "R"),
    ("id", "R"), ("indexPrice", "N"), ("instrument", "C"), ("isProfession", "C"),
    ("leverage", "N"), ("liquidateBy", "S"), ("margin", "N"), ("netProfit", "N"),
    ("openId", "I"), ("openPrice", "N"), ("orderId", "I"), ("orderPrice", "N"),
    ("orderStatus", "S"), ("originalType", "S"), ("positionMargin", "N"), ("positionModel", "I"),
    ("processStatus", "I"), ("quantity", "N"), ("quantityUnit", "I"), ("settlementId", "I"),
    ("source", "S"), ("status", "S"), ("takerMaker", "I"), ("thirdOrderId", "O"),
    ("totalPiece", "N"), ("updatedDate", "I"), ("userId", "C"),
)
_STORED = tuple(key for key, kind in _FIELDS if kind not in "CR")
_POS = {key: i for i, key in enumerate(_STORED)}


def instrument_spec(name: str) -> tuple[Decimal, int, Decimal]:
    """(typical price, price decimals, contract size) for an instrument name."""
    price, places, size = _SPECS.get(name, ("1", 4, "1"))
    return Decimal(price), places, Decimal(size)


def _dec(value: Decimal) -> str:
    return canonical_decimal(value)


def _pnl(open_price: Decimal, close_price: Decimal, size: Decimal, long: bool, fee: Decimal) -> str:
    move = _CTX.subtract(close_price, open_price) if long else _CTX.subtract(open_price, close_price)
    gross = _CTX.multiply(move, size)
    return _dec(_CTX.subtract(gross, fee).quantize(Decimal("1E-8"), ROUND_DOWN, _CTX))


def make_deal(rng: random.Random, instrument: str, created: int, updated: int,
              state: str) -> bytes:
    """One generated row's stored fields. ``state`` is ``close``, ``open`` or ``cancel``."""
    price, places, size = instrument_spec(instrument)
    quantum = Decimal(1).scaleb(-places)
    open_price = _CTX.multiply(price, Decimal(rng.randint(900, 1100)).scaleb(-3)).quantize(quantum, context=_CTX)
    pieces = rng.randint(1, 50)
    contracts = _CTX.multiply(size, Decimal(pieces))
    notional = _CTX.multiply(open_price, contracts)
    leverage = rng.choice((1, 2, 3, 5, 10, 20, 50, 100))
    margin = _CTX.divide(notional, Decimal(leverage)).quantize(Decimal("1E-4"), ROUND_DOWN, _CTX)
    taker = rng.random() < 0.7
    fee_rate = Decimal("0.0006") if taker else Decimal("0.0002")
    fee = _CTX.multiply(notional, fee_rate).quantize(Decimal("1E-8"), ROUND_DOWN, _CTX)
    long = rng.random() < 0.55
    origin = rng.choices(ORIGINS, weights=(60, 35, 5))[0]
    unit = rng.choice((0, 1, 2))
    quantity = (notional.quantize(Decimal("1E-4"), ROUND_DOWN, _CTX), Decimal(pieces), contracts)[unit]
    funding_roll = rng.random()
    funding = "0" if funding_roll < 0.8 else ("0.00000001" if funding_roll < 0.85 else
                                              _dec(Decimal(rng.randint(-99999, 99999)).scaleb(-6)))
    values = {
        "closePrice": "0", "closedPiece": "0", "currentPiece": str(pieces),
        "direction": "long" if long else "short", "fee": _dec(fee), "feeRate": _dec(fee_rate),
        "fundingFee": funding, "fundingSettle": funding,
        "indexPrice": _dec(_CTX.add(open_price, _CTX.multiply(quantum, Decimal(rng.randint(-5, 5))))),
        "leverage": str(leverage), "liquidateBy": rng.choices(
            ("manual", "stopLoss", "takeProfit", "liquidate"), weights=(85, 6, 6, 3))[0],
        "margin": _dec(margin), "netProfit": _dec(-fee),
        "openId": str(rng.randrange(10**18, 9 * 10**18)), "openPrice": _dec(open_price),
        "orderId": str(rng.randrange(10**18, 9 * 10**18)),
        "orderPrice": "0" if origin == "execute" else _dec(open_price),
        "orderStatus": rng.choice(("part", "unFinish")), "originalType": origin,
        "positionMargin": _dec(margin), "positionModel": str(rng.randint(0, 1)),
        "processStatus": str(rng.choice((1, 2))), "quantity": _dec(quantity),
        "quantityUnit": str(unit), "settlementId": str(rng.randint(100_000, 999_999)),
        "source": rng.choice(("api", "web")), "status": "open", "takerMaker": "1" if taker else "2",
        "thirdOrderId": (f"{rng.randint(1, 99)}-{rng.randint(1, 99)}-{rng.randint(1, 99)}"
                         if rng.random() < 0.3 else ""),
        "totalPiece": str(pieces), "updatedDate": str(created),
    }
    if state == "cancel":
        values.update(status="vcancel", orderStatus="cancel", currentPiece="0", fee="0",
                      netProfit="0", updatedDate=str(updated))
    stored = "|".join(values[key] for key in _STORED).encode()
    return close_version(rng, instrument, stored, updated) if state == "close" else stored


def close_version(rng: random.Random, instrument: str, stored: bytes, now: int) -> bytes:
    """The next version of an open row: its position closed at ``now``."""
    price, places, size = instrument_spec(instrument)
    values = stored.decode().split("|")
    open_price = Decimal(values[_POS["openPrice"]])
    move = Decimal(rng.randint(950, 1050)).scaleb(-3)
    close_price = _CTX.multiply(open_price, move).quantize(Decimal(1).scaleb(-places), context=_CTX)
    pieces = values[_POS["totalPiece"]]
    contracts = _CTX.multiply(size, Decimal(pieces))
    long = values[_POS["direction"]] == "long"
    for key, value in (("closePrice", _dec(close_price)), ("closedPiece", pieces),
                       ("currentPiece", "0"), ("status", "close"), ("orderStatus", "finish"),
                       ("updatedDate", str(now)),
                       ("netProfit", _pnl(open_price, close_price, contracts, long,
                                          Decimal(values[_POS["fee"]])))):
        values[_POS[key]] = value
    return "|".join(values).encode()


def _java(text: str) -> str:
    """Java ``BigDecimal.toString()``: exponent form below 1E-6 (``0.00000001`` -> ``1E-8``)."""
    return str(Decimal(text))


class Deals:
    """One (account, instrument) store of transaction details and all their versions."""

    __slots__ = ("instrument", "base_size", "user_id", "created", "ids", "model", "origin",
                 "filled", "current", "history", "open")

    def __init__(self, instrument: str, user_id: int) -> None:
        self.instrument = instrument
        self.base_size = _dec(instrument_spec(instrument)[2])
        self.user_id = user_id
        self.created = array("q")
        self.ids = array("q")
        self.model = array("b")
        self.origin = array("b")
        self.filled = array("b")
        self.current: list[bytes] = []
        self.history: dict[int, list[bytes]] = {}
        self.open: list[int] = []

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, row_id: int, created: int, stored: bytes) -> int:
        """Store a new row; returns its index."""
        if self.ids and row_id <= self.ids[-1]:
            raise ValueError("deals must be added in id order")
        values = stored.decode().split("|")
        self.created.append(created)
        self.ids.append(row_id)
        self.model.append(int(values[_POS["positionModel"]]))
        self.origin.append(ORIGINS.index(values[_POS["originalType"]]))
        self.filled.append(values[_POS["orderStatus"]] in ("finish", "part"))
        self.current.append(stored)
        if values[_POS["status"]] == "open":
            self.open.append(len(self.ids) - 1)
        return len(self.ids) - 1

    def position(self, row_id: int) -> int | None:
        """Index of the row with ``row_id``, or None."""
        i = bisect_left(self.ids, row_id)
        return i if i < len(self.ids) and self.ids[i] == row_id else None

    def close(self, i: int, rng: random.Random, now: int) -> None:
        """Close open row ``i`` at ``now``, keeping the previous version."""
        self.history.setdefault(i, []).append(self.current[i])
        self.current[i] = close_version(rng, self.instrument, self.current[i], now)
        self.filled[i] = True
        self.open.remove(i)

    def servable_open(self, cutoff: int) -> list[int]:
        """Indices of open rows still inside retention, oldest first."""
        return [i for i in self.open if self.created[i] >= cutoff]

    def _matches(self, i: int, model: int | None, origin: str | None, literal: bool) -> bool:
        if model is not None and self.model[i] != model:
            return False
        if origin is None:
            return True
        return ORIGINS[self.origin[i]] == origin or (not literal and bool(self.filled[i]))

    def total(self, cutoff: int, model: int | None, origin: str | None) -> int:
        """CoinW's unreliable ``total``: counts the literal ``originType`` filter only."""
        lo = bisect_left(self.created, cutoff)
        if model is None and origin is None:
            return len(self) - lo
        return sum(1 for i in range(lo, len(self)) if self._matches(i, model, origin, True))

    def page(self, cutoff: int, model: int | None, origin: str | None,
             offset: int, size: int) -> list[int]:
        """Indices of one page, newest first; filled rows pass any ``originType`` filter."""
        lo, n = bisect_left(self.created, cutoff), len(self)
        if model is None and origin is None:
            return list(range(n - 1 - offset, max(lo, n - offset - size) - 1, -1))
        out: list[int] = []
        seen = 0
        for i in range(n - 1, lo - 1, -1):
            if self._matches(i, model, origin, False):
                if seen >= offset:
                    out.append(i)
                    if len(out) == size:
                        break
                seen += 1
        return out

    def versions(self, i: int) -> list[bytes]:
        """All stored versions of row ``i``, oldest first."""
        return [*self.history.get(i, ()), self.current[i]]

    def render(self, i: int, stored: bytes, variant: bool) -> bytes:
        """One version of row ``i`` exactly as the API serves it in the given dialect."""
        values = stored.decode().split("|")
        row_id = self.ids[i]
        consts = {"baseSize": self.base_size, "contractType": "1", "instrument": self.instrument,
                  "isProfession": "0", "userId": str(self.user_id)}
        columns = {"createdDate": str(self.created[i]), "id": str(row_id), "hedgeId": str(row_id + 1)}
        parts = []
        for key, kind in _FIELDS:
            if kind == "C":
                value = consts[key]
                kind = "S" if key == "instrument" else "N"
            elif kind == "R":
                value, kind = columns[key], "I"
            else:
                value = values[_POS[key]]
            if kind == "F":
                kind = "N" if variant else "Q"
            if kind == "N":
                parts.append(f'"{key}":{_java(value) if variant else value}')
            elif kind == "I":
                parts.append(f'"{key}":{value}')
            elif kind in "SQ":
                parts.append(f'"{key}":"{value}"')
            elif value:  # "O" with a value
                parts.append(f'"{key}":"{value}"')
            elif variant:
                parts.append(f'"{key}":null')
        return ("{" + ",".join(parts) + "}").encode()
