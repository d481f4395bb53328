"""Fixed-point integers and quick seeded picks for the generators.

Amounts are generated as integers counting ``10**-places`` units: exact like ``Decimal`` and
several times faster in bulk, which matters when a sandbox holds a million rows.
"""

from __future__ import annotations

import random
from bisect import bisect
from itertools import accumulate
from typing import Generic, Sequence, TypeVar

__all__ = ["text", "pad8", "between", "pick", "Weighted"]

T = TypeVar("T")


def text(units: int, places: int) -> str:
    """``units * 10**-places`` as canonical decimal text: no exponent, no trailing zeros."""
    if places == 0 or units == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    digits = str(abs(units)).rjust(places + 1, "0")
    frac = digits[-places:].rstrip("0")
    return f"{sign}{digits[:-places]}.{frac}" if frac else f"{sign}{digits[:-places]}"


def pad8(text: str) -> str:
    """The variant dialect's numeric strings: at least 8 decimals, like ``"1.50000000"``."""
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(8, '0')}" if len(frac) < 8 else text


def between(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in ``[low, high]``."""
    span = high - low + 1
    if span < 1 << 50:
        return low + int(rng.random() * span)
    return rng.randrange(low, high + 1)


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """A uniform choice."""
    return items[int(rng.random() * len(items))]


class Weighted(Generic[T]):
    """A fixed weighted choice, picked by bisecting cumulative weights."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = tuple(items)
        self._cumulative = list(accumulate(weights))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.items[bisect(self._cumulative, rng.random() * self._total)]
