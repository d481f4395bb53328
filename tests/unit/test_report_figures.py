"""The report's figures equal a straightforward reference computed from ``read_entries`` (the
ledger's one Python reader), entry by entry, on archives written through the real
``Archive.write_page`` and on the demo archive; and the edge cases the definitions name."""

from __future__ import annotations

import shutil
from collections import defaultdict
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.ledger import Filters, OutdatedEntriesError, read_entries
from cexledger.ledger.columns import AmountRangeError
from cexledger.model import Kind, LedgerEntry, Record, StreamKey
from cexledger.report.figures import build_report
from cexledger.reparse import stamp
from cexledger.report.model import RATIO_PLACES, Report

NOW = 1_800_000_000_000
DAY = 86_400_000
T0 = 1_767_225_600_000            # 2026-01-01 00:00 UTC
CW = StreamKey("cw", "coinw", "deals-history", "BTC")
BG = StreamKey("bg", "bitget", "financial-records", "USDT-FUTURES")
Q = Decimal(1).scaleb(-RATIO_PLACES)


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = 80
        return (a / b).quantize(Q, rounding=ROUND_HALF_EVEN)


def _day(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def reference(entries: list[LedgerEntry]) -> dict:
    """Every figure of :mod:`cexledger.report.model`, one entry at a time."""
    zero = Decimal(0)
    months: dict = defaultdict(lambda: defaultdict(lambda: zero))
    inst: dict = defaultdict(lambda: defaultdict(lambda: zero))
    closes: dict = defaultdict(list)
    daily: dict = defaultdict(lambda: defaultdict(lambda: zero))
    for e in entries:
        if e.kind in (Kind.TRADE, Kind.CONVERT, Kind.BORROW, Kind.REPAY):
            continue                     # not figures of the report: no row for them alone
        coin = e.coin or ""
        for account in (e.account, None):
            m = months[(_day(e.ts)[:7], account, coin)]
            k, a = e.kind, e.amount
            if k in (Kind.REALIZED_PNL, Kind.LIQUIDATION):
                m["realized_pnl"] += a
                if k is Kind.LIQUIDATION:
                    m["liquidations"] += a
            elif k is Kind.FEE:
                m["fees"] += a
            elif k is Kind.FUNDING:
                m["funding_paid" if a < 0 else "funding_received"] += a
            elif k is Kind.INTEREST:
                m["interest"] += a
            elif k is Kind.DEPOSIT:
                m["deposits"] += a
            elif k is Kind.WITHDRAWAL:
                m["withdrawals"] += a
            elif k is Kind.TRANSFER:
                m["transfers_out" if a < 0 else "transfers_in"] += a
            elif k is Kind.OTHER:
                m["other_entries"] += 1
            if k in (Kind.REALIZED_PNL, Kind.LIQUIDATION, Kind.FEE, Kind.FUNDING):
                daily[(account, coin)][_day(e.ts)] += a
                if e.symbol is not None:
                    i = inst[(account, e.exchange, e.symbol, coin)]
                    i["fee" if k is Kind.FEE else "funding" if k is Kind.FUNDING else "pnl"] += a
                    if k in (Kind.REALIZED_PNL, Kind.LIQUIDATION):
                        closes[(account, e.exchange, e.symbol, coin)].append(a)
    month_rows = {}
    for key, m in months.items():
        row = {name: m[name] for name in ("realized_pnl", "liquidations", "fees", "funding_paid",
                                          "funding_received", "interest", "deposits", "withdrawals",
                                          "transfers_in", "transfers_out")}
        row["net"] = row["realized_pnl"] + row["fees"] + row["funding_paid"] + row["funding_received"]
        row["other_entries"] = int(m["other_entries"])
        month_rows[key] = row
    inst_rows = {}
    for key, i in inst.items():
        c = closes[key]
        wins, losses = [x for x in c if x > 0], [x for x in c if x < 0]
        inst_rows[key] = {
            "net": i["pnl"] + i["fee"] + i["funding"], "realized_pnl": i["pnl"], "fees": i["fee"],
            "funding": i["funding"], "closes": len(c), "wins": len(wins), "losses": len(losses),
            "win_rate": _ratio(Decimal(len(wins)), Decimal(len(c))) if c else None,
            "profit_factor": _ratio(sum(wins, zero), -sum(losses, zero)) if losses else None,
            "best": max(c) if c else None, "worst": min(c) if c else None}
    periods = {}
    for key, days in daily.items():
        series, running = [], zero
        for day in sorted(days):
            running += days[day]
            series.append((day, running))
        points = [(None, zero), *series]           # the series starts at 0 before the first day
        falls = [(points[i][1] - points[j][1], i, j) for i in range(len(points))
                 for j in range(i + 1, len(points))]
        fall = max(falls, key=lambda f: f[0], default=(zero, 0, 0))
        acc, coin = key
        pnl = sum((r["realized_pnl"] for (mo, a, c), r in month_rows.items() if a == acc and c == coin), zero)
        fees = sum((r["fees"] for (mo, a, c), r in month_rows.items() if a == acc and c == coin), zero)
        fund = sum((r["funding_paid"] + r["funding_received"]
                    for (mo, a, c), r in month_rows.items() if a == acc and c == coin), zero)
        periods[key] = {"realized_pnl": pnl, "fees": fees, "funding": fund, "net": pnl + fees + fund,
                        "max_drawdown": max(fall[0], zero),
                        "fee_share": _ratio(-fees, pnl) if pnl > 0 else None,
                        "funding_share": _ratio(-fund, pnl) if pnl > 0 else None,
                        "cumulative": series}
        if fall[0] > 0:
            periods[key]["drawdown"] = (points[fall[1]][0], points[fall[2]][0])
    return {"months": month_rows, "instruments": inst_rows, "periods": periods}


def figures(report: Report) -> dict:
    """``report`` in the reference's shape."""
    months = {(m.month, m.account, m.coin): {n: getattr(m, n) for n in (
        "realized_pnl", "liquidations", "fees", "funding_paid", "funding_received", "interest",
        "deposits", "withdrawals", "transfers_in", "transfers_out", "net", "other_entries")}
        for m in report.months}
    inst = {(i.account, i.exchange, i.symbol, i.coin): {n: getattr(i, n) for n in (
        "net", "realized_pnl", "fees", "funding", "closes", "wins", "losses", "win_rate",
        "profit_factor", "best", "worst")} for i in report.instruments}
    periods = {}
    for p in report.periods:
        row = {n: getattr(p, n) for n in ("realized_pnl", "fees", "funding", "net", "max_drawdown",
                                          "fee_share", "funding_share")}
        row["cumulative"] = list(p.cumulative)
        if p.max_drawdown > 0:
            row["drawdown"] = (p.drawdown_from, p.drawdown_to)
        periods[(p.account, p.coin)] = row
    return {"months": months, "instruments": inst, "periods": periods}


def _record(key: StreamKey, rid: str, ts: int, *moves: tuple[Kind, str, str | None, str]) -> Record:
    entries = [LedgerEntry(key.account, key.exchange, key.stream, rid, seq, ts, kind, coin,
                           Decimal(amount), None, None, symbol, kind.value)
               for seq, (kind, amount, symbol, coin) in enumerate(moves)]
    return Record(rid, ts, b'{"id":"' + rid.encode() + b'"}', entries)


PNL, LIQ, FEE, FUND = Kind.REALIZED_PNL, Kind.LIQUIDATION, Kind.FEE, Kind.FUNDING


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    """Two accounts over three months: wins and losses, a zero close, 1E-18 amounts, an
    instrument without a loss, a coin whose PnL is negative, the other movements."""
    db = tmp_path / "synthetic.db"
    with Archive.open(f"sqlite:///{db}") as archive:
        cw = [
            _record(CW, "c1", T0 + 5, (PNL, "10.5", "BTCUSDT", "USDT"), (FEE, "-0.25", "BTCUSDT", "USDT"),
                    (FUND, "-0.1", "BTCUSDT", "USDT")),
            _record(CW, "c2", T0 + DAY, (PNL, "-4", "BTCUSDT", "USDT"), (FEE, "-0.000000000000000001", "BTCUSDT", "USDT")),
            _record(CW, "c3", T0 + 2 * DAY, (PNL, "0", "BTCUSDT", "USDT"), (FUND, "0.3", "BTCUSDT", "USDT")),
            _record(CW, "c4", T0 + 3 * DAY, (LIQ, "-20", "ETHUSDT", "USDT")),
            _record(CW, "c5", T0 + 40 * DAY, (PNL, "0.000000000000000001", "XRPUSDT", "USDT")),
            _record(CW, "c6", T0 + 41 * DAY, (PNL, "7", "XRPUSDT", "USDT"), (FEE, "-1", "XRPUSDT", "USDT")),
        ]
        archive.write_page(CW, cw, cover=(T0, T0 + 90 * DAY))
        bg = [
            _record(BG, "b1", T0 + 10, (PNL, "-3", "BTCUSDT", "BTC"), (FEE, "-0.5", "BTCUSDT", "BTC")),
            _record(BG, "b2", T0 + DAY + 7, (PNL, "1", "BTCUSDT", "BTC")),
            _record(BG, "b3", T0 + 2 * DAY, (Kind.DEPOSIT, "100", None, "USDT")),
            _record(BG, "b4", T0 + 2 * DAY + 1, (Kind.WITHDRAWAL, "-30", None, "USDT")),
            _record(BG, "b5", T0 + 35 * DAY, (Kind.TRANSFER, "5", None, "USDT"), ),
            _record(BG, "b6", T0 + 35 * DAY + 1, (Kind.TRANSFER, "-2.5", None, "USDT")),
            _record(BG, "b7", T0 + 36 * DAY, (Kind.INTEREST, "0.01", None, "USDT")),
            _record(BG, "b8", T0 + 36 * DAY, (Kind.OTHER, "1", None, "USDT")),
            _record(BG, "b9", T0 + 37 * DAY, (Kind.TRADE, "-50", "BTCUSDT", "USDT")),
            _record(BG, "b10", T0 + 70 * DAY, (FEE, "0.2", None, "USDT")),     # a rebate
            _record(BG, "b11", T0 + 71 * DAY, (PNL, "2", "ETHUSDT", "USDT")),
        ]
        archive.write_page(BG, bg, cover=(T0, T0 + 90 * DAY))
        for key in (CW, BG):
            stamp(archive, key)          # as a sync does: today's normalizer built them
    return db


def _check(db: Path | str, filters: Filters = Filters()) -> Report:
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    with Archive.open(url, read_only=True) as archive:
        report = build_report(archive, filters, now_ms=NOW)
        expected = reference(list(read_entries(archive, filters)))
    assert figures(report) == expected
    return report


def test_the_figures_are_the_references(synthetic: Path) -> None:
    report = _check(synthetic)
    by = {(i.account, i.symbol, i.coin): i for i in report.instruments}
    assert by[("cw", "XRPUSDT", "USDT")].profit_factor is None        # no loss
    assert by[("cw", "XRPUSDT", "USDT")].worst == Decimal("1E-18")
    btc = by[("cw", "BTCUSDT", "USDT")]
    assert (btc.closes, btc.wins, btc.losses) == (3, 1, 1)              # the zero close is neither
    assert btc.fees == Decimal("-0.250000000000000001")
    periods = {(p.account, p.coin): p for p in report.periods}
    assert periods[("bg", "BTC")].fee_share is None                    # negative PnL
    assert periods[("bg", "BTC")].realized_pnl < 0
    assert periods[(None, "USDT")].max_drawdown > 0
    assert report.accounts == ("bg", "cw")
    assert sum(m.other_entries for m in report.months if m.account is None) == 1


@pytest.mark.parametrize("bound", ["since", "until"])
def test_a_bound_at_an_entrys_time(synthetic: Path, bound: str) -> None:
    ts = T0 + DAY                                                        # c2's time
    report = _check(synthetic, Filters.of(**{bound: ts}))
    btc = next(i for i in report.instruments if (i.account, i.symbol) == ("cw", "BTCUSDT"))
    assert (btc.closes, btc.worst) == ((2, Decimal(-4)) if bound == "since" else (1, Decimal("10.5")))


def test_account_and_exchange_filters(synthetic: Path) -> None:
    report = _check(synthetic, Filters.of(account="bg"))
    assert {m.account for m in report.months} == {"bg", None}
    assert {c.key.account for c in report.coverage} == {"bg"}
    report = _check(synthetic, Filters.of(exchange="coinw"))
    assert {m.account for m in report.months} == {"cw", None}


def test_coverage_per_stream(synthetic: Path) -> None:
    with Archive.open(f"sqlite:///{synthetic}") as archive:
        archive.write_page(CW, [], cover=(T0 + 100 * DAY, T0 + 120 * DAY))
    report = _check(synthetic)
    cw = next(c for c in report.coverage if c.key == CW)
    assert cw.covered == ((T0, T0 + 90 * DAY), (T0 + 100 * DAY, T0 + 120 * DAY))
    assert cw.gaps == ((T0 + 90 * DAY, T0 + 100 * DAY),)
    assert (cw.records, cw.first_ms, cw.last_ms) == (6, T0 + 5, T0 + 41 * DAY)
    assert cw.retention_edge_ms < NOW


def test_an_empty_selection(synthetic: Path) -> None:
    report = _check(synthetic, Filters.of(since=T0 + 200 * DAY))
    assert (report.months, report.instruments, report.periods) == ((), (), ())


@pytest.mark.parametrize("account", [None, "bitget-1", "coinw-1"])
def test_the_demo_archive(demo_archive: Path, tmp_path: Path, account: str | None) -> None:
    db = tmp_path / "demo.db"
    shutil.copy(demo_archive, db)
    report = _check(db, Filters.of(account=account))
    assert report.months and report.instruments and report.periods


def test_entries_an_older_cexledger_derived_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Archive.open(f"sqlite:///{db}") as archive:
        archive.write_page(CW, [_record(CW, "c1", T0, (PNL, "1", "BTCUSDT", "USDT"))])
        archive.set_meta(CW, "normalizer_version", "1")          # as an older sync left it
        with pytest.raises(OutdatedEntriesError, match="cexledger reparse"):
            build_report(archive, Filters(), now_ms=NOW)


def test_an_amount_beyond_18_decimals_is_summed_exactly_and_beyond_36_refused(tmp_path: Path) -> None:
    """A float an exchange printed in full (21 decimals) is summed exactly beside ordinary
    amounts; one that no exact decimal type holds is refused, never rounded."""
    db = tmp_path / "fine.db"
    with Archive.open(f"sqlite:///{db}") as archive:
        archive.write_page(CW, [_record(CW, "c1", T0, (PNL, "0.000030000000000000004", "BTCUSDT", "USDT")),
                                _record(CW, "c2", T0 + 1, (PNL, "1.5", "BTCUSDT", "USDT"))])
        stamp(archive, CW)
        report = build_report(archive, Filters(), now_ms=NOW)
        (period,) = [p for p in report.periods if p.account is None]
        assert period.realized_pnl == Decimal("1.500030000000000000004")
        archive.write_page(CW, [_record(CW, "c3", T0 + 2, (PNL, "1E-40", "BTCUSDT", "USDT"))])
        stamp(archive, CW)
        with pytest.raises(AmountRangeError, match="decimal"):
            build_report(archive, Filters(), now_ms=NOW)
