"""Synthetic reports and verifications for the HTML page's tests, built from random daily
figures the way :mod:`cexledger.report.model` defines them (months and periods are the sums of
the days, cumulative net and drawdown follow from them), so every figure on a page has one
exact value to be checked against."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from cexledger._clock import DAY_MS
from cexledger.model import StreamKey
from cexledger.report.model import CoinMonth, CoinPeriod, Instrument, Report, StreamCoverage
from cexledger.verify.model import Break, Chain, StreamVerdict, Stretch, Verification

FIRST_DAY = date(2026, 1, 1)
FIELDS = ("realized_pnl", "liquidations", "fees", "funding_paid", "funding_received", "interest", "deposits",
          "withdrawals", "transfers_in", "transfers_out")


def _money(rng: random.Random, scale: int, places: int = 4, sign: int = 0) -> Decimal:
    value = Decimal(rng.randint(0, scale * 10 ** places)).scaleb(-places)
    if sign < 0 or (sign == 0 and rng.random() < 0.45):
        value = -value
    return value


def _ms(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY_MS


def synthetic_report(*, accounts: tuple[str, ...] = ("main", "alt"), coins: tuple[str, ...] = ("USDT", "BTC"),
                     days: int = 60, instruments: int = 8, seed: int = 1, streams: int = 3) -> Report:
    rng = random.Random(seed)
    daily: dict[tuple[str, str], dict[date, dict[str, Decimal]]] = defaultdict(dict)
    for account in accounts:
        for coin in coins:
            scale = 500 if coin.startswith("USD") else 1
            for offset in range(days):
                if rng.random() < 0.2:
                    continue
                pnl = _money(rng, scale)
                day = {"realized_pnl": pnl, "liquidations": pnl if pnl < 0 and rng.random() < 0.05 else Decimal(0),
                       "fees": _money(rng, max(scale // 50, 1), 6, -1), "funding_paid": _money(rng, scale // 20 or 1, 6, -1),
                       "funding_received": _money(rng, scale // 20 or 1, 6, 1), "interest": Decimal(0),
                       "deposits": _money(rng, scale, 2, 1) if offset % 30 == 0 else Decimal(0),
                       "withdrawals": Decimal(0), "transfers_in": Decimal(0), "transfers_out": Decimal(0)}
                daily[account, coin][FIRST_DAY + timedelta(days=offset)] = day
    months: list[CoinMonth] = []
    periods: list[CoinPeriod] = []
    for who in (None, *accounts):
        for coin in coins:
            days_of: dict[date, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(FIELDS, Decimal(0)))
            for account in accounts if who is None else (who,):
                for day, figures in daily[account, coin].items():
                    for name in FIELDS:
                        days_of[day][name] += figures[name]
            if not days_of:
                continue
            per_month: dict[str, dict[str, Decimal]] = defaultdict(lambda: dict.fromkeys(FIELDS, Decimal(0)))
            for day, figures in days_of.items():
                for name in FIELDS:
                    per_month[day.strftime("%Y-%m")][name] += figures[name]
            for month, f in sorted(per_month.items()):
                months.append(CoinMonth(month=month, account=who, coin=coin, net=_net(f), other_entries=0, **f))
            periods.append(_period(who, coin, days_of))
    symbols = [f"{c}{n}USDT" for n, c in zip(range(instruments), ("BTC", "ETH", "SOL", "XRP", "DOGE", "ADA") * 1000)]
    rows = []
    for who in (None, *accounts):
        for index, symbol in enumerate(symbols):
            rows.append(_instrument(rng, who, "bitget" if index % 3 else "coinw", f"{symbol}{index}", coins[0]))
    return Report(
        generated_ms=_ms(FIRST_DAY + timedelta(days=days + 2)) + 12 * 3_600_000, since_ms=None, until_ms=None,
        account=None, exchange=None, accounts=accounts, months=tuple(months), instruments=tuple(rows),
        periods=tuple(periods), coverage=tuple(_coverage(accounts, days, streams)))


def _net(f: dict[str, Decimal]) -> Decimal:
    return f["realized_pnl"] + f["fees"] + f["funding_paid"] + f["funding_received"]


def _period(who: str | None, coin: str, days_of: dict[date, dict[str, Decimal]]) -> CoinPeriod:
    total = dict.fromkeys(FIELDS, Decimal(0))
    cumulative, running, peak, peak_day = [], Decimal(0), Decimal(0), None
    drawdown, span = Decimal(0), (None, None)
    for day in sorted(days_of):
        for name in FIELDS:
            total[name] += days_of[day][name]
        running += _net(days_of[day])
        text = day.isoformat()
        cumulative.append((text, running))
        if running > peak:
            peak, peak_day = running, text
        elif peak - running > drawdown:
            drawdown, span = peak - running, (peak_day or text, text)
    pnl = total["realized_pnl"]
    funding = total["funding_paid"] + total["funding_received"]
    return CoinPeriod(
        account=who, coin=coin, realized_pnl=pnl, fees=total["fees"], funding=funding, net=_net(total),
        max_drawdown=drawdown, drawdown_from=span[0], drawdown_to=span[1],
        fee_share=(-total["fees"] / pnl).quantize(Decimal("0.0001")) if pnl > 0 else None,
        funding_share=(-funding / pnl).quantize(Decimal("0.0001")) if pnl > 0 else None,
        cumulative=tuple(cumulative))


def _instrument(rng: random.Random, who: str | None, exchange: str, symbol: str, coin: str) -> Instrument:
    closes = [_money(rng, 300) for _ in range(rng.randint(0, 30))]
    wins = sum(c > 0 for c in closes)
    losses = sum(c < 0 for c in closes)
    pnl = sum(closes, Decimal(0))
    fees, funding = _money(rng, 20, 6, -1), _money(rng, 10, 6)
    profit, loss = sum((c for c in closes if c > 0), Decimal(0)), sum((c for c in closes if c < 0), Decimal(0))
    return Instrument(
        account=who, exchange=exchange, symbol=symbol, coin=coin, net=pnl + fees + funding, realized_pnl=pnl,
        fees=fees, funding=funding, closes=len(closes), wins=wins, losses=losses,
        win_rate=(Decimal(wins) / len(closes)).quantize(Decimal("0.0001")) if closes else None,
        profit_factor=(profit / -loss).quantize(Decimal("0.0001")) if loss else None,
        best=max(closes, default=None), worst=min(closes, default=None))


def _coverage(accounts: tuple[str, ...], days: int, streams: int) -> list[StreamCoverage]:
    start, end = _ms(FIRST_DAY), _ms(FIRST_DAY + timedelta(days=days + 2))
    found = []
    for account in accounts:
        for index, partition in enumerate(("USDT-FUTURES", "SPOT", "FUNDING", "MARGIN", "OTHER")[:streams]):
            key = StreamKey(account, "bitget", "funding-records" if partition == "FUNDING" else "financial-records",
                            partition)
            middle = start + (end - start) // 2
            gaps = ((middle, middle + DAY_MS),) if index == 0 else ()
            covered = ((start, middle), (middle + DAY_MS, end)) if gaps else ((start, end),)
            found.append(StreamCoverage(key=key, records=100 + index, first_ms=start + 1000, last_ms=end - 1000,
                                        covered=covered, gaps=gaps, retention_edge_ms=end - 90 * DAY_MS))
    return found


def synthetic_verification(report: Report, *, broken: int = 1) -> Verification:
    """An OK verdict per stream of ``report``, but the first ``broken`` ones show a break."""
    verdicts = []
    for index, c in enumerate(report.coverage):
        stretch = Stretch("1", c.first_ms or 0, "2", c.last_ms or 0, c.records)
        breaks = (Break("10", 1000, "11", 2000, Decimal("5.5"), Decimal("4"), Decimal("-1.5")),) if index < broken else ()
        chain = Chain(category=c.key.partition, coin="USDT", rows=c.records, breaks=breaks, stretches=(stretch,))
        problems = tuple(f"USDT: balance after record 11 is 4, expected 5.5 (difference -1.5) <{index}>"
                         for _ in breaks)
        verdicts.append(StreamVerdict(key=c.key, records=c.records, chains=(chain,),
                                      checks=(f"USDT: {c.records} rows proven contiguous",), problems=problems))
    return Verification(streams=tuple(verdicts))
