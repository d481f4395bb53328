"""Measure ``Archive.write_page`` throughput (a script, not a test: tests assert no timings).

    .venv/bin/python tests/archive/bench_write_page.py [--pages 500] [--rows 100] [--url URL]

Writes ``pages`` pages of ``rows`` new records (two entries each, the amount and the fee;
~300-byte raw; a checkpoint and a coverage interval per page, like a real sync) to a fresh SQLite file, or to ``--url``
(an empty database), then re-writes them all unchanged, and prints rows/s for both. On
SQLite it also prints the *floor* for scale: the same record and entry rows inserted into
the same schema with bare ``sqlite3`` (one SELECT, two ``executemany`` and a commit per
page, no checkpoint or coverage), and the ratio of the two.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from cexledger._json import canonical_decimal
from cexledger.archive import Archive
from cexledger.model import Kind, LedgerEntry, Record, StreamKey

KEY = StreamKey("bench", "bitget", "financial-records", "USDT-FUTURES")


def make_pages(pages: int, rows: int) -> list[list[Record]]:
    """Deterministic pages of Bitget-like financial records."""
    result = []
    for p in range(pages):
        page = []
        for i in range(rows):
            n = p * rows + i
            rid = str(1_200_000_000_000_000_000 + n)
            ts = 1_700_000_000_000 + n
            amount = Decimal(f"-{n % 997}.{n:018d}")
            raw = (
                f'{{"id":"{rid}","symbol":"BTCUSDT","marginCoin":"USDT","type":"contract_main_settle_fee",'
                f'"amount":"{amount}","fee":"-0.0012345","balance":"{n}.5","coin":"USDT",'
                f'"ts":"{ts}","category":"USDT-FUTURES","extra":"{"x" * 60}"}}'
            ).encode()
            entries = [  # the row's amount and its fee (which carries the balance), as Bitget's give
                LedgerEntry(KEY.account, KEY.exchange, KEY.stream, rid, seq, ts, kind, "USDT", signed,
                            balance, "USDT-FUTURES", "BTCUSDT", "contract_main_settle_fee")
                for seq, (kind, signed, balance) in enumerate(
                    ((Kind.FUNDING, amount, None), (Kind.FEE, Decimal("-0.0012345"), Decimal(f"{n}.5"))))
            ]
            page.append(Record(rid, ts, raw, entries))
        result.append(page)
    return result


def run(archive: Archive, pages: list[list[Record]]) -> float:
    """Rows per second for writing every page once (checkpoint + cover per page)."""
    start = time.perf_counter()
    for i, page in enumerate(pages):
        archive.write_page(KEY, page, slot="w", state={"cursor": page[-1].record_id},
                           cover=(page[0].ts, page[-1].ts + 1), done=i == len(pages) - 1)
    elapsed = time.perf_counter() - start
    return sum(len(p) for p in pages) / elapsed


def floor(path: Path, pages: list[list[Record]]) -> float:
    """Rows per second for the bare-sqlite3 equivalent of the records/entries part of a page."""
    Archive.open(f"sqlite:///{path}").close()  # same schema and pragmas
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("INSERT INTO streams (id, account, exchange, stream, partition) VALUES (1, 'a', 'b', 'c', 'd')")
    start = time.perf_counter()
    for page in pages:
        conn.execute("BEGIN IMMEDIATE")
        ids = [r.record_id for r in page]
        conn.execute(f"SELECT record_id, raw FROM records WHERE stream_id = 1 AND record_id IN ({','.join('?' * len(ids))})", ids).fetchall()
        conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?)", [(1, r.record_id, r.ts, r.raw, r.mutable, 1, 0) for r in page])
        conn.executemany(
            "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, e.record_id, e.seq, e.account, e.ts, str(e.kind), e.coin, canonical_decimal(e.amount),
              None if e.balance is None else canonical_decimal(e.balance),
              e.category, e.symbol, e.exchange_type) for r in page for e in r.entries],
        )
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return sum(len(p) for p in pages) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--url", help="archive URL (default: a fresh SQLite file in a temp dir)")
    args = parser.parse_args()
    pages = make_pages(args.pages, args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        with Archive.open(url) as archive:
            new = run(archive, pages)
            unchanged = run(archive, pages)
            display = archive.display_url
        print(f"write_page on {display}, {args.rows}-row pages x {args.pages}: "
              f"new {new:,.0f} rows/s, unchanged {unchanged:,.0f} rows/s")
        if url.startswith("sqlite"):
            bare = floor(Path(tmp) / "floor.db", pages)
            print(f"bare sqlite3 floor (new rows): {bare:,.0f} rows/s; write_page/floor = {new / bare:.2f}")


if __name__ == "__main__":
    main()
