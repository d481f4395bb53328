"""Output work (encoding and writing) in one background thread, in order.

An export alternates between reading a batch from the database (Python builds the rows)
and encoding/writing it (Arrow's CSV and Parquet writers, zstd, the file write: C code
that releases the GIL). Handing the second half to a thread lets it run while the next
batch is read, on a second core when there is one. At most ``DEPTH`` batches wait, so
memory stays bounded; after an error in the thread the calls still queued are skipped,
and the error is raised in the caller at the next ``submit`` or at the end.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

__all__ = ["Pipeline"]

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
