"""Spot trades as tax tools need them: the legs of one fill paired into one trade.

Bitget books a spot (or margin) fill as separate rows: ``ORDER_DEALT_IN`` of the coin
received (with the fee, in that coin), ``ORDER_DEALT_FROZEN_OUT`` of the coin paid, at the
same ``ts`` under the same ``symbol``; a conversion likewise as ``EXCHANGE_SOURCE_TOKEN_USER_OUT``
and ``EXCHANGE_TARGET_TOKEN_USER_IN``. In the ledger these are entries of kind ``trade`` or
``convert`` (the *legs*), each record's fee an entry of kind ``fee``.

The rule (:class:`Pairing`):

- Legs are entries of kind ``trade`` or ``convert`` with a non-zero amount. Legs of one
  account, exchange, category, symbol, kind and ``ts`` form a group.
- A group of legs in exactly two coins A and B holds up to two trades, one per direction:
  the legs bringing A in with the legs taking B out are **one trade** (:class:`Trade`,
  received = the A legs' sum, sent = the B legs' sum), and the legs bringing B in with those
  taking A out are another. So a buy and a sell of one symbol in the same millisecond stay
  two trades (their sums are never netted), and several fills of one direction in one
  millisecond are one trade of their sums. A trade's fees are the fee entries of its legs'
  own records, summed per coin.
- A leg with nothing opposite it in its group (a coin in with no other coin out, legs of
  three or more coins under one symbol) has **no partner**: it (and its record's fee) is
  passed on as it is, unchanged, and counted in :attr:`Pairing.unpaired` — reported, never
  dropped. An export writes such a leg as a plain movement of its coin and says how many
  there were.

Every other entry is passed on as it is. Entries come and go in ledger order (``ts`` first):
a trade is emitted where its first entry was. Only the entries of one ``ts`` are held at a
time, so memory stays flat however long the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from .._json import EXACT
from ..model import Kind, LedgerEntry

__all__ = ["LEG_KINDS", "Pairing", "Trade"]

LEG_KINDS = frozenset({Kind.TRADE, Kind.CONVERT})
"""The kinds whose entries are legs of a trade."""

_FEE = Kind.FEE
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade: a coin received for a coin sent, with its fees; amounts signed as in the
    ledger (``received`` positive, ``sent`` negative, a paid fee negative).

    ``entries`` are the ledger entries it stands for (legs and fees, in ledger order): their
    amounts sum, per coin, to ``received``, ``sent`` and ``fees``."""

    kind: Kind                                   # TRADE or CONVERT
    account: str
    exchange: str
    category: str | None
    symbol: str | None
    ts: int
    received: tuple[str, Decimal]
    sent: tuple[str, Decimal]
    fees: tuple[tuple[str, Decimal], ...]        # per coin, in the order first met
    entries: tuple[LedgerEntry, ...]

    @property
    def record_ids(self) -> tuple[str, ...]:
        """The ids of the records it was paired from, each once, in ledger order."""
        return tuple(dict.fromkeys(e.record_id for e in self.entries))


def _record(entry: LedgerEntry) -> tuple[str, str, str, str]:
    """Which record an entry belongs to."""
    return (entry.account, entry.exchange, entry.stream, entry.record_id)


def _is_leg(entry: LedgerEntry) -> bool:
    return entry.kind in LEG_KINDS and bool(entry.amount)


class Pairing:
    """``for item in Pairing(entries)``: each item a :class:`Trade` or an entry passed on.
    After the loop, :attr:`unpaired` is the number of legs that had no partner (and
    :attr:`trades` the number of trades)."""

    def __init__(self, entries: Iterable[LedgerEntry]) -> None:
        self._entries = entries
        self.unpaired = 0
        self.trades = 0

    def __iter__(self) -> Iterator[Trade | LedgerEntry]:
        held: list[LedgerEntry] = []
        legs = 0
        ts = None
        leg_kinds = LEG_KINDS
        for entry in self._entries:
            if entry.ts != ts:
                if legs > 1:
                    yield from self._settle(held, legs)
                elif held:                 # _settle's first case, without its call (most ts)
                    self.unpaired += legs
                    yield from held
                held = []
                legs = 0
                ts = entry.ts
            held.append(entry)
            if entry.kind in leg_kinds and entry.amount:    # _is_leg, inline
                legs += 1
        if held:
            yield from self._settle(held, legs)

    def _settle(self, held: list[LedgerEntry], legs: int) -> Iterator[Trade | LedgerEntry]:
        """The events of one ``ts``'s entries, ``legs`` of them legs."""
        if legs < 2:
            self.unpaired += legs
            yield from held
            return
        groups: dict[tuple, list[LedgerEntry]] = {}
        for e in held:
            if _is_leg(e):
                groups.setdefault((e.account, e.exchange, e.category, e.symbol, e.kind), []).append(e)
        trade_of: dict[tuple, Trade] = {}          # record -> the trade its legs are in
        for legs_of_group in groups.values():
            for trade_legs in _directions(legs_of_group):
                records = {_record(e) for e in trade_legs}
                fees = [e for e in held if e.kind is _FEE and _record(e) in records]
                trade = _trade(trade_legs, fees)
                for record in records:
                    trade_of[record] = trade
        emitted: set[int] = set()
        for e in held:
            trade = trade_of.get(_record(e)) if (_is_leg(e) or e.kind is _FEE) else None
            if trade is None:
                if _is_leg(e):
                    self.unpaired += 1
                yield e
            elif id(trade) not in emitted:
                emitted.add(id(trade))
                self.trades += 1
                yield trade


def _directions(legs: list[LedgerEntry]) -> Iterator[list[LedgerEntry]]:
    """The legs of one group that make trades, one list per direction (see the rule)."""
    coins = {e.coin or "" for e in legs}
    if len(coins) != 2:
        return
    a, b = sorted(coins)
    for got, paid in ((a, b), (b, a)):
        into = [e for e in legs if (e.coin or "") == got and e.amount > 0]
        out = [e for e in legs if (e.coin or "") == paid and e.amount < 0]
        if into and out:
            yield into + out


def _trade(legs: list[LedgerEntry], fees: list[LedgerEntry]) -> Trade:
    """The trade of one direction's legs and their records' fee entries."""
    sums: dict[str, Decimal] = {}
    fee_sums: dict[str, Decimal] = {}
    for into, members in ((sums, legs), (fee_sums, fees)):
        for e in members:
            coin = e.coin or ""
            into[coin] = EXACT.add(into.get(coin, _ZERO), e.amount)
    (got, received), (paid, sent) = sorted(sums.items(), key=lambda item: item[1] < 0)
    entries = sorted(legs + fees, key=_LEDGER_ORDER)
    first = entries[0]
    return Trade(
        kind=legs[0].kind, account=first.account,
        exchange=first.exchange, category=first.category, symbol=legs[0].symbol, ts=first.ts,
        received=(got, received), sent=(paid, sent), fees=tuple(fee_sums.items()),
        entries=tuple(entries),
    )


def _LEDGER_ORDER(e: LedgerEntry) -> tuple:
    return (e.ts, e.account, e.record_id, e.stream, e.seq)
