"""What an exchange's answer means: the one table every request of every connector obeys.

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
refused: Bitget 40008)                  answer moved the server clock by at least
                                        ``CLOCK_STEP_MS`` since the request was signed;
                                        otherwise ``FatalAccountError``
======================================  =============================================

(Transport failures -- timeouts, dropped connections -- are classified where requests are
sent, in :mod:`._http`.) Codes are compared after normalisation: digit strings lose leading
zeros and integers become text, so ``"00000"``, ``"0"`` and ``0`` are the same code. Error
bodies may carry the text in ``msg`` or ``message``; an exchange's hint for a code is added
to the message in parentheses, and a code's own cause (``causes``) replaces the verdict's
generic message (a classic Bitget account is not a refused key).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

import msgspec

from ..errors import ExchangeError, FatalAccountError, FatalStreamError, RetriableError

__all__ = [
    "CLOCK_STEP_MS",
    "Verdict",
    "ErrorCodes",
    "Envelope",
    "RateLimitedError",
    "VERDICT_ERRORS",
    "decode_envelope",
    "judge",
    "normalize_code",
    "status_verdict",
]

#: A timestamp refusal is retried only when its answer moved the learned server clock by at
#: least this much since the request was signed (else the clock was not what was wrong).
CLOCK_STEP_MS = 1_000


class Verdict(enum.Enum):
    """What an exchange error code means for the caller. ``CLOCK``: the request's timestamp
    was refused -- retried when the answer told the server's time, else ``ACCOUNT``."""

    RETRY = "retry"
    RATE_LIMITED = "rate-limited"
    ACCOUNT = "account"
    STREAM = "stream"
    CLOCK = "clock"


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
    causes: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "success", frozenset(normalize_code(c) for c in self.success))
        object.__setattr__(
            self, "verdicts", {normalize_code(c): v for c, v in self.verdicts.items()}
        )
        object.__setattr__(self, "hints", {normalize_code(c): h for c, h in self.hints.items()})
        object.__setattr__(self, "causes", {normalize_code(c): h for c, h in self.causes.items()})


class Envelope(msgspec.Struct):
    """The fields of an answer every exchange shares; ``data`` is decoded by the caller."""

    code: Union[str, int, None] = None
    msg: Any = None
    message: Any = None
    data: msgspec.Raw = msgspec.Raw(b"null")
    requestTime: Any = None  # noqa: N815 -- Bitget: the server's clock, ms (number or string)


envelope_decoder = msgspec.json.Decoder(Envelope)


def decode_envelope(content: bytes) -> tuple[Envelope | None, str]:
    """The answer's envelope (``None`` if unreadable) and what is wrong with it when it
    carries no code."""
    try:
        envelope = envelope_decoder.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return None, f"malformed body ({exc}, {len(content)} bytes)"
    return envelope, "malformed body (no code)"


class RateLimitedError(RetriableError):
    """A rate-limit answer: retried like any retriable error, and it penalizes the limiter."""


_VERDICT_MESSAGES = {
    Verdict.ACCOUNT: "API key, signature, permission or IP refused",
    Verdict.STREAM: "request refused",
    Verdict.RETRY: "temporary exchange error",
    Verdict.RATE_LIMITED: "rate limited",
    Verdict.CLOCK: "request timestamp refused",
}
#: The exception each verdict raises.
VERDICT_ERRORS: dict[Verdict, type[ExchangeError]] = {
    Verdict.ACCOUNT: FatalAccountError,
    Verdict.STREAM: FatalStreamError,
    Verdict.RETRY: RetriableError,
    Verdict.RATE_LIMITED: RateLimitedError,
    Verdict.CLOCK: FatalAccountError,
}


def status_verdict(status: int) -> Verdict | None:
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


def judge(
    status: int,
    envelope: Envelope | None,
    problem: str,
    codes: ErrorCodes,
    *,
    clock_moved_ms: int | None = None,
) -> tuple[Verdict | None, str]:
    """The verdict on one answer and its message; ``(None, "")``: success, decode ``data``.

    ``problem`` says what is wrong with an envelope without a code (from
    :func:`decode_envelope`); ``clock_moved_ms`` is how far this answer moved the server
    clock since the request was signed (``None``: it told no server time).
    """
    by_status = status_verdict(status)
    if envelope is None or envelope.code is None:
        if by_status is None:  # 2xx without a readable envelope
            return Verdict.RETRY, problem
        return by_status, f"HTTP {status}"
    code = normalize_code(envelope.code)
    hint = codes.hints.get(code)
    if code in codes.success:
        if by_status is None:
            return None, ""
        verdict, message = by_status, f"HTTP {status}"
    elif code in codes.verdicts:
        verdict = codes.verdicts[code]
        if (verdict is Verdict.CLOCK and clock_moved_ms is not None
                and abs(clock_moved_ms) >= CLOCK_STEP_MS):
            # the request was signed with a clock this answer corrects: worth a retry;
            # refused again under the corrected clock, the clock was not the cause
            verdict, hint = Verdict.RETRY, None
            message = f"{_VERDICT_MESSAGES[Verdict.CLOCK]}; now signing with the server's clock"
        else:
            if verdict is Verdict.CLOCK:  # the server's time is unknown: nothing to fix it
                verdict = Verdict.ACCOUNT
            message = codes.causes.get(code) or _VERDICT_MESSAGES[verdict]
    else:
        verdict = by_status or Verdict.STREAM
        message = f"unknown exchange error code, HTTP {status}"
    if hint:
        message = f"{message} ({hint})"
    return verdict, message
