"""Rate limiting: one evenly paced limiter per (exchange, API key, endpoint budget).

An exchange counts requests per key (or per user) and per endpoint budget; every stream of a
key that spends one budget waits on one :class:`RateLimiter`. The limiters of one sync run
live in one :class:`LimiterPool`: the engine creates a pool per run and hands it to every
client, so two syncs in one process never share limiter state, and two clients of one key
in one run always do. When callers ask one pool for the same (exchange, key, budget) at
different rates, the LOWER rate applies (a limiter is never sped up by a later caller: the
budget is the key's, and the most careful caller's pace is the only one safe for all).
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["RATE_SAFETY", "RateLimiter", "LimiterPool", "checked_rate"]

#: Share of an exchange's documented rate that a key's limiter allows by default: 3 % under
#: it, so clock skew and the exchange's own window edges never tip a request over.
RATE_SAFETY = 0.97


def checked_rate(rate: float) -> float:
    """``rate`` as a float; ``ValueError`` unless it is a positive finite number."""
    if not rate > 0 or math.isinf(rate):
        raise ValueError(f"rate must be a positive finite number, not {rate!r}")
    return float(rate)


class RateLimiter:
    """An async, FIFO limiter granting evenly spaced slots.

    Slots lie on an ideal grid ``1/rate`` apart (a theoretical arrival time, as in GCRA): a
    grant that wakes up late does not push the grid back, so late wake-ups cost no capacity
    (spacing from each *actual* grant lost ~3 % of the rate). A limiter idle for a while
    restarts its grid from now, so idleness never builds up a burst. Independently, never
    more than ``n = ceil(rate)`` grants fall in any :attr:`span` measured on the actual grant
    times, so catching up after a late request never bunches requests beyond the limit. The
    span is halfway between 1 s and ``n`` slots (at 9.7/s: 10 grants in 1.015 s, where the
    grid takes 1.031 s): half the safety margin absorbs late wake-ups (up to 15 ms late at
    9.7/s they keep the grid), the other half stays between the exchange's 1-second window
    and any ``n + 1`` requests. With a plain 1-second bound, the request after a late one
    came exactly 1 s after the 10th before it, and a millisecond of jitter on the way put 11
    in one second (a 429).
    Waiters are served in arrival order. ``penalize`` pushes every future grant back,
    including the one being waited for. The state is plain numbers on a monotonic clock, so
    one limiter may serve several event loops one after the other (a lock is kept per loop).

    ``clock``/``sleep`` default to ``time.monotonic``/``asyncio.sleep``; tests pass a fake
    pair to measure grants without real waiting.
    """

    def __init__(
        self,
        rate: float,
        *,
        name: str = "",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.rate = rate
        self.name = name
        self._clock = clock or time.monotonic
        self._sleep = sleep or asyncio.sleep
        self._grants: deque[float] = deque()
        self._slot = -math.inf
        self._hold_until = -math.inf
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"RateLimiter({self.rate:g}/s, name={self.name!r})"

    @property
    def rate(self) -> float:
        """Grants per second."""
        return self._rate

    @rate.setter
    def rate(self, rate: float) -> None:
        self._rate = checked_rate(rate)

    @property
    def _window(self) -> int:
        return max(1, math.ceil(self.rate))

    @property
    def span(self) -> float:
        """Seconds in which at most ``ceil(rate)`` grants fall (see the class)."""
        return (1.0 + self._window / self.rate) / 2

    def _earliest(self) -> float:
        earliest = max(self._hold_until, self._slot + 1.0 / self.rate)
        if len(self._grants) >= self._window:
            earliest = max(earliest, self._grants[-self._window] + self.span)
        return earliest

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def acquire(self) -> None:
        """Wait for the next slot (FIFO)."""
        async with self._lock():
            while True:
                now = self._clock()
                wait = self._earliest() - now
                if wait <= 0:
                    break
                await self._sleep(wait)
            scheduled = max(self._hold_until, self._slot + 1.0 / self.rate)
            # a wake-up less than a slot late keeps the grid; anything later (idleness) restarts it
            self._slot = scheduled if now - scheduled < 1.0 / self.rate else now
            self._grants.append(now)
            while len(self._grants) > self._window:
                self._grants.popleft()

    def penalize(self, seconds: float) -> None:
        """Hold every future grant back for ``seconds`` from now (after a rate-limit answer)."""
        self._hold_until = max(self._hold_until, self._clock() + seconds)


class LimiterPool:
    """The rate limiters of one sync run, one per (exchange, API key, budget).

    ``get`` returns the pool's limiter of that triple, creating it at ``rate``; asked again
    at a lower rate, it slows that limiter down to it; at a higher one, it leaves it (the
    lower rate wins, in whichever order callers come). Pools share nothing: a limiter of one
    pool never paces requests of another. ``clock``/``sleep`` are handed to every limiter
    created (tests pass a fake pair). ``scale`` multiplies every rate (1 but in a simulation:
    the demo, whose sandbox runs at that many times the exchanges' limits). The pool never
    shows the keys it holds.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        scale: float = 1.0,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._scale = checked_rate(scale)
        self._limiters: dict[tuple[str, str, str], RateLimiter] = {}

    def __repr__(self) -> str:
        return f"LimiterPool({len(self._limiters)} limiters)"

    def __len__(self) -> int:
        return len(self._limiters)

    def get(self, exchange: str, api_key: str, budget: str, rate: float) -> RateLimiter:
        """The limiter of ``api_key``'s ``budget`` on ``exchange``, at most ``rate``/s
        (times the pool's ``scale``)."""
        rate = checked_rate(rate * self._scale)
        key = (exchange, api_key, budget)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = RateLimiter(
                rate, name=f"{exchange}/{budget}", clock=self._clock, sleep=self._sleep
            )
        elif rate < limiter.rate:
            limiter.rate = rate
        return limiter
