"""Spot trades as tax tools need them: the legs of one fill paired into one trade.

Bitget books a spot (or margin) fill as separate rows: ``ORDER_DEALT_IN`` of the coin
received (with the fee, in that coin), ``ORDER_DEALT_FROZEN_OUT`` of the coin paid, at the
same ``ts`` under the same ``symbol``; a conversion likewise as ``EXCHANGE_SOURCE_TOKEN_USER_OUT``
and ``EXCHANGE_TARGET_TOKEN_USER_IN``. In the ledger these are entries of kind ``trade`` or
``convert`` (the *legs*), each record's fee an entry of kind ``fee``.

The rule (:class:`Pairing`):

- Legs are entries of kind ``trade`` or ``convert`` with a non-zero amount. Legs of one
  account, exchange, category, symbol, kind and ``ts`` form a group, with the fee entries of
  the legs' own records.
- A group whose legs, summed per coin, bring exactly one coin in and take exactly one other
  coin out is **one trade** (:class:`Trade`): received = the in-coin's sum, sent = the
  out-coin's sum, fees = the group's fee entries summed per coin. Several fills of one symbol
  in the same millisecond are one trade of their sums.
- Any other group (legs of one direction only, a coin whose legs sum to zero, three coins)
  has **no partner**: its entries are passed on one by one, unchanged, and counted in
  :attr:`Pairing.unpaired` — reported, never dropped. An export writes such a leg as a plain
  movement of its coin and says how many there were.

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
        ts = None
        for entry in self._entries:
            if entry.ts != ts:
                if held:
                    yield from self._settle(held)
                    held = []
                ts = entry.ts
            held.append(entry)
        if held:
            yield from self._settle(held)

    def _settle(self, held: list[LedgerEntry]) -> Iterator[Trade | LedgerEntry]:
        """The events of one ``ts``'s entries."""
        legs = sum(map(_is_leg, held))
        if legs < 2:
            self.unpaired += legs
            yield from held
            return
        legs_of = {_record(e) for e in held if _is_leg(e)}
        groups: dict[tuple, list[LedgerEntry]] = {}
        kinds: dict[tuple, Kind] = {}
        record_group: dict[tuple, tuple] = {}
        for e in held:
            if _is_leg(e):
                key = (e.account, e.exchange, e.category, e.symbol, e.kind)
                groups.setdefault(key, []).append(e)
                kinds[key] = e.kind
                record_group[_record(e)] = key
        for e in held:
            record = _record(e)
            if e.kind is _FEE and record in legs_of:
                groups[record_group[record]].append(e)
        trades: dict[tuple, Trade | None] = {key: self._trade(kinds[key], members)
                                              for key, members in groups.items()}
        emitted: set[tuple] = set()
        for e in held:
            record = _record(e)
            key = record_group.get(record) if (_is_leg(e) or (e.kind is _FEE and record in legs_of)) else None
            trade = trades.get(key) if key is not None else None
            if trade is None:
                if key is not None and _is_leg(e):
                    self.unpaired += 1
                yield e
            elif key not in emitted:
                emitted.add(key)
                self.trades += 1
                yield trade

    @staticmethod
    def _trade(kind: Kind, members: list[LedgerEntry]) -> Trade | None:
        """The trade a group of legs (and their fees) makes, ``None`` when it is no pair."""
        sums: dict[str, Decimal] = {}
        fees: dict[str, Decimal] = {}
        for e in members:
            into = fees if e.kind is _FEE else sums
            coin = e.coin or ""
            into[coin] = EXACT.add(into.get(coin, _ZERO), e.amount)
        coins_in = [c for c, v in sums.items() if v > 0]
        coins_out = [c for c, v in sums.items() if v < 0]
        if len(coins_in) != 1 or len(coins_out) != 1 or len(sums) != 2:
            return None
        members.sort(key=_LEDGER_ORDER)
        first = members[0]
        return Trade(
            kind=kind, account=first.account, exchange=first.exchange, category=first.category,
            symbol=first.symbol, ts=first.ts,
            received=(coins_in[0], sums[coins_in[0]]), sent=(coins_out[0], sums[coins_out[0]]),
            fees=tuple(fees.items()), entries=tuple(members),
        )


def _LEDGER_ORDER(e: LedgerEntry) -> tuple:
    return (e.ts, e.account, e.record_id, e.stream, e.seq)
