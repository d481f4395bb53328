"""Which time ranges of a stream the archive holds: a sorted list of disjoint intervals.

Intervals are half-open ``[start_ms, end_ms)``. Adding one merges it with every stored
interval it overlaps or touches, so ``[0, 10)`` + ``[10, 20)`` is stored as ``[0, 20)``;
stored intervals therefore never overlap or touch.
"""

from __future__ import annotations

import sqlalchemy as sa

from .prepared import Cursor, Prepared
from .schema import coverage

__all__ = ["add", "intervals"]

_b = sa.bindparam
_c = coverage.c

_TOUCHING = Prepared(
    lambda _: sa.select(_c.start_ms, _c.end_ms)
    .where(_c.stream_id == _b("b_sid"), _c.start_ms <= _b("b_end"), _c.end_ms >= _b("b_start"))
    .order_by(_c.start_ms),
    ["b_sid", "b_end", "b_start"],
)
_INSERT = Prepared(lambda _: sa.insert(coverage), ["stream_id", "start_ms", "end_ms"])
_REPLACE = Prepared(
    lambda _: sa.update(coverage)
    .values(start_ms=_b("b_start"), end_ms=_b("b_end"))
    .where(_c.stream_id == _b("b_sid"), _c.start_ms == _b("b_old")),
    ["b_start", "b_end", "b_sid", "b_old"],
)
_DELETE_STARTING_IN = Prepared(
    lambda _: sa.delete(coverage).where(_c.stream_id == _b("b_sid"), _c.start_ms.between(_b("b_lo"), _b("b_hi"))),
    ["b_sid", "b_lo", "b_hi"],
)


def add(cur: Cursor, stream_id: int, start_ms: int, end_ms: int) -> None:
    """Add ``[start_ms, end_ms)`` to a stream's coverage, inside the caller's transaction."""
    touching = cur.execute(_TOUCHING, (stream_id, end_ms, start_ms))
    if not touching:
        cur.execute(_INSERT, (stream_id, start_ms, end_ms))
        return
    merged = (min(start_ms, touching[0][0]), max(end_ms, touching[-1][1]))
    if len(touching) == 1:
        if tuple(touching[0]) != merged:
            cur.execute(_REPLACE, (*merged, stream_id, touching[0][0]))
        return
    # The touching intervals are consecutive: no other interval starts between them.
    cur.execute(_DELETE_STARTING_IN, (stream_id, touching[0][0], touching[-1][0]))
    cur.execute(_INSERT, (stream_id, *merged))


_OF_STREAM = Prepared(
    lambda _: sa.select(_c.start_ms, _c.end_ms).where(_c.stream_id == _b("b_sid")).order_by(_c.start_ms),
    ["b_sid"],
)


def intervals(conn: sa.Connection, stream_id: int) -> list[tuple[int, int]]:
    """A stream's coverage, sorted by start."""
    cur = Cursor(conn)
    try:
        return [(start, end) for start, end in cur.execute(_OF_STREAM, (stream_id,))]
    finally:
        cur.close()
