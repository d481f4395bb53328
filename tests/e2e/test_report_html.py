"""The report's HTML page in real headless Chromium, loaded from ``file://`` with the network
refused (``tests/browser.py``): no script or console error, no request but the page itself,
every chart drawn, every number on the page equal to the report's figure of its key (the
``data-figure`` convention of ``cexledger.report.html``), the verdict of every stream beside
its coverage row. Screenshots go to the artifacts folder (``tests/browser.py``)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest

from cexledger import _json
from cexledger.report.html import LINES, MAIN_COINS, TOP_INSTRUMENTS, write_html
from cexledger.report.model import CoinMonth, CoinPeriod, Instrument, Report
from cexledger.verify.model import Verification

from ..browser import artifacts_dir, offline_page
from ..report_samples import synthetic_report, synthetic_verification
from .conftest import CLI

HOSTILE = '<script>alert("x")</script>'
NAMES = ("main", HOSTILE, "a/b*")

COLLECT = """() => Array.from(document.querySelectorAll('[data-figure]'), e => ({
    key: e.getAttribute('data-figure'), value: e.getAttribute('data-value'),
    text: e.tagName.toLowerCase() === 'g' ? null : e.textContent,
    marks: Array.from(e.querySelectorAll('text'), t => t.textContent),
    title: e.tagName.toLowerCase() === 'g' ? e.querySelector('title').textContent : null}))"""

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


@dataclass
class Expected:
    """What a page must show, read from a report (and verification) or from ``--json``."""

    figures: dict[str, object] = field(default_factory=dict)
    days: dict[str, int] = field(default_factory=dict)           # coin -> days of cumulative, all accounts
    nets: list[tuple[str, str, str, Decimal]] = field(default_factory=list)   # instruments, all accounts
    streams: int = 0
    gaps: dict[str, int] = field(default_factory=dict)           # stream -> gaps in its coverage
    verdicts: dict[str, tuple[bool, list[str], list[str]]] = field(default_factory=dict)


IDENTITY = {"month", "account", "exchange", "symbol", "coin", "cumulative"}


def _value(value: object) -> object:
    """A JSON value as the page's rule reads it: decimal text as Decimal, a day stays text."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    return value


def expected_of_json(document: dict) -> Expected:
    """From the ``report --json`` document (its schema: ``docs/report.md``)."""
    found = Expected(streams=len(document["coverage"]))
    for m in document["months"]:
        for name, value in m.items():
            if name not in IDENTITY:
                found.figures[key("months", m["month"], m["account"], m["coin"], name)] = _value(value)
    for i in document["instruments"]:
        for name, value in i.items():
            if name not in IDENTITY:
                found.figures[key("instruments", i["account"], i["exchange"], i["symbol"], i["coin"], name)] = \
                    _value(value)
        if i["account"] is None:
            found.nets.append((i["exchange"], i["symbol"], i["coin"], Decimal(i["net"])))
    for p in document["periods"]:
        for name, value in p.items():
            if name not in IDENTITY:
                found.figures[key("periods", p["account"], p["coin"], name)] = _value(value)
        if p["account"] is None:
            found.days[p["coin"]] = len(p["cumulative"])
    for c in document["coverage"]:
        found.figures[key("coverage", c["account"], c["stream"], c["partition"], "records")] = c["records"]
        found.gaps[key(c["account"], c["exchange"], c["stream"], c["partition"])] = len(c["gaps"])
    for v in (document["verification"] or {"streams": []})["streams"]:
        found.verdicts[key(v["account"], v["exchange"], v["stream"], v["partition"])] = (
            v["ok"], v["problems"], v["checks"])
    return found


def expected_of_objects(report: Report, verification: Verification) -> Expected:
    """From the objects the page was rendered from, field by field of the dataclasses."""
    found = Expected(streams=len(report.coverage))
    for m in report.months:
        for f in fields(CoinMonth):
            if f.name not in IDENTITY:
                found.figures[key("months", m.month, m.account, m.coin, f.name)] = getattr(m, f.name)
    for i in report.instruments:
        for f in fields(Instrument):
            if f.name not in IDENTITY:
                found.figures[key("instruments", i.account, i.exchange, i.symbol, i.coin, f.name)] = getattr(i, f.name)
        if i.account is None:
            found.nets.append((i.exchange, i.symbol, i.coin, i.net))
    for p in report.periods:
        for f in fields(CoinPeriod):
            if f.name not in IDENTITY:
                found.figures[key("periods", p.account, p.coin, f.name)] = getattr(p, f.name)
        if p.account is None:
            found.days[p.coin] = len(p.cumulative)
    for c in report.coverage:
        found.figures[key("coverage", c.key.account, c.key.stream, c.key.partition, "records")] = c.records
        found.gaps[key(c.key.account, c.key.exchange, c.key.stream, c.key.partition)] = len(c.gaps)
    for v in verification.streams:
        found.verdicts[key(v.key.account, v.key.exchange, v.key.stream, v.key.partition)] = (
            v.ok, list(v.problems), list(v.checks))
    return found


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


def check_page(path: Path, expected: Expected, screenshot: str | None) -> dict[str, object]:
    """Every check of a rendered page (its full-page screenshot kept as ``screenshot`` in the
    artifacts folder); returns what the page showed per key."""
    with offline_page(path) as (page, log):
        items = page.evaluate(COLLECT)
        charts = page.evaluate(CHARTS)
        lines = page.evaluate("""() => Object.fromEntries(Array.from(document.querySelectorAll('[data-line]'),
            e => [e.getAttribute('data-line'), e.textContent]))""")
        rows = page.evaluate("""() => Array.from(document.querySelectorAll('table.coverage tbody tr'), tr => ({
            stream: tr.getAttribute('data-stream'), verdict: tr.querySelector('.verdict').textContent,
            timeline: tr.querySelectorAll('svg.timeline').length, gaps: tr.querySelectorAll('rect.gap').length,
            edge: tr.querySelectorAll('line.edge').length, today: tr.querySelectorAll('line.today').length}))""")
        others = page.evaluate("""() => Array.from(document.querySelectorAll('figure[data-others]'), f => ({
            coin: f.getAttribute('data-others'), keys: Array.from(f.querySelectorAll('g[data-figure]'),
            g => g.getAttribute('data-figure')), value: f.querySelector('g:not([data-figure])')
            .getAttribute('data-value')}))""")
        scripts = page.evaluate("() => document.scripts.length")
        if screenshot is not None:
            page.screenshot(path=str(artifacts_dir() / screenshot), full_page=True)

    assert log.errors == []
    assert log.refused == []
    assert log.requests == [path.resolve().as_uri()]
    assert scripts == 0

    shown: dict[str, object] = {}
    for item in items:
        value = shown_value(item)
        assert item["key"] in expected.figures, f"{item['key']} is no figure of the report"
        assert value == expected.figures[item["key"]], item
        for text in item["marks"]:              # a chart's label: the value rounded to its last digit
            label = Decimal(text.replace(",", ""))
            assert abs(label - value) <= Decimal("0.5").scaleb(label.as_tuple().exponent), item
        if item["title"] is not None:           # its tooltip: the exact value
            assert Decimal(item["title"].rsplit(": ", 1)[1].split(" ")[0].replace(",", "")) == value, item
        if item["value"] is not None and item["text"] is not None:  # a ratio shown as a percentage
            assert Decimal(item["text"].removesuffix(" %")) == value * 100, item
        shown[item["key"]] = value
    # everything of all accounts together is on the page, and every account's period
    assert {k for k in expected.figures if k.startswith(("months/", "instruments/", "periods/")) and k.split("/")[
        2 if k.startswith("months/") else 1] == "*"} <= set(shown)
    assert {k for k in expected.figures if k.startswith(("periods/", "coverage/"))} <= set(shown)

    coins = sorted(expected.days, key=lambda c: (-expected.days[c], c))[:MAIN_COINS]
    with_instruments = {coin for _, _, coin, _ in expected.nets} & set(coins)
    assert len(charts) == 2 * len(coins) + len(with_instruments) + expected.streams
    for chart in charts:
        assert chart["width"] > 0 and chart["height"] > 0 and chart["marks"] > 0, chart

    for group in others:                                     # "N others" = the instruments not drawn
        coin = group["coin"].split("/")[-1]
        rest = [net for exchange, symbol, c, net in expected.nets
                if c == coin and key("instruments", None, exchange, symbol, c, "net") not in group["keys"]]
        assert len(group["keys"]) == TOP_INSTRUMENTS and Decimal(group["value"]) == sum(rest, Decimal(0))

    assert sorted(r["stream"] for r in rows) == sorted(expected.verdicts or expected.gaps)
    for row in rows:
        assert row["timeline"] == 1 and row["gaps"] == expected.gaps[row["stream"]], row
        assert row["edge"] == row["today"] == 1, row
        if not expected.verdicts:                          # a report made without verify
            assert row["verdict"] == "not verified"
            continue
        ok, problems, checks = expected.verdicts[row["stream"]]
        assert row["verdict"] == ("OK" if ok else "BROKEN")
        base = "verify/" + "/".join(row["stream"].split("/")[i] for i in (0, 2, 3))
        for what, texts in (("problems", problems), ("checks", checks)):
            assert [lines.get(f"{base}/{what}/{i}") for i in range(min(len(texts), LINES))] == texts[:LINES]
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
    expected = expected_of_objects(report, verification)
    assert any(expected.gaps.values()) and not all(ok for ok, _, _ in expected.verdicts.values())
    shown = check_page(path, expected, "report-synthetic.png")
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


def test_the_demo_archives_page_equals_its_json(demo_archive, tmp_path):
    """The real CLI on the session's demo archive: ``report --json --html FILE --verify``
    writes the page and prints the JSON of the same report and verification in one run;
    every number and verdict on the page is the JSON's. The screenshot is ``report.png``."""
    page = tmp_path / "report.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")}
    env["HOME"] = str(tmp_path / "home")
    proc = subprocess.run([CLI, "--db", str(demo_archive), "report", "--json", "--html", str(page), "--verify"],
                          capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    document = _json.loads(proc.stdout)
    expected = expected_of_json(document)
    assert expected.days and expected.nets and expected.gaps
    assert document["verification"]["ok"] and expected.verdicts
    shown = check_page(page, expected, "report.png")
    assert len(shown) > 500


def test_a_number_that_differs_from_the_report_is_caught(synthetic, tmp_path):
    """Guard: the comparison above fails on a page with one number changed."""
    path, report, verification = synthetic
    page = path.read_text()
    cell = re.search(r'(<td[^>]* data-figure="months/[^"]+/net">)([^<]+)(</td>)', page)
    changed = tmp_path / "changed.html"
    changed.write_text(page[:cell.start()] + cell.group(1) + "12,345.678" + cell.group(3) + page[cell.end():])
    with pytest.raises(AssertionError, match="12,345.678"):
        check_page(changed, expected_of_objects(report, verification), None)
