"""The terminal view renders every part of a report at 80 columns, plain, with exact amounts
(no exponent) and the verification's verdict."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from cexledger.archive import Archive
from cexledger.ledger import Filters
from cexledger.report.figures import build_report
from cexledger.report.terminal import report_view
from cexledger.verify.model import StreamVerdict, Verification

from .test_report_figures import CW, NOW, synthetic  # noqa: F401 - the fixture


def _text(renderable, width: int = 80) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(renderable)
    return buffer.getvalue()


def test_every_part_at_80_columns(synthetic: Path) -> None:  # noqa: F811
    with Archive.open(f"sqlite:///{synthetic}", read_only=True) as archive:
        report = build_report(archive, Filters(), now_ms=NOW)
    good = Verification((StreamVerdict(CW, 6, (), ("ids unique",), ()),))
    bad = Verification((StreamVerdict(CW, 6, (), (), ("record c2: entries sum to 1, netProfit 2",)),))
    for verification, says in ((good, "verify: every check holds in 1 streams (6 records)"),
                               (bad, "record c2: entries sum to 1, netProfit 2")):
        text = _text(report_view(report, verification))
        assert max(len(line) for line in text.splitlines()) <= 80
        assert says in text
        assert "E-" not in text
    assert "0.000000000000000001" in _text(report_view(report), 200)   # a 1E-18 close, written out
    text = _text(report_view(report))
    assert "all accounts together" in text and "instruments by net" in text
    assert "period: net" in text and "max drawdown" in text
    assert "deposits 100" in text and "withdrawals -30" in text
    assert "no shares of PnL (PnL not positive)" in text                # bg's BTC lost


def test_wide_numbers_are_never_broken_and_archive_texts_are_not_markup() -> None:
    """18-decimal amounts in every column do not fit 80 columns in one table: the view splits
    the table instead of folding a number over two lines (which reads as two numbers); a
    symbol that looks like Rich markup is printed as it is; the same symbol on two exchanges
    says which is which."""
    import dataclasses
    from decimal import Decimal

    from tests.report_samples import synthetic_report

    report = synthetic_report(accounts=("main",), coins=("USDT",), days=40, instruments=3)
    wide = Decimal("-123456789.123456789012345678")
    months = tuple(dataclasses.replace(m, realized_pnl=wide, fees=wide, funding_paid=wide, net=wide)
                   for m in report.months)
    instruments = tuple(dataclasses.replace(i, symbol="[/x]BTC[bold]" if n % 2 else i.symbol, best=wide)
                        for n, i in enumerate(report.instruments))
    report = dataclasses.replace(report, months=months, instruments=instruments)
    text = _text(report_view(report))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    shown = [m for m in months if m.account == "main"]      # one account: no "all" view
    assert text.count("-123456789.123456789012345678") >= 3 * len(shown)    # every one whole
    assert "123456789.1234567890\n" not in text and "\n12345678" not in text
    assert "[/x]BTC[bold]" in text
    assert {i.exchange for i in report.instruments} == {"bitget", "coinw"}
    assert "(coinw)" in text and "(bitget)" in text
