"""The ``cexledger`` command: a thin Typer layer over the library.

Every command turns a ``CexledgerError`` into one line on stderr and exit code 1; an
unexpected exception becomes one line and exit code 70 (``CEXLEDGER_DEBUG=1`` shows the
traceback); usage errors exit 2; Ctrl-C exits 130 with the archive consistent (each page is
its own transaction). A closed standard output (``cexledger export | head -1``) ends the
command quietly with exit code 141, as SIGPIPE ends other Unix tools. The codes are defined
once, in :mod:`cexledger._exit`; the console script enters through :mod:`cexledger._entry`. Only ``sync`` and ``demo`` create an
archive; ``status``, ``export`` and ``report`` refuse a missing one.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import enum

import typer
from rich.console import Console

from . import __version__, _exit
from ._heap import freeze_loaded
from .archive import Archive, default_url, url_of
from .archive.locks import DEFAULT_WAIT_S
from .config import Config, default_config_path, load_config
from .errors import CexledgerError, ConfigError
from .export import FORMATS as EXPORT_FORMATS
from .ledger.filters import check_filters

app = typer.Typer(
    name="cexledger",
    help=(
        "Archive your Bitget and CoinW account history before the exchange forgets it.\n\n"
        "Put read-only API keys in a config file (see `cexledger accounts --help`), run "
        "`cexledger sync` daily, and `cexledger export` when you need the data. "
        "Try it without keys: `cexledger demo`."
    ),
    epilog="\b\nExit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in _exit.HELP),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
sandbox_app = typer.Typer(
    help="The built-in sandbox exchange: a local HTTP server speaking Bitget's and CoinW's APIs.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")

class _Console(Console):
    def on_broken_pipe(self) -> None:
        """A closed stdout ends the command with exit code 141 like everywhere (Rich's own
        handling would exit 1): raise it to the one place that handles it."""
        self.quiet = True
        raise BrokenPipeError(32, "Broken pipe")


out = _Console(highlight=False)
err = _Console(stderr=True, highlight=False)


@dataclass
class State:
    config: Path | None
    db: str | None


def _fail(message: str, code: int = _exit.ERROR) -> None:
    err.print(f"cexledger: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(code)


#: Exit code of a command whose standard output was closed by its reader (128 + SIGPIPE).
EXIT_BROKEN_PIPE = _exit.BROKEN_PIPE


def _discard_stdout() -> None:
    """Point stdout at devnull, so the interpreter's final flush of what is still buffered
    cannot fail again and print "Exception ignored … BrokenPipeError" (or ``OSError``)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout without a file descriptor (tests): nothing to do
        pass


def _stdout_closed() -> None:
    """The reader of stdout went away: exit quietly (Python docs, "Note on SIGPIPE")."""
    _discard_stdout()
    raise typer.Exit(EXIT_BROKEN_PIPE)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One place that turns errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.BadParameter):   # a usage error: Typer prints it, exit 2
            raise
        except CexledgerError as exc:
            _fail(f"error: {exc}")
        except BrokenPipeError:
            _stdout_closed()
        except _exit.Terminated:
            _fail("terminated; everything archived so far is kept — run the command again to continue", _exit.TERMINATED)
        except KeyboardInterrupt:
            _fail("interrupted; everything archived so far is kept — run the command again to continue", _exit.INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - the user sees one line, never a traceback
            if os.environ.get("CEXLEDGER_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set CEXLEDGER_DEBUG=1 for details)",
                  _exit.INTERNAL)

    return wrapper


def _version(value: bool) -> None:
    if value:
        out.print(f"cexledger {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", envvar="CEXLEDGER_CONFIG",
        help=f"Config file (TOML). Default: {default_config_path()}",
    ),
    db: Optional[str] = typer.Option(
        None, "--db", envvar="CEXLEDGER_DB",
        help="Archive database: a SQLAlchemy URL (sqlite:///file.db, postgresql+psycopg://…) "
             "or a file path. Default: a SQLite file in the platform's user data directory.",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Show the version and exit."),
) -> None:
    ctx.obj = State(config=config, db=db)


# The selection options of the commands that read the archive, one definition each.
ACCOUNT_OPTION = typer.Option(None, "--account", "-a", help="Only this account.")
EXCHANGE_OPTION = typer.Option(None, "--exchange", "-e", help="Only this exchange.")
SINCE_OPTION = typer.Option(
    None, "--since", metavar="WHEN",
    help="Only from this UTC date or time on (2026-01-01, 2026-01-01T12:00).",
)
UNTIL_OPTION = typer.Option(
    None, "--until", metavar="WHEN",
    help="Only before this UTC date or time (not included): a tax year is "
         "--since 2026-01-01 --until 2027-01-01.",
)


def _state(ctx: typer.Context) -> State:
    return ctx.obj if isinstance(ctx.obj, State) else State(None, None)


_DB_ENV = "CEXLEDGER_DB"


def db_url(value: str | None) -> str:
    """The archive URL of ``--db`` (or ``CEXLEDGER_DB``); the default archive when neither is
    given. An empty value is an error, never silently the default archive."""
    if value is None:
        if os.environ.get(_DB_ENV) is not None and not os.environ[_DB_ENV].strip():
            raise ConfigError(
                f"{_DB_ENV} is set but empty: give a database URL or file path, "
                "or unset it to use the default archive"
            )
        return default_url()
    if not value.strip():
        raise ConfigError(
            "--db is empty: give a database URL or file path, or leave --db out to use the "
            "default archive"
        )
    return url_of(value)


def _config(state: State) -> Config:
    cfg = load_config(state.config)
    for warning in cfg.warnings:
        err.print(f"warning: {warning}", style="yellow", markup=False)
    return cfg


@app.command()
@handle_errors
def sync(
    ctx: typer.Context,
    accounts: Optional[list[str]] = typer.Argument(None, help="Account names to sync (default: all)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display, only the summary."),
    recheck_open: bool = typer.Option(
        False, "--recheck-open",
        help="CoinW: re-read every archived open position now, whatever the schedule, so any "
             "that has closed since, however far back in the history, is updated. Without it a "
             "sync does this only for instruments last re-checked an hour or more ago. Costs "
             "extra requests (pages down to the oldest open position).",
    ),
    wait: float = typer.Option(
        DEFAULT_WAIT_S, "--wait", min=0.0, metavar="SECONDS",
        help="How long to wait for an account another cexledger process is syncing (cron "
             "overlapping a manual run): a line on stderr says so, then it is synced (cheaply: "
             "only what is new). Past SECONDS that account is skipped with an error (exit code "
             "1); 0 skips it at once.",
    ),
    accept_new_identity: Optional[list[str]] = typer.Option(
        None, "--accept-new-identity", metavar="ACCOUNT",
        help="Record ACCOUNT's configured exchange, base URL and API key as its identity: "
             "your word that they reach the exchange user whose history the archive holds "
             "under that name (needed only when a sync refused them). Repeatable.",
    ),
) -> None:
    """Fetch everything new from the exchanges into the archive.

    The first run backfills all the history the exchange still holds (Bitget: 90 days of
    financial records and of the funding wallet, and with a tax API key 366 days of tax
    records, at 1 request/s: about 4 minutes for six categories; CoinW: 3 months of futures
    transaction details); later runs fetch only what is new. CoinW positions archived while open are re-read by the first sync an
    hour or more after their last re-check (or now, with --recheck-open), so their closing
    is archived too. Streams an older cexledger wrote are first re-derived from their raw
    records (see `cexledger reparse`). Safe to interrupt and re-run at any time. Exit code
    1 if any stream failed (the rest is archived).

    Only one process syncs an account at a time: a second run waits for it (see --wait).
    The archive remembers whose history each account holds (exchange, base URL, a
    fingerprint of the API key, the exchange's user id): keys of another user, or another
    base URL, under an archived name are refused; a new key of the same user is accepted
    once its rows match the archive.
    """
    from ._render import SyncProgress, summary_table
    from .sync import sync_accounts

    from .api import accepted_identities

    state = _state(ctx)
    selected = _config(state).select(accounts)
    accept = accepted_identities(selected, accept_new_identity, "--accept-new-identity")

    def announce(line: str) -> None:
        err.print(line, markup=False, soft_wrap=True)

    def waiting(name: str) -> None:
        err.print(f"waiting for account {name!r}: another cexledger process is syncing it",
                  markup=False, soft_wrap=True)

    options: dict[str, Any] = dict(recheck_open=recheck_open, wait=wait, on_wait=waiting,
                                   accept_identity=accept, announce=announce)
    with Archive.open(db_url(state.db)) as archive:
        if archive.created:    # a typo in --db must not pass unnoticed as a fresh backfill
            out.print(f"created a new archive at {archive.display_url}", markup=False,
                      overflow="fold")
        freeze_loaded()
        if quiet or not err.is_terminal:
            report = asyncio.run(sync_accounts(selected, archive, **options))
        else:
            with SyncProgress(err, selected) as progress:
                report = asyncio.run(sync_accounts(selected, archive, progress=progress, **options))
    out.print(summary_table(report))
    for acc in report.accounts:
        for note in acc.notes:
            out.print(f"{acc.account}: {note}", markup=False)
    if not report.ok:
        for acc in report.accounts:        # one line per (account, cause)
            for line in acc.error_lines():
                err.print(f"cexledger: error: {line}", style="red", markup=False, soft_wrap=True)
        raise typer.Exit(_exit.ERROR)


@app.command()
@handle_errors
def status(
    ctx: typer.Context,
    account: Optional[str] = ACCOUNT_OPTION,
) -> None:
    """Show what the archive holds per account and stream: how far back the archive and
    the exchange reach (90 or 366 days), then per partition records, time span, covered
    ranges, and how many days until history the archive lacks leaves the exchange's
    retention (red under 30; 0 for a stream no sync has completed); the streams a
    configured account has not configured (no tax key: tax records); then every exchange
    type still mapped to kind other (not understood yet), with its count."""
    from ._render import status_table
    from .sync import now_ms

    state = _state(ctx)
    with Archive.open(db_url(state.db), read_only=True) as archive:
        check_filters(archive, account)
        summaries = archive.streams(account)
        runs = [r for r in archive.last_runs(50) if account is None or r.get("account") == account][:1]
        not_understood = archive.other_types(account)
        archived = set(archive.account_names())
        stale = _outdated_warning(archive, account)
    config = _optional_config(state)
    unarchived = [] if account or config is None else _configured_but_unarchived(config, archived)
    for line in unarchived:
        err.print(f"WARNING: {line}", style="bold red", markup=False, soft_wrap=True)
    if not summaries:
        out.print("The archive is empty. Run `cexledger sync` (or `cexledger demo` to try it).")
        return
    table, warnings = status_table(summaries, now_ms(), _unconfigured(config, account))
    out.print(table)
    if runs:
        from ._render import fmt_ts

        out.print(f"last sync: {fmt_ts(runs[0].get('finished_ms'))} UTC ({runs[0].get('account')})", markup=False)
    _print_other_types(not_understood)
    for w in [*warnings, *([stale] if stale else [])]:
        err.print(f"WARNING: {w}", style="bold red", markup=False, soft_wrap=True)


def _outdated_warning(archive: Archive, account: str | None) -> str | None:
    """What ``status`` says when entries an older cexledger derived would be refused by
    exports (``ledger.require_current``); ``None`` when there are none."""
    from .ledger import OutdatedEntriesError, require_current

    try:
        require_current(archive, account)
    except OutdatedEntriesError as exc:
        return str(exc)
    return None


def _optional_config(state: State) -> Config | None:
    """The config, or ``None`` when it cannot be read: ``status`` works without one."""
    try:
        return load_config(state.config)
    except ConfigError:
        return None


def _unconfigured(config: Config | None, only: str | None) -> dict[str, list[tuple[str, str, str]]]:
    """Per configured account (``only``: that one), the streams it cannot sync as
    configured and what to add (``Connector.unconfigured``)."""
    from .exchanges import registry

    found: dict[str, list[tuple[str, str, str]]] = {}
    for name, acc in (config.accounts.items() if config is not None else ()):
        connector = registry.get(acc.exchange)
        if connector is None or (only is not None and name != only):
            continue
        missing = [(spec.exchange, spec.name, hint) for spec, hint in connector.unconfigured(acc)]
        if missing:
            found[name] = missing
    return found


def _configured_but_unarchived(config: Config, archived: set[str]) -> list[str]:
    """A warning for each configured account with nothing in the archive (never synced, or
    every sync of it failed): ``status`` must not look safe for it."""
    lines = []
    for name, acc in config.accounts.items():
        if name not in archived:
            why = f" ({acc.problem})" if acc.problem else ""
            lines.append(f"account {name!r} is configured but nothing of it is archived{why} — "
                         f"run `cexledger sync {name}`")
    return lines


def _print_other_types(rows: list[tuple[str, str | None, int]]) -> None:
    from ._render import other_types_block

    for line in other_types_block(rows):
        out.print(line, markup=False, soft_wrap=True)


@app.command()
@handle_errors
def reparse(
    ctx: typer.Context,
    account: Optional[str] = typer.Option(None, "--account", "-a", help="Only this account's streams."),
) -> None:
    """Re-derive the normalized entries of archived records from their raw bytes.

    Run it after cexledger learned new exchange types or rules: every record's entries are
    built again from the bytes the exchange sent, exactly as a sync builds them, and rows
    kept raw only become entries when they are now understood. Raw records and their
    versions are never changed. `sync` does this by itself for streams an older cexledger
    wrote. Safe to interrupt and re-run. Prints one line: records re-derived, how many got
    changed entries, how many are still kept raw only.
    """
    from .reparse import describe
    from .reparse import reparse as run_reparse

    state = _state(ctx)
    with Archive.open(db_url(state.db), create=False) as archive:
        streams = archive.streams(account)
        if account is not None and not streams:
            names = sorted({s.key.account for s in archive.streams()})
            raise ConfigError(
                f"the archive holds no account {account!r} (it holds: {', '.join(names) or 'none'})"
            )
        total = sum(s.records for s in streams)
        if err.is_terminal and total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(TextColumn("re-deriving"), BarColumn(), MofNCompleteColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task("reparse", total=total)
                result = run_reparse(archive, [s.key for s in streams],
                                     progress=lambda n: bar.advance(task, n))
        else:
            result = run_reparse(archive, [s.key for s in streams])
    out.print(describe(result), markup=False, soft_wrap=True)


ExportFormat = enum.Enum("ExportFormat", {name: name for name in EXPORT_FORMATS}, type=str)
"""The export formats as a choice: a name outside them is a usage error (exit code 2)."""


@app.command()
@handle_errors
def export(
    ctx: typer.Context,
    format: ExportFormat = typer.Option(
        ExportFormat.jsonl, "--format", "-f", case_sensitive=False,
        help="jsonl (raw records, exact); csv or parquet (ledger entries); koinly, "
             "cointracking or beancount (files for those tax tools).",
    ),
    account: Optional[str] = ACCOUNT_OPTION,
    exchange: Optional[str] = EXCHANGE_OPTION,
    since: Optional[str] = SINCE_OPTION,
    until: Optional[str] = UNTIL_OPTION,
    merge_daily: bool = typer.Option(
        False, "--merge-daily",
        help="koinly: one row per day, exchange, account, coin and label for realized PnL, "
             "fees and funding (Koinly's free plan stops at 10 000 rows). Merge closed "
             "periods (a tax year): a day merged differently in two files is two rows.",
    ),
    out_path: str = typer.Option("-", "--out", "-o", help="Output file, or - for standard output."),
) -> None:
    """Write the archive out, for a tax tool, a spreadsheet or a program.

    jsonl: one line per archived record, {"account", "exchange", "stream", "id", "raw"} with
    raw the record exactly as the exchange sent it (latest version). csv / parquet: the
    ledger's entries of all exchanges side by side, one signed amount each (a fee is its own
    row of kind fee), each movement once (Bitget tax records only for time financial records
    do not cover); Parquet amounts are exact decimal(38, 18). koinly, cointracking: those
    tools' CSV import files (spot trades paired from their legs; PnL, fees, funding, deposits,
    withdrawals and transfers labelled as each tool expects). beancount: a ledger that
    bean-check accepts, with balance assertions. Parquet needs --out FILE.

    \b
    A tax year for Koinly, one file per account:
      cexledger export -f koinly -a main --since 2026-01-01 \\
        --until 2027-01-01 -o koinly.csv
    """
    from . import export
    from .export import _output as output
    from .ledger import Filters, require_current

    fmt = format.value
    if merge_daily and fmt != "koinly":
        raise typer.BadParameter("--merge-daily is for --format koinly", param_hint="--merge-daily")
    filters = Filters.of(since=since, until=until)
    writer = export.writer(fmt)
    options: dict[str, Any] = {"since_ms": filters.since_ms, "until_ms": filters.until_ms}
    notes: list[str] = []
    if fmt in export.TAX_FORMATS:
        options["notes"] = notes
    if fmt == "koinly":
        options["merge_daily"] = merge_daily
    state = _state(ctx)
    with Archive.open(db_url(state.db), read_only=True) as archive:
        exchange = check_filters(archive, account, exchange)
        # counted before anything is written: a read that fails stops the export before it
        # says "wrote …"
        left_out = shadowed = 0
        if fmt != "jsonl":
            from .exchanges import ledger_shadows

            require_current(archive, account, exchange)
            span = {"since_ms": filters.since_ms, "until_ms": filters.until_ms}
            left_out = archive.count_without_entries(account=account, exchange=exchange, **span)
            shadowed = archive.count_ledger_excluded(account=account, exchange=exchange,
                                                     shadows=ledger_shadows(), **span)
        if out_path == "-":
            if fmt == "parquet":
                raise ConfigError("parquet is a binary format: give --out FILE")
            try:
                writer(archive, sys.stdout.buffer, account=account, exchange=exchange, **options)
                sys.stdout.buffer.flush()
            except OSError as exc:
                if isinstance(exc, BrokenPipeError):
                    raise
                _discard_stdout()
                raise output.write_error("standard output", exc) from None
        else:
            target = Path(out_path).expanduser()
            if target.is_dir():
                raise ConfigError(f"--out {target} is a directory")
            output.refuse_database(target, archive.sqlite_path)
            with output.written(target) as fh:
                count = writer(archive, fh, account=account, exchange=exchange, **options)
            err.print(f"wrote {count} {export.unit(fmt)} to {target}", markup=False)
        for note in (*notes, output.left_out_note(left_out), output.shadowed_note(shadowed)):
            if note:
                err.print(note, markup=False, soft_wrap=True)


@app.command()
@handle_errors
def report(
    ctx: typer.Context,
    account: Optional[str] = ACCOUNT_OPTION,
    exchange: Optional[str] = EXCHANGE_OPTION,
    since: Optional[str] = SINCE_OPTION,
    until: Optional[str] = UNTIL_OPTION,
    as_json: bool = typer.Option(
        False, "--json",
        help="Print every figure as one JSON document on standard output instead (the schema: "
             "docs/report.md; money as exact decimal strings).",
    ),
    html: Optional[Path] = typer.Option(
        None, "--html", metavar="FILE",
        help="Write the report as one self-contained HTML page with charts (opens offline); "
             "the terminal view is then left out (--json still prints).",
    ),
    check: Optional[bool] = typer.Option(
        None, "--verify/--no-verify",
        help="Include the verdict of `cexledger verify` per stream. Default: in the --html "
             "page only (verify reads every row of the archive again; the terminal view and "
             "--json leave it out unless asked). The report's exit code does not change with "
             "the verdict: cron jobs that must fail on a break run `cexledger verify`.",
        show_default=False,
    ),
) -> None:
    """Show what the ledger says: realized PnL, fees, funding and net per month and coin, per
    account and all together; the period's cumulative net, maximum drawdown and the share of
    PnL fees and funding took; per instrument its net, closes, win rate, profit factor, best
    and worst close. Every figure is exact and computed from the same ledger as `export`, so
    the two always agree. Months and days are UTC. docs/report.md defines every figure.

    \b
    A year of one account, and the same as JSON and as a page:
      cexledger report -a main --since 2026-01-01 --until 2027-01-01
      cexledger report --json > report.json
      cexledger report --html report.html
    """
    from ._clock import now_ms
    from .ledger import Filters
    from .report.figures import build_report

    filters = Filters.of(since=since, until=until)
    state = _state(ctx)
    with Archive.open(db_url(state.db), read_only=True) as archive:
        exchange = check_filters(archive, account, exchange)
        filters = Filters(account, exchange, None, filters.since_ms, filters.until_ms)
        figures = build_report(archive, filters, now_ms=now_ms())
        verification = None
        wanted = check if check is not None else html is not None
        if wanted:
            from .verify.run import verify as verify_streams

            verification = verify_streams(archive, filters)
    if html is not None:
        from .report.html import write_html

        target = html.expanduser()
        if str(html) == "-":
            raise ConfigError("--html needs a file name (the page is a file to open in a browser)")
        if target.is_dir():
            raise ConfigError(f"--html {target} is a directory")
        write_html(figures, verification, target)
        err.print(f"wrote the report to {target}", markup=False)
    if as_json:
        from .report.json import report_json

        sys.stdout.buffer.write(report_json(figures, verification) + b"\n")
        sys.stdout.buffer.flush()
        return
    if html is None:
        from .report.terminal import report_view

        out.print(report_view(figures, verification, out.width))


def _fixed_mmap_threshold() -> None:
    """Keep glibc's malloc from raising its mmap threshold to the largest block freed (up to
    32 MB): beyond it, freed Arrow batches stay in its heap, 90 MB more at the peak of
    ``verify`` on a million entries. Fixed at glibc's default, 128 KiB; nothing elsewhere."""
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is not None:
        mallopt(-3, 128 * 1024)              # M_MMAP_THRESHOLD


@app.command()
@handle_errors
def verify(
    ctx: typer.Context,
    account: Optional[str] = ACCOUNT_OPTION,
    exchange: Optional[str] = EXCHANGE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Every chain, break and stretch as JSON."),
) -> None:
    """Prove the archive complete, where the exchange gives the means.

    Bitget: per stream, category and coin, every row's balance must equal the previous
    row's plus its amount and fee; a break names the two records it falls between. CoinW:
    every settled record's entries sum to its netProfit, no id twice. Everywhere: every
    record has its entries and lies inside the stream's coverage. Exit 0 when everything
    checks, 1 (with a one-line summary) when anything breaks.

    \b
    Check one account, as a cron job would:
      cexledger verify -a main || echo "archive incomplete"
    """
    import pyarrow as pa

    from . import _json
    from .ledger import Filters, require_current
    from .verify import render
    from .verify.run import verify as run_verify

    # the system allocator returns a stream's memory once it is checked; Arrow's default
    # (mimalloc) keeps it: 40 MB more at the peak on a million entries
    pa.set_memory_pool(pa.system_memory_pool())
    _fixed_mmap_threshold()
    state = _state(ctx)
    with Archive.open(db_url(state.db), read_only=True) as archive:
        exchange = check_filters(archive, account, exchange)
        require_current(archive, account, exchange)
        verification = run_verify(archive, Filters.of(account=account, exchange=exchange))
    if as_json:
        sys.stdout.buffer.write(_json.dumps(render.to_json(verification)) + b"\n")
        sys.stdout.buffer.flush()
        if not verification.ok:
            err.print(render.summary(verification), markup=False, soft_wrap=True)
    else:
        for line in (*render.lines(verification), render.summary(verification)):
            out.print(line, markup=False, soft_wrap=True)
    if not verification.ok:
        raise typer.Exit(1)


@app.command()
@handle_errors
def accounts(ctx: typer.Context) -> None:
    """List configured accounts (secrets masked).

    The config file is TOML with one table per account:

    \b
        [accounts.main]
        exchange = "bitget"            # or "coinw"
        api_key = "bg_..."
        api_secret_env = "BITGET_SECRET"  # or inline: api_secret = "..."
        passphrase_env = "BITGET_PASSPHRASE"
        # base_url, demo = true, categories = [...]         (bitget)
        # tax_api_key = "bg_..."        (bitget: the separate tax API key,
        # tax_api_secret_env = "..."     for 366 days of tax records; all
        # tax_passphrase_env = "..."     three or none, inline or _env)
        # instruments = ["BTC", "ETH"]  (coinw; default: the public list)

    With inline secrets, make the file private: chmod 600 config.toml.
    """
    from ._render import accounts_table

    cfg = _config(_state(ctx))
    out.print(accounts_table(list(cfg.accounts.values())))


@app.command()
@handle_errors
def demo(
    ctx: typer.Context,
    records: int = typer.Option(2000, "--records", min=1, max=200_000, help="Rows per sandbox account."),
    seed: int = typer.Option(1, "--seed", help="Sandbox data seed."),
) -> None:
    """Try cexledger with no keys and no network: start the sandbox exchange on a free local
    port, write a temporary config for one Bitget and one CoinW account, sync, then show the
    status and a few exported lines. Uses a temporary database unless --db is given on the
    command line (CEXLEDGER_DB is ignored: that is your real archive); an archive holding
    other accounts than the sandbox's is refused. Exit code 1 if the sync failed."""
    from .demo import run_demo

    given = ctx.parent is not None and ctx.parent.get_parameter_source("db").name == "COMMANDLINE"
    url = db_url(_state(ctx).db) if given else None
    if not run_demo(out, err, records=records, seed=seed, db=url):
        raise typer.Exit(_exit.ERROR)


@sandbox_app.command("serve")
@handle_errors
def sandbox_serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(0, help="Port (0 = any free port; printed on start)."),
    seed: int = typer.Option(1, help="Data seed: the same seed gives the same history."),
    records: int = typer.Option(2000, min=0, help="Rows per account."),
    bitget_accounts: int = typer.Option(1, min=0, help="Number of Bitget accounts."),
    coinw_accounts: int = typer.Option(1, min=0, help="Number of CoinW accounts."),
    latency_ms: int = typer.Option(0, min=0, help="Simulated round-trip latency per request."),
    faults: float = typer.Option(0.0, min=0.0, max=1.0, help="Share of requests that fail (500/502, truncated JSON, slow, dropped)."),
    rate_limit: bool = typer.Option(True, "--rate-limit/--no-rate-limit", help="Enforce the documented rate limits."),
    rate_limit_scale: float = typer.Option(1.0, min=0.01, help="Multiply the rate limits (benchmarks)."),
    dialect: str = typer.Option("standard", help="standard, or variant: other legal answers where the docs leave room."),
    dense_share: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Share of rows in USDT-FUTURES / the first instrument."),
    instruments: str = typer.Option("BTC,ETH,SOL,1000PEPE", help="Instruments the CoinW accounts traded."),
    append_every: float = typer.Option(0.0, min=0.0, help="Append new rows every N seconds (0 = never)."),
    append_count: int = typer.Option(0, min=0, help="Rows appended each time."),
    churn: float = typer.Option(0.0, min=0.0, max=1.0, help="CoinW: chance per request that a row arrives or a position closes."),
    clock_offset_ms: int = typer.Option(0, help="Set the server's clock this many ms off this machine's (negative: behind)."),
    trickle_s: float = typer.Option(2.0, min=0.001, help="Seconds between the bytes of a trickled answer (POST /_sandbox/inject)."),
    history_days: int = typer.Option(400, min=91, help="Bitget: days of history generated (tax records serve 366)."),
    old_records: Optional[int] = typer.Option(None, min=0, help="Bitget: rows older than 90 days (default 3 % of --records)."),
    funding_records: Optional[int] = typer.Option(None, min=0, help="Bitget: funding-wallet rows (default --records / 20)."),
    classic_accounts: str = typer.Option("", help="Bitget accounts (comma-separated) in classic, not UTA, mode."),
) -> None:
    """Run the sandbox exchange until interrupted. Its accounts and keys are at
    GET /_sandbox/accounts; ground truth at GET /_sandbox/truth?exchange=…&account=…"""
    from .sandbox import SandboxConfig, serve

    if dialect not in ("standard", "variant"):
        raise ConfigError("--dialect must be 'standard' or 'variant'")
    config = SandboxConfig(
        host=host, port=port, seed=seed, records=records, bitget_accounts=bitget_accounts,
        coinw_accounts=coinw_accounts, latency_ms=latency_ms, faults=faults, rate_limit=rate_limit,
        rate_limit_scale=rate_limit_scale, dialect=dialect, dense_share=dense_share,
        instruments=tuple(i.strip().upper() for i in instruments.split(",") if i.strip()),
        append_every=append_every, append_count=append_count, churn=churn,
        clock_offset_ms=clock_offset_ms, trickle_s=trickle_s, history_days=history_days,
        old_records=old_records, funding_records=funding_records,
        classic_accounts=tuple(a.strip() for a in classic_accounts.split(",") if a.strip()),
    )
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        raise  # stdout closed: handled like any command's
    except OSError as exc:  # binding failed: the port is in use, the host is not this machine's
        if isinstance(exc.errno, int) and exc.errno > 0:
            reason = os.strerror(exc.errno)
        else:  # e.g. socket.gaierror (negative codes) for a host name that does not resolve
            reason = exc.strerror or str(exc) or type(exc).__name__
        raise ConfigError(f"sandbox cannot listen on {host}:{port}: {reason}") from None


# ---- workers: many accounts on a PostgreSQL archive (cexledger.worker) -------------------


@app.command()
@handle_errors
def worker(
    ctx: typer.Context,
    concurrency: int = typer.Option(4, "--concurrency", "-n", min=1, max=64,
                                    help="Accounts this process syncs at once (each under its own rate limits)."),
) -> None:
    """Run a sync worker on the PostgreSQL archive until stopped (SIGTERM, Ctrl-C).

    Workers on any number of machines share one job queue kept in the archive's database
    (--db postgresql+psycopg://…; the queue's tables are installed on first use). Each job
    syncs one account exactly as `cexledger sync NAME` does; no account is synced by two
    workers at once (nor one exchange key under two names). Queue jobs with `cexledger
    enqueue`, or set `[worker] every = "1h"` in the config and every running worker
    queues all accounts on that period (see `cexledger schedule`). A worker killed without
    warning (kill -9, a lost machine) has its account resumed by another within 60 s.
    SIGTERM ends it cleanly: the page being written is committed, its jobs go back to the
    queue, exit code 0. One log line per job start and end on stderr. Needs the extra:
    pip install 'cexledger[workers]'.
    """
    from .worker.run import run_worker

    state = _state(ctx)
    cfg = _config(state)
    run_worker(db_url(state.db), state.config, concurrency,
               cfg.schedule.cron if cfg.schedule else None)


@app.command()
@handle_errors
def enqueue(
    ctx: typer.Context,
    accounts: Optional[list[str]] = typer.Argument(None, help="Account names (default: every configured account)."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="Print nothing when it worked (for cron: a mail only for an error)."),
) -> None:
    """Queue a sync of accounts now, for the workers (`cexledger worker`) to run.

    An account already waiting in the queue is not queued twice; one being synced right
    now is queued again (it runs when the current sync ends, fetching only what is new).
    Prints how many were queued (nothing with --quiet); an error is one line on stderr,
    exit code 1. Needs a PostgreSQL archive (--db).
    """
    from .worker.app import job_locks, open_queue
    from .worker.tasks import defer_sync

    state = _state(ctx)
    cfg = _config(state)
    selected = cfg.select(accounts)
    locks = job_locks(cfg.accounts.values())
    queue_app = open_queue(db_url(state.db), state.config)

    async def defer_all() -> list[str]:
        async with queue_app.open_async():
            return [a.name for a in selected if await defer_sync(queue_app, a, locks[a.name]) is None]

    waiting = asyncio.run(defer_all())
    if quiet:
        return
    line = f"queued {len(selected) - len(waiting)} accounts"
    if waiting:
        shown = ", ".join(waiting[:5]) + (", …" if len(waiting) > 5 else "")
        line += f"; {len(waiting)} already waiting ({shown})"
    out.print(line, markup=False)


@app.command()
@handle_errors
def schedule(ctx: typer.Context) -> None:
    """Show the periodic sync of every configured account, and the next instants.

    \b
    Set it in the config file:
        [worker]
        every = "1h"             # 30s, 15m, 1h, 6h, 1d (aligned on the clock, UTC)
        # cron = "17 3 * * *"    # or a cron line, UTC

    Every running `cexledger worker` defers the schedule's ticks; each instant is
    deferred once whatever the number of workers and machines (procrastinate records
    each instant it deferred), and each tick queues every configured account once (one
    still waiting from the last tick is not queued twice). Restart the workers after
    changing it.
    """
    import datetime as dt

    from .worker.status import next_tick

    cfg = _config(_state(ctx))
    if cfg.schedule is None:
        out.print('no schedule: add [worker] every = "1h" (or cron = "…") to the config file; '
                  "until then accounts are synced when queued (cexledger enqueue)", markup=False)
        return
    now = dt.datetime.now(dt.UTC)
    out.print(f"{len(cfg.accounts)} accounts, synced {cfg.schedule.text} (cron {cfg.schedule.cron}, UTC) "
              "by the running workers; next:", markup=False)
    for _ in range(3):
        now = next_tick(cfg.schedule.cron, now)
        out.print(f"  {now.strftime('%Y-%m-%d %H:%M:%S')} UTC", markup=False)


@app.command()
@handle_errors
def queue(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="One JSON object per account, in a list."),
) -> None:
    """Show each configured account's place in the worker queue.

    Per account: its last finished sync (any process, `cexledger sync` included), its
    next one (a waiting job's start, or the schedule's next tick, marked *), the worker
    syncing it now (host:pid), and its failed jobs and retries; then, for each account
    whose latest job failed, why (one line). Times are UTC. Reads only: a database without
    an archive is refused.
    """
    import datetime as dt
    import json

    from .worker.app import queue_to_read
    from .worker.status import next_tick, queue_rows

    state = _state(ctx)
    cfg = _config(state)
    conninfo = queue_to_read(db_url(state.db))
    tick = next_tick(cfg.schedule.cron, dt.datetime.now(dt.UTC)) if cfg.schedule else None
    rows = queue_rows(conninfo, list(cfg.accounts), tick)
    if as_json:
        sys.stdout.write(json.dumps([r.as_json() for r in rows], indent=1) + "\n")
        return
    from rich.table import Table

    def short(text: str | None) -> str:
        return "-" if text is None else text.replace("T", " ").rstrip("Z")[5:]

    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("account", "last sync", "next sync", "running on", "failed", "retries"):
        table.add_column(column, overflow="fold", justify="right" if column in ("failed", "retries") else "left")
    for r in rows:
        table.add_row(r.account, short(r.last_sync), short(r.next_sync) + ("*" if r.next_is_schedule else ""),
                      r.running_on or "-", str(r.failed), str(r.retries))
    out.print(table)
    if tick is not None:
        out.print("* the schedule's next tick (no job waiting yet)", markup=False)
    failing = [r for r in rows if r.last_error is not None]
    if failing:
        out.print("last failures:", markup=False)
    for r in failing:
        then = {"failed": "given up", "todo": "to retry", "doing": "retrying now"}.get(
            r.last_error_state or "", r.last_error_state or "")
        out.print(f"  {r.account} ({short(r.last_error_at)}, {then}): {r.last_error}", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
