"""Unified record types shared by connectors, the archive, exports and reports.

A *record* is one row exactly as an exchange sent it (``raw`` bytes) plus the normalized
*entries* derived from it.

The ledger convention (one for every exchange; the mapping of every known exchange type
and field is in ``docs/ledger.md``):

- An entry is **one signed amount of one kind in one coin**, from the account's point of
  view: money into the account is positive, money out (a fee paid, a loss, a transfer out,
  a withdrawal) negative.
- A record that moves an amount and a fee gives two entries, the fee its own (kind
  ``FEE``): a Bitget row ``amount -2.5, fee -0.15`` of type ``CLOSE_LONG`` is a realized PnL
  entry of -2.5 and a fee entry of -0.15. A zero fee gives no entry, nor does a zero
  amount beside a fee (``OPEN_LONG`` ``amount 0, fee -0.3`` is one fee entry); a row that
  moved nothing at all keeps its one zero entry of its kind.
- The entries of a record sum exactly to what the record moved: Bitget ``amount + fee``,
  CoinW ``netProfit``. Summing ``amount`` over any set of entries is the money they moved;
  summing over ``kind = fee`` is every fee, on every exchange.
- ``balance`` is the exchange's balance after the whole record, on the record's last entry
  (``None`` on the others, and where the exchange gives none).
- Entries of one record are numbered ``seq`` 0, 1, … in a fixed order per exchange.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

import msgspec

__all__ = ["KIND_OF_TEXT", "Kind", "LedgerEntry", "Record", "StreamKey"]


class Kind(str, enum.Enum):
    """What an entry is, across exchanges. Unknown exchange types map to ``OTHER``."""

    TRADE = "trade"                  # spot/margin fill: coin bought or sold
    REALIZED_PNL = "realized_pnl"    # futures position closed: profit or loss
    FEE = "fee"                      # any fee: a row's fee, a fee-only row
    FUNDING = "funding"              # futures funding settlement
    TRANSFER = "transfer"            # between own accounts / sub-accounts
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    CONVERT = "convert"              # coin-to-coin exchange/conversion
    INTEREST = "interest"            # margin interest, borrow interest
    BORROW = "borrow"
    REPAY = "repay"
    LIQUIDATION = "liquidation"      # forced/burst close, risk liquidation
    OTHER = "other"                  # anything not (yet) understood: kept, never rejected

    def __str__(self) -> str:  # plain value in CSV and tables
        return self.value


KIND_OF_TEXT: dict[str, Kind] = {kind.value: kind for kind in Kind}
"""An archived kind's text -> its ``Kind``; every reader maps text it does not know
(``.get(text, Kind.OTHER)``) to ``OTHER``."""


@dataclass(frozen=True, slots=True)
class StreamKey:
    """One archived stream: an account's endpoint for one partition.

    ``stream`` is the endpoint's name (``financial-records``, ``deals-history``);
    ``partition`` is what the endpoint requires per call (Bitget ``category``,
    CoinW ``instrument`` upper-cased).
    """

    account: str
    exchange: str
    stream: str
    partition: str

    def __str__(self) -> str:
        return f"{self.account}/{self.stream}/{self.partition}"


class LedgerEntry(msgspec.Struct, frozen=True, gc=False):
    """One normalized ledger line. ``ts`` is the exchange's event time in Unix ms (UTC).

    Immutable, compared and hashed by value. A ``msgspec.Struct``: one is built for every
    archived row, and a frozen dataclass cost ten times as much to construct.
    """

    account: str
    exchange: str
    stream: str
    record_id: str
    seq: int                     # position among the entries of one record, from 0
    ts: int
    kind: Kind
    coin: str | None
    amount: Decimal                  # signed: money into the account positive
    balance: Decimal | None = None   # the exchange's balance after the record (its last entry)
    category: str | None = None      # Bitget category / CoinW "USDT-FUTURES"-like product
    symbol: str | None = None
    exchange_type: str | None = None  # the exchange's own type/label, verbatim

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts / 1000, tz=timezone.utc)


class Record(msgspec.Struct):
    """One exchange row: its id, event time, exact bytes and normalized entries.

    ``mutable`` marks rows the exchange may still change (a CoinW position still open);
    syncs re-read those until they settle. ``owner`` is the exchange user id the row names
    (CoinW ``userId``), ``None`` where rows do not say: the sync checks it against the
    account's recorded identity.
    """

    record_id: str
    ts: int
    raw: bytes
    entries: list[LedgerEntry] = msgspec.field(default_factory=list)
    mutable: bool = False
    owner: str | None = None
