"""``cexledger report`` in the terminal: readable at 80 columns and without a terminal.

Per account (then all accounts together, when there are several) and per coin: a table of
the months (PnL, fees, funding, net) with a total line; the other movements of each month
that are not zero (liquidations, interest, deposits, withdrawals, transfers) as short lines;
the period line (net, maximum drawdown with its days, fees and funding as shares of PnL); the
instruments with the best and the worst net (:data:`TOP` each). Amounts are written exactly
(canonical decimal text: every digit, no exponent) and a number is never broken across lines
(a folded number reads as two): a table too wide for the width is split into tables of fewer
columns, each repeating the first one (:func:`_tables`). Texts from the archive (symbols,
coins, accounts) are plain text, never Rich markup.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .._clock import utc_text
from .._json import canonical_decimal
from .._render import _heading
from .model import CoinMonth, CoinPeriod, Instrument, Report

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..verify.model import Verification

__all__ = ["TOP", "report_view"]

TOP = 5
"""Instruments shown per coin at each end (best and worst net); ``--json`` has them all."""

_MOVES = (("liquidations", "liquidations (in PnL)"), ("interest", "interest"),
          ("deposits", "deposits"), ("withdrawals", "withdrawals"),
          ("transfers_in", "transfers in"), ("transfers_out", "transfers out"))


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _tables(width: int, headers: tuple[str, ...], rows: list[tuple[str, ...]],
            sections: tuple[int, ...] = ()) -> list[RenderableType]:
    """``rows`` (first column: the label, the others right-aligned numbers) as one borderless
    table if it fits ``width``, else as several, each with the label column and as many of
    the others as fit; a line is drawn above the rows whose index is in ``sections``. A cell
    is never wrapped (a single column wider than ``width`` folds: nothing is cut)."""
    sizes = [max(len(h), *(len(r[i]) for r in rows)) + 1 for i, h in enumerate(headers)]
    groups: list[list[int]] = []
    for i in range(1, len(headers)):
        if groups and sizes[0] + sum(sizes[j] for j in groups[-1]) + sizes[i] <= width:
            groups[-1].append(i)
        else:
            groups.append([i])
    out: list[RenderableType] = []
    for group in groups:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False,
                      header_style="bold")
        fits = sizes[0] + sum(sizes[j] for j in group) <= width
        for i in (0, *group):
            table.add_column(headers[i], justify="left" if i == 0 else "right",
                             no_wrap=fits, overflow="fold")
        for n, row in enumerate(rows):
            if n in sections:
                table.add_section()
            table.add_row(*(Text(row[i]) for i in (0, *group)))
        out.append(table)
    return out


def _amount(value: Decimal | None) -> str:
    return "-" if value is None else canonical_decimal(value)


def _percent(ratio: Decimal | None) -> str:
    return "-" if ratio is None else f"{canonical_decimal(ratio * 100)} %"


def _selection(report: Report) -> str:
    since = "the start" if report.since_ms is None else utc_text(report.since_ms)
    until = "now" if report.until_ms is None else utc_text(report.until_ms)
    who = report.account or "all accounts"
    if report.exchange:
        who += f" ({report.exchange})"
    return f"report of {who}, from {since} until {until} (UTC, until excluded)"


def _months(rows: list[CoinMonth], period: CoinPeriod | None, width: int) -> list[RenderableType]:
    cells = [(m.month, _amount(m.realized_pnl), _amount(m.fees),
              _amount(m.funding_paid + m.funding_received), _amount(m.net)) for m in rows]
    sections: tuple[int, ...] = ()
    if period is not None and len(rows) > 1:
        sections = (len(cells),)
        cells.append(("total", _amount(period.realized_pnl), _amount(period.fees),
                      _amount(period.funding), _amount(period.net)))
    parts = _tables(width, ("month", "PnL", "fees", "funding", "net"), cells, sections)
    moves = [f"{m.month} {label} {_amount(getattr(m, name))}"
             for m in rows for name, label in _MOVES if getattr(m, name)]
    others = sum(m.other_entries for m in rows)
    if others:
        moves.append(f"{_plural(others, 'entry', 'entries')} of kind other (exchange types not "
                     "understood yet)")
    parts.extend(Text(line) for line in moves)
    return parts


def _period_line(p: CoinPeriod) -> Text:
    fall = ""
    if p.max_drawdown:
        start = p.drawdown_from or "the start"
        fall = f" ({start} to {p.drawdown_to})"
    shares = (f"fees {_percent(p.fee_share)} and funding {_percent(p.funding_share)} of PnL"
              if p.fee_share is not None else "no shares of PnL (PnL not positive)")
    return Text(f"period: net {_amount(p.net)}, max drawdown {_amount(p.max_drawdown)}{fall}, {shares}")


def _instruments(rows: list[Instrument], width: int) -> list[RenderableType]:
    if not rows:
        return []
    ranked = sorted(rows, key=lambda i: (-i.net, i.exchange, i.symbol))
    shown = ranked if len(ranked) <= 2 * TOP else [*ranked[:TOP], *ranked[-TOP:]]
    several = len({i.exchange for i in rows}) > 1      # BTCUSDT of two exchanges: say which
    cells = []
    for i, row in enumerate(shown):
        if len(shown) < len(ranked) and i == TOP:
            cells.append(("…", "", "", "", "", "", ""))
        name = f"{row.symbol} ({row.exchange})" if several else row.symbol
        cells.append((name, _amount(row.net), str(row.closes), _percent(row.win_rate),
                      _amount(row.profit_factor), _amount(row.best), _amount(row.worst)))
    title = "instruments by net" + (f" (best and worst {TOP} of {len(ranked)})"
                                    if len(shown) < len(ranked) else "")
    return [Text(title), *_tables(width, ("instrument", "net", "closes", "win", "PF", "best", "worst"), cells)]


def _account(report: Report, account: str | None, width: int) -> list[RenderableType]:
    months: dict[str, list[CoinMonth]] = defaultdict(list)
    for m in report.months:
        if m.account == account:
            months[m.coin].append(m)
    periods = {p.coin: p for p in report.periods if p.account == account}
    instruments: dict[str, list[Instrument]] = defaultdict(list)
    for i in report.instruments:
        if i.account == account:
            instruments[i.coin].append(i)
    parts: list[RenderableType] = [_heading(account or "all accounts together", "bold underline")]
    for coin in sorted(months):
        period = periods.get(coin)
        parts.append(_heading(f"{account or 'all'} · {coin or '(no coin)'}"))
        parts.extend(_months(months[coin], period, width))
        if period is not None:
            parts.append(_period_line(period))
        parts.extend(_instruments(instruments.get(coin, []), width))
        parts.append(Text(""))
    return parts


def _verification(verification: Verification) -> list[RenderableType]:
    """``verify``'s own one-line summary, then each failing stream's problems."""
    from ..verify.render import summary

    lines = [Text(summary(verification), style=None if verification.ok else "bold red")]
    for verdict in verification.streams:
        lines.extend(Text(f"  {verdict.key}: {problem}") for problem in verdict.problems)
    if not verification.ok:
        lines.append(Text("  (every break: cexledger verify)"))
    return lines


def report_view(report: Report, verification: Verification | None = None, width: int = 80) -> RenderableType:
    """The whole terminal report (see the module docstring), for a console ``width`` wide."""
    parts: list[RenderableType] = [Text(_selection(report)), Text("")]
    if not report.coverage:
        parts.append(Text("The archive is empty. Run `cexledger sync` (or `cexledger demo` to try it)."))
    elif not report.months:
        parts.append(Text("no ledger entries in this selection: nothing to report"))
    else:
        accounts = sorted({m.account for m in report.months if m.account is not None})
        for account in accounts:
            parts.extend(_account(report, account, width))
        if len(accounts) > 1:
            parts.extend(_account(report, None, width))
    if verification is not None:
        parts.extend(_verification(verification))
    return Group(*parts)
