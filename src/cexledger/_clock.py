"""Wall-clock time in Unix milliseconds, the unit of every timestamp in cexledger."""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["DAY_MS", "HOUR_MS", "iso_ms", "now_ms", "utc_text"]

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_text(ms: int, *, minutes: bool = True) -> str:
    """A timestamp as people read it, in UTC: ``2026-03-01 14:05`` (or ``2026-03-01``)."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M" if minutes else "%Y-%m-%d")


def iso_ms(ms: int) -> str:
    """A timestamp for programs (JSON): ISO 8601 UTC to the millisecond,
    ``2026-03-01T14:05:09.250Z``; exact (integer arithmetic, no float)."""
    seconds, millis = divmod(ms, 1000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
