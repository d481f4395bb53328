"""How long the history an archive lacks stays at the exchange: the rule behind ``status``'s
"safe for" column and its warnings, shared by the CLI and the library's ``Ledger.status()``.

A stream's *safe days* count from the first point inside the exchange's retention that no
completed sync covered (a hole a failed sync left, or else the end of the newest coverage):
from then on, rows there expire unarchived. Only coverage counts, never the records a stream
holds: a stream without coverage (an interrupted first sync, a first page that failed) has 0
safe days, whatever it holds. Tax records count the coverage of the financial records that
shadow them (they are never fetched where those hold the time). Under :data:`WARN_DAYS` the
stream is warned about.
"""

from __future__ import annotations

from ._clock import DAY_MS, utc_text
from .archive import StreamSummary
from .exchanges import spec
from .model import StreamKey

__all__ = ["WARN_DAYS", "first_uncovered", "retention_ms", "safe_days", "shadow_coverage", "warning"]

WARN_DAYS = 30


def first_uncovered(coverage: list[tuple[int, int]], start: int, end: int) -> int:
    """The earliest point of ``[start, end)`` outside the sorted ``coverage`` (``end`` if none)."""
    point = start
    for s, e in coverage:
        if s > point:
            break
        point = max(point, e)
    return min(point, end)


def retention_ms(key: StreamKey) -> int:
    """How far back the exchange serves ``key``'s stream (90 days for a stream this version
    does not know: the shortest reach of any stream)."""
    found = spec(key)
    return found.retention_ms if found is not None else 90 * DAY_MS


def safe_days(summary: StreamSummary, now: int, also: list[tuple[int, int]] = ()) -> float:
    """Days until history the archive lacks starts leaving the exchange's retention (the
    module docstring); ``also``: coverage of the stream that shadows this one. The first
    hour of retention is ignored (syncs stay a few minutes inside the edge)."""
    retention = retention_ms(summary.key)
    gap = first_uncovered(sorted([*summary.coverage, *also]), now - retention + 3_600_000, now)
    return (gap + retention - now) / DAY_MS


def shadow_coverage(summaries: list[StreamSummary]) -> dict[StreamKey, list[tuple[int, int]]]:
    """Per stream of ``summaries``, the coverage of the stream that shadows it ([] if none)."""
    by_key = {s.key: s for s in summaries}
    found: dict[StreamKey, list[tuple[int, int]]] = {}
    for s in summaries:
        stream = spec(s.key)
        other = (by_key.get(StreamKey(s.key.account, s.key.exchange, stream.shadowed_by, s.key.partition))
                 if stream is not None and stream.shadowed_by else None)
        found[s.key] = other.coverage if other is not None else []
    return found


def warning(key: StreamKey, days: float, now: int, fix: str) -> str | None:
    """The warning about ``key`` with ``days`` safe days (``None`` at :data:`WARN_DAYS` or
    more); ``fix`` says how to sync."""
    if days >= WARN_DAYS:
        return None
    lacks = now + int(days * DAY_MS) - retention_ms(key)
    return (f"{key}: history the archive lacks (from {utc_text(lacks)}) leaves {key.exchange}'s "
            f"retention in {max(days, 0):.0f} days — {fix}")
