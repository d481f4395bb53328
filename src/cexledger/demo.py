"""``cexledger demo``: the whole flow against the built-in sandbox, with no keys and no network.

Starts the sandbox on a free loopback port, writes a temporary config (mode 0600) for one
Bitget account (with its tax API key) and one CoinW sandbox account, syncs every stream
(Bitget's financial records, funding wallet and 366 days of tax records; CoinW's deals
history) into a temporary SQLite archive (or ``--db``), then prints the sync summary, the
archive status and the first exported lines.

The demo is a simulation: its sandbox runs at :data:`DEMO_RATE_SCALE` times the exchanges'
rate limits, and so does the demo's sync (its limiter pool's ``scale``), so a year of tax
records at a real 1 request/s takes seconds, not minutes. The demo says so in its output.
"""

from __future__ import annotations

import asyncio
import csv as csv_module
import io
import os
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
from rich.console import Console, RenderableType
from rich.text import Text

from ._render import sample_table, status_table, summary_table
from .archive import Archive
from .config import load_config
from .errors import ConfigError
from .export import write_csv, write_jsonl
from .sync import now_ms, sync_accounts

__all__ = ["DEMO_RATE_SCALE", "run_demo", "write_sandbox_config"]

DEMO_RATE_SCALE = 100.0
"""How many times the exchanges' rate limits the demo's sandbox and sync run at."""


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_sandbox_config(path: Path, base_url: str, sandbox_accounts: list[dict]) -> None:
    """A config for the sandbox's accounts, pointing at ``base_url``; readable by the owner only.

    Each account dict gives ``name``, ``exchange``, ``api_key``, ``api_secret`` and, for
    Bitget, ``passphrase``; any further keys are written as settings of that account.
    """
    lines = []
    for acc in sandbox_accounts:
        lines.append(f'[accounts.{acc["name"]}]')
        settings = {"exchange": acc["exchange"], "base_url": base_url}
        settings.update((k, v) for k, v in acc.items() if k != "name" and v is not None)
        lines += [f"{k} = {_toml(v)}" for k, v in settings.items()]
        lines.append("")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


_CSV_SAMPLE = ("time", "account", "kind", "coin", "amount")


def _csv_sample(text: str, rows: int) -> RenderableType:
    """The first ``rows`` entries of a CSV export, in the columns that fit 80 characters."""
    reader = csv_module.DictReader(io.StringIO(text))
    sample = [[row[c] for c in _CSV_SAMPLE] for _, row in zip(range(rows), reader)]
    return sample_table(_CSV_SAMPLE, sample)


def run_demo(out: Console, err: Console, *, records: int, seed: int, db: str | None) -> bool:
    """The demo; ``db`` is an archive to sync into (default: a temporary one), refused when
    it holds accounts other than the sandbox's. Returns whether the sync succeeded."""
    from .sandbox import SandboxConfig, SandboxServer

    with tempfile.TemporaryDirectory(prefix="cexledger-demo-") as tmp:
        config_path = Path(tmp) / "config.toml"
        url = db or f"sqlite:///{Path(tmp) / 'archive.db'}"
        scale = DEMO_RATE_SCALE
        with SandboxServer(SandboxConfig(seed=seed, records=records, rate_limit_scale=scale)) as server:
            out.print(f"[bold]sandbox exchange[/bold] running at {server.url} "
                      f"(Bitget UTA + CoinW futures, {records} rows per account, rate limits on)")
            out.print(f"the sandbox runs at {scale:g}× the exchanges' rate limits to keep the demo short")
            sandbox_accounts = httpx.get(f"{server.url}/_sandbox/accounts", timeout=10).json()["accounts"]
            write_sandbox_config(config_path, server.url, sandbox_accounts)
            accounts = list(load_config(config_path).accounts.values())
            out.print(f"config written to {config_path}; archive at {url}")
            t0 = time.monotonic()
            with Archive.open(url) as archive:
                others = sorted(set(archive.account_names()) - {a.name for a in accounts})
                if others:
                    raise ConfigError(
                        f"the demo would add sandbox accounts to {archive.display_url}, which "
                        f"holds other accounts ({', '.join(others)}): leave --db out (a "
                        "temporary archive) or give a new file"
                    )
                # each demo's sandbox listens on a new port: the same sandbox users, so their
                # new base URL is accepted as theirs
                report = asyncio.run(sync_accounts(accounts, archive, rate_scale=scale,
                                                   accept_identity=[a.name for a in accounts]))
                out.print(summary_table(report))
                out.print()
                table, _ = status_table(archive.streams(), now_ms())
                out.print(table)
                jsonl, csv = io.BytesIO(), io.BytesIO()
                n_jsonl = write_jsonl(archive, jsonl)
                n_csv = write_csv(archive, csv)
            out.print()
            out.print(f"[bold]export --format jsonl[/bold] ({n_jsonl} records, one a line; the first, indented):")
            for line in jsonl.getvalue().splitlines()[:1]:
                out.print(Text(msgspec.json.format(line, indent=2).decode()))  # numbers untouched
            out.print()
            out.print(f"[bold]export --format csv[/bold] ({n_csv} entries; the first 5, some columns):")
            out.print(_csv_sample(csv.getvalue().decode(), 5))
            out.print(f"demo finished in {time.monotonic() - t0:.1f} s")
            out.print("a tax file from the demo's archive (-f koinly, cointracking or beancount):"
                      if db else "keep the archive and make a tax file from it:", markup=False)
            keep = db or "demo.db"
            if not db:
                out.print(f"  cexledger --db {keep} demo", markup=False)
            out.print(f"  cexledger --db {keep} export -f koinly -a bitget-1 -o koinly.csv", markup=False)
            for acc in report.accounts:
                for line in acc.error_lines():
                    err.print(f"cexledger: error: {line}", style="red", markup=False, soft_wrap=True)
            return report.ok
