"""CoinW futures transaction details: the row generator, a compact store and the row bytes.

One ``Deals`` store per (account, instrument), rows in (createdDate, id) ascending order, as
``array`` columns only (about 40 bytes a row): createdDate, id, updatedDate, a 63-bit row
seed, and the small codes the filters need (lifecycle ``kind``, positionModel,
originalType). A row's other fields are drawn from ``random.Random(seed)`` whenever it is
served, so they are the same every time and a million rows cost little memory or start-up
time. A row that changes (a position closing) gets its new version stored explicitly; every
version it ever had is kept, oldest first, so tests can check an archive kept history.

A version is the field texts joined by ``|``; numbers are exact decimal text written into
JSON verbatim, never via float.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect_left
from decimal import Decimal

from .fixed import Weighted, between, pick, text

__all__ = ["Deals", "ORIGINS", "instrument_spec", "make_deal", "PUBLIC_EXTRA"]

ORIGINS = ("execute", "plan", "planTrigger")
PUBLIC_EXTRA = ("XRP", "DOGE")  # listed publicly, never traded by sandbox accounts

# instrument: (typical price in 10**-places units, places, contract size units, size places)
_SPECS = {"BTC": (850_000, 1, 1, 3), "ETH": (300_000, 2, 1, 2), "SOL": (150_000, 3, 1, 1),
          "1000PEPE": (125_000, 7, 1, 0), "XRP": (23_000, 4, 1, 0), "DOGE": (20_000, 5, 10, 0)}
_DEFAULT_SPEC = (10_000, 4, 1, 0)
_LEVERAGES = (1, 2, 3, 5, 10, 20, 50, 100)
_LIQUIDATE_BY = Weighted(("manual", "stopLoss", "takeProfit", "liquidate"), (85, 6, 6, 3))
_ORIGIN_PICK = Weighted(range(len(ORIGINS)), (60, 35, 5))

# Row lifecycle codes; "filled" rows (orderStatus finish/part) ignore the originType filter.
OPEN_PART, OPEN_UNFINISHED, CLOSED, CANCELLED = range(4)
_FILLED = (True, False, True, False)
_ORDER_STATUS = ("part", "unFinish", "finish", "cancel")

# Row keys in the order the API writes them, and how each value is written.
# N: JSON number (BigDecimal), I: integer, S: string, Q: decimal as a JSON string,
# F: the fee (Q in the standard dialect, N in the variant), O: optional string,
# C: per-store constant, R: from the store's columns (id, createdDate, hedgeId),
# T: only on a trigger order's row (see ``Deals.render``), derived from its other fields.
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
    ("totalPiece", "N"), ("triggerPrice", "T"), ("triggerType", "T"), ("updatedDate", "I"),
    ("userId", "C"),
)
_STORED = tuple(key for key, kind in _FIELDS if kind not in "CRT")
_NOT_ON_TRIGGER_ROWS = frozenset({"hedgeId", "indexPrice", "settlementId"})
_POS = {key: i for i, key in enumerate(_STORED)}


def instrument_spec(name: str) -> tuple[int, int, int, int]:
    """(typical price units, price places, contract size units, size places)."""
    return _SPECS.get(name, _DEFAULT_SPEC)


def _id19(rng: random.Random) -> int:
    """A random 19-digit id (above 2**53, below 2**63)."""
    return 10**18 + rng.getrandbits(62)


def make_deal(seed: int, instrument: str, created: int, updated: int, kind: int,
              model: int, origin: int) -> bytes:
    """The first version of a row, drawn from ``Random(seed)``: same arguments, same bytes.

    Money is integer fixed point: prices at the instrument's places ``p``, contract counts at
    the size places ``s``, notional at ``p + s`` (at most 8), margin at 4, fees at 8.
    """
    rng = random.Random(seed)
    price, p, size, s = instrument_spec(instrument)
    open_price = price * between(rng, 900, 1100) // 1000
    pieces = between(rng, 1, 50)
    contracts = size * pieces
    notional = open_price * contracts                      # at p + s places
    leverage = pick(rng, _LEVERAGES)
    margin = notional * 10**4 // (leverage * 10 ** (p + s))  # at 4, rounded down
    taker = rng.random() < 0.7
    rate = 6 if taker else 2                                # per 10_000
    fee = notional * rate * 10 ** (8 - p - s) // 10_000     # at 8, rounded down
    unit = pick(rng, (0, 1, 2))
    quantity = (text(notional * 10**4 // 10 ** (p + s), 4) if unit == 0 else
                str(pieces) if unit == 1 else text(contracts, s))
    roll = rng.random()
    funding = "0" if roll < 0.8 else "0.00000001" if roll < 0.85 else text(between(rng, -99999, 99999), 6)
    long = rng.random() < 0.55
    values = {
        "closePrice": "0", "closedPiece": "0", "currentPiece": str(pieces),
        "direction": "long" if long else "short", "fee": text(fee, 8),
        "feeRate": text(rate, 4), "fundingFee": funding, "fundingSettle": funding,
        "indexPrice": text(open_price + between(rng, -5, 5), p), "leverage": str(leverage),
        "liquidateBy": _LIQUIDATE_BY.pick(rng), "margin": text(margin, 4),
        "netProfit": text(-fee, 8), "openId": str(_id19(rng)), "openPrice": text(open_price, p),
        "orderId": str(_id19(rng)), "orderPrice": "0" if origin == 0 else text(open_price, p),
        "orderStatus": _ORDER_STATUS[kind], "originalType": ORIGINS[origin],
        "positionMargin": text(margin, 4), "positionModel": str(model),
        "processStatus": pick(rng, ("1", "2")), "quantity": quantity, "quantityUnit": str(unit),
        "settlementId": str(between(rng, 100_000, 999_999)), "source": pick(rng, ("api", "web")),
        "status": "open", "takerMaker": "1" if taker else "2",
        "thirdOrderId": (f"{between(rng, 1, 99)}-{between(rng, 1, 99)}-{between(rng, 1, 99)}"
                         if rng.random() < 0.3 else ""),
        "totalPiece": str(pieces), "updatedDate": str(created),
    }
    if kind == CANCELLED:
        values.update(status="vcancel", currentPiece="0", fee="0", netProfit="0",
                      updatedDate=str(updated))
    elif kind == CLOSED:
        values.update(_closing(rng, instrument, open_price, pieces, long, fee, updated))
    return "|".join([values[key] for key in _STORED]).encode()


def _closing(rng: random.Random, instrument: str, open_price: int, pieces: int, long: bool,
             fee: int, now: int) -> dict[str, str]:
    """The fields that change when a position closes at ``now`` (prices in instrument units)."""
    _, p, size, s = instrument_spec(instrument)
    close_price = open_price * between(rng, 950, 1050) // 1000
    move = close_price - open_price if long else open_price - close_price
    gross = move * size * pieces * 10 ** (8 - p - s)  # at 8 places, exact
    return {"closePrice": text(close_price, p), "closedPiece": str(pieces), "currentPiece": "0",
            "status": "close", "orderStatus": "finish", "updatedDate": str(now),
            "netProfit": text(gross - fee, 8)}


def _units(value: str, places: int) -> int:
    """Decimal text as an integer of ``10**-places`` units (exact)."""
    return int(Decimal(value).scaleb(places))


def close_version(rng: random.Random, instrument: str, stored: bytes, now: int) -> bytes:
    """The next version of an open row: its position closed at ``now``."""
    p = instrument_spec(instrument)[1]
    values = stored.decode().split("|")
    changes = _closing(rng, instrument, _units(values[_POS["openPrice"]], p),
                       int(values[_POS["totalPiece"]]), values[_POS["direction"]] == "long",
                       _units(values[_POS["fee"]], 8), now)
    for key, value in changes.items():
        values[_POS[key]] = value
    return "|".join(values).encode()


def _java(text: str) -> str:
    """Java ``BigDecimal.toString()``: exponent form below 1E-6 (``0.00000001`` -> ``1E-8``)."""
    return str(Decimal(text))


class Deals:
    """One (account, instrument) store of transaction details and all their versions."""

    __slots__ = ("instrument", "base_size", "user_id", "created", "ids", "updated", "seeds",
                 "kind", "model", "origin", "changed", "history", "open", "raw_rows")

    def __init__(self, instrument: str, user_id: int) -> None:
        self.instrument = instrument
        _, _, size, places = instrument_spec(instrument)
        self.base_size = text(size, places)
        self.user_id = user_id
        self.created = array("q")
        self.ids = array("q")
        self.updated = array("q")
        self.seeds = array("q")
        self.kind = array("b")
        self.model = array("b")
        self.origin = array("b")
        self.changed: dict[int, bytes] = {}        # index -> current version, once changed
        self.history: dict[int, list[bytes]] = {}  # index -> earlier versions, oldest first
        self.open: list[int] = []
        self.raw_rows: dict[int, bytes] = {}        # row id -> exact bytes served instead

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, rng: random.Random, row_id: int, created: int, updated: int, state: str) -> None:
        """Add a row (``state`` ``open``, ``close`` or ``cancel``), drawing its codes and seed."""
        if self.ids and row_id <= self.ids[-1]:
            raise ValueError("deals must be added in id order")
        if state == "open":
            kind = OPEN_PART if rng.random() < 0.5 else OPEN_UNFINISHED
            self.open.append(len(self.ids))
        else:
            kind = CLOSED if state == "close" else CANCELLED
        self.created.append(created)
        self.ids.append(row_id)
        self.updated.append(updated)
        self.seeds.append(rng.getrandbits(63))
        self.kind.append(kind)
        self.model.append(int(rng.random() < 0.5))
        self.origin.append(_ORIGIN_PICK.pick(rng))

    def position(self, row_id: int) -> int | None:
        """Index of the row with ``row_id``, or None."""
        i = bisect_left(self.ids, row_id)
        return i if i < len(self.ids) and self.ids[i] == row_id else None

    def current(self, i: int) -> bytes:
        """The latest version of row ``i``."""
        changed = self.changed.get(i)
        if changed is not None:
            return changed
        return make_deal(self.seeds[i], self.instrument, self.created[i], self.updated[i],
                         self.kind[i], self.model[i], self.origin[i])

    def close(self, i: int, rng: random.Random, now: int) -> None:
        """Close open row ``i`` at ``now``, keeping the previous version."""
        before = self.current(i)
        self.history.setdefault(i, []).append(before)
        self.changed[i] = close_version(rng, self.instrument, before, now)
        self.kind[i] = CLOSED
        self.open.remove(i)

    def servable_open(self, cutoff: int) -> list[int]:
        """Indices of open rows still inside retention, oldest first."""
        return [i for i in self.open if self.created[i] >= cutoff]

    def _matches(self, i: int, model: int | None, origin: str | None, literal: bool) -> bool:
        if model is not None and self.model[i] != model:
            return False
        if origin is None:
            return True
        return ORIGINS[self.origin[i]] == origin or (not literal and _FILLED[self.kind[i]])

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
        return [*self.history.get(i, ()), self.current(i)]

    def render(self, i: int, stored: bytes, variant: bool) -> bytes:
        """One version of row ``i`` exactly as the API serves it in the given dialect.

        As recorded from CoinW: in the standard dialect a trigger order's row (``plan`` or
        ``planTrigger``) carries ``triggerPrice`` (its order price) and ``triggerType``
        (0 plan, 1 planTrigger) and has no ``hedgeId``, ``indexPrice`` or
        ``settlementId``. In the variant, rows with an even id write ``id`` as a string. An
        injected row's bytes are served as given, in every version and dialect.
        """
        row_id = self.ids[i]
        if row_id in self.raw_rows:
            return self.raw_rows[row_id]
        values = stored.decode().split("|")
        origin = self.origin[i]
        trigger = origin != 0 and not variant
        consts = {"baseSize": self.base_size, "contractType": "1", "instrument": self.instrument,
                  "isProfession": "0", "userId": str(self.user_id)}
        columns = {"createdDate": str(self.created[i]), "id": str(row_id), "hedgeId": str(row_id + 1)}
        parts = []
        for key, kind in _FIELDS:
            if trigger and key in _NOT_ON_TRIGGER_ROWS:
                continue
            if kind == "T":
                if not trigger:
                    continue
                if key == "triggerPrice":
                    value, kind = values[_POS["orderPrice"]], "N"
                else:
                    value, kind = ("0" if origin == 1 else "1"), "I"
            elif kind == "C":
                value = consts[key]
                kind = "S" if key == "instrument" else "N"
            elif kind == "R":
                value, kind = columns[key], "I"
                if key == "id" and variant and row_id % 2 == 0:
                    kind = "S"
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
