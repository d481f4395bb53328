"""Sending requests: the :class:`Requester` every request of every connector goes through.

It waits for the limiter's slot (:mod:`._limits`), signs, sends, classifies the answer
(:mod:`._classify`) and retries what is retriable (:mod:`._retry`), counting everything in
:class:`RequestStats`. Transport failures are classified here:

======================================  =============================================
failure                                 verdict
======================================  =============================================
timeout, dropped/refused connection     retry; while a client has never received a
                                        response, connection failures (and requests
                                        past their deadline) get only
                                        ``FIRST_CONNECT_ATTEMPTS`` attempts
other transport errors (bad URL, …)     ``FatalStreamError``
======================================  =============================================

Deadline: each attempt -- connecting, sending and reading the whole answer -- must finish
within the policy's ``timeout`` (an account's ``timeout`` setting), however the bytes trickle
in; the rate limiter's wait is not part of it. A request past its deadline is a timeout.

Server clock: given a :class:`~._server_clock.ServerClock`, every answer's ``requestTime``
updates it and the request is signed with it (see there).

Error texts are redacted of the account's credentials (API key, secret, passphrase; values
shorter than ``MIN_REDACTED`` characters are left alone, as scrubbing them would mangle
ordinary words) before they are stored in an exception; headers (and so signatures) never are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, TypeVar

import anyio
import httpx
import msgspec

from ..errors import ExchangeError, FatalStreamError, RetriableError
from ._classify import (
    VERDICT_ERRORS,
    Envelope,
    ErrorCodes,
    RateLimitedError,
    decode_envelope,
    judge,
    status_verdict,
)
from ._limits import RateLimiter
from ._retry import (
    FIRST_CONNECT_ATTEMPTS,
    MAX_RETRY_AFTER,
    RATE_LIMIT_PENALTY_SLOTS,
    RetryPolicy,
    retry_after,
)
from ._server_clock import ServerClock, wall_ms

if TYPE_CHECKING:
    import aiohttp

__all__ = ["MIN_REDACTED", "RequestStats", "Requester", "Transport"]

T = TypeVar("T")

#: Connections an account's client keeps: room for at least 64 requests in flight.
MAX_CONNECTIONS = 128
#: Seconds an idle connection is kept for the next request.
KEEPALIVE_S = 5.0


class Transport(httpx.AsyncBaseTransport):
    """httpx's requests sent over aiohttp's connection pool: the transport of a requester's
    own ``httpx.AsyncClient``.

    The request -- URL, headers, signature -- is httpx's, byte for byte, and so is the
    answer (its body handed over undecoded: httpx decodes it as it would its own); aiohttp
    only carries the bytes. httpx's own pool (httpcore, h11) cost about 0.8 ms of CPU a
    request (a 20 KB page), this one about 0.4 ms: a worker's jobs and a backfill spend most
    of their CPU per request. Its errors become httpx's, which the requester sorts
    (:func:`_httpx_error`). The pool (``MAX_CONNECTIONS``, idle ones kept ``KEEPALIVE_S``)
    is opened at the first request, in the running event loop.

    aiohttp is imported and the TLS context made when the transport is: each takes 0.1 s,
    which a command sending no request does not pay, and which must not delay the first
    request past the rate limiter's slot for it (the exchange's window then counts it with
    the next ones: a 429)."""

    def __init__(self) -> None:
        import aiohttp  # noqa: F401 - loaded now, not at the first request

        self._session: aiohttp.ClientSession | None = None
        self._tls = tls_context()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import aiohttp
        import yarl

        if self._session is None:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S,
                                             ssl=self._tls)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False,
                                                  skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"))
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.get("connect"),
                                        sock_read=timeouts.get("read"))
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            async with self._session.request(
                    request.method, yarl.URL(str(request.url), encoded=True), headers=headers,
                    data=request.content or None, allow_redirects=False, timeout=timeout) as answer:
                body = await answer.read()
        except aiohttp.ClientError as exc:
            raise _httpx_error(exc, request) from exc
        return httpx.Response(answer.status, headers=answer.raw_headers, content=body, request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _httpx_error(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.HTTPError:
    """The httpx error an aiohttp one stands for: a timeout or a failed connection (the
    requester retries them), a broken answer (retried too), a URL aiohttp cannot send
    (fatal, as httpx's own "unsupported protocol" is)."""
    import aiohttp

    text = str(exc) or type(exc).__name__
    kind: type[httpx.TransportError]
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(exc, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout
    elif isinstance(exc, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)):
        kind = httpx.ReadError
    elif isinstance(exc, aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        kind = httpx.UnsupportedProtocol
    else:
        kind = httpx.TransportError
    return kind(text, request=request)


@cache
def tls_context() -> ssl.SSLContext:
    """One TLS context for every client of the process: httpx builds a new one per client
    (loading the CA bundle: 0.1 s of CPU), which a worker would pay for every account."""
    return httpx.create_ssl_context()
_TEXT_LIMIT = 300
#: Credentials shorter than this are not redacted (scrubbing ``"s"`` mangles "request").
MIN_REDACTED = 6


class _ConnectError(RetriableError):
    """The host could not be reached; retried fewer times while it never has been."""


@dataclass
class RequestStats:
    """Counters of one client (or, merged, of a whole sync).

    ``requests``: HTTP requests sent (every attempt); ``retries``: attempts that were
    retried; ``rate_limited``: rate-limit answers; ``failures``: calls that ended in an error;
    ``round_trip``: a moving average of the seconds from sending a request to its answer
    (the limiter's wait excluded), which the stream planners use to size their concurrency.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    failures: int = 0
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


PROCESS_TAG: str | None = None
"""Set by a worker process (``cexledger worker``): a random token naming the process in its
User-Agent, so a server's log can tell the processes apart (never a host name or pid)."""


def user_agent() -> str:
    """``cexledger/<version>``, and ``(worker <token>)`` in a worker process."""
    from .. import __version__

    return f"cexledger/{__version__}" + (f" (worker {PROCESS_TAG})" if PROCESS_TAG else "")


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
        self._http = http if http is not None else httpx.AsyncClient(
            transport=Transport(), headers={"User-Agent": user_agent()})
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
                if isinstance(exc, RateLimitedError):
                    self.stats.rate_limited += 1
                if exc.retry_after is not None:
                    if exc.retry_after > MAX_RETRY_AFTER:
                        raise self._give_up(
                            exc, path, f"the exchange asked to wait {exc.retry_after:.0f} s "
                            f"(more than {MAX_RETRY_AFTER:.0f} s): stopped; run again later",
                        ) from exc
                    limiter.penalize(exc.retry_after)
                elif isinstance(exc, RateLimitedError):
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
        sent_ms = wall_ms() if self._server_clock is not None else 0
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
        envelope, problem = decode_envelope(response.content)
        clock_moved_ms = None
        if (envelope is not None and self._server_clock is not None
                and envelope.requestTime is not None
                and self._server_clock.observe_answer(envelope.requestTime, sent_ms)):
            clock_moved_ms = self._server_clock.offset_ms - signed_offset
        verdict, message = judge(status, envelope, problem, self.codes, clock_moved_ms=clock_moved_ms)
        if verdict is None:
            assert envelope is not None
            try:
                return parse(envelope.data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise self._error(
                    RetriableError, f"malformed data ({exc})", path, status=status
                ) from exc
        if envelope is None or envelope.code is None:
            # no exchange code: the status speaks (a 2xx of that kind is a broken body)
            raise self._error(
                VERDICT_ERRORS[verdict], message, path, status=status,
                retry_after=None if status_verdict(status) is None else retry_after(response),
            )
        raise self._error(
            VERDICT_ERRORS[verdict],
            message,
            path,
            status=status,
            code=str(envelope.code),
            text=self._text(envelope),
            retry_after=retry_after(response),
        )

    def _text(self, envelope: Envelope) -> str | None:
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


def _describe(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
