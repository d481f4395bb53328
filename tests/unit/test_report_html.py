"""The report page as text: its size bound, the downsampled line, escaping, exact decimals,
figure keys (the browser test, ``tests/e2e/test_report_html.py``, checks it rendered)."""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

import pytest

from cexledger.errors import CexledgerError
from cexledger.report.html import figure_key, render_html, write_html
from cexledger.report.model import Report
from cexledger.report.svg import WIDTH, downsample

from ..report_samples import synthetic_report, synthetic_verification

EXPONENT = re.compile(r"\d[eE][-+]?\d")


def test_a_busy_traders_year_is_under_a_megabyte(tmp_path):
    """Three accounts, six coins, 365 days, 400 instruments, fifteen streams."""
    report = synthetic_report(accounts=("main", "alt", "bot"), coins=("USDT", "USDC", "BTC", "ETH", "SOL", "XRP"),
                              days=365, instruments=400, streams=5)
    size = write_html(report, synthetic_verification(report, broken=3), tmp_path / "page.html")
    assert size == (tmp_path / "page.html").stat().st_size
    assert len([i for i in report.instruments if i.account is None]) == 400
    assert size <= 1_000_000, size


def test_a_long_history_is_drawn_with_no_more_points_than_pixels():
    report = synthetic_report(accounts=("main",), coins=("USDT",), days=3000, instruments=2, streams=1)
    [period] = [p for p in report.periods if p.account is None]
    assert len(period.cumulative) > WIDTH
    page = render_html(report, None)
    [line] = re.findall(r'<path class="line" d="M([^"]*)"', page)
    points = line.split(" L")[0].split(" ")
    assert len(points) <= WIDTH


def test_downsampling_keeps_the_extremes_in_order():
    points = [(float(i), float((i * 7919) % 1000 - 500)) for i in range(5000)]
    points[1234] = (1234.0, 10_000.0)
    points[4321] = (4321.0, -10_000.0)
    kept = downsample(points, 500)
    assert len(kept) <= 500
    assert (1234.0, 10_000.0) in kept and (4321.0, -10_000.0) in kept
    assert [x for x, _ in kept] == sorted(x for x, _ in kept)
    assert downsample(points[:100], 500) == points[:100]


def test_every_text_from_the_archive_is_escaped():
    hostile = "<script>alert(1)</script>"
    report = synthetic_report(accounts=(hostile, "<img src=x onerror=alert(2)>"), coins=("USDT", "<b>C</b>"),
                              days=20, instruments=3, streams=2)
    report = dataclasses.replace(report, instruments=tuple(
        dataclasses.replace(i, symbol=f"{i.symbol}<svg onload=alert(3)>") for i in report.instruments))
    page = render_html(report, synthetic_verification(report, broken=2))
    assert "<script" not in page.lower() and "<img" not in page and "<svg onload" not in page and "<b>C" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;svg onload=alert(3)&gt;" in page


def test_figures_are_exact_decimals_never_exponents():
    report = synthetic_report(accounts=("main",), coins=("USDT",), days=10, instruments=2, streams=1)
    tiny, huge = Decimal("1E-12"), Decimal("1.5E+7")
    report = dataclasses.replace(report, months=tuple(
        dataclasses.replace(m, interest=tiny, deposits=huge) for m in report.months))
    page = render_html(report, None)
    month = report.months[0].month
    assert f'data-figure="{figure_key("months", month, None, "USDT", "interest")}">0.000000000001</td>' in page
    assert f'data-figure="{figure_key("months", month, None, "USDT", "deposits")}">15,000,000</td>' in page
    assert not EXPONENT.search(re.sub(r"<style>.*?</style>", "", page, flags=re.S))    # CSS colours: #616e7c


def test_figure_keys_cannot_be_split_or_mistaken_for_all_accounts():
    assert figure_key("periods", None, "USDT", "net") == "periods/*/USDT/net"
    assert figure_key("periods", "a/b", "USDT", "net") == "periods/a%2Fb/USDT/net"
    assert figure_key("periods", "*", "USDT", "net") == "periods/%2A/USDT/net"


def test_an_empty_selection_says_so_and_still_shows_the_coverage():
    report = synthetic_report(accounts=("main",), days=5, streams=2)
    empty = Report(generated_ms=report.generated_ms, since_ms=None, until_ms=None, account="main", exchange=None,
                   accounts=("main",), months=(), instruments=(), periods=(), coverage=report.coverage)
    page = render_html(empty, synthetic_verification(empty, broken=0))
    assert "No ledger entries in this selection." in page
    assert 'class="chart"' not in page and page.count('<svg class="timeline"') == 2


def test_a_page_that_cannot_be_written_is_one_line(tmp_path):
    report = synthetic_report(accounts=("main",), days=5, streams=1)
    with pytest.raises(CexledgerError, match="^cannot write to .*missing.*"):
        write_html(report, None, tmp_path / "missing" / "page.html")
    (tmp_path / "page.html").write_text("old")
    size = write_html(report, None, tmp_path / "page.html")
    assert (tmp_path / "page.html").read_bytes() == render_html(report, None).encode() and size > 3


def test_the_title_says_the_period_and_the_accounts():
    report = dataclasses.replace(synthetic_report(accounts=("main", "alt"), days=5, streams=1),
                                 since_ms=1767225600000, until_ms=1790812800000 + 12 * 3_600_000)
    page = render_html(report, None)
    assert "<title>cexledger report: 2026-01-01 to 2026-10-01 12:00 (exclusive)</title>" in page
    assert "Accounts: <b>main, alt</b>" in page
