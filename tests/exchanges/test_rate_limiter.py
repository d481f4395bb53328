"""The limiter never grants more than ``n = ceil(rate)`` slots in any ``span`` (at least one
second: halfway to ``n / rate``), FIFO."""

from __future__ import annotations

import asyncio
import math

import pytest

from cexledger.exchanges._http import RequestStats
from cexledger.exchanges._limits import RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def max_in_any_window(grants: list[float], width: float = 1.0) -> int:
    """The most grants in any half-open window [t, t + width)."""
    width -= 1e-9  # float sums of 1/rate: a grant exactly on the window's edge is outside
    grants = sorted(grants)
    best, j = 0, 0
    for i, start in enumerate(grants):
        while j < len(grants) and grants[j] < start + width:
            j += 1
        best = max(best, j - i)
    return best


async def run_waiters(limiter: RateLimiter, clock, n: int) -> list[tuple[int, float]]:
    grants: list[tuple[int, float]] = []

    async def waiter(i: int) -> None:
        await limiter.acquire()
        grants.append((i, clock()))

    await asyncio.gather(*(waiter(i) for i in range(n)))
    return grants


@pytest.mark.parametrize("rate", [1.0, 5.0, 4.75, 19.0, 20.0, 19.5, 100.0])
async def test_never_more_than_rate_per_second_under_many_waiters(rate):
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    n = int(rate * 5) + 7
    grants = await run_waiters(limiter, clock, n)
    times = [t for _, t in grants]
    assert max_in_any_window(times, limiter.span) <= math.ceil(rate)
    assert [i for i, _ in grants] == list(range(n))  # FIFO
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1.0 / rate - 1e-9  # evenly spaced, never bunched
    # and it runs at the rate, not below it (4.75/s stays 4.75/s, not 4)
    assert times[-1] - times[0] <= (n - 1) / rate + 1e-6


async def test_idle_limiter_grants_at_once():
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    clock.now += 5.0
    before = clock.now
    await limiter.acquire()
    assert clock.now == before


async def test_penalize_pushes_every_future_slot_back():
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire()
    start = clock.now
    limiter.penalize(2.0)
    grants = await run_waiters(limiter, clock, 3)
    assert grants[0][1] >= start + 2.0
    assert [round(t - grants[0][1], 6) for _, t in grants] == [0.0, 0.1, 0.2]


async def test_real_loop_time_respects_the_window():
    loop = asyncio.get_running_loop()
    limiter = RateLimiter(50.0)
    grants: list[float] = []

    async def waiter() -> None:
        await limiter.acquire()
        grants.append(loop.time())

    await asyncio.gather(*(waiter() for _ in range(60)))
    assert max_in_any_window(grants) <= 50
    assert grants[-1] - grants[0] >= 59 / 50 - 0.01


def test_limiter_serves_successive_event_loops():
    limiter = RateLimiter(1000.0)
    asyncio.run(limiter.acquire())
    asyncio.run(limiter.acquire())  # a new loop: no "bound to a different loop" error


def test_rate_must_be_positive():
    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            RateLimiter(bad)


def test_request_stats_merge():
    total = RequestStats()
    total.merge(RequestStats(requests=3, retries=1, round_trip=0.2))
    total.merge(RequestStats(requests=2, rate_limited=1, failures=1, round_trip=0.3))
    total.merge(RequestStats(failures=1))
    assert total.as_dict() == {"requests": 5, "retries": 1, "rate_limited": 1, "failures": 2,
                               "round_trip": 0.3}


def test_round_trip_is_a_moving_average():
    stats = RequestStats()
    stats.observe_round_trip(1.0)
    assert stats.round_trip == 1.0
    stats.observe_round_trip(0.5)
    assert stats.round_trip == 0.9


class LateClock(FakeClock):
    """Every sleep wakes up ``late`` seconds after it was due, as a busy event loop does."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + self.late)


@pytest.mark.parametrize("rate", [19.4, 4.85])
async def test_late_wake_ups_cost_no_capacity_and_never_bunch(rate):
    clock = LateClock(late=0.05 / rate)          # each wake-up 5 % of a slot late
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    n = int(rate * 10)
    times = [t for _, t in await run_waiters(limiter, clock, n)]
    # the grid is kept: n grants take (n - 1) slots plus at most one late wake-up
    assert times[-1] - times[0] <= (n - 1) / rate + clock.late + 1e-6
    assert max_in_any_window(times, limiter.span) <= math.ceil(rate)


@pytest.mark.parametrize("rate", [9.7, 19.4, 4.85, 10.0])
async def test_a_late_request_keeps_the_margin_in_every_window(rate):
    """A request asked for late (its page came back late) is granted off the grid; the next
    ones go back to the grid, but the ``n = ceil(rate)`` grants after the late one still take
    a ``span``: half the margin under the exchange's 1-second window (15 ms at 9.7/s) holds
    in every window, so a little jitter on the way cannot put n + 1 requests in one second."""
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    times = [t for _, t in await run_waiters(limiter, clock, 4)]
    clock.now = times[-1] + 1.6 / rate        # the next request is asked for 0.6 slot late
    times += [t for _, t in await run_waiters(limiter, clock, int(rate * 4))]
    n = math.ceil(rate)
    assert limiter.span == pytest.approx((1 + n / rate) / 2) and limiter.span >= 1.0
    assert max_in_any_window(times, limiter.span) <= n
    # and catching up is still allowed where it bunches nothing: the grant after the late
    # one is back on the grid, less than a slot after it
    assert times[5] - times[4] < 1.0 / rate
