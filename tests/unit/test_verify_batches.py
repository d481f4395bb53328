"""``verify`` reduces each Arrow batch as it arrives and walks the chains in slices: a stream
read in many tiny batches must give exactly the verdict of one batch per read, records whose
entries straddle a batch boundary and same-ts groups spread over batches included."""

from __future__ import annotations

import shutil
import sqlite3
from collections import defaultdict
from pathlib import Path

from cexledger.archive import Archive
from cexledger.verify import run
from cexledger.verify.run import verify

_TINY = 7          # odd: a two-entry record straddles a boundary somewhere
_SLICE = 5         # smaller than the demo's same-ts groups


def _spread(db: Path) -> tuple[int, bool, bool]:
    """(entries, whether a record's entries straddle a batch boundary, whether a same-ts group
    of a chain has records in different batches) for batches of ``_TINY`` rows."""
    batch_of: dict[tuple[int, str], set[int]] = defaultdict(set)
    chain_ts: dict[tuple, set[int]] = defaultdict(set)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT e.stream_id, e.record_id, e.ts, e.category, e.coin FROM entries e "
                            "JOIN streams s ON s.id = e.stream_id ORDER BY e.stream_id, e.record_id, e.seq").fetchall()
        bitget = {sid for (sid,) in conn.execute("SELECT id FROM streams WHERE exchange = 'bitget'")}
    for position, (sid, record_id, ts, category, coin) in enumerate(rows):
        batch_of[(sid, record_id)].add(position // _TINY)
        if sid in bitget:
            chain_ts[(sid, category, coin, ts)].add(position // _TINY)
    straddles = any(len(batches) > 1 for batches in batch_of.values())
    spread = any(len(batches) > 1 for batches in chain_ts.values())
    return len(rows), straddles, spread


def _break_in_a_group(db: Path) -> None:
    """Delete the middle record of the largest same-ts group of a Bitget chain (a break inside
    the group) and the entries of another record (a record without entries)."""
    with sqlite3.connect(db) as conn:
        sid, ts, _ = conn.execute(
            "SELECT e.stream_id, e.ts, count(DISTINCT e.record_id) AS n FROM entries e JOIN streams s "
            "ON s.id = e.stream_id WHERE s.exchange = 'bitget' GROUP BY e.stream_id, e.category, "
            "e.coin, e.ts ORDER BY n DESC, e.stream_id, e.ts LIMIT 1").fetchone()
        ids = [r for (r,) in conn.execute("SELECT DISTINCT record_id FROM entries WHERE stream_id = ? "
                                          "AND ts = ? AND CAST(amount AS REAL) != 0 ORDER BY record_id",
                                          (sid, ts))]
        middle = ids[len(ids) // 2]
        conn.execute("DELETE FROM entries WHERE stream_id = ? AND record_id = ?", (sid, middle))
        conn.execute("DELETE FROM record_versions WHERE stream_id = ? AND record_id = ?", (sid, middle))
        conn.execute("DELETE FROM records WHERE stream_id = ? AND record_id = ?", (sid, middle))
        (other,) = conn.execute("SELECT record_id FROM entries WHERE stream_id = ? AND ts != ? "
                                "ORDER BY record_id LIMIT 1 OFFSET 40", (sid, ts)).fetchone()
        conn.execute("DELETE FROM entries WHERE stream_id = ? AND record_id = ?", (sid, other))


def test_many_tiny_batches_give_the_verdict_of_one_batch(demo_archive, tmp_path, monkeypatch):
    db = tmp_path / "archive.db"
    shutil.copyfile(demo_archive, db)
    _break_in_a_group(db)
    entries, straddles, spread = _spread(db)
    assert entries <= run._BATCH_ROWS and entries <= run._SLICE_ROWS   # one batch, one slice
    assert straddles and spread
    with Archive.open(f"sqlite:///{db}", read_only=True) as archive:
        whole = verify(archive)
        monkeypatch.setattr(run, "_BATCH_ROWS", _TINY)
        monkeypatch.setattr(run, "_SLICE_ROWS", _SLICE)
        split = verify(archive)
    assert whole.breaks >= 1
    assert any("records without entries" in p for s in whole.streams for p in s.problems)
    assert split == whole
