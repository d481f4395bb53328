"""Issue 8 item 3: a stream a sync planned is listed before anything is written to it."""

from __future__ import annotations

from cexledger.archive import Archive
from cexledger.model import StreamKey

PLANNED = StreamKey("dave", "coinw", "deals-history", "ETH")
META_ONLY = StreamKey("carol", "bitget", "x", "y")


def test_planned_streams_are_listed_and_their_accounts_known(archive: Archive) -> None:
    archive.set_meta(META_ONLY, "note", "meta only: not a stream with data")
    assert archive.streams() == [] and archive.account_names() == []
    archive.register_streams([PLANNED], 1_000)
    archive.register_streams([PLANNED], 2_000)              # again: still one stream
    (summary,) = archive.streams()
    assert summary.key == PLANNED and summary.records == 0 and summary.coverage == []
    assert archive.account_names() == ["dave"]
    assert archive.streams("carol") == []
