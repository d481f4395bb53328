"""The identity gate's rules (issue 8 item 1), on a real SQLite archive."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.config import Account
from cexledger.errors import IdentityError
from cexledger.identity import MISSING_TO_REFUSE, configured_identity, key_fingerprint, normal_base_url, open_gate
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


def _decision(archive: Archive, api_key: str, pages: list[list[Record]]) -> str:
    """Feed pages to a probation gate without waiting at it: what it decided."""
    async def go() -> str:
        gate = await open_gate(_account(api_key), _call, archive)
        for page in pages:
            try:
                await gate._weigh(KEY, page)
            except IdentityError:
                return "refused"
            if gate.decided:
                break
        if not gate.decided:
            return "undecided"
        try:
            await gate.admit(KEY, [])
        except IdentityError as exc:
            return "refused: " + str(exc)
        return "accepted"
    return asyncio.run(go())


def test_rows_missing_in_coverage_refuse_only_when_several_and_none_matches(archive: Archive) -> None:
    missing = [Record(str(i), 150, b"{}") for i in range(10, 10 + MISSING_TO_REFUSE)]
    # fewer than MISSING_TO_REFUSE missing rows: late-indexed rows, not evidence enough
    assert _decision(archive, "new-key", [missing[:MISSING_TO_REFUSE - 1]]) == "undecided"
    # one id match with equal bytes outweighs missing rows
    assert _decision(archive, "new-key", [missing + [Record("1", 100, b'{"id":1}')]]) == "accepted"
    archive.record_identity(configured_identity(_account("old-key")))
    # a byte difference at an equal id is no evidence either way
    assert _decision(archive, "new-key", [[Record("1", 100, b'{"id":1,"x":2}')]]) == "undecided"
    # several missing (across pages), none matching: another user, proven — never offers accepting
    got = _decision(archive, "new-key", [missing[:1], missing[1:]])
    assert got.startswith("refused: ") and "reaches another exchange user: 3 of its records" in got, got
    assert "own account name" in got and "--accept-new-identity" not in got
    assert archive.identity("main").key_fingerprint == key_fingerprint("bitget", "old-key")


def test_a_decision_is_taken_once_accept_then_refuse(archive: Archive) -> None:
    """Acceptance is marked before its recording await: a concurrent refusal is a no-op."""
    async def go() -> tuple[bool, bool]:
        recording, release = asyncio.Event(), asyncio.Event()

        async def slow_call(fn, *args):
            if fn == archive.record_identity:
                recording.set()
                await release.wait()
            return fn(*args)
        gate = await open_gate(_account("new-key"), slow_call, archive)
        accepting = asyncio.create_task(gate._weigh(KEY, [Record("1", 100, b'{"id":1}')]))
        await recording.wait()      # the acceptance is recording the new fingerprint
        gate.no_evidence()          # the stall check, meanwhile
        release.set()
        await accepting
        await gate.admit(KEY, [])   # must not raise
        return gate.admitted, gate.trusted
    assert asyncio.run(go()) == (True, True)
    assert archive.identity("main").key_fingerprint == key_fingerprint("bitget", "new-key")


def test_accepting_a_new_identity_backfills_in_full_once(archive: Archive) -> None:
    async def go(accept: bool) -> bool:
        gate = await open_gate(_account("new-key"), _call, archive, accept=accept)
        await gate.admit(KEY, [])
        return gate.trusted
    assert asyncio.run(go(True)) is False          # coverage not trusted on the accepting run
    assert archive.identity("main").key_fingerprint == key_fingerprint("bitget", "new-key")
    assert asyncio.run(go(False)) is True          # later runs trust it again


def test_accepting_never_overrides_a_recorded_user_id(archive: Archive) -> None:
    archive.record_identity(replace(configured_identity(_account("old-key")), user_id="42"))

    async def go() -> None:
        gate = await open_gate(_account("new-key"), _call, archive, accept=True)
        await gate.admit(KEY, [Record("5", 300, b"{}", owner="43")])
    with pytest.raises(IdentityError, match="user 43, the archive holds user 42 .*never overrides") as err:
        asyncio.run(go())
    assert "--accept-new-identity main" not in str(err.value)
    assert archive.identity("main").key_fingerprint == key_fingerprint("bitget", "old-key")


@pytest.mark.parametrize("url", ["https://api.bitget.com/", "HTTPS://API.Bitget.com:443",
                                 "https://api.bitget.com:443/"])
def test_base_urls_compare_normalised(archive: Archive, url: str) -> None:
    assert normal_base_url(url) == "https://api.bitget.com"
    assert asyncio.run(open_gate(_account("old-key", url), _call, archive)).trusted
    assert normal_base_url("http://h.example:80/x/") == "http://h.example/x"
    assert normal_base_url("https://h.example:8443") == "https://h.example:8443"


def test_a_recorded_base_url_is_normalised_before_comparing(archive: Archive) -> None:
    archive.record_identity(replace(configured_identity(_account("old-key")), base_url="https://API.bitget.com/"))
    assert asyncio.run(open_gate(_account("old-key"), _call, archive)).trusted


def test_another_base_url_is_refused_before_any_page(archive: Archive) -> None:
    with pytest.raises(IdentityError, match="base URL https://api.bitget.com, the config says https://x.example"):
        asyncio.run(open_gate(_account("old-key", "https://x.example"), _call, archive))


def test_rows_naming_another_user_are_refused_even_with_the_same_key(archive: Archive) -> None:
    assert _admit(archive, "old-key", [Record("5", 300, b"{}", owner="42")]) == "trusted"
    assert archive.identity("main").user_id == "42"          # learnt from the rows
    with pytest.raises(IdentityError, match="exchange user 43, the archive holds user 42"):
        _admit(archive, "old-key", [Record("6", 300, b"{}", owner="43")])
