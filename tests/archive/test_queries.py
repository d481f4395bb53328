"""Reading the archive back: summaries, checkpoints, ordered streaming iterators, run log, meta."""

from __future__ import annotations

import asyncio
import inspect
import tracemalloc
from decimal import Decimal

from cexledger.archive import Archive, Checkpoint, StreamSummary, WriteResult
from cexledger.model import StreamKey

from .support import KEY, make_record

A_FUT = StreamKey("alice", "bitget", "financial-records", "USDT-FUTURES")
A_SPOT = StreamKey("alice", "bitget", "financial-records", "SPOT")
B_COINW = StreamKey("bob", "coinw", "deals-history", "BTC")


def test_streams_summarise_every_stream_with_data(archive: Archive) -> None:
    archive.write_page(A_FUT, [make_record(1, 300, key=A_FUT), make_record(2, 100, key=A_FUT)], cover=(0, 1000))
    archive.write_page(A_SPOT, [], slot="w", state={"cursor": None})  # checkpoint only
    archive.write_page(B_COINW, [], cover=(5, 6))  # coverage only
    archive.set_meta(StreamKey("carol", "bitget", "x", "y"), "note", "meta only: not a stream with data")

    summaries = archive.streams()
    assert [s.key for s in summaries] == [A_SPOT, A_FUT, B_COINW]  # account, stream, partition
    spot, fut, coinw = summaries
    assert (fut.records, fut.oldest_ts, fut.newest_ts, fut.coverage) == (2, 100, 300, [(0, 1000)])
    assert (spot.records, spot.oldest_ts, spot.newest_ts, spot.coverage) == (0, None, None, [])
    assert (coinw.records, coinw.coverage) == (0, [(5, 6)])
    assert all(isinstance(s.last_write_ms, int) and s.last_write_ms > 1_600_000_000_000 for s in summaries)
    assert archive.streams("bob") == [coinw]
    assert archive.streams("nobody") == []
    assert isinstance(fut, StreamSummary)


def test_one_accounts_streams_are_the_whole_archives_of_that_account(archive: Archive) -> None:
    """``streams(account)`` reads only that account's streams (its records, coverage,
    checkpoints and plans), and gives what ``streams()`` gives for it."""
    b_spot = StreamKey("bob", "bitget", "financial-records", "SPOT")
    archive.write_page(A_FUT, [make_record(1, 300, key=A_FUT)], cover=(0, 1000))
    archive.write_page(A_SPOT, [], slot="w", state={"cursor": None})
    archive.write_page(B_COINW, [make_record(1, 50, key=B_COINW), make_record(7, 70, key=B_COINW)], cover=(5, 90))
    archive.write_page(b_spot, [], slot="v", state={})
    archive.register_streams([StreamKey("carol", "coinw", "deals-history", "ETH")], 1_700_000_000_000)
    everything = archive.streams()
    assert {s.key.account for s in everything} == {"alice", "bob", "carol"}
    for account in ("alice", "bob", "carol"):
        assert archive.streams(account) == [s for s in everything if s.key.account == account]
    bob = {s.key: s for s in archive.streams("bob")}
    assert (bob[B_COINW].records, bob[B_COINW].oldest_ts, bob[B_COINW].coverage) == (2, 50, [(5, 90)])
    assert bob[b_spot].records == 0 and bob[b_spot].coverage == []


def test_checkpoints_keep_state_exactly(archive: Archive) -> None:
    state = {"cursor": "2435521222632017955", "n": 2435521222632017955, "price": Decimal("0.000000000000000001"),
             "window": [1_700_000_000_000, 1_702_592_000_000], "nested": {"ok": True, "none": None}}
    archive.write_page(A_FUT, [], slot="2023-11", state=state)
    archive.write_page(A_FUT, [], slot="2023-10", state={"page": 1})
    archive.write_page(B_COINW, [], slot="p", state={})
    archive.write_page(A_FUT, [], slot="2023-10", state={"page": 2})  # upsert

    alice = archive.checkpoints("alice")
    assert [(c.key, c.slot) for c in alice] == [(A_FUT, "2023-10"), (A_FUT, "2023-11")]
    assert alice[0].state == {"page": 2}
    assert alice[1].state == state
    assert isinstance(alice[1].updated_ms, int)
    assert [c.key for c in archive.checkpoints()] == [A_FUT, A_FUT, B_COINW]
    assert isinstance(alice[0], Checkpoint)


def test_iter_records_orders_by_stream_then_time_then_id_and_filters(archive: Archive) -> None:
    archive.write_page(B_COINW, [make_record("9", 1, key=B_COINW)])
    archive.write_page(A_FUT, [make_record("b", 5, key=A_FUT), make_record("a", 5, key=A_FUT), make_record("c", 1, key=A_FUT)])
    archive.write_page(A_SPOT, [make_record("z", 0, key=A_SPOT)])
    order = [(r.key, r.record_id) for r in archive.iter_records()]
    assert order == [(A_SPOT, "z"), (A_FUT, "c"), (A_FUT, "a"), (A_FUT, "b"), (B_COINW, "9")]
    assert [r.record_id for r in archive.iter_records(account="bob")] == ["9"]
    assert [r.record_id for r in archive.iter_records(exchange="bitget")] == ["z", "c", "a", "b"]
    assert list(archive.iter_records(account="alice", exchange="coinw")) == []


def test_iter_entries_orders_by_time_account_record_seq_and_filters(archive: Archive) -> None:
    archive.write_page(B_COINW, [make_record("1", 10, key=B_COINW, amounts=("1", "2"))])
    archive.write_page(A_FUT, [make_record("2", 10, key=A_FUT), make_record("1", 20, key=A_FUT)])
    archive.write_page(A_SPOT, [make_record("1", 10, key=A_SPOT)])
    got = [(e.ts, e.account, e.stream, e.record_id, e.seq) for e in archive.iter_entries()]
    assert got == [
        (10, "alice", "financial-records", "1", 0),
        (10, "alice", "financial-records", "2", 0),
        (10, "bob", "deals-history", "1", 0),
        (10, "bob", "deals-history", "1", 1),
        (20, "alice", "financial-records", "1", 0),
    ]
    assert [e.ts for e in archive.iter_entries(since_ms=11)] == [20]
    assert [e.ts for e in archive.iter_entries(until_ms=20)] == [10, 10, 10, 10]  # half-open
    assert {e.exchange for e in archive.iter_entries(exchange="coinw")} == {"coinw"}
    assert [e.record_id for e in archive.iter_entries(account="alice", since_ms=10, until_ms=11)] == ["1", "2"]


def test_iterators_stream_instead_of_loading_everything(archive: Archive) -> None:
    n, pad = 20_000, b"x" * 1000
    for start in range(0, n, 2000):
        page = [make_record(i, i, raw=b'{"id":%d,"pad":"%s"}' % (i, pad)) for i in range(start, start + 2000)]
        assert archive.write_page(KEY, page) == WriteResult(2000, 0, 0)

    records = archive.iter_records()
    assert inspect.isgenerator(records) and inspect.isgenerator(archive.iter_entries())
    tracemalloc.start()
    try:
        count, last_ts = 0, -1
        for record in records:
            assert record.ts > last_ts
            last_ts, count = record.ts, count + 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 8_000_000, f"peak {peak} bytes: the {n * len(pad):,} bytes of raw were materialized"
    assert sum(1 for _ in archive.iter_entries()) == n

    partial = archive.iter_entries()
    assert next(partial).record_id == "0"
    partial.close()  # abandoning an iterator releases its connection
    assert archive.count_records() == n


def test_mutable_ids_versions_and_counts(archive: Archive) -> None:
    archive.write_page(A_FUT, [make_record(1, 11, key=A_FUT, mutable=True), make_record(2, 12, key=A_FUT)])
    archive.write_page(B_COINW, [make_record(1, 13, key=B_COINW, mutable=True)])
    assert archive.mutable_ids(A_FUT) == {"1": 11}
    assert archive.mutable_ids(B_COINW) == {"1": 13}
    assert archive.mutable_ids(A_SPOT) == {}
    assert archive.versions(A_FUT, "404") == [] and archive.versions(A_SPOT, "1") == []
    assert (archive.count_records(), archive.count_records("alice"), archive.count_records("nobody")) == (3, 2, 0)


def test_run_log_newest_first(archive: Archive) -> None:
    archive.record_run("alice", "bitget", 1000, 2000, {"new": 5, "errors": [], "fee": Decimal("0.000000000000000001")})
    archive.record_run("bob", "coinw", 3000, 4000, {"new": 0, "errors": ["boom"]})
    runs = archive.last_runs()
    assert [r["account"] for r in runs] == ["bob", "alice"]
    assert runs[1] == {"account": "alice", "exchange": "bitget", "started_ms": 1000, "finished_ms": 2000,
                       "stats": {"new": 5, "errors": [], "fee": Decimal("0.000000000000000001")}}
    assert len(archive.last_runs(1)) == 1


def test_stream_meta(archive: Archive) -> None:
    assert archive.get_meta(A_FUT, "note") is None
    archive.set_meta(A_FUT, "note", "first")
    archive.set_meta(A_FUT, "note", "second")
    archive.set_meta(A_FUT, "other", "x")
    assert archive.get_meta(A_FUT, "note") == "second"
    assert archive.get_meta(A_SPOT, "note") is None
    archive.write_page(A_FUT, [make_record(1, key=A_FUT)])  # meta and data share the stream
    assert archive.get_meta(A_FUT, "other") == "x"


async def test_write_page_from_worker_threads(archive: Archive) -> None:
    for i in range(5):
        result = await asyncio.to_thread(archive.write_page, KEY, [make_record(i)], slot="w", state={"i": i}, cover=(i, i + 1))
        assert result.new == 1
    checkpoints = await asyncio.to_thread(archive.checkpoints)
    assert [c.state for c in checkpoints] == [{"i": 4}]
    assert archive.coverage(KEY) == [(0, 5)]
