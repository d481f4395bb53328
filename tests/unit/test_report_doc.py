"""``docs/report.md`` documents every field ``report --json`` emits, and no other: the
schema's tables cannot drift from the code."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from cexledger.model import StreamKey
from cexledger.report.json import SCHEMA, report_document
from cexledger.report.model import CoinMonth, CoinPeriod, Instrument, Report, StreamCoverage
from cexledger.verify.model import Break, Chain, StreamVerdict, Verification

DOC = Path(__file__).resolve().parents[2] / "docs" / "report.md"
_ROW = re.compile(r"^\| `([a-z_]+)` \|")
ONE = Decimal("1.5")
KEY = StreamKey("main", "bitget", "financial-records", "USDT-FUTURES")


def _fields(heading: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(heading + "\n") + len(heading) + 1
    end = re.search(r"^#{1,3} ", text[start:], re.M)
    section = text[start: start + end.start()] if end else text[start:]
    return [m.group(1) for line in section.splitlines() if (m := _ROW.match(line))]


def _document() -> dict:
    report = Report(
        generated_ms=1, since_ms=0, until_ms=2, account=None, exchange=None, accounts=("main",),
        months=(CoinMonth("2026-01", "main", "USDT", *(ONE,) * 11, 0),),
        instruments=(Instrument("main", "bitget", "BTCUSDT", "USDT", ONE, ONE, ONE, ONE, 1, 1, 0,
                                ONE, None, ONE, ONE),),
        periods=(CoinPeriod("main", "USDT", ONE, ONE, ONE, ONE, ONE, "2026-01-01", "2026-01-02",
                            ONE, ONE, (("2026-01-01", ONE),)),),
        coverage=(StreamCoverage(KEY, 1, 0, 1, ((0, 2), (3, 4)), ((2, 3),), 0),),
    )
    chain = Chain("USDT-FUTURES", "USDT", 2, (Break("a", 0, "b", 1, ONE, ONE, ONE),), ())
    return report_document(report, Verification((StreamVerdict(KEY, 2, (chain,), ("c",), ("p",)),)))


def test_the_documented_fields_are_the_emitted_ones() -> None:
    doc = _document()
    assert doc["schema"] == SCHEMA
    assert _fields("### The document") == list(doc)
    for name in ("months", "instruments", "periods", "coverage"):
        assert _fields(f"### `{name}[]`") == list(doc[name][0]), name
    assert _fields("### `verification`") == list(doc["verification"])
    assert _fields("### `verification.streams[]`") == list(doc["verification"]["streams"][0])
    assert list(doc["periods"][0]["cumulative"][0]) == ["day", "net"]
    ranges = doc["coverage"][0]
    assert list(ranges["covered"][0]) == list(ranges["gaps"][0]) == ["start", "start_ms", "end", "end_ms"]
    text = DOC.read_text(encoding="utf-8")
    assert '`{"day", "net"}`' in text and '`{"start", "start_ms", "end", "end_ms"}`' in text
