"""Rich rendering for the CLI: sync progress, the sync summary, the status table."""

from __future__ import annotations

from datetime import datetime, timezone

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .archive import StreamSummary, WriteResult
from .config import Account, mask
from .exchanges import registry
from .model import StreamKey
from .sync import SyncReport

__all__ = ["SyncProgress", "summary_table", "status_table", "other_types_block", "accounts_table", "fmt_ts"]

WARN_DAYS = 30
DAY_MS = 86_400_000


def fmt_ts(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


class SyncProgress:
    """A live line per account: records archived, pages read, elapsed time."""

    def __init__(self, console: Console, accounts: list[Account]) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[new]:>8} new  {task.fields[updated]:>6} updated  {task.fields[pages]:>6} pages"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks = {
            a.name: self._progress.add_task(f"{a.name} ({a.exchange})", total=None, new=0, updated=0, pages=0)
            for a in accounts
        }
        self._counts = {a.name: [0, 0, 0] for a in accounts}

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
        self._progress.update(self._tasks[key.account], new=counts[0], updated=counts[1], pages=counts[2])


def summary_table(report: SyncReport) -> Table:
    table = Table(title=f"sync finished in {report.seconds:.1f} s", title_justify="left")
    for col in ("account", "stream", "partition", "pages", "new", "updated"):
        table.add_column(col, justify="right" if col in ("pages", "new", "updated") else "left")
    for acc in report.accounts:
        for key, st in sorted(acc.streams.items(), key=lambda kv: (kv[0].stream, kv[0].partition)):
            table.add_row(acc.account, key.stream, key.partition, str(st.pages), str(st.new), str(st.updated))
        rq = acc.requests
        state = "[red]FAILED[/red]" if acc.fatal else ("[yellow]incomplete[/yellow]" if acc.errors else "[green]ok[/green]")
        table.add_row(
            f"[bold]{acc.account}[/bold]", f"{state} {acc.seconds:.1f} s",
            f"{rq.requests} requests, {rq.retries} retries, {rq.rate_limited} rate-limited"
            + (f", {rq.unparsed} rows kept raw only (not understood yet)" if rq.unparsed else ""),
            str(sum(s.pages for s in acc.streams.values())), str(acc.new), str(acc.updated),
            end_section=True,
        )
    return table


def _coverage_text(coverage: list[tuple[int, int]]) -> str:
    if not coverage:
        return "-"
    parts = [f"{fmt_ts(s)} → {fmt_ts(e)}" for s, e in coverage[-2:]]
    more = f" (+{len(coverage) - 2} more)" if len(coverage) > 2 else ""
    return "; ".join(parts) + more


def first_uncovered(coverage: list[tuple[int, int]], start: int, end: int) -> int:
    """The earliest point of ``[start, end)`` outside the sorted ``coverage`` (``end`` if none)."""
    point = start
    for s, e in coverage:
        if s > point:
            break
        point = max(point, e)
    return min(point, end)


def safe_days(summary: StreamSummary, now: int) -> float | None:
    """Days until history the archive lacks starts leaving the exchange's retention.

    Measured from the first uncovered point inside retention (a hole a failed sync left,
    or else the end of the newest coverage): from then on, rows there expire unarchived.
    The first hour of retention is ignored (syncs stay a few minutes inside the edge).
    """
    retention = registry[summary.key.exchange].RETENTION_MS
    if not summary.coverage:
        return None if summary.newest_ts is None else (summary.newest_ts + retention - now) / DAY_MS
    gap = first_uncovered(summary.coverage, now - retention + 3_600_000, now)
    return (gap + retention - now) / DAY_MS


def status_table(summaries: list[StreamSummary], now: int) -> tuple[Table, list[str]]:
    table = Table(title="archive status", title_justify="left")
    for col in ("account", "exchange", "stream", "partition", "records", "oldest", "newest", "covered", "safe for"):
        table.add_column(col, justify="right" if col in ("records", "safe for") else "left")
    warnings = []
    for s in summaries:
        days = safe_days(s, now)
        if days is None:
            days_text = "-"
        elif days < WARN_DAYS:
            days_text = f"[bold red]{days:.0f} days[/bold red]"
            warnings.append(
                f"{s.key}: history the archive lacks (from "
                f"{fmt_ts(now + int(days * DAY_MS) - registry[s.key.exchange].RETENTION_MS)}) leaves "
                f"{s.key.exchange}'s retention in {max(days, 0):.0f} days — run `cexledger sync`"
            )
        else:
            days_text = f"{days:.0f} days"
        table.add_row(
            s.key.account, s.key.exchange, s.key.stream, s.key.partition, str(s.records),
            fmt_ts(s.oldest_ts), fmt_ts(s.newest_ts), _coverage_text(s.coverage), days_text,
        )
    return table, warnings


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


def accounts_table(accounts: list[Account]) -> Table:
    table = Table(title="configured accounts", title_justify="left")
    for col in ("name", "exchange", "base url", "api key", "secret", "passphrase", "scope"):
        table.add_column(col)
    for a in accounts:
        scope = ", ".join(a.categories or a.instruments or ()) or (
            "all categories" if a.exchange == "bitget" else "public instrument list")
        table.add_row(
            a.name, a.exchange + (" (demo)" if a.demo else ""), a.base_url, mask(a.api_key),
            f"**** ({a.secret_sources.get('api_secret', '?')})",
            f"**** ({a.secret_sources.get('passphrase')})" if a.passphrase else "-",
            scope,
        )
    return table
