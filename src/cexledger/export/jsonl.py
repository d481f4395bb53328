"""JSON Lines: one object per archived record, the record exactly as the exchange sent it.

``{"account": …, "exchange": …, "stream": …, "id": "<record id>", "raw": <latest version>}``
``raw`` is embedded byte for byte (numbers stay exact). Line breaks a server put between
JSON tokens are turned into spaces so each record stays on one line; a JSON string can
never hold a raw line break, so no value changes.

Lines are assembled a batch at a time from the driver's rows, with each stream's constant
prefix encoded once: a million records is a few seconds, most of it reading the database.
"""

from __future__ import annotations

from itertools import repeat
from typing import BinaryIO

from .. import _json
from ..archive import Archive
from ..model import StreamKey
from ._pipeline import Pipeline, WholeWrites

__all__ = ["write_jsonl", "UNIT"]

UNIT = "records"
"""What :func:`write_jsonl` counts."""

_MIDDLE = b',"raw":'
_END = b"}\n"


def _prefix(key: StreamKey) -> bytes:
    return b"".join((
        b'{"account":', _json.dumps(key.account),
        b',"exchange":', _json.dumps(key.exchange),
        b',"stream":', _json.dumps(key.stream),
        b',"id":',
    ))


def _one_line(raw: bytes) -> bytes:
    if b"\n" in raw or b"\r" in raw:
        return raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return raw


def write_jsonl(archive: Archive, out: BinaryIO, *, account: str | None = None,
                exchange: str | None = None, since_ms: int | None = None, until_ms: int | None = None) -> int:
    out = WholeWrites(out)
    count = 0
    prefixes: dict[int, bytes] = {}
    encode = _json.encoder.encode
    with Pipeline() as pipe:
        for keys, batch in archive.record_batches(account=account, exchange=exchange,
                                                         since_ms=since_ms, until_ms=until_ms):
            if not prefixes:
                prefixes = {sid: _prefix(key) for sid, key in keys.items()}
            sids, record_ids, raws = zip(*batch)      # columns, then whole lines, all in C
            text = b"".join(map(b"".join, zip(
                map(prefixes.__getitem__, sids), map(encode, record_ids), repeat(_MIDDLE), raws, repeat(_END))))
            if text.count(b"\n") != len(batch) or b"\r" in text:   # a raw record spans lines
                text = b"".join(b"".join((prefixes[sid], encode(rid), _MIDDLE, _one_line(raw), _END))
                                for sid, rid, raw in batch)
            pipe.submit(out.write, text)
            count += len(batch)
    return count
