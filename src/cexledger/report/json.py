"""``cexledger report --json``: every figure of a :class:`~.model.Report` (and the
verification, when given) as one JSON document, the schema ``docs/report.md`` documents.

Money is a string of canonical decimal text (``"-12.5"``, never a float, never an exponent),
ratios too; counts are integers. Every time is given twice: ``…_ms`` (Unix milliseconds) and
the same instant as ISO 8601 UTC text (``2026-03-01T00:00:00.000Z``); days and months are
``YYYY-MM-DD`` / ``YYYY-MM``. :data:`SCHEMA` goes up whenever a field changes meaning or
goes away (adding a field does not change it).
"""

from __future__ import annotations

from .._clock import iso_ms
from decimal import Decimal
from typing import Any

from .._json import canonical_decimal, dumps
from ..model import StreamKey
from .model import CoinMonth, CoinPeriod, Instrument, Report, StreamCoverage

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..verify.model import StreamVerdict, Verification

__all__ = ["SCHEMA", "report_json", "report_document"]

SCHEMA = 1


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_ms(ms)


def _money(value: Decimal | None) -> str | None:
    return None if value is None else canonical_decimal(value)


def _time(name: str, ms: int | None) -> dict[str, Any]:
    return {name: _iso(ms), f"{name}_ms": ms}


def _stream(key: StreamKey) -> dict[str, Any]:
    return {"account": key.account, "exchange": key.exchange, "stream": key.stream,
            "partition": key.partition}


def _month(m: CoinMonth) -> dict[str, Any]:
    return {"month": m.month, "account": m.account, "coin": m.coin,
            "realized_pnl": _money(m.realized_pnl), "liquidations": _money(m.liquidations),
            "fees": _money(m.fees), "funding_paid": _money(m.funding_paid),
            "funding_received": _money(m.funding_received), "net": _money(m.net),
            "interest": _money(m.interest), "deposits": _money(m.deposits),
            "withdrawals": _money(m.withdrawals), "transfers_in": _money(m.transfers_in),
            "transfers_out": _money(m.transfers_out), "other_entries": m.other_entries}


def _instrument(i: Instrument) -> dict[str, Any]:
    return {"account": i.account, "exchange": i.exchange, "symbol": i.symbol, "coin": i.coin,
            "net": _money(i.net), "realized_pnl": _money(i.realized_pnl), "fees": _money(i.fees),
            "funding": _money(i.funding), "closes": i.closes, "wins": i.wins, "losses": i.losses,
            "win_rate": _money(i.win_rate), "profit_factor": _money(i.profit_factor),
            "best": _money(i.best), "worst": _money(i.worst)}


def _period(p: CoinPeriod) -> dict[str, Any]:
    return {"account": p.account, "coin": p.coin, "realized_pnl": _money(p.realized_pnl),
            "fees": _money(p.fees), "funding": _money(p.funding), "net": _money(p.net),
            "max_drawdown": _money(p.max_drawdown), "drawdown_from": p.drawdown_from,
            "drawdown_to": p.drawdown_to, "fee_share": _money(p.fee_share),
            "funding_share": _money(p.funding_share),
            "cumulative": [{"day": day, "net": _money(net)} for day, net in p.cumulative]}


def _range(start: int, end: int) -> dict[str, Any]:
    return {**_time("start", start), **_time("end", end)}


def _coverage(c: StreamCoverage) -> dict[str, Any]:
    return {**_stream(c.key), "records": c.records, **_time("first", c.first_ms),
            **_time("last", c.last_ms), "covered": [_range(*r) for r in c.covered],
            "gaps": [_range(*r) for r in c.gaps], **_time("retention_edge", c.retention_edge_ms)}


def _verdict(v: StreamVerdict) -> dict[str, Any]:
    return {**_stream(v.key), "ok": v.ok, "records": v.records, "checks": list(v.checks),
            "problems": list(v.problems), "breaks": sum(len(c.breaks) for c in v.chains)}


def _verification(v: Verification) -> dict[str, Any]:
    return {"ok": v.ok, "breaks": v.breaks, "streams": [_verdict(s) for s in v.streams]}


def report_document(report: Report, verification: Verification | None = None) -> dict[str, Any]:
    """The JSON document as Python values (what :func:`report_json` encodes)."""
    return {
        "schema": SCHEMA,
        **_time("generated", report.generated_ms),
        **_time("since", report.since_ms),
        **_time("until", report.until_ms),
        "account": report.account,
        "exchange": report.exchange,
        "accounts": list(report.accounts),
        "months": [_month(m) for m in report.months],
        "instruments": [_instrument(i) for i in report.instruments],
        "periods": [_period(p) for p in report.periods],
        "coverage": [_coverage(c) for c in report.coverage],
        "verification": None if verification is None else _verification(verification),
    }


def report_json(report: Report, verification: Verification | None = None) -> bytes:
    """The report (and the verification, ``null`` without one) as JSON bytes, one line."""
    return dumps(report_document(report, verification))
