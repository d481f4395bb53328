"""The identity gate's rules (issue 8 item 1), on a real SQLite archive."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.config import Account
from cexledger.errors import IdentityError
from cexledger.identity import configured_identity, key_fingerprint, open_gate
from cexledger.model import Record, StreamKey

KEY = StreamKey("main", "bitget", "financial-records", "SPOT")


def _account(api_key: str, base_url: str = "https://api.bitget.com") -> Account:
    return Account(name="main", exchange="bitget", api_key=api_key, api_secret="s", passphrase="p",
                   base_url=base_url)


async def _call(fn, *args):
    return fn(*args)


def test_the_fingerprint_is_irreversible_and_domain_separated() -> None:
    key = "bg_0123456789abcdef0123456789abcdef"
    fp = key_fingerprint("bitget", key)
    assert fp.startswith("sha256:") and len(fp) == 7 + 64
    assert key not in fp and key[3:] not in fp
    assert fp == key_fingerprint("bitget", key)
    assert fp != key_fingerprint("coinw", key)
    import hashlib
    assert fp[7:] != hashlib.sha256(key.encode()).hexdigest()   # not a bare hash of the key


@pytest.fixture
def archive(tmp_path: Path):
    with Archive.open(f"sqlite:///{tmp_path / 'a.db'}") as opened:
        opened.write_page(KEY, [Record("1", 100, b'{"id":1}'), Record("2", 200, b'{"id":2}', mutable=True)],
                          cover=(0, 1000))
        opened.record_identity(configured_identity(_account("old-key")))
        yield opened


def _admit(archive: Archive, api_key: str, records: list[Record]) -> str:
    async def go() -> str:
        gate = await open_gate(_account(api_key), _call, archive)
        await gate.admit(KEY, records)
        return "trusted" if gate.trusted else "probation"
    return asyncio.run(go())


def test_identical_archived_bytes_accept_a_new_key(archive: Archive) -> None:
    # a row archived as still changing may differ; an unchangeable identical one decides
    assert _admit(archive, "new-key", [Record("2", 200, b'{"id":2,"x":1}'), Record("1", 100, b'{"id":1}'),
                                       Record("3", 5000, b'{"id":3}')]) == "trusted"
    assert archive.identity("main").key_fingerprint == key_fingerprint("bitget", "new-key")


@pytest.mark.parametrize("row", [Record("1", 100, b'{"id":1,"x":2}'), Record("9", 150, b'{"id":9}')],
                         ids=["other-bytes", "missing-in-coverage"])
def test_contradicting_rows_refuse_a_new_key(archive: Archive, row: Record) -> None:
    with pytest.raises(IdentityError, match="another exchange user"):
        _admit(archive, "new-key", [row])
    assert archive.identity("main").key_fingerprint == key_fingerprint("bitget", "old-key")


def test_another_base_url_is_refused_before_any_page(archive: Archive) -> None:
    with pytest.raises(IdentityError, match="base URL https://api.bitget.com, the config says https://x.example"):
        asyncio.run(open_gate(_account("old-key", "https://x.example"), _call, archive))


def test_rows_naming_another_user_are_refused_even_with_the_same_key(archive: Archive) -> None:
    assert _admit(archive, "old-key", [Record("5", 300, b"{}", owner="42")]) == "trusted"
    assert archive.identity("main").user_id == "42"          # learnt from the rows
    with pytest.raises(IdentityError, match="exchange user 43, the archive holds user 42"):
        _admit(archive, "old-key", [Record("6", 300, b"{}", owner="43")])
