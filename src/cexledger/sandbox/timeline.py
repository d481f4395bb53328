"""Where generated rows sit in time, and the ids that order them.

History is placed relative to the generator's start time ``t0`` (Unix ms):

* the bulk of rows is uniform in ``[t0 - 90 d + 1 h, t0]``, so no row sits within an hour of
  the moving 90-day retention edge and tests do not flake as the clock runs;
* a few deliberately old rows sit in ``[t0 - 100 d, t0 - 91 d]`` (CoinW) or, for Bitget,
  anywhere in ``[t0 - history, t0 - 91 d]`` but never within an hour of the moving 366-day
  reach of the tax records: only the tax records serve them, up to 366 days back;
* the 30-day grid: ``t0 - 30 d``, ``t0 - 60 d`` and every multiple of 30 days since the Unix
  epoch inside the servable range.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from .config import DAY_MS, HOUR_MS, RETENTION_MS, TAX_REACH_MS, WINDOW_MS

__all__ = ["IdAllocator", "Timeline", "ts_window"]


def ts_window(ts: Sequence[int], start: int, end: int, inclusive: bool) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of the sorted ``ts`` with ``start <= t <= end`` (``start < t
    < end`` when not inclusive): how a store answers a request's time bounds."""
    if inclusive:
        return bisect_left(ts, start), bisect_right(ts, end)
    return bisect_right(ts, start), bisect_left(ts, end)


class IdAllocator:
    """Ids strictly increasing with (ts, allocation order), derived from the timestamp.

    ``id = offset + ts * 100_000 + small random step``; a later ``ts`` always gets a larger id
    and rows sharing a ``ts`` get increasing ids in allocation order. Calls must come in
    non-decreasing ``ts`` order.
    """

    def __init__(self, rng: random.Random, offset: int = 0) -> None:
        self._rng = rng
        self._offset = offset
        self._last_id = 0
        self._last_ts = 0

    @property
    def last_ts(self) -> int:
        """The timestamp of the most recent allocation (0 before the first)."""
        return self._last_ts

    def next(self, ts: int) -> int:
        if ts < self._last_ts:
            raise ValueError("ids must be allocated in time order")
        base = self._offset + ts * 100_000
        if self._last_id >= base:
            new = self._last_id + self._rng.randint(2, 7)
        else:
            new = base + self._rng.randint(0, 99)
        self._last_id, self._last_ts = new, ts
        return new


class Timeline:
    """The time layout for one generator start time ``t0``."""

    def __init__(self, t0: int, history_days: int = 100) -> None:
        self.t0 = t0
        self.first_servable = t0 - RETENTION_MS + HOUR_MS
        self.old_range = (t0 - 100 * DAY_MS, t0 - 91 * DAY_MS)
        self.history_range = (t0 - history_days * DAY_MS, t0 - 91 * DAY_MS)

    def grid(self) -> list[int]:
        """The 30-day boundaries inside the servable range, ascending: multiples of exactly
        30 days and of 30 days less 1 ms (the grid cexledger cuts its windows on) since the
        epoch, and ``t0`` less 30 and 60 days."""
        points = {self.t0 - WINDOW_MS, self.t0 - 2 * WINDOW_MS}
        for step in (WINDOW_MS, WINDOW_MS - 1):
            k = -(-self.first_servable // step)
            while k * step <= self.t0:
                points.add(k * step)
                k += 1
        return sorted(p for p in points if p >= self.first_servable)

    def recent(self, rng: random.Random) -> int:
        """A random servable timestamp."""
        return rng.randint(self.first_servable, self.t0)

    def old(self, rng: random.Random) -> int:
        """A random timestamp at least a day older than retention."""
        return rng.randint(*self.old_range)

    def history(self, rng: random.Random) -> int:
        """A random timestamp in the Bitget history older than retention, never within an
        hour of the tax records' 366-day reach (moved two hours further back)."""
        ts = rng.randint(*self.history_range)
        edge = self.t0 - TAX_REACH_MS
        return ts - 2 * HOUR_MS if abs(ts - edge) <= HOUR_MS else ts
