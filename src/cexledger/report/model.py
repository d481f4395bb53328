"""What a report holds: every figure, exact, in the shape the terminal view, ``--json`` and
the HTML page all render (one computation, three views: they cannot disagree).

Money is ``Decimal`` in the entry's coin: figures of different coins are never added, so every
figure is per coin. ``account`` ``None`` means all selected accounts together (one row per
coin summing the per-account rows). Months are UTC calendar months (``"2026-03"``), days UTC
days (``"2026-03-14"``). Ratios (win rate, profit factor, shares) are rounded to
:data:`RATIO_PLACES` decimals, half to even; ``None`` where the ratio has no meaning (nothing
to divide by). Sign convention is the ledger's: money in is positive, so fees paid and
funding paid are negative.

Definitions (``docs/report.md`` is the reference a user reads; keep the two equal):

* ``realized_pnl``: entries of kind ``realized_pnl`` and ``liquidation`` (closes by the
  trader and forced ones: both are realized profit or loss); ``liquidations`` is the part of
  it from kind ``liquidation``.
* ``fees``: kind ``fee`` (rebates included: a rebate is a positive fee).
* ``funding_paid`` / ``funding_received``: kind ``funding``, negative / positive entries.
* ``net`` = ``realized_pnl + fees + funding_paid + funding_received``.
* ``interest``: kind ``interest``; ``deposits`` / ``withdrawals``: kinds ``deposit`` /
  ``withdrawal`` (withdrawals negative); ``transfers_in`` / ``transfers_out``: kind
  ``transfer``, positive / negative entries. Trades, conversions, borrows, repays and
  ``other`` are not figures of the report (they move coins, not profit), but ``other`` is
  counted (``other_entries``) so nothing goes unseen.
* A *close* is one ``realized_pnl`` or ``liquidation`` entry (one per closing record); a win
  has a positive amount, a loss a negative one (a close at exactly zero is neither).
  ``win_rate`` = wins / closes; ``profit_factor`` = gross profit / |gross loss| (``None``
  without a loss); ``best`` / ``worst`` are the largest / smallest close.
* A month has a row when it has an entry of a kind the report counts (a month of trades
  alone has none).
* The period's ``cumulative`` is the running sum of ``net`` at the end of each UTC day that has
  entries counted in ``net``; ``max_drawdown`` is the largest fall of that series from a
  previous peak (the series starts at 0 before the first day), ``0`` if it never falls
  (``drawdown_from`` / ``drawdown_to`` are then ``None``; ``drawdown_from`` is also ``None``
  when the peak is that start); ``fee_share`` /
  ``funding_share`` = -fees / realized_pnl and -(funding_paid + funding_received) /
  realized_pnl, ``None`` unless realized_pnl is positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..model import StreamKey

__all__ = ["RATIO_PLACES", "CoinMonth", "CoinPeriod", "Instrument", "Report", "StreamCoverage"]

RATIO_PLACES = 4


@dataclass(frozen=True, slots=True)
class CoinMonth:
    """One coin's figures for one UTC month, for one account or (``account`` ``None``) all."""

    month: str
    account: str | None
    coin: str
    realized_pnl: Decimal
    liquidations: Decimal
    fees: Decimal
    funding_paid: Decimal
    funding_received: Decimal
    net: Decimal
    interest: Decimal
    deposits: Decimal
    withdrawals: Decimal
    transfers_in: Decimal
    transfers_out: Decimal
    other_entries: int


@dataclass(frozen=True, slots=True)
class Instrument:
    """One instrument (``exchange`` + ``symbol``) in one coin over the period, for one
    account or (``account`` ``None``) all. ``net`` = its realized PnL + fees + funding."""

    account: str | None
    exchange: str
    symbol: str
    coin: str
    net: Decimal
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    closes: int
    wins: int
    losses: int
    win_rate: Decimal | None
    profit_factor: Decimal | None
    best: Decimal | None
    worst: Decimal | None


@dataclass(frozen=True, slots=True)
class CoinPeriod:
    """One coin over the whole period, for one account or (``account`` ``None``) all."""

    account: str | None
    coin: str
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    net: Decimal
    max_drawdown: Decimal
    drawdown_from: str | None       # day of the peak before the largest fall
    drawdown_to: str | None         # day of the trough
    fee_share: Decimal | None
    funding_share: Decimal | None
    cumulative: tuple[tuple[str, Decimal], ...]  # (day, cumulative net at its end)


@dataclass(frozen=True, slots=True)
class StreamCoverage:
    """What one stream holds: its covered ranges and the gaps between them (half-open Unix
    ms), its records' first and last times, and where the exchange's retention starts now
    (nothing before ``retention_edge_ms`` can be fetched any more)."""

    key: StreamKey
    records: int
    first_ms: int | None
    last_ms: int | None
    covered: tuple[tuple[int, int], ...]
    gaps: tuple[tuple[int, int], ...]
    retention_edge_ms: int


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``cexledger report`` shows. ``since_ms``/``until_ms``/``account``/
    ``exchange`` are the selection (``None``: not limited); ``generated_ms`` when it was made."""

    generated_ms: int
    since_ms: int | None
    until_ms: int | None
    account: str | None
    exchange: str | None
    accounts: tuple[str, ...]
    months: tuple[CoinMonth, ...]
    instruments: tuple[Instrument, ...]
    periods: tuple[CoinPeriod, ...]
    coverage: tuple[StreamCoverage, ...] = field(default=())
