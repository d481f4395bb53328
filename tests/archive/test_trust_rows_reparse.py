"""Issue 8, item 27, on both backends: re-deriving entries from archived raw bytes is batched,
transactional per batch, resumable, and records a stream's version only when it is done."""

from __future__ import annotations

import msgspec
import pytest

from cexledger.exchanges.bitget.normalize import VERSION, bitget_parse
from cexledger.model import Kind, StreamKey
from cexledger.reparse import VERSION_META, built_version, outdated, reparse

KEY = StreamKey("main", "bitget", "financial-records", "USDT-FUTURES")
TYPES = ("LIQ_FEE", "FIXED_ADL_CLOSE_LONG", "TRACE_TRANSFER_REFUND_IN", "CLOSE_LONG")


def _raw(i: int) -> bytes:
    return (b'{"id":"%d","ts":"%d","coin":"USDT","type":"%s","amount":"-%d.5","fee":"0",'
            b'"balance":"1"}' % (1000 + i, 1_740_000_000_000 + i, TYPES[i % 4].encode(), i))


def _old_normalizer(raw: bytes):
    """Version 1: the types version 2 learned were ``other``; row 3 it could not read."""
    record, _ = bitget_parse("main", KEY.partition, raw)
    if record.record_id == "1003":
        return msgspec.structs.replace(record, entries=[])
    known = ("CLOSE_LONG",)
    entries = [e if e.exchange_type in known else msgspec.structs.replace(e, kind=Kind.OTHER)
               for e in record.entries]
    return msgspec.structs.replace(record, entries=entries)


def _kinds(archive) -> dict[str, list[Kind]]:
    found: dict[str, list[Kind]] = {}
    for e in archive.iter_entries():
        found.setdefault(e.record_id, []).append(e.kind)
    return found


def test_a_killed_reparse_leaves_whole_records_and_the_next_finishes(archive):
    archive.write_page(KEY, [_old_normalizer(_raw(i)) for i in range(45)])
    raw_before = [(r.record_id, r.raw, r.version) for r in archive.iter_records()]
    assert built_version(archive, KEY) == 1 < VERSION
    assert outdated(archive) == [KEY]
    assert archive.other_types() == [("bitget", "LIQ_FEE", 12), ("bitget", "FIXED_ADL_CLOSE_LONG", 11),
                                     ("bitget", "TRACE_TRANSFER_REFUND_IN", 11)]

    calls = 0

    def dies_in_the_third_batch(raw: bytes):
        nonlocal calls
        calls += 1
        if calls == 25:
            raise RuntimeError("killed")
        return bitget_parse("main", KEY.partition, raw)

    with pytest.raises(RuntimeError):
        archive.rederive(KEY, dies_in_the_third_batch, batch=10)
    kinds = _kinds(archive)
    ids = sorted(str(1000 + i) for i in range(45))
    done, rest = ids[:20], ids[20:]
    assert all(Kind.OTHER not in kinds[r] for r in done if r != "1003")
    assert "1003" in kinds                       # a raw-only row became an entry
    assert any(Kind.OTHER in kinds[r] for r in rest)
    assert archive.get_meta(KEY, VERSION_META) is None and outdated(archive)

    result = reparse(archive, outdated(archive))
    assert (result.records, result.raw_only, result.unreadable) == (45, 0, 0)
    assert result.changed == sum(1 for r in rest if TYPES[(int(r) - 1000) % 4] != "CLOSE_LONG")
    assert archive.get_meta(KEY, VERSION_META) == str(VERSION) and not outdated(archive)
    assert archive.other_types() == []
    assert {r: k for r, k in _kinds(archive).items()} == {
        str(1000 + i): [bitget_parse("main", KEY.partition, _raw(i)).record.entries[0].kind] for i in range(45)}
    assert [(r.record_id, r.raw, r.version) for r in archive.iter_records()] == raw_before


def test_a_stream_with_no_records_is_never_out_of_date(archive):
    """A stream a sync planned but never wrote (its first page failed, or the key was
    refused) has nothing to re-derive: no "archived by an older cexledger" message for it."""
    empty = StreamKey("fresh", "bitget", "financial-records", "SPOT")
    archive.register_streams([empty], 1_700_000_000_000)
    assert built_version(archive, empty) < VERSION
    assert outdated(archive, ["fresh"]) == []
