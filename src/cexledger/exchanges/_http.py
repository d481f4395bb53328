"""Shared HTTP machinery of the connectors: rate limiting, retries, error classification.

Every request of every connector goes through :class:`Requester.get`, the single place that
decides what an outcome means:

======================================  =============================================
outcome                                 verdict
======================================  =============================================
success code and HTTP 2xx               ``data`` returned
code in the exchange's table            the table's verdict (account / stream / retry
                                        / rate limit), whatever the HTTP status
success or unknown code, non-2xx        as the HTTP status says (below)
unknown code, HTTP 2xx                  ``FatalStreamError``
HTTP 429                                rate limited: retry, limiter penalized
HTTP 5xx or 408                         retry
HTTP 401 / 403                          ``FatalAccountError``
other HTTP 3xx / 4xx                    ``FatalStreamError``
HTTP 2xx, body unreadable or no code    retry (malformed or truncated body)
``data`` of the wrong shape             retry (malformed)
a ``Verdict.CLOCK`` code (timestamp     retry, signing with the server's clock, when the
refused: Bitget 40008)                  answer carries the server's time; otherwise
                                        ``FatalAccountError``
timeout, dropped/refused connection     retry; while a client has never received a
                                        response, connection failures (and requests
                                        past their deadline) get only
                                        ``FIRST_CONNECT_ATTEMPTS`` attempts
other transport errors (bad URL, …)     ``FatalStreamError``
======================================  =============================================

Deadline: each attempt -- connecting, sending and reading the whole answer -- must finish
within the policy's ``timeout`` (an account's ``timeout`` setting), however the bytes trickle
in; the rate limiter's wait is not part of it. A request past its deadline is a timeout.

Retry-After: an answer carrying ``Retry-After`` (seconds, or an HTTP date) holds back the
limiter of its key and budget -- every stream's next request -- for that long, in full (the
retried request also backs off with jitter, whichever ends later). A wait longer than
``MAX_RETRY_AFTER`` seconds is not waited for: the call raises ``FatalStreamError``
("the exchange asked to wait N s (more than M s): stopped; run again later").

Server clock: a client may pass a :class:`ServerClock`; every answer's ``requestTime`` (the
server's clock in ms, a JSON number or digit string) updates its offset, corrected for the
round trip (the midpoint of sending and receiving), and the client signs with it.

Retriable outcomes are retried with exponential backoff and full jitter; after the policy's
attempts the call raises ``FatalStreamError("gave up after N attempts: <last error>")``.
Codes are compared after normalisation: digit strings lose leading zeros and integers become
text, so ``"00000"``, ``"0"`` and ``0`` are the same code. Error bodies may carry the text in
``msg`` or ``message``. Error texts are redacted of the account's credentials (API key,
secret, passphrase; values shorter than ``MIN_REDACTED`` characters are left alone, as
scrubbing them would mangle ordinary words) before they are stored in an exception; headers
(and so signatures) never are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import enum
import math
import random
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, Union

import anyio
import httpx
import msgspec

from ..errors import ExchangeError, FatalAccountError, FatalStreamError, RetriableError

__all__ = [
    "RATE_SAFETY",
    "RateLimiter",
    "limiter_for",
    "RequestStats",
    "RetryPolicy",
    "Verdict",
    "ErrorCodes",
    "Requester",
    "FIRST_CONNECT_ATTEMPTS",
    "MAX_RETRY_AFTER",
    "ServerClock",
]

T = TypeVar("T")

#: Attempts allowed for connection failures while a client has never reached its host.
FIRST_CONNECT_ATTEMPTS = 3
#: How long a rate-limit answer without ``Retry-After`` holds back a limiter, in slots: long
#: enough for the exchange's window to move on, short enough not to waste a second of budget
#: (the refused request itself still backs off with jitter before it is retried).
RATE_LIMIT_PENALTY_SLOTS = 3

#: The longest ``Retry-After`` (seconds) a sync waits for; a longer one stops the stream (a
#: sync should not sit idle for minutes: the next run continues where this one stopped).
MAX_RETRY_AFTER = 120.0

#: Share of an exchange's documented rate that a key's limiter allows by default: 3 % under
#: it, so clock skew and the exchange's own window edges never tip a request over.
RATE_SAFETY = 0.97

#: A timestamp refusal is retried only when its answer moved the learned server clock by at
#: least this much since the request was signed (else the clock was not what was wrong).
CLOCK_STEP_MS = 1_000

#: Connection pool sizing: room for at least 64 requests in flight.
POOL_LIMITS = httpx.Limits(max_connections=128, max_keepalive_connections=64)
_TEXT_LIMIT = 300
#: Credentials shorter than this are not redacted (scrubbing ``"s"`` mangles "request").
MIN_REDACTED = 6


class RateLimiter:
    """An async, FIFO limiter granting evenly spaced slots.

    Slots lie on an ideal grid ``1/rate`` apart (a theoretical arrival time, as in GCRA): a
    grant that wakes up late does not push the grid back, so late wake-ups cost no capacity
    (spacing from each *actual* grant lost ~3 % of the rate). A limiter idle for a while
    restarts its grid from now, so idleness never builds up a burst. Independently, never
    more than ``ceil(rate)`` grants fall in any 1-second window measured on the actual grant
    times, so catching up can never bunch requests beyond the limit.
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
        if not rate > 0 or math.isinf(rate):
            raise ValueError(f"rate must be a positive finite number, not {rate!r}")
        self._rate = float(rate)

    @property
    def _window(self) -> int:
        return max(1, math.ceil(self.rate))

    def _earliest(self) -> float:
        earliest = max(self._hold_until, self._slot + 1.0 / self.rate)
        if len(self._grants) >= self._window:
            earliest = max(earliest, self._grants[-self._window] + 1.0)
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


_limiters: dict[tuple[str, str, str], RateLimiter] = {}


def limiter_for(exchange: str, api_key: str, budget: str, rate: float) -> RateLimiter:
    """The process-wide limiter of one (exchange, API key, endpoint budget).

    Every stream of a key shares it. A later call with another ``rate`` re-rates the shared
    limiter (the most recent caller's rate applies; callers of one key normally agree).
    """
    key = (exchange, api_key, budget)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = _limiters[key] = RateLimiter(rate, name=f"{exchange}/{budget}")
    else:
        limiter.rate = rate
    return limiter


@dataclass
class RequestStats:
    """Counters of one client (or, merged, of a whole sync).

    ``requests``: HTTP requests sent (every attempt); ``retries``: attempts that were
    retried; ``rate_limited``: rate-limit answers; ``failures``: calls that ended in an error;
    ``unparsed``: rows archived raw without entries because they could not be normalized;
    ``round_trip``: a moving average of the seconds from sending a request to its answer
    (the limiter's wait excluded), which the stream planners use to size their concurrency.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: int = 0
    unparsed: int = 0
    round_trip: float = 0.0

    def observe_round_trip(self, seconds: float) -> None:
        self.round_trip = seconds if not self.round_trip else 0.8 * self.round_trip + 0.2 * seconds

    def merge(self, other: RequestStats) -> None:
        """Add ``other``'s counters to these (the round trip: the larger one)."""
        for f in dataclasses.fields(self):
            if f.name == "round_trip":
                self.round_trip = max(self.round_trip, other.round_trip)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int | float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; ``timeout`` is each attempt's total deadline in
    seconds (connect, send and the whole answer)."""

    attempts: int = 8
    base: float = 0.25
    cap: float = 8.0
    timeout: float = 30.0

    @classmethod
    def with_timeout(cls, timeout: float | None) -> RetryPolicy:
        """The default policy, with ``timeout`` (an account's setting) when it is given."""
        return cls(timeout=timeout) if timeout else cls()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (from 1)."""
        return random.uniform(0.0, min(self.cap, self.base * 2.0 ** (attempt - 1)))


class Verdict(enum.Enum):
    """What an exchange error code means for the caller. ``CLOCK``: the request's timestamp
    was refused -- retried when the answer told the server's time, else ``ACCOUNT``."""

    RETRY = "retry"
    RATE_LIMITED = "rate-limited"
    ACCOUNT = "account"
    STREAM = "stream"
    CLOCK = "clock"


class ServerClock:
    """A server's clock as seen from here: this machine's wall clock plus a learned offset.

    ``observe`` takes the server's time from an answer, with the local wall-clock times the
    request was sent and its answer received; the server read its clock somewhere in
    between, so the midpoint is the estimate (off by at most half the round trip). The
    latest observation wins. Before any, the offset is 0.
    """

    def __init__(self) -> None:
        self.offset_ms = 0

    def observe(self, server_ms: int, sent_ms: int, received_ms: int) -> None:
        self.offset_ms = server_ms - (sent_ms + received_ms) // 2

    def now_ms(self) -> int:
        """The server's time now, in Unix milliseconds (what a signature should carry)."""
        return time.time_ns() // 1_000_000 + self.offset_ms


def normalize_code(code: str | int) -> str:
    """Comparable text of an exchange code: ``"00000"``, ``"0"`` and ``0`` all give ``"0"``."""
    text = str(code).strip()
    return str(int(text)) if text.isdigit() else text


@dataclass(frozen=True)
class ErrorCodes:
    """One exchange's error-code table. Codes may be written as the docs spell them."""

    success: frozenset[str]
    verdicts: Mapping[str, Verdict]
    hints: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "success", frozenset(normalize_code(c) for c in self.success))
        object.__setattr__(
            self, "verdicts", {normalize_code(c): v for c, v in self.verdicts.items()}
        )
        object.__setattr__(self, "hints", {normalize_code(c): h for c, h in self.hints.items()})


class _Envelope(msgspec.Struct):
    code: Union[str, int, None] = None
    msg: Any = None
    message: Any = None
    data: msgspec.Raw = msgspec.Raw(b"null")
    requestTime: Any = None  # noqa: N815 -- Bitget: the server's clock, ms (number or string)


_envelope_decoder = msgspec.json.Decoder(_Envelope)


class _RateLimitedError(RetriableError):
    """A rate-limit answer: retried like any retriable error, and it penalizes the limiter."""


class _ConnectError(RetriableError):
    """The host could not be reached; retried fewer times while it never has been."""


_VERDICT_MESSAGES = {
    Verdict.ACCOUNT: "API key, signature, permission or IP refused",
    Verdict.STREAM: "request refused",
    Verdict.RETRY: "temporary exchange error",
    Verdict.RATE_LIMITED: "rate limited",
    Verdict.CLOCK: "request timestamp refused",
}
_VERDICT_ERRORS: dict[Verdict, type[ExchangeError]] = {
    Verdict.ACCOUNT: FatalAccountError,
    Verdict.STREAM: FatalStreamError,
    Verdict.RETRY: RetriableError,
    Verdict.RATE_LIMITED: _RateLimitedError,
    Verdict.CLOCK: FatalAccountError,
}


class Requester:
    """Sends one exchange's requests: limiter, signing, classification, retries, stats.

    Owns the ``httpx.AsyncClient`` unless one is injected (then the caller closes it).
    ``secrets`` (the API key, secret and passphrase) are redacted from any exchange text kept
    in an error, longest first; values shorter than ``MIN_REDACTED`` are not. ``server_clock``
    (if given) learns the server's time from every answer that carries it.
    """

    def __init__(
        self,
        *,
        exchange: str,
        account: str,
        base_url: str,
        codes: ErrorCodes,
        http: httpx.AsyncClient | None,
        stats: RequestStats,
        retry: RetryPolicy,
        secrets: Sequence[str] = (),
        server_clock: ServerClock | None = None,
    ) -> None:
        self.exchange = exchange
        self.account = account
        self.base_url = base_url.rstrip("/")
        self.codes = codes
        self.stats = stats
        self.retry = retry
        kept = {s for s in secrets if len(s) >= MIN_REDACTED}
        self._secrets = tuple(sorted(kept, key=len, reverse=True))
        self._server_clock = server_clock
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient(limits=POOL_LIMITS)
        self._reached = False  # has any response ever arrived?
        self._warmed = not self._owns_http    # an injected client brings its own transport

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _warm_up(self) -> None:
        """Resolve the host once before the first rate-limited request.

        The first connection otherwise starts a resolver thread while its slot is already
        granted, so it reaches the exchange tens of milliseconds late and bunches with the
        next requests inside the exchange's 1-second window (measured: one 29001 per CoinW
        sync). Errors are left to the real request to report."""
        self._warmed = True
        url = httpx.URL(self.base_url)
        try:
            await anyio.getaddrinfo(url.host, url.port or (443 if url.scheme == "https" else 80))
        except OSError:
            pass

    async def get(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        limiter: RateLimiter,
        auth: httpx.Auth | None,
        parse: Callable[[msgspec.Raw], T],
    ) -> T:
        """GET ``path`` with ``params`` in the given order; ``parse`` decodes ``data``.

        ``parse`` raising ``msgspec.ValidationError``/``DecodeError`` counts as a malformed
        body (retried). Raises ``FatalAccountError`` or ``FatalStreamError``.
        """
        if not self._warmed:
            await self._warm_up()
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(path, params, limiter=limiter, auth=auth, parse=parse)
            except RetriableError as exc:
                if isinstance(exc, _RateLimitedError):
                    self.stats.rate_limited += 1
                if exc.retry_after is not None:
                    if exc.retry_after > MAX_RETRY_AFTER:
                        raise self._give_up(
                            exc, path, f"the exchange asked to wait {exc.retry_after:.0f} s "
                            f"(more than {MAX_RETRY_AFTER:.0f} s): stopped; run again later",
                        ) from exc
                    limiter.penalize(exc.retry_after)
                elif isinstance(exc, _RateLimitedError):
                    limiter.penalize(min(RATE_LIMIT_PENALTY_SLOTS / limiter.rate, self.retry.cap))
                limit = self.retry.attempts
                if isinstance(exc, _ConnectError) and not self._reached:
                    limit = min(limit, FIRST_CONNECT_ATTEMPTS)
                if attempt >= limit:
                    raise self._give_up(exc, path, f"gave up after {attempt} attempts: {exc.args[0]}") from exc
                self.stats.retries += 1
                await asyncio.sleep(self.retry.backoff(attempt))
            except ExchangeError:
                self.stats.failures += 1
                raise

    async def _attempt(
        self,
        path: str,
        params: Sequence[tuple[str, str]],
        *,
        limiter: RateLimiter,
        auth: httpx.Auth | None,
        parse: Callable[[msgspec.Raw], T],
    ) -> T:
        await limiter.acquire()
        request = self._http.build_request(
            "GET", self.base_url + path, params=list(params), timeout=self.retry.timeout
        )
        self.stats.requests += 1
        sent_ms = time.time_ns() // 1_000_000 if self._server_clock is not None else 0
        signed_offset = self._server_clock.offset_ms if self._server_clock is not None else 0
        sent = time.monotonic()
        try:
            # httpx's own timeouts are per phase and per read: the deadline bounds the whole
            # attempt (a non-streaming send reads the entire body before it returns)
            async with asyncio.timeout(self.retry.timeout):
                response = await self._http.send(request, auth=auth)
        except TimeoutError as exc:
            kind = RetriableError if self._reached else _ConnectError
            raise self._error(
                kind, f"timed out (no complete answer within {self.retry.timeout:g} s)", path
            ) from exc
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise self._error(_ConnectError, f"cannot connect ({_describe(exc)})", path) from exc
        except httpx.TimeoutException as exc:
            raise self._error(RetriableError, f"timed out ({_describe(exc)})", path) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError) as exc:
            raise self._error(
                RetriableError, f"connection failed ({_describe(exc)})", path
            ) from exc
        except httpx.HTTPError as exc:
            raise self._error(
                FatalStreamError, f"request failed ({_describe(exc)})", path
            ) from exc
        self._reached = True
        self.stats.observe_round_trip(time.monotonic() - sent)
        return self._classify(response, path, parse, sent_ms, signed_offset)

    def _classify(
        self,
        response: httpx.Response,
        path: str,
        parse: Callable[[msgspec.Raw], T],
        sent_ms: int = 0,
        signed_offset: int = 0,
    ) -> T:
        status = response.status_code
        by_status = _status_verdict(status)
        clock_learned = False
        hint: str | None = None
        try:
            envelope: _Envelope | None = _envelope_decoder.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            envelope, problem = None, f"malformed body ({exc}, {len(response.content)} bytes)"
        else:
            problem = "malformed body (no code)"
            if self._server_clock is not None and envelope.requestTime is not None:
                clock_learned = self._observe_clock(envelope.requestTime, sent_ms)
        if envelope is None or envelope.code is None:
            if by_status is None:  # 2xx without a readable envelope
                raise self._error(RetriableError, problem, path, status=status)
            raise self._error(
                _VERDICT_ERRORS[by_status],
                f"HTTP {status}",
                path,
                status=status,
                retry_after=_retry_after(response),
            )
        code = normalize_code(envelope.code)
        hint = self.codes.hints.get(code)
        if code in self.codes.success:
            if by_status is None:
                try:
                    return parse(envelope.data)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise self._error(
                        RetriableError, f"malformed data ({exc})", path, status=status
                    ) from exc
            verdict, message = by_status, f"HTTP {status}"
        elif code in self.codes.verdicts:
            verdict = self.codes.verdicts[code]
            if (verdict is Verdict.CLOCK and clock_learned and self._server_clock is not None
                    and abs(self._server_clock.offset_ms - signed_offset) >= CLOCK_STEP_MS):
                # the request was signed with a clock this answer corrects: worth a retry;
                # refused again under the corrected clock, the clock was not the cause
                verdict, hint = Verdict.RETRY, None
                message = f"{_VERDICT_MESSAGES[Verdict.CLOCK]}; now signing with the server's clock"
            else:
                if verdict is Verdict.CLOCK:  # the server's time is unknown: nothing to fix it
                    verdict = Verdict.ACCOUNT
                message = _VERDICT_MESSAGES[verdict]
        else:
            verdict = by_status or Verdict.STREAM
            message = f"unknown exchange error code, HTTP {status}"
        if hint:
            message = f"{message} ({hint})"
        raise self._error(
            _VERDICT_ERRORS[verdict],
            message,
            path,
            status=status,
            code=str(envelope.code),
            text=self._text(envelope),
            retry_after=_retry_after(response),
        )

    def _observe_clock(self, value: object, sent_ms: int) -> bool:
        """Tell the server clock the time an answer carries; False if it is not a time."""
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return False
        assert self._server_clock is not None
        self._server_clock.observe(value, sent_ms, time.time_ns() // 1_000_000)
        return True

    def _text(self, envelope: _Envelope) -> str | None:
        for value in (envelope.msg, envelope.message):
            if value is not None and value != "":
                return self._redact(str(value))
        return None

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text[:_TEXT_LIMIT]

    def _give_up(self, exc: ExchangeError, path: str, message: str) -> ExchangeError:
        """The ``FatalStreamError`` that ends a call after the retriable ``exc``, counted."""
        self.stats.failures += 1
        return self._error(FatalStreamError, message, path, status=exc.status, code=exc.code, text=exc.text)

    def _error(
        self,
        kind: type[ExchangeError],
        message: str,
        path: str,
        *,
        status: int | None = None,
        code: str | None = None,
        text: str | None = None,
        retry_after: float | None = None,
    ) -> ExchangeError:
        return kind(
            self._redact(message),
            exchange=self.exchange,
            account=self.account,
            method="GET",
            path=path,
            status=status,
            code=code,
            text=text,
            retry_after=retry_after,
        )


def _status_verdict(status: int) -> Verdict | None:
    """The verdict an HTTP status gives on its own; ``None`` for 2xx."""
    if status == 429:
        return Verdict.RATE_LIMITED
    if status >= 500 or status == 408:
        return Verdict.RETRY
    if status in (401, 403):
        return Verdict.ACCOUNT
    if status >= 300:
        return Verdict.STREAM
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds from now: a number of seconds, or an HTTP date (a date in
    the past is 0). ``None`` when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    return parse_retry_after(value, time.time())


def parse_retry_after(value: str, now: float) -> float | None:
    """A ``Retry-After`` value in seconds after ``now`` (Unix seconds), or ``None``."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # an HTTP date is always GMT
            return None
        return max(0.0, when.timestamp() - now)
    return seconds if 0 <= seconds < math.inf else None


def _describe(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
