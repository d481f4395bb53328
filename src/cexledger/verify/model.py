"""What ``verify`` finds, per stream: the shape its terminal output, ``--json`` and the
report's HTML verdicts render.

A Bitget *chain* is one account, stream, category and coin: its rows, in exchange order,
each carry the ``balance`` after them, so each must equal the previous one plus the row's
``amount + fee`` (the sum of its ledger entries). The order rule for rows with equal ``ts``
is in ``docs/verify.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..model import StreamKey

__all__ = ["Break", "Chain", "Stretch", "StreamVerdict", "Verification"]


@dataclass(frozen=True, slots=True)
class Break:
    """The chain does not hold between record ``before_id`` and record ``after_id``:
    ``difference`` = the balance ``after_id`` reports - (the balance after ``before_id`` +
    what the rows from ``after_id`` on, at its time, moved); a missing row shows as a
    difference equal to what it moved."""

    before_id: str
    before_ms: int
    after_id: str
    after_ms: int
    expected: Decimal
    reported: Decimal
    difference: Decimal


@dataclass(frozen=True, slots=True)
class Stretch:
    """Rows proven contiguous: from record ``first_id`` to record ``last_id``, ``rows`` rows."""

    first_id: str
    first_ms: int
    last_id: str
    last_ms: int
    rows: int


@dataclass(frozen=True, slots=True)
class Chain:
    """One balance chain (Bitget): ``category`` and ``coin`` within a stream."""

    category: str | None
    coin: str | None
    rows: int
    breaks: tuple[Break, ...]
    stretches: tuple[Stretch, ...]
    unprovable: int = 0    # rows without a balance: nothing to check them against


@dataclass(frozen=True, slots=True)
class StreamVerdict:
    """One stream's verdict. ``checks`` names what was proven (one line each), ``problems``
    what failed (one line each: the terminal and HTML show them); ``ok`` iff no problem."""

    key: StreamKey
    records: int
    chains: tuple[Chain, ...]
    checks: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Verification:
    """Every selected stream's verdict; ``ok`` iff all are."""

    streams: tuple[StreamVerdict, ...]

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.streams)

    @property
    def breaks(self) -> int:
        return sum(len(c.breaks) for s in self.streams for c in s.chains)
