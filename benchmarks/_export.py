"""Exports of a large archive: ``cexledger export --format X --out FILE`` as a subprocess.

Rows/s counts the rows the command reports writing (JSONL: records; CSV and Parquet:
normalized entries, one per Bitget record) over the command's wall time, process start
included. Each run's peak RSS is kept as well.

``sql_floor`` is the scale beside it: the export's own query (the same compiled SQL),
fetched with bare ``sqlite3`` and thrown away -- what reading the rows in export order costs
before any Python per row. ``startup_s`` (``cexledger --version``) is in every CLI wall time.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from _sandbox import run_cli

FORMATS = ("jsonl", "csv", "parquet")


def export(db: Path, workdir: Path, fmt: str) -> dict[str, Any]:
    out = workdir / f"export.{fmt}"
    run = run_cli(["--db", f"sqlite:///{db}", "export", "--format", fmt, "--out", str(out)], workdir).check()
    match = re.search(r"wrote (\d+) rows", run.stderr)
    if match is None:
        raise RuntimeError(f"export {fmt}: no row count in {run.stderr!r}")
    rows = int(match.group(1))
    size = out.stat().st_size
    out.unlink()
    return {
        "rows": rows,
        "wall_s": round(run.wall_s, 2),
        "rows_per_s": round(rows / run.wall_s, 1),
        "bytes": size,
        "maxrss_mb": round(run.maxrss_mb, 1),
        "cpu_s": round(run.user_s + run.sys_s, 2),
    }


def sql_floor(db: Path, fmt: str) -> dict[str, Any]:
    """Rows/s of the export's query alone: compiled by SQLAlchemy, fetched by bare sqlite3."""
    from sqlalchemy.dialects import sqlite

    from cexledger.archive import queries

    stmt = (queries.records_statement(None, None) if fmt == "jsonl"
            else queries.entries_statement(None, None, None, None))
    sql = str(stmt.compile(dialect=sqlite.dialect()))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        start = time.perf_counter()
        cursor = conn.execute(sql)
        rows = 0
        while batch := cursor.fetchmany(10_000):
            rows += len(batch)
        elapsed = time.perf_counter() - start
    return {"query": "records" if fmt == "jsonl" else "entries", "rows": rows,
            "seconds": round(elapsed, 2), "rows_per_s": round(rows / elapsed, 1)}
