"""PostgreSQL: the write path's lookup of a page's existing records is one primary-key probe
per id, whatever the table's statistics (a filling table has none until autovacuum runs)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from cexledger.archive import Archive
from cexledger.archive.writes import _SELECT_EXISTING_PG

from .support import KEY, make_record

STREAM_ROWS = 3_000
PAGE = 100


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", ()) for n in _nodes(child))]


def test_a_page_lookup_reads_only_its_own_rows_on_an_unanalyzed_table(postgres_url: str) -> None:
    with Archive.open(postgres_url) as archive:
        for start in range(0, STREAM_ROWS, 500):
            archive.write_page(KEY, [make_record(i) for i in range(start, start + 500)])
    conninfo = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        (sid,), = conn.execute("SELECT id FROM streams").fetchall()
        ids = [str(i) for i in range(0, STREAM_ROWS, STREAM_ROWS // PAGE)]
        (doc,), = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _SELECT_EXISTING_PG.sql("postgresql"),
                               [ids, sid], prepare=False).fetchall()
    nodes = _nodes((json.loads(doc) if isinstance(doc, str) else doc)[0]["Plan"])
    scans = [n for n in nodes if n.get("Relation Name") == "records"]
    assert scans and all(n["Node Type"] == "Index Scan" and "record_id" in n.get("Index Cond", "") for n in scans), scans
    # each probe finds its one row and reads no other
    assert sum(n.get("Rows Removed by Filter", 0) for n in nodes) == 0
    assert sum(n["Actual Rows"] * n["Actual Loops"] for n in scans) == PAGE
