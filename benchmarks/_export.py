"""Exports of a large archive: ``cexledger export --format X --out FILE`` as a subprocess.

Rows/s counts the rows the command reports writing (JSONL: records; CSV and Parquet: ledger
entries, one or two per Bitget record) over the command's wall time, process start included.
The tax formats (Koinly, CoinTracking, Beancount) write fewer rows than they read (a trade
is one row of several entries, Beancount a transaction of postings): their rows/s counts the
ledger entries they read (``entries_read``; the rows written are kept as ``rows_written``).
Each run's peak RSS is kept as well.

``sql_floor`` is the scale beside it: the export's own query (the same compiled SQL),
fetched with bare ``sqlite3`` and thrown away -- what reading the rows in export order costs
before the export does anything with them. ``startup_s`` (``cexledger --version``) is in every CLI wall time.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from _sandbox import run_cli

FORMATS = ("jsonl", "csv", "parquet")
TAX_FORMATS = ("koinly", "cointracking", "beancount")


def ledger_entries(db: Path) -> int:
    """How many entries the ledger holds (what a tax export reads)."""
    return sql_floor(db, "csv")["rows"]


def export(db: Path, workdir: Path, fmt: str, entries: int | None = None) -> dict[str, Any]:
    """One export; ``entries`` (the ledger's size) makes rows/s count entries read."""
    out = workdir / f"export.{fmt}"
    run = run_cli(["--db", f"sqlite:///{db}", "export", "--format", fmt, "--out", str(out)], workdir).check()
    match = re.search(r"wrote (\d+) rows", run.stderr)
    if match is None:
        raise RuntimeError(f"export {fmt}: no row count in {run.stderr!r}")
    written = int(match.group(1))
    rows = written if entries is None else entries
    size = out.stat().st_size
    out.unlink()
    return {
        "rows": rows,
        "rows_written": written,
        "wall_s": round(run.wall_s, 2),
        "rows_per_s": round(rows / run.wall_s, 1),
        "bytes": size,
        "maxrss_mb": round(run.maxrss_mb, 1),
        "cpu_s": round(run.user_s + run.sys_s, 2),
    }


def sql_floor(db: Path, fmt: str) -> dict[str, Any]:
    """Rows/s of the export's own query alone (``cexledger.archive.bulk``), fetched by bare
    sqlite3 into the same driver tuples and thrown away."""
    from cexledger.archive import bulk
    from cexledger.exchanges import ledger_shadows

    if fmt == "jsonl":
        statement, params = bulk.record_lines(None, None)
    else:                                   # the ledger's entries, as the export reads them
        statement, params = bulk.entry_columns(None, None, ledger_shadows())
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        start = time.perf_counter()
        cursor = conn.execute(statement.sql("sqlite"), params)
        rows = 0
        while batch := cursor.fetchmany(bulk.BATCH):
            rows += len(batch)
        elapsed = time.perf_counter() - start
    return {"query": "records" if fmt == "jsonl" else "entries", "rows": rows,
            "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed, 1)}
