"""JSON Lines: one object per archived record, the record exactly as the exchange sent it.

``{"account": …, "exchange": …, "stream": …, "id": "<record id>", "raw": <latest version>}``
``raw`` is embedded byte for byte (numbers stay exact). Line breaks a server put between
JSON tokens are turned into spaces so each record stays on one line; a JSON string can
never hold a raw line break, so no value changes.
"""

from __future__ import annotations

from typing import BinaryIO

from .. import _json
from ..archive import Archive

__all__ = ["write_jsonl", "jsonl_line"]


def jsonl_line(account: str, exchange: str, stream: str, record_id: str, raw: bytes) -> bytes:
    if b"\n" in raw or b"\r" in raw:
        raw = raw.replace(b"\r", b" ").replace(b"\n", b" ")
    return b"".join((
        b'{"account":', _json.dumps(account),
        b',"exchange":', _json.dumps(exchange),
        b',"stream":', _json.dumps(stream),
        b',"id":', _json.dumps(record_id),
        b',"raw":', raw, b"}\n",
    ))


def write_jsonl(archive: Archive, out: BinaryIO, *, account: str | None = None,
                exchange: str | None = None) -> int:
    count = 0
    for rec in archive.iter_records(account=account, exchange=exchange):
        k = rec.key
        out.write(jsonl_line(k.account, k.exchange, k.stream, rec.record_id, rec.raw))
        count += 1
    return count
