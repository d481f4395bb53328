"""Exports of a large archive: ``cexledger export --format X --out FILE`` as a subprocess.

Rows/s counts the rows the command reports writing (JSONL: records; CSV and Parquet: ledger
entries, one or two per Bitget record) over the command's wall time, process start included.
The tax formats (Koinly, CoinTracking, Beancount) write fewer rows than they read (a trade
is one row of several entries, Beancount a transaction of postings): their rows/s counts the
ledger entries they read (``entries_read``; the rows written are kept as ``rows_written``).
Each run's peak RSS is kept as well.

:func:`to_arrow` times the library's ``cexledger.open(db).to_arrow()`` of every entry in a
fresh interpreter (the read alone: import and open are left out, as a notebook pays them
once).

``sql_floor`` is the scale beside it: the export's own query (the same compiled SQL),
fetched with bare ``sqlite3`` and thrown away -- what reading the rows in export order costs
before the export does anything with them. ``startup_s`` (``cexledger --version``) is in every CLI wall time.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _sandbox import run_cli

FORMATS = ("jsonl", "csv", "parquet")
TAX_FORMATS = ("koinly", "cointracking", "beancount")


def ledger_entries(db: Path) -> int:
    """How many entries the ledger holds (what a tax export reads)."""
    return sql_floor(db, "csv")["rows"]


def tail_since(db: Path, share: float) -> tuple[int, int]:
    """A ``--since`` (Unix ms) selecting about the newest ``share`` of the entries, and how
    many entries the ledger holds from it on: the same archive read in part, to show a
    tax export's memory does not grow with what it reads."""
    from cexledger.archive import bulk
    from cexledger.exchanges import ledger_shadows

    statement, params = bulk.entry_columns(None, None, ledger_shadows())
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        times = [row[0] for row in conn.execute(f"SELECT ts FROM ({statement.sql('sqlite')})", params)]
    since = times[int(len(times) * (1 - share))]
    return since, sum(1 for ts in times if ts >= since)


def _iso(ts_ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def export(db: Path, workdir: Path, fmt: str, entries: int | None = None,
           since_ms: int | None = None) -> dict[str, Any]:
    """One export; ``entries`` (the ledger's size, or the part of it from ``since_ms`` on)
    makes rows/s count entries read."""
    out = workdir / f"export.{fmt}"
    since = [] if since_ms is None else ["--since", _iso(since_ms)]
    run = run_cli(["--db", f"sqlite:///{db}", "export", "--format", fmt, *since, "--out", str(out)], workdir).check()
    match = re.search(r"wrote (\d+) (?:rows|records|transactions)", run.stderr)
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


_TO_ARROW = """
import json, resource, sys, time
import cexledger
with cexledger.open(sys.argv[1]) as led:
    start = time.perf_counter()
    table = led.to_arrow()
    seconds = time.perf_counter() - start
print(json.dumps({"rows": table.num_rows, "seconds": seconds,
                  "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def to_arrow(db: Path) -> dict[str, Any]:
    """Rows/s of ``Ledger.to_arrow()`` over the whole archive, and the process's peak RSS
    (the table is held in memory: it grows with the archive)."""
    done = subprocess.run([sys.executable, "-c", _TO_ARROW, str(db)], capture_output=True, text=True,
                          check=True, timeout=1800)
    r = json.loads(done.stdout)
    return {"rows": r["rows"], "seconds": round(r["seconds"], 2),
            "rows_per_s": round(r["rows"] / r["seconds"], 1), "maxrss_mb": round(r["maxrss_mb"], 1)}
