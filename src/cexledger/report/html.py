"""``cexledger report --html FILE``: one self-contained page, readable offline from ``file://``.

The page makes no request: no script, no external style, font or image (the system font
stack; charts are inline SVG drawn by :mod:`.svg`), and its Content-Security-Policy forbids
any (``default-src 'none'``), so even a stray URL in it could not reach the network, and an
archive text slipping through unescaped could not run. Every text from the archive (account
names, symbols, coins, problem lines) is escaped.

**Figure keys.** Every number the page shows carries the key of the report figure it is, so a
test (or a script) can check the page against ``--json``: a table cell, or an SVG ``<g>``
around a chart's marks, has ``data-figure="KEY"``. A key is ``/``-separated parts, each
percent-encoded (``urllib.parse.quote(part, safe="")``: a ``/`` in an account name cannot
split it), the account ``*`` for all selected accounts together (a real account named ``*``
is ``%2A``):

* ``months/MONTH/ACCOUNT/COIN/FIELD``: a :class:`~.model.CoinMonth` field
  (``months/2026-03/*/USDT/net``);
* ``instruments/ACCOUNT/EXCHANGE/SYMBOL/COIN/FIELD``: an :class:`~.model.Instrument` field;
* ``periods/ACCOUNT/COIN/FIELD``: a :class:`~.model.CoinPeriod` field (not ``cumulative``:
  the chart draws it, its last value is ``net``);
* ``coverage/ACCOUNT/STREAM/PARTITION/records``: a :class:`~.model.StreamCoverage`'s count;
* ``data-line="verify/ACCOUNT/STREAM/PARTITION/problems/I"`` (or ``checks/I``) on a
  :class:`~..verify.model.StreamVerdict`'s I-th line of text (the first :data:`LINES` of
  each); the stream's row of the coverage table has
  ``data-stream="ACCOUNT/EXCHANGE/STREAM/PARTITION"``.

The figure's exact value is the element's ``data-value`` when it has one (a ratio shown as a
percentage, every chart mark), else its text with the thousands commas removed; ``—`` is a
figure without a value (``None``). Money is the exact canonical decimal (never exponent
form); a chart's label beside its mark is rounded for reading (:func:`.svg.rounded`), its
tooltip exact. The "others" bar of an instrument chart is no figure of the report: its
``<figure>`` carries ``data-others="instruments/ACCOUNT/COIN"``, the bar's ``<g>`` (the one
without ``data-figure``) ``data-value``, the sum of ``net`` of that coin's instruments the
chart does not show.

Charts show the :data:`MAIN_COINS` coins with the most days of activity; every coin is in the
tables. The layout is one column of sections, charts two abreast from 1 100 px, tables and
charts scrolling sideways inside their box on a phone; print shows all but what is folded
(per-account months, the checks that passed).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from .._clock import DAY_MS, utc_text
from .._json import canonical_decimal
from ..export._output import written
from ..model import StreamKey
from ..verify.model import StreamVerdict, Verification
from . import svg
from .model import CoinMonth, CoinPeriod, Instrument, Report, StreamCoverage
from .svg import Mark, grouped, text

__all__ = ["ALL", "LINES", "MAIN_COINS", "TOP_INSTRUMENTS", "figure_key", "render_html", "write_html"]

ALL = "*"
MAIN_COINS = 4
TOP_INSTRUMENTS = 12
LINES = 12
NONE = "—"

MONTH_FIELDS = (
    ("net", "Net"), ("realized_pnl", "Realized PnL"), ("liquidations", "of which liquidations"),
    ("fees", "Fees"), ("funding_paid", "Funding paid"), ("funding_received", "Funding received"),
    ("interest", "Interest"), ("deposits", "Deposits"), ("withdrawals", "Withdrawals"),
    ("transfers_in", "Transfers in"), ("transfers_out", "Transfers out"),
    ("other_entries", "Other entries"),
)
INSTRUMENT_FIELDS = (
    ("net", "Net"), ("realized_pnl", "Realized PnL"), ("fees", "Fees"), ("funding", "Funding"),
    ("closes", "Closes"), ("wins", "Wins"), ("losses", "Losses"), ("win_rate", "Win rate"),
    ("profit_factor", "Profit factor"), ("best", "Best close"), ("worst", "Worst close"),
)
PERIOD_FIELDS = (
    ("net", "Net"), ("realized_pnl", "Realized PnL"), ("fees", "Fees"), ("funding", "Funding"),
    ("max_drawdown", "Max drawdown"), ("drawdown_from", "Peak day"), ("drawdown_to", "Trough day"),
    ("fee_share", "Fees / PnL"), ("funding_share", "Funding / PnL"),
)
PERCENT = {"win_rate", "fee_share", "funding_share"}
SEGMENTS = (("realized_pnl", "pnl", "PnL"), ("fees", "fee", "fees"),
            ("funding_paid", "paid", "funding paid"), ("funding_received", "received", "funding received"))


def figure_key(*parts: str | None) -> str:
    """The module docstring's key: ``None`` (all accounts) as ``*``, every part encoded."""
    return "/".join(ALL if part is None else quote(part, safe="") for part in parts)


def write_html(report: Report, verification: Verification | None, path: str | os.PathLike) -> int:
    """Write the page to ``path`` the way exports are written (``export._output.written``:
    replaced whole, never left half-written, a failed write one line); bytes written."""
    data = render_html(report, verification).encode("utf-8")
    with written(Path(path)) as out:
        out.write(data)
    return len(data)


def render_html(report: Report, verification: Verification | None) -> str:
    """The whole page."""
    coins = _main_coins(report)
    title = f"cexledger report: {_period_text(report)}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">",
        f"<title>{text(title)}</title><style>{CSS}</style></head><body>",
        _header(report, verification, title),
    ]
    if not report.months and not report.instruments:
        parts.append('<section><p class="note">No ledger entries in this selection.</p></section>')
    else:
        parts += [_period_section(report, coins), _monthly_section(report, coins),
                  _instrument_section(report, coins)]
    parts += [_coverage_section(report, verification),
              '<footer>Figures are exact decimals in each coin (money in positive: fees and funding paid '
              'are negative); months are UTC. Definitions: <code>docs/report.md</code>. Hover a chart '
              "mark for its exact value.</footer></body></html>"]
    return "".join(parts)


def _header(report: Report, verification: Verification | None, title: str) -> str:
    accounts = ", ".join(report.accounts) if report.accounts else "none"
    exchange = f" · exchange {report.exchange}" if report.exchange else ""
    if verification is None:
        verdict = '<span class="verdict none">not verified</span>'
    elif verification.ok:
        verdict = '<span class="verdict ok">archive verified: OK</span>'
    else:
        broken = sum(not s.ok for s in verification.streams)
        verdict = (f'<span class="verdict broken">archive verification: BROKEN in '
                   f'{broken} stream{"s" * (broken != 1)}</span>')
    return (f"<header><h1>{text(title)}</h1>"
            f'<p class="meta">Accounts: <b>{text(accounts)}</b>{text(exchange)} · generated '
            f"{text(utc_text(report.generated_ms))} UTC · {verdict}</p></header>")


def _period_text(report: Report) -> str:
    if report.since_ms is None and report.until_ms is None:
        months = sorted({m.month for m in report.months})
        return f"{months[0]} to {months[-1]}" if months else "the whole archive"
    since = "the first record" if report.since_ms is None else _moment(report.since_ms)
    until = "now" if report.until_ms is None else f"{_moment(report.until_ms)} (exclusive)"
    return f"{since} to {until}"


def _moment(ms: int) -> str:
    return utc_text(ms, minutes=ms % DAY_MS != 0)


def _main_coins(report: Report) -> list[str]:
    periods = [p for p in report.periods if p.account is None]
    periods.sort(key=lambda p: (-len(p.cumulative), p.coin))
    return [p.coin for p in periods[:MAIN_COINS]]


def _accounts(report: Report) -> list[str]:
    """The accounts that get their own rows: none when there is only one (it is the total)."""
    return list(report.accounts) if len(report.accounts) > 1 else []


# --- cells ------------------------------------------------------------------------------------

def _td(key: str, value: object, field: str) -> str:
    attr = f' data-figure="{text(key)}"'
    if value is None:
        return f'<td class="none"{attr}>{NONE}</td>'
    if isinstance(value, str):
        return f"<td{attr}>{text(value)}</td>"
    if isinstance(value, int):
        return f"<td{attr}>{value}</td>"
    cls = ' class="neg"' if value < 0 else ""
    if field in PERCENT:
        return (f'<td{cls}{attr} data-value="{canonical_decimal(value)}">'
                f"{canonical_decimal(value * 100)} %</td>")
    return f"<td{cls}{attr}>{grouped(value)}</td>"


def _table(head: Sequence[str], rows: Iterable[str], cls: str = "num") -> str:
    header = "".join(f"<th>{text(h)}</th>" for h in head)
    return (f'<div class="wrap"><table class="{cls}"><thead><tr>{header}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _who(account: str | None) -> str:
    return "all accounts" if account is None else account


# --- period -----------------------------------------------------------------------------------

def _period_section(report: Report, coins: list[str]) -> str:
    order = {None: 0, **{a: i + 1 for i, a in enumerate(report.accounts)}}
    shown = [p for p in report.periods if p.account is None or p.account in _accounts(report)]
    shown.sort(key=lambda p: (order.get(p.account, len(order)), p.coin))
    rows = []
    for p in shown:
        cells = "".join(_td(figure_key("periods", p.account, p.coin, f), getattr(p, f), f) for f, _ in PERIOD_FIELDS)
        rows.append(f'<tr><th>{text(_who(p.account))}</th><th>{text(p.coin)}</th>{cells}</tr>')
    charts = [_cumulative_chart(p) for c in coins for p in report.periods if p.account is None and p.coin == c
              and p.cumulative]
    more = len({p.coin for p in report.periods}) - len(coins)
    note = (f'<p class="note">Charts show the {len(coins)} coins with the most active days; '
            f"the {more} other{'s' * (more != 1)} are in the tables.</p>" if more > 0 else "")
    return ("<section><h2>Over the period</h2>"
            + _table(["Account", "Coin", *(h for _, h in PERIOD_FIELDS)], rows)
            + "<h3>Cumulative net, all accounts</h3>" + note
            + f'<div class="charts">{"".join(charts)}</div></section>')


def _day_ms(day: str) -> int:
    moment = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    return int(moment.timestamp()) * 1000


def _cumulative_chart(period: CoinPeriod) -> str:
    first = _day_ms(period.cumulative[0][0])
    points, before = [], 0.0
    for day, value in period.cumulative:          # steps: the sum changes during its day only
        start = float(_day_ms(day))
        points += [(start, before), (start + DAY_MS, float(value))]
        before = float(value)
    end = points[-1][0]
    band = None
    if period.drawdown_to is not None and period.max_drawdown:      # from None: the peak is the start
        peak = first if period.drawdown_from is None else _day_ms(period.drawdown_from) + DAY_MS
        band = svg.Band(float(peak), float(_day_ms(period.drawdown_to) + DAY_MS),
                        f"largest drawdown: {grouped(period.max_drawdown)} {period.coin} "
                        f"({period.drawdown_from or 'the start'} to {period.drawdown_to})")
    mark = Mark(figure_key("periods", None, period.coin, "net"), period.net, "net over the period", period.coin)
    chart = svg.line_chart(points, _time_ticks(first, int(end), room=5), x_range=(float(first), end), end=mark,
                           band=band, label=f"cumulative net in {period.coin} per day", y_title=period.coin)
    return f'<figure><figcaption>{text(period.coin)}: cumulative net per UTC day</figcaption>{chart}</figure>'


def _time_ticks(start: int, end: int, room: int = 7) -> list[tuple[float, str]]:
    """Month starts inside ``start..end``, every 1, 2, 3, 6 or 12 months: at most ``room``."""
    first = datetime.fromtimestamp(start / 1000, tz=timezone.utc)
    last = datetime.fromtimestamp(end / 1000, tz=timezone.utc)
    months = (last.year - first.year) * 12 + last.month - first.month + 1
    step = next((s for s in (1, 2, 3, 6, 12, 24, 60) if months / s <= room), 120)
    index = first.year * 12 + first.month            # the month after ``first``'s (month - 1 based)
    index += (-index) % step
    ticks = []
    while True:
        year, month = divmod(index, 12)
        moment = datetime(year, month + 1, 1, tzinfo=timezone.utc)
        ms = int(moment.timestamp()) * 1000
        if ms > end:
            return ticks
        if ms >= start:
            ticks.append((float(ms), moment.strftime("%Y" if step >= 12 else "%Y-%m")))
        index += step


# --- months -----------------------------------------------------------------------------------

def _monthly_section(report: Report, coins: list[str]) -> str:
    by_coin: dict[tuple[str | None, str], list[CoinMonth]] = defaultdict(list)
    for m in report.months:
        by_coin[m.account, m.coin].append(m)
    charts = [_monthly_chart(c, sorted(by_coin[None, c], key=lambda m: m.month)) for c in coins if by_coin[None, c]]
    tables = [_month_table(c, sorted(ms, key=lambda m: m.month))
              for (a, c), ms in sorted(by_coin.items(), key=lambda i: i[0][1]) if a is None]
    details = []
    for account in _accounts(report):
        inner = [_month_table(c, sorted(ms, key=lambda m: m.month))
                 for (a, c), ms in sorted(by_coin.items(), key=lambda i: i[0][1]) if a == account]
        details.append(f"<details><summary>Months of account <b>{text(account)}</b></summary>{''.join(inner)}</details>")
    return ("<section><h2>Month by month</h2><h3>PnL, fees and funding per UTC month, all accounts</h3>"
            f'<div class="charts">{"".join(charts)}</div><h3>Every figure per month, all accounts</h3>'
            + "".join(tables) + "".join(details) + "</section>")


def _monthly_chart(coin: str, months: list[CoinMonth]) -> str:
    bars = []
    present = {m.month for m in months}
    for name in _every_month(months[0].month, months[-1].month):
        if name not in present:
            bars.append(svg.Bar(name, (), None))
    for m in months:
        segments = tuple(svg.Segment(cls, Mark(figure_key("months", m.month, None, coin, f), getattr(m, f),
                                               f"{m.month} {name}", coin))
                         for f, cls, name in SEGMENTS)
        total = Mark(figure_key("months", m.month, None, coin, "net"), m.net, f"{m.month} net", coin)
        bars.append(svg.Bar(m.month, segments, total))
    bars.sort(key=lambda b: b.name)
    chart = svg.stacked_bar_chart(bars, label=f"PnL, fees and funding in {coin} per month", y_title=coin)
    return (f"<figure><figcaption>{text(coin)}: PnL, fees and funding per month</figcaption>"
            f"{LEGEND}{chart}</figure>")


def _every_month(first: str, last: str) -> list[str]:
    year, month = map(int, first.split("-"))
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


LEGEND = ('<p class="legend">' + "".join(f'<span class="key {cls}"></span>{name} ' for _, cls, name in SEGMENTS)
          + '<span class="key total"></span>net</p>')


def _month_table(coin: str, months: list[CoinMonth]) -> str:
    rows = []
    for m in months:
        cells = "".join(_td(figure_key("months", m.month, m.account, m.coin, f), getattr(m, f), f)
                        for f, _ in MONTH_FIELDS)
        rows.append(f"<tr><th>{text(m.month)}</th>{cells}</tr>")
    return f"<h4>{text(coin)}</h4>" + _table(["Month", *(h for _, h in MONTH_FIELDS)], rows)


# --- instruments ------------------------------------------------------------------------------

def _instrument_section(report: Report, coins: list[str]) -> str:
    instruments = [i for i in report.instruments if i.account is None]
    instruments.sort(key=lambda i: (i.coin, -i.net, i.exchange, i.symbol))
    exchanges = len({i.exchange for i in instruments}) > 1
    charts = [_instrument_chart(c, [i for i in instruments if i.coin == c], exchanges) for c in coins
              if any(i.coin == c for i in instruments)]
    rows = []
    for i in instruments:
        cells = "".join(_td(figure_key("instruments", None, i.exchange, i.symbol, i.coin, f), getattr(i, f), f)
                        for f, _ in INSTRUMENT_FIELDS)
        rows.append(f"<tr><th>{text(i.exchange)}</th><th>{text(i.symbol)}</th><th>{text(i.coin)}</th>{cells}</tr>")
    return ("<section><h2>By instrument</h2><h3>Net per instrument, all accounts</h3>"
            f'<div class="charts">{"".join(charts)}</div><h3>Every instrument, all accounts</h3>'
            + _table(["Exchange", "Symbol", "Coin", *(h for _, h in INSTRUMENT_FIELDS)], rows) + "</section>")


def _instrument_chart(coin: str, instruments: list[Instrument], exchanges: bool) -> str:
    ranked = sorted(instruments, key=lambda i: (-abs(i.net), i.exchange, i.symbol))
    shown, rest = ranked[:TOP_INSTRUMENTS], ranked[TOP_INSTRUMENTS:]
    if len(rest) == 1:
        shown, rest = ranked, []
    shown.sort(key=lambda i: (-i.net, i.exchange, i.symbol))
    rows = []
    for i in shown:
        name = f"{i.symbol} ({i.exchange})" if exchanges else i.symbol
        rows.append((name, Mark(figure_key("instruments", None, i.exchange, i.symbol, coin, "net"), i.net,
                                f"{name} net", coin)))
    others = ""
    if rest:
        total = sum((i.net for i in rest), Decimal(0))
        rows.append((f"{len(rest)} others", Mark(None, total, f"{len(rest)} other instruments' net", coin)))
        others = f' data-others="{text(figure_key("instruments", None, coin))}"'
    chart = svg.hbar_chart(rows, label=f"net per instrument in {coin}")
    return (f"<figure{others}><figcaption>{text(coin)}: net per instrument, largest first</figcaption>"
            f"{chart}</figure>")


# --- coverage and verdicts --------------------------------------------------------------------

def _coverage_section(report: Report, verification: Verification | None) -> str:
    verdicts = {v.key: v for v in verification.streams} if verification is not None else {}
    keys: list[StreamKey] = [c.key for c in report.coverage]
    keys += [k for k in verdicts if k not in {c.key for c in report.coverage}]
    coverage = {c.key: c for c in report.coverage}
    span = _span(report)
    rows = [_coverage_row(key, coverage.get(key), verdicts.get(key), verification is not None, span,
                          report.generated_ms)
            for key in sorted(keys, key=lambda k: (k.account, k.exchange, k.stream, k.partition))]
    axis = "".join(f'<span style="left:{(ms - span[0]) / (span[1] - span[0]) * 100:.2f}%">{text(name)}</span>'
                   for ms, name in _time_ticks(*span, room=8))
    legend = ('<p class="legend"><span class="key covered"></span>archived '
              '<span class="key gap"></span>gap <span class="key edge"></span>the exchange\'s retention edge '
              '(older rows cannot be fetched any more) <span class="key today"></span>now</p>')
    return ("<section><h2>Archive coverage and verification</h2>" + legend +
            '<div class="wrap"><table class="coverage"><thead><tr><th>Stream</th><th>Records</th>'
            f'<th class="axis"><div class="ticks">{axis}</div></th><th>Verdict</th></tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
            "</section>")


def _span(report: Report) -> tuple[int, int]:
    starts = [report.generated_ms - DAY_MS]
    for c in report.coverage:
        starts += [s for s, _ in c.covered] + [s for s, _ in c.gaps] + [c.retention_edge_ms]
        starts += [c.first_ms] if c.first_ms is not None else []
    start, end = min(starts), report.generated_ms
    pad = (end - start) // 50
    return start - pad, end + pad


def _coverage_row(key: StreamKey, coverage: StreamCoverage | None, verdict: StreamVerdict | None,
                  verified: bool, span: tuple[int, int], now: int) -> str:
    where = f"{key.account}/{key.exchange}/{key.stream}/{key.partition}"
    name = (f'<th><b>{text(key.account)}</b> <span class="small">{text(key.exchange)}</span><br>'
            f'{text(key.stream)} <b class="nowrap">{text(key.partition)}</b></th>')
    if coverage is None:
        records, line = '<td class="none">—</td>', "<td></td>"
    else:
        records = _td(figure_key("coverage", key.account, key.stream, key.partition, "records"), coverage.records, "")
        line = f"<td>{_timeline(coverage, span, now, where)}</td>"
    row = text(figure_key(key.account, key.exchange, key.stream, key.partition))
    return f'<tr data-stream="{row}">{name}{records}{line}<td>{_verdict(key, verdict, verified)}</td></tr>'



def _timeline(c: StreamCoverage, span: tuple[int, int], now: int, where: str) -> str:
    start, length = span[0], span[1] - span[0]

    def at(ms: int) -> float:
        return min(max((ms - start) / length, 0.0), 1.0)

    def ranges(pairs: Sequence[tuple[int, int]], what: str) -> list[tuple[float, float, str]]:
        return [(at(s), at(e), f"{what} {utc_text(s)} to {utc_text(e)} UTC") for s, e in pairs]

    lines = [(at(c.retention_edge_ms), "edge", f"retention edge {utc_text(c.retention_edge_ms)} UTC"),
             (at(now), "today", f"now: {utc_text(now)} UTC")]
    return svg.timeline(ranges(c.covered, "archived"), ranges(c.gaps, "gap"), lines,
                        label=f"coverage of {where}")


def _verdict(key: StreamKey, verdict: StreamVerdict | None, verified: bool) -> str:
    if verdict is None:
        return f'<span class="verdict none">{"not checked" if verified else "not verified"}</span>'
    base = figure_key("verify", key.account, key.stream, key.partition)
    badge = '<span class="verdict ok">OK</span>' if verdict.ok else '<span class="verdict broken">BROKEN</span>'
    checks = _lines(base, "checks", verdict.checks)
    if checks:
        count = len(verdict.checks)
        checks = f'<details class="checks"><summary>{count} check{"s" * (count != 1)} passed</summary>{checks}</details>'
    return badge + _lines(base, "problems", verdict.problems) + checks


def _lines(base: str, what: str, lines: Sequence[str]) -> str:
    if not lines:
        return ""
    items = "".join(f'<li data-line="{text(base)}/{what}/{i}">{text(line)}</li>' for i, line in enumerate(lines[:LINES]))
    if len(lines) > LINES:
        items += f"<li>… {len(lines) - LINES} more: <code>cexledger verify</code></li>"
    return f'<ul class="{what}">{items}</ul>'


CSS = """
:root{color-scheme:light;--ink:#1f2933;--soft:#616e7c;--line:#d9dee3;--pos:#2f7d4f;--neg:#b42318;
--pnl:#3b6fb6;--fee:#e08a1e;--paid:#8e5bb5;--received:#3aa6a0}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1240px;padding:16px 20px 40px;color:var(--ink);background:#fff;
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;padding-bottom:4px;
border-bottom:2px solid var(--line)}h3{font-size:15px;margin:18px 0 6px}h4{font-size:14px;margin:14px 0 4px}
.meta{color:var(--soft);margin:0}.note,.small,footer{color:var(--soft);font-size:12px}
footer{margin-top:32px;border-top:1px solid var(--line);padding-top:8px}
.wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:3px 8px;border-bottom:1px solid var(--line);vertical-align:top;white-space:nowrap}
thead th{text-align:left;font-weight:600;background:#f5f7f9;position:sticky;top:0}
table.num td{text-align:right}td.neg{color:var(--neg)}td.none{color:var(--soft);text-align:center}
tbody th{text-align:left;font-weight:500}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,540px),1fr));gap:12px 20px}
figure{margin:0;overflow-x:auto}figcaption{font-size:13px;font-weight:600;margin:4px 0}
svg.chart{display:block;width:100%;min-width:480px;height:auto}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--ink)}
svg .tick{fill:var(--soft);font-size:11px}svg .axis-title{font-weight:600}svg .value{font-size:11px}
.grid{stroke:#eceff2}.zero{stroke:#7b8794}.tickmark{stroke:#7b8794}
.line{fill:none;stroke:var(--pnl);stroke-width:2;stroke-linejoin:round}.area{fill:var(--pnl);opacity:.12}
.band{fill:var(--neg);opacity:.1}.end{fill:var(--pnl)}
.pnl{fill:var(--pnl)}.fee{fill:var(--fee)}.paid{fill:var(--paid)}.received{fill:var(--received)}
.total{fill:#111}.pos{fill:var(--pos)}.neg{fill:var(--neg)}
table.coverage{width:100%}table.coverage td,table.coverage th{white-space:normal}
table.coverage th.axis{min-width:360px;width:55%;font-weight:400;color:var(--soft);font-size:11px}
.ticks{position:relative;height:1.4em}.ticks span{position:absolute;bottom:0;transform:translateX(-50%);
white-space:nowrap}.nowrap{white-space:nowrap}
svg.timeline{display:block;width:100%;min-width:340px;height:20px}
.track{fill:#f1f3f5}.covered{fill:var(--pos);opacity:.8}.gap{fill:var(--neg)}
.edge{stroke:#1f2933;stroke-width:2;stroke-dasharray:3 2}.today{stroke:var(--pnl);stroke-width:2}
.verdict{display:inline-block;font-weight:700;font-size:12px;padding:0 6px;border-radius:3px}
.verdict.ok{background:#e3f4e8;color:var(--pos)}.verdict.broken{background:#fde7e4;color:var(--neg)}
.verdict.none{background:#f1f3f5;color:var(--soft)}
ul.problems,ul.checks{margin:2px 0 0;padding-left:18px;font-size:12px}ul.problems{color:var(--neg)}
ul.checks{color:var(--soft)}
.legend{font-size:12px;color:var(--soft)}.key{display:inline-block;width:14px;height:10px;margin:0 4px 0 10px;
vertical-align:middle}.key.covered{background:var(--pos)}.key.gap{background:var(--neg)}
.key.pnl{background:var(--pnl)}.key.fee{background:var(--fee)}.key.paid{background:var(--paid)}
.key.received{background:var(--received)}.key.total{background:#111;height:3px}
figure .legend{margin:0 0 2px}.key.edge{border-left:2px dashed #1f2933;width:2px}.key.today{border-left:2px solid var(--pnl);width:2px}
details{margin:10px 0}summary{cursor:pointer;font-size:14px}
details.checks{margin:2px 0 0;color:var(--soft)}details.checks summary{font-size:12px}
@media (max-width:700px){body{padding:10px 10px 30px}h1{font-size:18px}
table.coverage thead{display:none}table.coverage tr{display:block;border-bottom:1px solid var(--line);padding:6px 0}
table.coverage td,table.coverage tbody th{display:block;border:0;padding:2px 0}svg.timeline{min-width:0}
svg.chart{min-width:0}svg.chart text{font-size:18px}svg.chart .tick,svg.chart .value{font-size:15px}
svg.hbars{min-width:480px}svg.hbars text{font-size:12px}svg.hbars .tick,svg.hbars .value{font-size:11px}}
@media print{body{max-width:none;padding:0}.wrap,figure{overflow:visible}thead th{position:static}
section{break-inside:auto}figure,tr{break-inside:avoid}}
"""
