"""The report's figures (:mod:`.model` defines each), aggregated in Arrow from the ledger.

One query reads the ledger's entries the filters select (the ledger rule and the filters in
SQL: :func:`cexledger.archive.bulk.report_columns`; trades, conversions, borrows and repays
are not read, no figure uses them), with no ``ORDER BY``. Each Arrow batch is grouped by
stream, UTC day, kind, coin, symbol and the amount's sign, with the exact sum, count, minimum
and maximum of each group (``decimal256``: a sum of a batch of ``decimal128(38, 18)`` amounts
cannot overflow; a batch with an amount of more than 18 decimals is summed at 36). The batches' groups are merged into one small table (one row per group, not
per entry: memory stays flat however many entries there are), and every figure is computed
from that table in ``Decimal`` with :data:`cexledger._json.EXACT` (an inexact step raises).

The grouping runs as an Acero plan built from ``pyarrow._acero`` (what ``Table.group_by``
runs): the public ``pyarrow.acero`` imports ``pyarrow.dataset``, which imports pandas when it
is installed (80 MB and a fifth of a second more for every report). After each batch the
memory pool gives back what it freed (``release_unused``): mimalloc otherwise keeps tens of MB
of freed batches resident.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

import pyarrow as pa
import pyarrow._acero as acero
import pyarrow.compute as pc

from .._json import EXACT, canonical_decimal
from ..archive import Archive
from ..archive.bulk import report_columns
from ..ledger.current import require_current
from ..ledger.filters import Filters
from ..model import KIND_OF_TEXT, Kind, StreamKey
from ..retention import retention_ms
from .model import RATIO_PLACES, CoinMonth, CoinPeriod, Instrument, Report, StreamCoverage

__all__ = ["build_report"]

_UNREAD = (Kind.TRADE, Kind.CONVERT, Kind.BORROW, Kind.REPAY)
"""Kinds no figure uses: left out by the query (:mod:`.model`: they move coins, not profit)."""
_CLOSES = (Kind.REALIZED_PNL, Kind.LIQUIDATION)
_NET = (*_CLOSES, Kind.FEE, Kind.FUNDING)

_SCHEMA = pa.schema([
    pa.field("ts", pa.int64(), nullable=False),
    pa.field("stream_id", pa.int64(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("coin", pa.string()),
    pa.field("amount", pa.string(), nullable=False),
    pa.field("symbol", pa.string()),
])
_AMOUNT = pa.decimal128(38, 18)
_SUM = pa.decimal256(76, 18)
_WIDE = pa.decimal256(76, 36)
_TIME = pa.timestamp("ms")
_KEYS = ["stream_id", "day", "kind", "coin", "symbol", "sign"]
_AGGREGATES = ("sum", "count", "min", "max")
_ZERO = Decimal(0)
_RATIO = Decimal(1).scaleb(-RATIO_PLACES)
_DIVIDE = Context(prec=80)


@dataclass(slots=True)
class _Group:
    """One group's exact sum, count, smallest and largest amount."""

    total: Decimal
    count: int
    low: Decimal
    high: Decimal


_Key = tuple[int, date, str, "str | None", "str | None", int]


def _amounts(batch: pa.RecordBatch) -> tuple[pa.Array, pa.DataType]:
    """The batch's amounts, exact, and the type their sums take: ``decimal128(38, 18)`` (any
    exchange amount, the fast path), else, for a batch holding an amount with more decimals
    (a float some exchange printed in full), ``decimal256(76, 36)``."""
    text = batch.column("amount")
    try:
        return text.cast(_AMOUNT), _SUM
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    try:
        return text.cast(_WIDE), _WIDE
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        from ..ledger.columns import AmountRangeError     # on failure only: it imports pandas

        raise AmountRangeError(f"an amount does not fit decimal(76, 36) exactly ({exc}); "
                               "the report cannot sum it") from None


def _grouped(batch: pa.RecordBatch) -> pa.Table:
    amount, total = _amounts(batch)
    table = pa.Table.from_arrays([
        batch.column("stream_id"),
        batch.column("ts").cast(_TIME).cast(pa.date32()),       # the UTC day
        batch.column("kind"), batch.column("coin"), batch.column("symbol"),
        pc.sign(amount), amount.cast(total),
    ], names=[*_KEYS, "amount"])
    plan = acero.Declaration.from_sequence([
        acero.Declaration("table_source", acero.TableSourceNodeOptions(table)),
        acero.Declaration("aggregate", acero.AggregateNodeOptions(
            [("amount", f"hash_{name}", None, name) for name in _AGGREGATES], keys=_KEYS)),
    ])
    return plan.to_table(use_threads=False)


def _groups(archive: Archive, filters: Filters) -> dict[_Key, _Group]:
    """Every group of the selected entries (module docstring), merged over the batches."""
    from ..exchanges import ledger_shadows

    statement, params = report_columns(filters.account, filters.exchange, ledger_shadows(),
                                       filters.since_ms, filters.until_ms,
                                       [kind.value for kind in _UNREAD])
    merged: dict[_Key, _Group] = {}
    pool = pa.default_memory_pool()
    with localcontext(EXACT):
        for batch in archive.arrow_batches(statement, params, _SCHEMA):
            part = _grouped(batch).to_pydict()
            pool.release_unused()
            for key, total, count, low, high in zip(zip(*(part[name] for name in _KEYS)),
                                                    *(part[name] for name in _AGGREGATES)):
                found = merged.get(key)
                if found is None:
                    merged[key] = _Group(total, count, low, high)
                else:
                    found.total += total
                    found.count += count
                    found.low = min(found.low, low)
                    found.high = max(found.high, high)
    return merged


def _plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros (``1.500000000000000000`` -> ``1.5``)."""
    return Decimal(canonical_decimal(value))


def _ratio(top: Decimal, bottom: Decimal) -> Decimal:
    return _DIVIDE.divide(top, bottom).quantize(_RATIO, rounding=ROUND_HALF_EVEN, context=_DIVIDE)


def _day_text(day: date) -> str:
    return day.isoformat()


class _Month:
    __slots__ = ("realized_pnl", "liquidations", "fees", "funding_paid", "funding_received", "interest",
                 "deposits", "withdrawals", "transfers_in", "transfers_out", "other_entries")

    def __init__(self) -> None:
        for name in self.__slots__[:-1]:
            setattr(self, name, _ZERO)
        self.other_entries = 0

    def add(self, kind: Kind, sign: int, group: _Group) -> None:
        amount = group.total
        if kind in _CLOSES:
            self.realized_pnl += amount
            if kind is Kind.LIQUIDATION:
                self.liquidations += amount
        elif kind is Kind.FEE:
            self.fees += amount
        elif kind is Kind.FUNDING:
            if sign < 0:
                self.funding_paid += amount
            else:
                self.funding_received += amount
        elif kind is Kind.INTEREST:
            self.interest += amount
        elif kind is Kind.DEPOSIT:
            self.deposits += amount
        elif kind is Kind.WITHDRAWAL:
            self.withdrawals += amount
        elif kind is Kind.TRANSFER:
            if sign < 0:
                self.transfers_out += amount
            else:
                self.transfers_in += amount
        elif kind is Kind.OTHER:
            self.other_entries += group.count

    def row(self, month: str, account: str | None, coin: str) -> CoinMonth:
        money = {name: _plain(getattr(self, name)) for name in self.__slots__[:-1]}
        net = _plain(self.realized_pnl + self.fees + self.funding_paid + self.funding_received)
        return CoinMonth(month=month, account=account, coin=coin, net=net,
                         other_entries=self.other_entries, **money)


class _Instrument:
    __slots__ = ("realized_pnl", "fees", "funding", "closes", "wins", "losses", "profit", "loss",
                 "best", "worst")

    def __init__(self) -> None:
        self.realized_pnl = self.fees = self.funding = self.profit = self.loss = _ZERO
        self.closes = self.wins = self.losses = 0
        self.best: Decimal | None = None
        self.worst: Decimal | None = None

    def add(self, kind: Kind, sign: int, group: _Group) -> None:
        if kind is Kind.FEE:
            self.fees += group.total
        elif kind is Kind.FUNDING:
            self.funding += group.total
        else:
            self.realized_pnl += group.total
            self.closes += group.count
            if sign > 0:
                self.wins += group.count
                self.profit += group.total
            elif sign < 0:
                self.losses += group.count
                self.loss += group.total
            self.best = group.high if self.best is None else max(self.best, group.high)
            self.worst = group.low if self.worst is None else min(self.worst, group.low)

    def row(self, account: str | None, exchange: str, symbol: str, coin: str) -> Instrument:
        return Instrument(
            account=account, exchange=exchange, symbol=symbol, coin=coin,
            net=_plain(self.realized_pnl + self.fees + self.funding),
            realized_pnl=_plain(self.realized_pnl), fees=_plain(self.fees), funding=_plain(self.funding),
            closes=self.closes, wins=self.wins, losses=self.losses,
            win_rate=_ratio(Decimal(self.wins), Decimal(self.closes)) if self.closes else None,
            profit_factor=_ratio(self.profit, -self.loss) if self.losses else None,
            best=None if self.best is None else _plain(self.best),
            worst=None if self.worst is None else _plain(self.worst),
        )


def _period(account: str | None, coin: str, daily: dict[date, list[Decimal]]) -> CoinPeriod:
    """One coin's period from its per-day (realized PnL, fees, funding)."""
    pnl = sum((v[0] for v in daily.values()), _ZERO)
    fees = sum((v[1] for v in daily.values()), _ZERO)
    funding = sum((v[2] for v in daily.values()), _ZERO)
    running = peak = worst = _ZERO
    peak_day: str | None = None
    fall: tuple[str | None, str | None] = (None, None)
    cumulative = []
    for day in sorted(daily):
        text = _day_text(day)
        running += sum(daily[day], _ZERO)
        cumulative.append((text, _plain(running)))
        if running > peak:
            peak, peak_day = running, text
        elif peak - running > worst:
            worst, fall = peak - running, (peak_day, text)
    return CoinPeriod(
        account=account, coin=coin, realized_pnl=_plain(pnl), fees=_plain(fees),
        funding=_plain(funding), net=_plain(pnl + fees + funding), max_drawdown=_plain(worst),
        drawdown_from=fall[0], drawdown_to=fall[1],
        fee_share=_ratio(-fees, pnl) if pnl > 0 else None,
        funding_share=_ratio(-funding, pnl) if pnl > 0 else None,
        cumulative=tuple(cumulative),
    )


def _coverage(archive: Archive, filters: Filters, now_ms: int) -> tuple[StreamCoverage, ...]:
    found = []
    for summary in archive.streams(filters.account):
        key = summary.key
        if filters.exchange is not None and key.exchange != filters.exchange:
            continue
        covered: list[tuple[int, int]] = []
        for start, end in sorted(summary.coverage):
            if covered and start <= covered[-1][1]:
                covered[-1] = (covered[-1][0], max(covered[-1][1], end))
            else:
                covered.append((start, end))
        gaps = tuple((a[1], b[0]) for a, b in zip(covered, covered[1:]))
        found.append(StreamCoverage(key=key, records=summary.records, first_ms=summary.oldest_ts,
                                    last_ms=summary.newest_ts, covered=tuple(covered), gaps=gaps,
                                    retention_edge_ms=now_ms - retention_ms(key)))
    return tuple(found)


def _both(account: str) -> tuple[str, None]:
    """An account's rows are also the all-accounts rows (``None``)."""
    return (account, None)


def _order(account: str | None) -> tuple[bool, str]:
    """Accounts by name, all accounts together last."""
    return (account is None, account or "")


def build_report(archive: Archive, filters: Filters = Filters(), *, now_ms: int) -> Report:
    """The report of the ledger's entries ``filters`` select (its kind is ignored: a report
    is of every kind); refuses entries an older cexledger derived (``require_current``)."""
    require_current(archive, filters.account, filters.exchange)
    groups = _groups(archive, filters)
    keys: dict[int, StreamKey] = archive.stream_keys()       # after the rows (see arrow.py)
    coverage = _coverage(archive, filters, now_ms)

    months: dict[tuple[str | None, str, str], _Month] = defaultdict(_Month)
    instruments: dict[tuple[str | None, str, str, str], _Instrument] = defaultdict(_Instrument)
    daily: dict[tuple[str | None, str], dict[date, list[Decimal]]] = defaultdict(dict)
    month_of: dict[date, str] = {}
    with localcontext(EXACT):
        for (sid, day, text, coin, symbol, sign), group in groups.items():
            kind = KIND_OF_TEXT.get(text, Kind.OTHER)
            key = keys[sid]
            coin = coin or ""
            month = month_of.get(day)
            if month is None:
                month = month_of[day] = _day_text(day)[:7]
            for account in _both(key.account):
                months[(account, coin, month)].add(kind, sign, group)
                if kind not in _NET:
                    continue
                sums = daily[(account, coin)].setdefault(day, [_ZERO, _ZERO, _ZERO])
                sums[0 if kind in _CLOSES else 1 if kind is Kind.FEE else 2] += group.total
                if symbol is not None:
                    instruments[(account, key.exchange, symbol, coin)].add(kind, sign, group)
        month_rows = tuple(months[k].row(k[2], k[0], k[1])
                           for k in sorted(months, key=lambda k: (_order(k[0]), k[1], k[2])))
        instrument_rows = sorted((v.row(*k) for k, v in instruments.items()),
                                 key=lambda i: (_order(i.account), i.coin, -i.net, i.exchange, i.symbol))
        periods = tuple(_period(k[0], k[1], daily[k]) for k in sorted(daily, key=lambda k: (_order(k[0]), k[1])))
    accounts = tuple(sorted({c.key.account for c in coverage}))
    return Report(generated_ms=now_ms, since_ms=filters.since_ms, until_ms=filters.until_ms,
                  account=filters.account, exchange=filters.exchange, accounts=accounts,
                  months=month_rows, instruments=tuple(instrument_rows), periods=periods,
                  coverage=coverage)
