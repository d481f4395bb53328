"""Output work (encoding and writing) in one background thread, in order.

An export alternates between reading a batch from the database (Python builds the rows)
and encoding/writing it (Arrow's CSV and Parquet writers, zstd, the file write: C code
that releases the GIL). Handing the second half to a thread lets it run while the next
batch is read, on a second core when there is one. At most ``DEPTH`` batches wait, so
memory stays bounded; after an error in the thread the calls still queued are skipped,
and the error is raised in the caller at the next ``submit`` or at the end.

Every writer writes through :class:`WholeWrites`, so a short write is never taken for a
whole one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, BinaryIO

__all__ = ["Pipeline", "WholeWrites"]

DEPTH = 2


class Pipeline:
    """``with Pipeline() as pipe: pipe.submit(fn, *args)`` — ``fn`` calls run one at a time,
    in submission order; leaving the block waits for them all."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cexledger-export")
        self._pending: deque[Future[Any]] = deque()
        self._failed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        while len(self._pending) >= DEPTH:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._run, fn, args))

    def _run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if self._failed:
            return None
        try:
            return fn(*args)
        except BaseException:
            self._failed = True
            raise

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                while self._pending:
                    self._pending.popleft().result()
        finally:
            for future in self._pending:
                future.cancel()
            self._pool.shutdown(wait=True)


class WholeWrites:
    """A binary output whose ``write`` writes all of its data, or raises.

    A raw binary file's ``write`` (``sys.stdout.buffer`` itself under ``PYTHONUNBUFFERED=1``
    or ``python -u``, as in many containers and services) is one ``write(2)``: it may write
    less than it was given and return the count, into a pipe whose reader went away in the
    middle of the write or onto a disk that filled up. A caller that ignores the count
    (Arrow's writers do) loses the rest without a word and reports success. Here the rest is
    written again, so the error behind the short write (``EPIPE``, ``ENOSPC``, ``EFBIG``) is
    raised by the next attempt.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        while view:
            written = self._out.write(view)
            if not written:  # None (would block) or nothing written: never spin
                raise OSError(f"write to {getattr(self._out, 'name', 'output')} wrote nothing")
            view = view[written:]
        return total

    def flush(self) -> None:
        self._out.flush()

    @property
    def closed(self) -> bool:
        return self._out.closed

    def writable(self) -> bool:
        return True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)
