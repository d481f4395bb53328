"""Latency, fault injection, rate limiting and request statistics for the exchange endpoints.

Every request to an exchange endpoint goes through ``guard``:

1. it is counted (``Stats``), then sleeps half the simulated latency: that is its *arrival*;
   a request its key has an injected answer queued for (``Injections``, ``POST
   /_sandbox/inject``) gets that answer instead of steps 2-4: ``rate_limited`` (the
   exchange's rate-limit answer with a ``Retry-After`` header, in seconds or as an HTTP
   date) or ``trickle`` (the real answer, one byte every ``trickle_s`` seconds);
2. with probability ``faults`` it gets a fault instead of an answer (``FaultSchedule``: a
   seeded RNG of its own, independent of the data, spreading faults evenly): ``http500``, ``http502`` (HTML body), ``truncated`` (HTTP 200,
   the real body cut in half), ``slow`` (``slow_fault_s`` extra, then the real answer) or
   ``drop`` (the connection is closed with no response). Faulted requests change no state
   and do not count toward the rate limit;
3. otherwise the rate limiter (a sliding one-second window per API key per endpoint,
   counted at arrival) admits it or answers with the exchange's rate-limit response;
   rejected requests count toward nothing else;
4. while ``hold`` is set an admitted request waits (a server that stalls); then the handler
   answers, then the other half of the latency passes.

Every answered request is logged (``Stats.log``, ``GET /_sandbox/requests``): key, path,
query, status, what it got, and its arrival and answer times on the server's monotonic clock.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable, Collection

from aiohttp import web

if TYPE_CHECKING:
    from .state import SandboxState

__all__ = ["FAULT_KINDS", "INJECTED_KINDS", "FaultSchedule", "Injection", "Injections",
           "RateLimiter", "Stats", "Handler", "guard"]

_HOLD_POLL_S = 0.005   # how often a held request looks whether the hold was lifted

FAULT_KINDS = ("http500", "http502", "truncated", "slow", "drop")
#: Answers ``POST /_sandbox/inject`` can queue for a key's next requests.
INJECTED_KINDS = ("rate_limited", "trickle")
#: Requests kept in the log (the oldest are dropped first).
LOG_SIZE = 100_000

_BAD_GATEWAY = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                b"</body>\r\n</html>\r\n")

# A handler answers one admitted request; ``live=False`` means "change no state" (faults).
Handler = Callable[[web.Request, bool], web.Response]


class FaultSchedule:
    """Which requests fault: each request with probability ``p``, spread evenly.

    Stratified rather than independent draws: the request sequence is cut into runs of
    ``1/p`` requests and exactly one request in each run faults, at a seeded random position.
    Every request still faults with probability ``p``, but a short sync at ``p = 0.15`` can never go fault-free by luck of the seed. The kind of
    each fault is a seeded uniform choice. Changing ``p`` restarts the schedule.
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._p = 0.0
        self._n = 0          # requests seen since the schedule (re)started
        self._k = 0          # current run
        self._next = 0.0     # position of the next fault, in requests

    def roll(self, p: float) -> str | None:
        """The fault for the next request, or None."""
        if p != self._p:
            self._p, self._n, self._k = p, 0, 0
            self._next = self._rng.random() / p if p else 0.0
        if not p:
            return None
        n = self._n
        self._n += 1
        if self._next >= n + 1:
            return None
        self._k += 1
        # the next run's fault; if it would share this request, it moves to the next one
        self._next = max((self._k + self._rng.random()) / p, n + 1.0)
        return FAULT_KINDS[int(self._rng.random() * len(FAULT_KINDS))]


@dataclass(frozen=True)
class Injection:
    """One queued answer: ``kind`` (``INJECTED_KINDS``); for ``rate_limited`` the
    ``Retry-After`` in seconds, sent as a number or (``http_date``) as the HTTP date that
    many seconds from now, rounded up to the next whole second."""

    kind: str
    retry_after: float | None = None
    http_date: bool = False

    def __post_init__(self) -> None:
        if self.kind not in INJECTED_KINDS:
            raise ValueError(f"kind must be one of {INJECTED_KINDS}, not {self.kind!r}")
        if self.retry_after is not None and not 0 <= self.retry_after < math.inf:
            raise ValueError("retry_after must be a non-negative number of seconds")

    def retry_after_header(self, now_ms: int) -> str | None:
        """The ``Retry-After`` value to send when the server's clock reads ``now_ms``."""
        if self.retry_after is None:
            return None
        if self.http_date:
            when = math.floor((now_ms / 1000 + self.retry_after)) + 1
            return email.utils.formatdate(when, usegmt=True)
        return f"{self.retry_after:g}"


class Injections:
    """Answers queued per API key, taken one per request in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[str, deque[Injection]] = {}

    def add(self, key: str, injection: Injection, count: int) -> None:
        with self._lock:
            self._queued.setdefault(key, deque()).extend([injection] * count)

    def take(self, key: str) -> Injection | None:
        with self._lock:
            queue = self._queued.get(key)
            return queue.popleft() if queue else None

    def clear(self) -> None:
        with self._lock:
            self._queued.clear()


class RateLimiter:
    """Sliding one-second windows, one per (endpoint, key)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], deque[float]] = {}

    def admit(self, endpoint: str, key: str, limit: float, now: float) -> bool:
        """Count a request arriving at ``now`` (seconds) unless ``limit`` are already in the window."""
        window = self._windows.setdefault((endpoint, key), deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return False
        window.append(now)
        return True


class Stats:
    """Request counters for ``GET /_sandbox/stats``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._by_path: Counter[str] = Counter()
            self._by_key: Counter[str] = Counter()
            self._by_status: Counter[str] = Counter()
            self._rate_limited = 0
            self._faults = 0
            self._log: deque[dict[str, object]] = deque(maxlen=LOG_SIZE)

    def arrived(self, path: str, key: str) -> None:
        with self._lock:
            self._requests += 1
            self._by_path[path] += 1
            self._by_key[key] += 1

    def answered(self, status: str, *, fault: bool = False, limited: bool = False) -> None:
        with self._lock:
            self._by_status[status] += 1
            self._faults += fault
            self._rate_limited += limited

    def logged(self, key: str, request: web.Request, arrived: float, status: str,
               kind: str | None) -> None:
        """Log one answered request (times: ``time.monotonic()`` seconds)."""
        entry = {"key": key, "path": request.path, "query": request.query_string,
                 "status": status, "kind": kind, "arrived": arrived,
                 "agent": request.headers.get("User-Agent", ""),
                 "answered": time.monotonic()}
        with self._lock:
            self._log.append(entry)

    def log(self, key: str | Collection[str] | None = None,
            path: str | None = None) -> list[dict[str, object]]:
        """The logged requests (of ``key`` only, or of any of several keys, and to ``path``
        only, if given), in the order they were answered."""
        keys = {key} if isinstance(key, str) else key
        with self._lock:
            return [e for e in self._log if (keys is None or e["key"] in keys)
                    and (path is None or e["path"] == path)]

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {"requests": self._requests, "by_path": dict(self._by_path),
                    "by_key": dict(self._by_key), "rate_limited": self._rate_limited,
                    "faults": self._faults, "by_status": dict(self._by_status)}


def guard(state: SandboxState, endpoint: str, key_header: str, base_limit: float, handler: Handler,
          limited: Callable[[], web.Response]) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap an exchange handler with latency, faults, rate limiting and statistics.

    ``base_limit`` is requests per second per key before ``rate_limit_scale``; ``limited``
    builds the exchange's rate-limit answer.
    """

    async def wrapped(request: web.Request) -> web.StreamResponse:
        settings = state.settings
        key = request.headers.get(key_header, "")
        state.stats.arrived(request.path, key)
        half = settings.latency_ms / 2000
        if half:
            await asyncio.sleep(half)
        arrived = time.monotonic()
        injection = state.injections.take(key)
        if injection is not None:
            response = await _injected(request, injection, handler, limited, state)
            state.stats.logged(key, request, arrived, str(response.status), injection.kind)
            return response
        fault = state.roll_fault()
        if fault is not None:
            response = await _faulted(request, fault, handler, state, half)
            state.stats.logged(key, request, arrived, str(response.status), fault)
            return response
        limit = base_limit * state.config.rate_limit_scale
        if settings.rate_limit and not state.limiter.admit(
                endpoint, key, limit, asyncio.get_running_loop().time()):
            response = limited()
            state.stats.answered(str(response.status), limited=True)
        else:
            while settings.hold:   # admitted at its arrival; the answer waits for the release
                await asyncio.sleep(_HOLD_POLL_S)
            response = handler(request, True)
            state.stats.answered(str(response.status))
        state.stats.logged(key, request, arrived, str(response.status), None)
        if half:
            await asyncio.sleep(half)
        return response

    return wrapped


async def _injected(request: web.Request, injection: Injection, handler: Handler,
                    limited: Callable[[], web.Response], state: SandboxState) -> web.StreamResponse:
    """Answer ``request`` with a queued answer (no state change, no rate-limit count)."""
    if injection.kind == "rate_limited":
        response = limited()
        header = injection.retry_after_header(state.now_ms())
        if header is not None:
            response.headers["Retry-After"] = header
        state.stats.answered(str(response.status), limited=True)
        return response
    answer = handler(request, False)
    body = answer.body
    assert isinstance(body, bytes)
    stream = web.StreamResponse(status=answer.status)
    stream.content_type = "application/json"
    stream.content_length = len(body)
    state.stats.answered(str(answer.status), fault=True)
    try:
        await stream.prepare(request)
        for i in range(len(body)):
            await stream.write(body[i:i + 1])
            await asyncio.sleep(state.config.trickle_s)
        await stream.write_eof()
    except (ConnectionError, RuntimeError):  # the client gave up and closed the connection
        pass
    return stream


async def _faulted(request: web.Request, fault: str, handler: Handler, state: SandboxState,
                   half: float) -> web.StreamResponse:
    """Answer ``request`` with fault ``fault`` (no state change, no rate-limit count)."""
    stats = state.stats
    if fault == "drop":
        stats.answered("dropped", fault=True)
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)
    if fault == "http500":
        response = web.Response(status=500, text="Internal Server Error")
    elif fault == "http502":
        response = web.Response(status=502, body=_BAD_GATEWAY, content_type="text/html")
    else:
        if fault == "slow":
            await asyncio.sleep(state.config.slow_fault_s)
        response = handler(request, False)
        if fault == "truncated":
            body = response.body
            assert isinstance(body, bytes)
            response = web.Response(status=200, body=body[: len(body) // 2],
                                    content_type="application/json")
    stats.answered(str(response.status), fault=True)
    if half:
        await asyncio.sleep(half)
    return response

