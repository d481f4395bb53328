"""The work left of a running sync, and how the progress line says it."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.console import Console

from cexledger._render import SyncProgress, work_left_text
from cexledger.archive import WriteResult
from cexledger.config import Account
from cexledger.model import StreamKey
from cexledger.sync import AccountReport, SyncContext, WorkLeft

TAX = StreamKey("bitget-1", "bitget", "tax-records", "SPOT")
FIN = StreamKey("bitget-1", "bitget", "financial-records", "SPOT")


@dataclass
class _Work:
    key: StreamKey
    unit: str = "windows"

    @property
    def rate(self) -> float:        # the pace its limiter allows: the budget's, here exactly
        return {"tax-records": 1.0, "financial-records": 20.0}[self.key.stream]


def _ctx() -> SyncContext:
    return SyncContext(None, 0, {"bitget-1": AccountReport("bitget-1", "bitget")})  # type: ignore[arg-type]


def test_work_left_counts_windows_and_time_at_each_streams_budget():
    ctx = _ctx()
    tax = [_Work(TAX) for _ in range(41)]
    fin = [_Work(FIN) for _ in range(4)]
    ctx.track([*tax, *fin])
    for work in tax[:23]:
        ctx.track([], finished=work)
    split = [_Work(FIN), _Work(FIN)]
    ctx.track(split, finished=fin[0])          # a window split in two: one done, two more
    left = ctx.work_left("bitget-1")
    assert left[0] == WorkLeft("tax-records", "tax records", 23, 41, "windows", 18.0)   # 1 request/s
    assert (left[1].stream, left[1].done, left[1].total) == ("financial-records", 1, 6)
    assert left[1].seconds == 5 / 20                                                     # 20 requests/s
    for work in tax[23:]:
        ctx.track([], finished=work)
    assert [w.stream for w in ctx.work_left("bitget-1")] == ["financial-records"]
    assert ctx.work_left("other") == []


def test_the_line_names_the_slowest_stream_if_a_second_or_more_is_left():
    assert work_left_text([WorkLeft("tax-records", "tax records", 23, 41, "windows", 17.03)]) == \
        "tax records 23/41 windows, ~18 s left"
    assert work_left_text([WorkLeft("tax-records", "tax records", 1, 241, "windows", 240.0)]) == \
        "tax records 1/241 windows, ~4 min left"
    assert work_left_text([WorkLeft("financial-records", "financial records", 1, 6, "windows", 0.25)]) is None
    assert work_left_text([]) is None


def _progress(terminal: bool) -> tuple[io.StringIO, SyncProgress, SyncContext]:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=terminal, color_system=None)
    acc = Account(name="bitget-1", exchange="bitget", api_key="k", api_secret="s", passphrase="p")
    progress = SyncProgress(console, [acc])
    ctx = _ctx()
    progress.bind(ctx)
    ctx.track([_Work(TAX) for _ in range(41)])
    return out, progress, ctx


def test_progress_shows_the_tax_windows_left_within_80_columns():
    _, progress, ctx = _progress(terminal=True)
    progress(TAX, WriteResult(new=123456, updated=0, unchanged=0))
    for _ in range(3):
        ctx.track([], finished=_Work(TAX))
    progress(TAX, None)
    screen = Console(file=io.StringIO(), width=80, color_system=None)
    screen.print(progress._progress.get_renderable())
    lines = screen.file.getvalue().splitlines()
    assert "123456 new" in lines[0] and "1 pages" in lines[0]
    assert lines[1].strip() == "tax records 3/41 windows, ~38 s left"
    assert not any("…" in line or len(line) > 80 for line in lines), lines


def test_progress_without_a_terminal_prints_the_last_state_once():
    out, progress, ctx = _progress(terminal=False)
    with progress:
        for _ in range(300):
            progress(TAX, None)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) <= 2, lines
