"""The report's HTML page in real headless Chromium, loaded from ``file://`` with the network
refused (``tests/browser.py``): no script or console error, no request but the page itself,
every chart drawn, every number on the page equal to the report's figure of its key (the
``data-figure`` convention of ``cexledger.report.html``), the verdict of every stream beside
its coverage row. Screenshots go to the artifacts folder (``tests/browser.py``)."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from cexledger.report.html import MAIN_COINS, TOP_INSTRUMENTS, write_html
from cexledger.report.model import CoinMonth, CoinPeriod, Instrument, Report
from cexledger.verify.model import Verification

from ..browser import artifacts_dir, offline_page
from ..report_samples import synthetic_report, synthetic_verification

HOSTILE = '<script>alert("x")</script>'
NAMES = ("main", HOSTILE, "a/b*")

COLLECT = """() => Array.from(document.querySelectorAll('[data-figure]'), e => ({
    key: e.getAttribute('data-figure'), value: e.getAttribute('data-value'),
    text: e.tagName.toLowerCase() === 'g' ? null : e.textContent,
    marks: Array.from(e.querySelectorAll('text'), t => t.textContent)}))"""

CHARTS = """() => Array.from(document.querySelectorAll('svg.chart, svg.timeline'), svg => {
    const box = svg.getBoundingClientRect();
    const marks = Array.from(svg.querySelectorAll('path, rect, circle, line'))
        .filter(m => !m.classList.contains('track'))
        .map(m => m.getBoundingClientRect())
        .filter(b => b.width > 0 && b.height > 0);
    return {cls: svg.getAttribute('class'), width: box.width, height: box.height, marks: marks.length};
})"""


def key(*parts: str | None) -> str:
    """The documented figure key (``cexledger.report.html``), written out again here."""
    return "/".join("*" if p is None else quote(p, safe="") for p in parts)


def report_figures(report: Report) -> dict[str, object]:
    """Every figure of ``report`` by its key, straight from the dataclasses."""
    found: dict[str, object] = {}
    for m in report.months:
        for f in fields(CoinMonth):
            if f.name not in ("month", "account", "coin"):
                found[key("months", m.month, m.account, m.coin, f.name)] = getattr(m, f.name)
    for i in report.instruments:
        for f in fields(Instrument):
            if f.name not in ("account", "exchange", "symbol", "coin"):
                found[key("instruments", i.account, i.exchange, i.symbol, i.coin, f.name)] = getattr(i, f.name)
    for p in report.periods:
        for f in fields(CoinPeriod):
            if f.name not in ("account", "coin", "cumulative"):
                found[key("periods", p.account, p.coin, f.name)] = getattr(p, f.name)
    for c in report.coverage:
        found[key("coverage", c.key.account, c.key.stream, c.key.partition, "records")] = c.records
    return found


def verification_figures(verification: Verification) -> dict[str, object]:
    return {key("verify", s.key.account, s.key.stream, s.key.partition, "records"): s.records
            for s in verification.streams}


def shown_value(item: dict) -> object:
    """A page figure's value by the module's rule: ``data-value``, else the text without
    thousands commas; ``—`` is None; text that is no number (a day) stays text."""
    if item["value"] is not None:
        return Decimal(item["value"])
    text = item["text"]
    if text == "—":
        return None
    try:
        return Decimal(text.replace(",", ""))
    except ArithmeticError:
        return text


def check_page(path: Path, expected: dict[str, object], report: Report, verification: Verification,
               screenshot: str) -> dict:
    """Every check of a rendered page; returns what the page showed per key."""
    with offline_page(path) as (page, log):
        items = page.evaluate(COLLECT)
        charts = page.evaluate(CHARTS)
        lines = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('[data-line]'),
            e => [e.getAttribute('data-line'), e.textContent]))""")
        rows = page.evaluate("""() => Array.from(document.querySelectorAll('table.coverage tbody tr'), tr => ({
            stream: tr.getAttribute('data-stream'), verdict: tr.querySelector('.verdict').textContent,
            timeline: tr.querySelectorAll('svg.timeline').length}))""")
        others = page.evaluate("""() => Array.from(document.querySelectorAll('figure[data-others]'), f => ({
            coin: f.getAttribute('data-others'), keys: Array.from(f.querySelectorAll('g[data-figure]'),
            g => g.getAttribute('data-figure')), value: f.querySelector('g:not([data-figure])')
            .getAttribute('data-value')}))""")
        scripts = page.evaluate("() => document.scripts.length")
        page.screenshot(path=str(artifacts_dir() / screenshot), full_page=True)

    assert log.errors == []
    assert log.refused == []
    assert log.requests == [path.resolve().as_uri()]
    assert scripts == 0

    shown: dict[str, object] = {}
    for item in items:
        value = shown_value(item)
        assert item["key"] in expected, f"{item['key']} is no figure of the report"
        assert value == expected[item["key"]], item
        for text in item["marks"]:                          # a chart's words for its mark
            assert Decimal(text.replace(",", "")) == value, item
        if item["value"] is not None and item["text"] is not None:  # a ratio shown as a percentage
            assert Decimal(item["text"].removesuffix(" %")) == value * 100, item
        shown[item["key"]] = value
    # everything of all accounts together is on the page, and every account's period
    assert {k for k in expected if k.startswith(("months/", "instruments/", "periods/")) and k.split("/")[
        2 if k.startswith("months/") else 1] == "*"} <= set(shown)
    assert {k for k in expected if k.startswith(("periods/", "coverage/", "verify/"))} <= set(shown)

    main = sorted((p for p in report.periods if p.account is None), key=lambda p: (-len(p.cumulative), p.coin))
    coins = [p.coin for p in main[:MAIN_COINS]]
    with_instruments = [c for c in coins if any(i.coin == c and i.account is None for i in report.instruments)]
    assert len(charts) == 2 * len(coins) + len(with_instruments) + len(report.coverage)
    for chart in charts:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["marks"] > 0, chart

    for group in others:                                     # "N others" = the instruments not drawn
        coin = group["coin"].split("/")[-1]
        rest = [i.net for i in report.instruments if i.account is None and i.coin == coin
                and key("instruments", None, i.exchange, i.symbol, i.coin, "net") not in group["keys"]]
        assert len(group["keys"]) == TOP_INSTRUMENTS and Decimal(group["value"]) == sum(rest, Decimal(0))

    assert len(rows) == len(verification.streams)
    for v in verification.streams:
        base = key("verify", v.key.account, v.key.stream, v.key.partition)
        [row] = [r for r in rows if r["stream"] == key(v.key.account, v.key.exchange, v.key.stream, v.key.partition)]
        assert row["verdict"] == ("OK" if v.ok else "BROKEN") and row["timeline"] == 1
        for what in ("problems", "checks"):
            assert [lines[f"{base}/{what}/{i}"] for i in range(len(getattr(v, what)))] == list(getattr(v, what))
    return shown


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, Report, Verification]:
    report = synthetic_report(accounts=NAMES, coins=("USDT", "BTC", "ETH", "USDC", "XRP"), days=200,
                              instruments=20, streams=3)
    verification = synthetic_verification(report, broken=2)
    path = tmp_path_factory.mktemp("page") / "report.html"
    assert write_html(report, verification, path) == path.stat().st_size
    return path, report, verification


def test_a_synthetic_report_shows_every_figure_exactly(synthetic):
    path, report, verification = synthetic
    expected = {**report_figures(report), **verification_figures(verification)}
    shown = check_page(path, expected, report, verification, "report-synthetic.png")
    assert any(k.startswith(f"periods/{key(HOSTILE)}/") for k in shown)


def test_a_hostile_account_name_is_text(synthetic):
    path, _, _ = synthetic
    with offline_page(path) as (page, _):
        heading = page.evaluate("() => document.querySelector('header .meta b').textContent")
        names = page.evaluate("() => Array.from(document.querySelectorAll('table.coverage tbody th b'), b => b.textContent)")
    assert HOSTILE in heading and HOSTILE in names


def test_the_page_fits_a_phone(synthetic):
    """At a phone's width nothing makes the page wider than the screen: tables and charts
    scroll inside their own box."""
    path, _, _ = synthetic
    with offline_page(path, width=390, height=800) as (page, log):
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        page.screenshot(path=str(artifacts_dir() / "report-phone.png"), full_page=True)
    assert log.errors == [] and widths[0] <= widths[1], widths


def test_the_harness_sees_requests_and_script_errors(tmp_path):
    """Guard: a page reaching for the network or throwing is caught by the checks above."""
    page_path = tmp_path / "bad.html"
    page_path.write_text(
        '<!DOCTYPE html><html><head><link rel="stylesheet" href="https://fonts.example.com/a.css"></head><body>'
        '<img src="http://example.com/a.png"><script>fetch("https://example.org/x").catch(() => {});'
        'throw new Error("boom")</script></body></html>')
    with offline_page(page_path) as (page, log):
        page.wait_for_function("() => document.readyState === 'complete'")
    assert {"https://fonts.example.com/a.css", "http://example.com/a.png"} <= set(log.refused)
    assert any("boom" in e for e in log.errors)
    assert log.requests[0] == page_path.resolve().as_uri() and len(log.requests) > 1
