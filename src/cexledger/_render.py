"""Rich rendering for the CLI: sync progress, the sync summary, the status table.

Everything printed here reads at 80 columns and without a terminal (cron mail, logs, a
pipe): one heading line per account, narrow tables under it with every value in its
column, cells wrapped (never cut with an ellipsis), dates as ``YYYY-MM-DD`` with the time
only where the date alone would not tell two boundaries apart.
"""

from __future__ import annotations

import math
from itertools import groupby

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ._clock import DAY_MS, utc_text

from .archive import StreamSummary, WriteResult
from .config import Account, mask
from .model import StreamKey
from .retention import WARN_DAYS, retention_ms, safe_days, shadow_coverage, warning
from .sync import SyncContext, SyncReport, WorkLeft

__all__ = ["SyncProgress", "Unconfigured", "summary_table", "status_table", "reach_text", "other_types_block", "accounts_table", "sample_table", "fmt_ts"]

def fmt_ts(ts: int | None) -> str:
    return "-" if ts is None else utc_text(ts)


def _table(*columns: str, right: tuple[str, ...] = ()) -> Table:
    """A borderless table that wraps its cells instead of cutting them."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0), show_edge=False,
                  header_style="bold")
    for name in columns:
        table.add_column(name, justify="right" if name in right else "left", overflow="fold")
    return table


def _heading(text: str, style: str = "bold") -> Text:
    return Text(text, style=style)


class _MainOnly:
    """A progress column drawn for an account's line, blank for the line under it."""

    def __init__(self, column) -> None:
        self._column = column

    def __getattr__(self, name: str):
        return getattr(self._column, name)

    def __call__(self, task):
        return Text("") if task.fields.get("sub") else self._column(task)


class SyncProgress:
    """A live line per account: records archived, pages read, elapsed time; under it, while
    a stream has a second or more of work left at its rate limit (tax records, at one
    request a second), that stream's items left and the time left::

        ⠋ bitget-1 (bitget)        412 new       0 updated      57 pages 0:00:21
                                tax records 23/41 windows, ~18 s left

    Without a terminal (cron, a pipe) rich draws nothing until the end, then the last
    state once: a mail gets a line or two per account, not one per update."""

    def __init__(self, console: Console, accounts: list[Account]) -> None:
        self._progress = Progress(
            _MainOnly(SpinnerColumn()),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[stats]}"),
            _MainOnly(TimeElapsedColumn()),
            console=console,
            transient=False,
        )
        self._tasks = {}
        self._left = {}
        for a in accounts:
            self._tasks[a.name] = self._progress.add_task(f"{a.name} ({a.exchange})", total=None,
                                                          stats=self._stats(0, 0, 0))
            self._left[a.name] = self._progress.add_task("", total=None, stats="", sub=True, visible=False)
        self._counts = {a.name: [0, 0, 0] for a in accounts}
        self._ctx: SyncContext | None = None

    @staticmethod
    def _stats(new: int, updated: int, pages: int) -> str:
        return f"{new:>8} new  {updated:>6} updated  {pages:>6} pages"

    def bind(self, ctx: SyncContext) -> None:
        """The running sync, whose outstanding work the lines show."""
        self._ctx = ctx

    def finished(self, account: str) -> None:
        """The account's sync ended: its line stops (spinner and clock), its work-left line goes."""
        self._progress.update(self._tasks[account], total=1, completed=1)
        self._progress.update(self._left[account], stats="", visible=False)

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, key: StreamKey, result: WriteResult | None) -> None:
        counts = self._counts[key.account]
        if result is None:
            counts[2] += 1
        else:
            counts[0] += result.new
            counts[1] += result.updated
        self._progress.update(self._tasks[key.account], stats=self._stats(*counts))
        left = work_left_text(self._ctx.work_left(key.account)) if self._ctx is not None else None
        self._progress.update(self._left[key.account], stats=left or "", visible=left is not None)


def work_left_text(left: list[WorkLeft]) -> str | None:
    """The slowest stream's outstanding work, if more than a second is left at its rate:
    ``tax records 23/41 windows, ~18 s left`` (``~4 min`` from two minutes on)."""
    if not left or left[0].seconds < 1:
        return None
    w = left[0]
    seconds = math.ceil(w.seconds)
    eta = f"~{seconds} s" if seconds < 120 else f"~{round(seconds / 60)} min"
    return f"{w.title} {w.done}/{w.total} {w.unit}, {eta} left"


def summary_table(report: SyncReport) -> RenderableType:
    """The sync summary: per account a status line, its request counts, then one row per
    stream (pages read, records new and updated)."""
    parts: list[RenderableType] = [_heading(f"sync finished in {report.seconds:.1f} s")]
    for acc in report.accounts:
        if acc.fatal:
            state = Text("FAILED", style="bold red")
        elif acc.errors:
            state = Text("incomplete", style="yellow")
        else:
            state = Text("ok", style="green")
        rq = acc.requests
        pages = sum(s.pages for s in acc.streams.values())
        line = Text.assemble(
            (f"{acc.account}", "bold"), f" ({acc.exchange}): ", state,
            f" in {acc.seconds:.1f} s, {acc.new} new, {acc.updated} updated",
        )
        counts = (f"  {pages} pages, {rq.requests} requests, {rq.retries} retries, "
                  f"{rq.rate_limited} rate-limited")
        if acc.unparsed:
            counts += f", {acc.unparsed} rows kept raw only (not understood yet)"
        parts += [Text(""), line, Text(counts)]
        if acc.streams:
            table = _table("stream", "partition", "pages", "new", "updated",
                           right=("pages", "new", "updated"))
            for key, st in sorted(acc.streams.items(), key=lambda kv: (kv[0].stream, kv[0].partition)):
                table.add_row(key.stream, key.partition, str(st.pages), str(st.new), str(st.updated))
            parts.append(Padding(table, (0, 0, 0, 2), expand=False))
    return Group(*parts)


def _dates(points: list[int]) -> list[str]:
    """Each point as its UTC date, with the time where another point falls on that date."""
    days = [utc_text(p, minutes=False) for p in points]
    return [utc_text(p) if days.count(d) > 1 else d for p, d in zip(points, days)]


def _coverage_text(coverage: list[tuple[int, int]]) -> str:
    """Covered ranges, one a line (two with times; the newest three, and how many more
    before them)."""
    if not coverage:
        return "-"
    shown = coverage[-3:]
    labels = _dates([p for rng in shown for p in rng])
    lines = []
    for start, end in zip(labels[::2], labels[1::2]):
        # a range with a time does not fit one line of the column: break it after the arrow
        lines.append(f"{start} → {end}" if len(start) + len(end) <= 20 else f"{start} →\n{end}")
    if len(coverage) > len(shown):
        lines.insert(0, f"(+{len(coverage) - len(shown)} earlier)")
    return "\n".join(lines)


def reach_text(members: list[StreamSummary], now: int) -> str:
    """How far back one stream of one account reaches, in the archive (the oldest covered
    point of any partition) and at the exchange (its spec's retention, and the date that
    is now), in one line of at most 72 characters."""
    retention = retention_ms(members[0].key)
    starts = [s.coverage[0][0] for s in members if s.coverage]
    archived = f"archived since {fmt_day(min(starts))}" if starts else "nothing covered yet"
    return f"{archived} · exchange serves {retention // DAY_MS} days, since {fmt_day(now - retention)}"


def fmt_day(ts: int) -> str:
    return utc_text(ts, minutes=False)


#: Per account: ``(exchange, stream, why and what to do)`` of each stream it cannot sync as
#: configured (``Connector.unconfigured``).
Unconfigured = dict[str, list[tuple[str, str, str]]]


def _unconfigured_parts(account: str, missing: list[tuple[str, str, str]]) -> list[RenderableType]:
    parts: list[RenderableType] = []
    for exchange, stream, hint in missing:
        parts += [Text(""), Text.assemble((account, "bold"), f" · {exchange} {stream}"),
                  Padding(Text(hint, style="yellow"), (0, 0, 0, 2), expand=False)]
    return parts


def status_table(summaries: list[StreamSummary], now: int,
                 unconfigured: Unconfigured | None = None) -> tuple[RenderableType, list[str]]:
    """The archive's streams, under one heading per (account, exchange, stream): how far
    back the archive and the exchange reach, then per partition records, oldest and newest,
    covered ranges and safe days; after an account's streams, those it has not configured
    (``unconfigured``); and the warnings to print."""
    parts: list[RenderableType] = [_heading("archive status")]
    warnings = []
    unconfigured = dict(unconfigured or {})

    def group(s: StreamSummary) -> tuple[str, str, str]:
        return s.key.account, s.key.exchange, s.key.stream

    groups = [(head, list(members)) for head, members in groupby(summaries, key=group)]
    shadowing = shadow_coverage(summaries)

    for n, ((account, exchange, stream), members) in enumerate(groups):
        table = _table("partition", "records", "oldest", "newest", "covered", "safe for",
                       right=("records", "safe for"))
        for s in members:
            days = safe_days(s, now, shadowing[s.key])
            if days < WARN_DAYS:
                days_text = Text(f"{max(days, 0):.0f} days", style="bold red")
                warnings.append(warning(s.key, days, now, "run `cexledger sync`"))
            else:
                days_text = Text(f"{days:.0f} days")
            span = _dates([t for t in (s.oldest_ts, s.newest_ts) if t is not None])
            table.add_row(
                s.key.partition, str(s.records), span[0] if span else "-", span[-1] if span else "-",
                _coverage_text(s.coverage), days_text,
            )
        parts += [Text(""), Text.assemble((account, "bold"), f" · {exchange} {stream}"),
                  Padding(Text(reach_text(members, now)), (0, 0, 0, 2), expand=False), table]
        if n + 1 == len(groups) or groups[n + 1][0][0] != account:      # the account's last stream
            parts += _unconfigured_parts(account, unconfigured.pop(account, []))
    for account, missing in unconfigured.items():       # configured, nothing archived yet
        parts += _unconfigured_parts(account, missing)
    return Group(*parts), warnings


def other_types_block(rows: list[tuple[str, str | None, int]]) -> list[str]:
    """Lines naming every exchange type still mapped to kind ``other``, per exchange, with
    its entry count (``Archive.other_types``); no lines when every type is understood."""
    if not rows:
        return []
    width = max(len(exchange) for exchange, _, _ in rows)
    type_width = min(max(len(name or "(no type)") for _, name, _ in rows), 80 - width - 20)
    lines = ["exchange types not understood yet (kind other; their raw rows are kept):"]
    for exchange, name, count in rows:
        label = name or "(no type)"
        lines.append(f"  {exchange:<{width}}  {label:<{type_width}}  {count:>8} entries")
    return lines


def _secret_text(account: Account, name: str) -> str:
    source = account.secret_sources.get(name, "?")
    value = getattr(account, name)
    return f"**** ({source})" if value else f"NOT SET ({source})"


def accounts_table(accounts: list[Account]) -> RenderableType:
    """Each configured account as a heading and its settings, secrets masked; an incomplete
    account says what is missing."""
    parts: list[RenderableType] = [_heading("configured accounts")]
    for a in accounts:
        scope = ", ".join(a.categories or a.instruments or ()) or (
            "all categories" if a.exchange == "bitget" else "public instrument list")
        rows = [("base url", a.base_url), ("api key", mask(a.api_key)),
                ("secret", _secret_text(a, "api_secret"))]
        if "passphrase" in a.secret_sources:
            rows.append(("passphrase", _secret_text(a, "passphrase")))
        if a.has_tax_key:
            rows += [("tax api key", mask(a.tax_api_key) if a.tax_api_key else _secret_text(a, "tax_api_key")),
                     ("tax secret", _secret_text(a, "tax_api_secret")),
                     ("tax passphrase", _secret_text(a, "tax_passphrase"))]
        rows.append(("scope", scope))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for label, value in rows:
            grid.add_row(label, Text(value))
        if a.problem:
            grid.add_row(Text("INCOMPLETE", style="bold red"), Text(a.problem))
        if a.tax_problem:
            grid.add_row(Text("NO TAX RECORDS", style="bold red"), Text(a.tax_problem))
        title = Text.assemble((a.name, "bold"), f" ({a.exchange}{', demo' if a.demo else ''})")
        parts += [Text(""), title, Padding(grid, (0, 0, 0, 2), expand=False)]
    return Group(*parts)


def sample_table(columns: tuple[str, ...], rows: list[list[str]]) -> RenderableType:
    """A few rows of some export's columns, laid out like the other tables."""
    table = _table(*columns)
    for row in rows:
        table.add_row(*row)
    return table
