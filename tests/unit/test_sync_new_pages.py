"""The sync engine tells the archive which pages it expects to be new (``NewPages``), per run."""

from __future__ import annotations

import asyncio
from typing import Any

from cexledger.archive import WriteResult
from cexledger.model import Record, StreamKey
from cexledger.sync import AccountReport, SyncContext

FUTURES = StreamKey("main", "bitget", "financial-records", "USDT-FUTURES")
SPOT = StreamKey("main", "bitget", "financial-records", "SPOT")


class _Archive:
    """Answers ``write_page`` with the results it is given and keeps what it was asked."""

    def __init__(self, results: list[WriteResult]) -> None:
        self.results = results
        self.asked: list[tuple[str, bool]] = []

    def write_page(self, key: StreamKey, records: Any, **kwargs: Any) -> WriteResult:
        self.asked.append((key.partition, kwargs["expect_new"]))
        return self.results.pop(0)


def _run(archive: _Archive, pages: list[StreamKey]) -> None:
    ctx = SyncContext(archive, 0, {"main": AccountReport("main", "bitget")})  # type: ignore[arg-type]
    ctx.stamped(pages)

    async def go() -> None:
        for key in pages:
            await ctx.write(key, [Record("1", 1, b"{}")])

    asyncio.run(go())


def test_a_page_is_expected_new_after_its_streams_page_brought_new_records_in_the_same_run() -> None:
    archive = _Archive([WriteResult(2, 0, 0), WriteResult(1, 0, 0), WriteResult(2, 0, 0),
                        WriteResult(0, 0, 2), WriteResult(1, 0, 0)])
    _run(archive, [FUTURES, SPOT, FUTURES, FUTURES, FUTURES])
    assert archive.asked == [("USDT-FUTURES", False), ("SPOT", False), ("USDT-FUTURES", True),
                             ("USDT-FUTURES", True), ("USDT-FUTURES", False)]


def test_a_new_run_starts_with_no_guess() -> None:
    archive = _Archive([WriteResult(2, 0, 0), WriteResult(2, 0, 0)])
    _run(archive, [FUTURES])
    _run(archive, [FUTURES])
    assert archive.asked == [("USDT-FUTURES", False), ("USDT-FUTURES", False)]
