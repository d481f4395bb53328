"""A :class:`~.model.Verification` for people (plain lines, readable at 80 columns and in a
cron mail) and for programs (``--json``: the schema is in ``docs/verify.md``; money as
canonical decimal strings, times as Unix ms and UTC text)."""

from __future__ import annotations

from typing import Any

from .._clock import iso_ms, utc_text
from .._json import canonical_decimal
from .model import Break, Chain, Stretch, StreamVerdict, Verification

__all__ = ["BREAKS_SHOWN", "lines", "summary", "to_json"]

BREAKS_SHOWN = 10
"""Breaks the terminal lists; ``--json`` has every one."""


def _name(verdict: StreamVerdict) -> str:
    key = verdict.key
    return f"{key.exchange} {key.account} {key.stream} {key.partition}"


def _chain_name(chain: Chain) -> str:
    return " ".join(part for part in (chain.category, chain.coin) if part) or "-"


def _span(verdict: StreamVerdict) -> str:
    """From the first to the last row proven, when no chain of the stream breaks (a broken
    stream's stretches are listed with its breaks below, not merged across them)."""
    stretches = [s for c in verdict.chains for s in c.stretches]
    if not stretches:
        return "-"
    if any(c.breaks for c in verdict.chains):
        return "broken: see below"
    first = min(s.first_ms for s in stretches)
    last = max(s.last_ms for s in stretches)
    return f"{utc_text(first, minutes=False)} to {utc_text(last, minutes=False)}"


_HEADER = ("verdict", "stream", "records", "chains", "proven contiguous")


def _cells(verdict: StreamVerdict) -> tuple[str, ...]:
    chains = str(len(verdict.chains)) if verdict.key.exchange == "bitget" else "-"
    return ("OK" if verdict.ok else "BROKEN", f"{verdict.key.stream} {verdict.key.partition}",
            str(verdict.records), chains, _span(verdict))


def _rows(cells: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in cells) for i in range(len(_HEADER) - 1)]
    out = []
    for row in cells:
        left = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                row[3].rjust(widths[3]), row[4]]
        out.append("  " + " ".join(left).rstrip())
    return out


def _money(value: Any) -> str:
    return canonical_decimal(value)


def _break_lines(chain: Chain, brk: Break) -> list[str]:
    return [
        f"  break in {_chain_name(chain)}: after {brk.before_id} ({utc_text(brk.before_ms)})",
        f"    at {brk.after_id} ({utc_text(brk.after_ms)}):",
        f"    expected   {_money(brk.expected)}",
        f"    reported   {_money(brk.reported)}",
        f"    difference {_money(brk.difference)}",
    ]


def lines(verification: Verification) -> list[str]:
    """The terminal view: per account, a line per stream; then every problem, and the
    breaks (capped at :data:`BREAKS_SHOWN`)."""
    out: list[str] = []
    streams = verification.streams
    for account in dict.fromkeys(v.key.account for v in streams):
        mine = [v for v in streams if v.key.account == account]
        out.append(f"{account} ({mine[0].key.exchange})")
        out.extend(_rows([_HEADER, *(_cells(v) for v in mine)]))
    shown = 0
    for verdict in streams:
        if verdict.ok:
            continue
        out.append(f"{_name(verdict)}:")
        out.extend(f"  - {problem}" for problem in verdict.problems)
        for chain in verdict.chains:
            for brk in chain.breaks:
                if shown < BREAKS_SHOWN:
                    out.extend(_break_lines(chain, brk))
                shown += 1
    if shown > BREAKS_SHOWN:
        out.append(f"… and {shown - BREAKS_SHOWN} more breaks (every one: cexledger verify --json)")
    return out


def summary(verification: Verification) -> str:
    """One line: everything checks, or what broke and the first stream (and chain) it broke in
    (the lines above say the rest)."""
    streams = verification.streams
    if verification.ok:
        rows = sum(v.records for v in streams)
        return f"verify: every check holds in {len(streams)} streams ({rows} records)"
    broken = [v for v in streams if not v.ok]
    breaks = verification.breaks
    # a stream's breaks are one of its problem lines: the others are counted apart
    problems = sum(len(v.problems) - any(c.breaks for c in v.chains) for v in broken)
    parts = []
    if breaks:
        parts.append(f"{breaks} break{'s' if breaks != 1 else ''}")
    if problems:
        parts.append(f"{problems} other problem{'s' if problems != 1 else ''}")
    first = broken[0]
    where = _name(first)
    chain = next((c for c in first.chains if c.breaks), None)
    if chain is not None and chain.coin:
        where += f" {chain.coin}"
    more = ", …" if len(broken) > 1 else ""
    return f"verify: {' and '.join(parts)} in {len(broken)} of {len(streams)} streams ({where}{more})"


def _break_json(brk: Break) -> dict[str, Any]:
    return {"before_id": brk.before_id, "before_ms": brk.before_ms, "before_time": iso_ms(brk.before_ms),
            "after_id": brk.after_id, "after_ms": brk.after_ms, "after_time": iso_ms(brk.after_ms),
            "expected": _money(brk.expected), "reported": _money(brk.reported),
            "difference": _money(brk.difference)}


def _stretch_json(s: Stretch) -> dict[str, Any]:
    return {"first_id": s.first_id, "first_ms": s.first_ms, "first_time": iso_ms(s.first_ms),
            "last_id": s.last_id, "last_ms": s.last_ms, "last_time": iso_ms(s.last_ms), "rows": s.rows}


def to_json(verification: Verification) -> dict[str, Any]:
    """Every stream, chain, break and stretch (``docs/verify.md``)."""
    return {
        "ok": verification.ok,
        "breaks": verification.breaks,
        "streams": [{
            "account": v.key.account, "exchange": v.key.exchange, "stream": v.key.stream,
            "partition": v.key.partition, "ok": v.ok, "records": v.records,
            "checks": list(v.checks), "problems": list(v.problems),
            "chains": [{"category": c.category, "coin": c.coin, "rows": c.rows,
                        "unprovable": c.unprovable,
                        "breaks": [_break_json(b) for b in c.breaks],
                        "stretches": [_stretch_json(s) for s in c.stretches]} for c in v.chains],
        } for v in verification.streams],
    }
