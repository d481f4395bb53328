"""The benchmark runs end to end at tiny sizes and reports every figure as a number.

``benchmarks/run.py --smoke`` drives the real sandbox and the real CLI as subprocesses, so
this catches a benchmark broken by a product change (or a product broken for the
benchmark). No timing is asserted. ccxt is optional: without it its figures must say
``skipped (ccxt not installed)``; with it they must be numbers like the rest.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "benchmarks" / "run.py"
SKIPPED = "skipped (ccxt not installed)"

# Every figure the benchmark must report (issue 7's items 1-7, issue 9's 8 and 9, issue 10's to_arrow
# and tax exports).
FIGURES = {
    "bitget_ratio", "bitget_rows_per_s", "bitget_429_share", "bitget_requests",
    "coinw_ratio", "coinw_rows_per_s", "coinw_29001_share", "coinw_requests",
    "ccxt_rows_per_s", "ccxt_ratio", "ccxt_missing", "ccxt_raised_rows_per_s", "ccxt_raised_missing",
    "ccxt_variant_unique",
    "cpu_rows_per_s", "cpu_parse_rows_per_s", "cpu_write_rows_per_s", "cpu_sqlite_floor_rows_per_s",
    "ccxt_parse_rows_per_s",
    "rss_small_mb", "rss_large_mb", "rss_ratio",
    "bitget_incr_requests", "bitget_incr_streams", "coinw_incr_requests", "coinw_incr_streams",
    "export_jsonl_rows_per_s", "export_csv_rows_per_s", "export_parquet_rows_per_s", "to_arrow_rows_per_s",
    *(f"export_{fmt}_{figure}" for fmt in ("koinly", "cointracking", "beancount")
      for figure in ("rows_per_s", "rss_mb", "rss_ratio")),
    "tax_ratio", "tax_rows_per_s", "tax_requests", "tax_page_fill", "tax_429_share",
    "all_streams_ratio", "all_streams_rule_ratio",
    # issue 12: workers on PostgreSQL
    "workers_resync_1", "workers_resync_2", "pg_write_cpu_ratio", "pg_write_concurrent", "workers_backfill_ratio",
    "workers_backfill_rows_per_s", "workers_profile",
}


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, f"benchmark failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(out.read_text())

    assert result["smoke"] is True
    assert not result["errors"]
    assert result["machine"]["cores"] >= 1 and result["machine"]["python"]
    figures = result["figures"]
    assert FIGURES <= set(figures), f"missing figures: {sorted(FIGURES - set(figures))}"

    try:
        import ccxt  # noqa: F401
    except ImportError:
        has_ccxt = False
    else:
        has_ccxt = True
    assert (result["machine"]["versions"]["ccxt"] is not None) == has_ccxt
    for key, figure in figures.items():
        value = figure["value"]
        if key.startswith("ccxt") and not has_ccxt:
            assert value == SKIPPED, f"{key}: {value!r}"
        else:
            assert _number(value), f"{key} is not a number: {value!r}"
        assert figure["met"] is None, f"{key}: a smoke run judges no targets"

    # the figures are measurements of what happened, not placeholders
    assert figures["bitget_rows_per_s"]["value"] > 0 and figures["coinw_rows_per_s"]["value"] > 0
    assert result["details"]["bitget_ceiling"]["complete"] and result["details"]["coinw_ceiling"]["complete"]
    assert figures["bitget_incr_streams"]["value"] == 7  # 6 categories + the funding wallet
    assert figures["coinw_incr_streams"]["value"] == 4
    assert figures["rss_small_mb"]["value"] > 10
    assert result["details"]["replay"]["archived"] == result["details"]["bitget_ceiling"]["rows"]
    for fmt in ("jsonl", "csv", "parquet"):
        assert result["details"][f"export_{fmt}"]["rows"] >= 20_000

    # figure 1 counts the financial records only; the funding wallet was read beside them
    ceiling = result["details"]["bitget_ceiling"]
    assert ceiling["requests"] == ceiling["by_path"]["/api/v3/account/financial-records"]
    assert ceiling["funding"]["complete"] and ceiling["funding"]["requests"] > 0
    # 8 and 9: every stream of each first sync archived exactly its ground truth
    tax = result["details"]["tax"]
    assert tax["rows"] > 0 and tax["scale"] > 1
    for run in (tax, result["details"]["all_streams"]):
        for name, stream in run["streams"].items():
            assert stream["complete"], name
            assert stream["requests"] >= stream["requests_min"] > 0, name
    # 11 and 12: every worker run archived exactly the sandbox's truth
    resync = result["details"]["workers_resync"]
    assert resync["backfill"]["complete"] and resync["workers_1"]["complete"] and resync["workers_2"]["complete"]
    assert result["details"]["workers_backfill"]["complete"]
    writes = result["details"]["pg_writes"]
    assert writes["archived"] > 0
    # the concurrent writers wrote every writer's copy (the benchmark checks the count itself)
    assert writes["concurrent"]["rows"] == writes["concurrent"]["writers"] * writes["rows"] > writes["rows"]
    backfill = result["details"]["workers_backfill"]["postgres"]
    for work in (backfill, writes["concurrent"]):
        assert 0 <= work["system_share"] <= 1
        assert work["written_bytes_per_row"] >= work["wal_bytes_per_row"] > 0
        assert set(work["stored_bytes_per_row"]) == {"records", "pk_records", "ix_records_stream_ts",
                                                     "entries", "pk_entries", "ix_entries_order"}
        assert work["stored_bytes_per_row"]["records"] > 0
    assert set(result["details"]["all_streams"]["ideal_s"]) == {
        "financial-records", "funding-records", "tax-records"}
