"""Exports of a large archive: ``cexledger export --format X --out FILE`` as a subprocess.

Rows/s counts the rows the command reports writing (JSONL: records; CSV and Parquet:
normalized entries, one per Bitget record) over the command's wall time, process start
included. Each run's peak RSS is kept as well.
"""

from __future__ import annotations

import re
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
