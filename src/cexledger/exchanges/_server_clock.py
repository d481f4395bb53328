"""A server's clock as this machine sees it, for signing with the exchange's time.

Every answer's ``requestTime`` (the server's clock in ms, a JSON number or digit string)
updates the offset, corrected for the round trip (the midpoint of sending and receiving); a
client that has one signs with it.
"""

from __future__ import annotations

import time

__all__ = ["ServerClock", "wall_ms"]


def wall_ms() -> int:
    """This machine's wall clock, in Unix milliseconds."""
    return time.time_ns() // 1_000_000


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

    def observe_answer(self, value: object, sent_ms: int) -> bool:
        """Learn from an answer's ``requestTime`` ``value`` (a positive integer or digit
        string, ms), received now; False (nothing learned) if it is not a time."""
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            return False
        self.observe(value, sent_ms, wall_ms())
        return True

    def now_ms(self) -> int:
        """The server's time now, in Unix milliseconds (what a signature should carry)."""
        return wall_ms() + self.offset_ms
