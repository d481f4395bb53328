"""Retries: how often, how long to back off, and how long an exchange's ``Retry-After`` holds.

Retriable outcomes (see :mod:`._classify`) are retried with exponential backoff and full
jitter; after the policy's ``attempts`` the call raises
``FatalStreamError("gave up after N attempts: <last error>")``. While a client has never
received a response, connection failures (and requests past their deadline) get only
``FIRST_CONNECT_ATTEMPTS`` attempts.

Retry-After: an answer carrying ``Retry-After`` (seconds, or an HTTP date) holds back the
limiter of its key and budget -- every stream's next request -- for that long, in full (the
retried request also backs off with jitter, whichever ends later). A wait longer than
``MAX_RETRY_AFTER`` seconds is not waited for: the call raises ``FatalStreamError``
("the exchange asked to wait N s (more than M s): stopped; run again later"). A rate-limit
answer without ``Retry-After`` holds the limiter back for ``RATE_LIMIT_PENALTY_SLOTS`` of its
slots (at most the policy's ``cap``).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

import httpx

__all__ = [
    "FIRST_CONNECT_ATTEMPTS",
    "MAX_RETRY_AFTER",
    "RATE_LIMIT_PENALTY_SLOTS",
    "RetryPolicy",
    "parse_retry_after",
    "retry_after",
]

#: Attempts allowed for connection failures while a client has never reached its host.
FIRST_CONNECT_ATTEMPTS = 3
#: How long a rate-limit answer without ``Retry-After`` holds back a limiter, in slots: long
#: enough for the exchange's window to move on, short enough not to waste a second of budget
#: (the refused request itself still backs off with jitter before it is retried).
RATE_LIMIT_PENALTY_SLOTS = 3

#: The longest ``Retry-After`` (seconds) a sync waits for; a longer one stops the stream (a
#: sync should not sit idle for minutes: the next run continues where this one stopped).
MAX_RETRY_AFTER = 120.0


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


def retry_after(response: httpx.Response) -> float | None:
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
