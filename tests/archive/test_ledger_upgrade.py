"""An archive an older cexledger wrote (schema 0002: a Bitget row's fee inside its one entry,
``tests/fixtures/archives/schema-0002.db``) meets today's code.

Read-only, its entries are refused in one line naming the fix, its raw records are not.
``cexledger reparse`` (and ``cexledger sync``, which re-derives first) migrates it to schema
0003 and re-derives the entries (on PostgreSQL too: the fixture's rows copied into a
database migrated to 0002 only): raw bytes, record versions, coverage and checkpoints stay
byte for byte; the entries become exactly those a fresh archive gets when the same raw rows
come through today's sync path; and per record they move what the old entries moved (old
``amount + fee``), the fee an entry of its own where the old one had a fee.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from cexledger._json import EXACT
from cexledger.archive import Archive
from cexledger.archive.migrate import HEAD, VERSION_TABLE
from cexledger.exchanges import spec
from cexledger.model import Kind, StreamKey
from cexledger.reparse import stamp

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "archives" / "schema-0002.db"
CLI = str(Path(sys.executable).parent / "cexledger")
UNCHANGED = {   # table -> its rows in a fixed order: what re-deriving must leave as it was
    "streams": "SELECT * FROM streams ORDER BY id",
    "records": "SELECT * FROM records ORDER BY stream_id, record_id",
    "record_versions": "SELECT * FROM record_versions ORDER BY stream_id, record_id, version",
    "coverage": "SELECT * FROM coverage ORDER BY stream_id, start_ms",
    "checkpoints": "SELECT * FROM checkpoints ORDER BY stream_id, slot",
    "sync_runs": "SELECT * FROM sync_runs ORDER BY id",
    "account_identities": "SELECT * FROM account_identities ORDER BY account",
}


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def _cli(*args: str) -> subprocess.CompletedProcess:
    """The real CLI, the user's CEXLEDGER_* settings (a real archive, a config) out of it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture
def old(tmp_path: Path) -> Path:
    """A copy of the fixture (the fixture itself is never opened by cexledger)."""
    copy = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, copy)
    return copy


def _old_entries(path: Path) -> dict[tuple, list[tuple[str, Decimal, Decimal]]]:
    """The schema-0002 entries per (account, exchange, stream, record id): (kind, amount, fee)."""
    found: dict[tuple, list[tuple[str, Decimal, Decimal]]] = defaultdict(list)
    for account, exchange, stream, record_id, kind, amount, fee in _rows(path, (
            "SELECT s.account, s.exchange, s.stream, e.record_id, e.kind, e.amount, e.fee FROM entries e "
            "JOIN streams s ON s.id = e.stream_id ORDER BY s.id, e.record_id, e.seq")):
        found[(account, exchange, stream, record_id)].append((kind, Decimal(amount), Decimal(fee)))
    return found


def _fresh(path: Path, tmp: Path) -> Path:
    """A new archive holding the fixture's raw rows, written through today's sync path: each
    stream's rows through its normalizer (``Normalizer.page``) into ``Archive.write_page``."""
    fresh = tmp / "fresh.db"
    streams = {sid: StreamKey(*key) for sid, *key in _rows(
        path, "SELECT id, account, exchange, stream, partition FROM streams")}
    rows: dict[int, list[bytes]] = defaultdict(list)
    for sid, raw in _rows(path, "SELECT stream_id, raw FROM records ORDER BY stream_id, ts, record_id"):
        rows[sid].append(bytes(raw))
    with Archive.open(f"sqlite:///{fresh}") as archive:
        for sid, raws in rows.items():
            key = streams[sid]
            records, _ = spec(key).normalizer.page(key.account, key.partition, raws)
            archive.write_page(key, records)
            stamp(archive, key)
    return fresh


def _entries(url: str) -> list:
    with Archive.open(url, read_only=True) as archive:
        return list(archive.iter_entries())


def _assert_upgraded(old: Path, original: Path, tmp: Path) -> None:
    """``old`` (upgraded in place) against the untouched ``original``."""
    assert _rows(old, f"SELECT version_num FROM {VERSION_TABLE}") == [(HEAD,)]
    for table, sql in UNCHANGED.items():
        assert _rows(old, sql) == _rows(original, sql), f"{table} changed"
    fresh = _fresh(original, tmp)
    upgraded = _entries(f"sqlite:///{old}")
    assert upgraded == _entries(f"sqlite:///{fresh}")
    # per record: the same money as the old entries, the fee an entry of its own
    before = _old_entries(original)
    after: dict[tuple, list] = defaultdict(list)
    for e in upgraded:
        after[(e.account, e.exchange, e.stream, e.record_id)].append(e)
    assert after.keys() == before.keys()
    fees = 0
    for record, entries in after.items():
        old_entries = before[record]
        moved = sum((EXACT.add(amount, fee) for _, amount, fee in old_entries), Decimal(0))
        assert sum((e.amount for e in entries), Decimal(0)) == moved, record
        if record[1] != "bitget":                       # CoinW: already one amount an entry
            assert [(e.kind.value, e.amount) for e in entries] == [(k, a) for k, a, _ in old_entries]
            continue
        ((kind, amount, fee),) = old_entries            # Bitget v2: one entry, the fee inside
        assert (entries[-1].kind is Kind.FEE and entries[-1].amount == fee) == (fee != 0), record
        assert [(e.kind.value, e.amount) for e in entries if e.seq == 0 and (amount or not fee)] \
            == ([(kind, amount)] if amount or not fee else [])
        fees += fee != 0
    assert fees > 100, "the fixture should hold many rows with a fee"


def test_a_read_only_export_refuses_old_entries_and_keeps_raw_ones(old):
    before = old.read_bytes()
    refused = _cli("--db", str(old), "export", "--format", "csv")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert "`cexledger reparse`" in refused.stderr and "older cexledger" in refused.stderr
    raw = _cli("--db", str(old), "export", "--format", "jsonl")
    assert raw.returncode == 0, raw.stderr
    assert len(raw.stdout.splitlines()) == len(_rows(old, "SELECT 1 FROM records"))
    assert old.read_bytes() == before, "a read-only export wrote to the archive"


def test_reparse_migrates_and_re_derives_as_a_fresh_archive_would(old, tmp_path):
    done = _cli("--db", str(old), "reparse")
    assert done.returncode == 0, done.stderr
    records = len(_rows(FIXTURE, "SELECT 1 FROM records"))
    assert done.stdout.startswith(f"{records} records re-derived, ")
    _assert_upgraded(old, FIXTURE, tmp_path)
    assert _cli("--db", str(old), "export", "--format", "csv").returncode == 0


# The fixture's sandbox "now" (``SandboxConfig.t0_ms``): its history has a row of every
# Bitget category at t0 - 30 d and at t0 - 60 d, so t0 is read back from those rows.
FIXTURE_T0_MS = 1796138287585
DAY_MS = 86_400_000


def test_the_fixture_t0_is_the_one_its_rows_were_placed_from():
    ts = {t for (t,) in _rows(FIXTURE, "SELECT r.ts FROM records r JOIN streams s ON s.id = r.stream_id "
                                       "WHERE s.exchange = 'bitget'")}
    assert {FIXTURE_T0_MS - 30 * DAY_MS, FIXTURE_T0_MS - 60 * DAY_MS} <= ts
    assert max(ts) < FIXTURE_T0_MS


def test_sync_re_derives_first_then_syncs(old, tmp_path):
    """The next ``cexledger sync`` of the archive's accounts re-derives before fetching.

    The sandbox has the fixture's seed and its "now" (so the same keys, and the rows the
    fixture holds, but where the sandbox's generator has changed since, whatever day the test
    runs; with the sandbox's "now", rows could share an id with the fixture's on some days and
    not on others), plus rows added to every account today."""
    import httpx

    from cexledger.demo import write_sandbox_config
    from cexledger.sandbox import SandboxConfig, SandboxServer

    with SandboxServer(SandboxConfig(seed=5, records=400, t0_ms=FIXTURE_T0_MS)) as server:
        listed = httpx.get(f"{server.url}/_sandbox/accounts", timeout=10).json()["accounts"]
        added = {a["name"]: httpx.post(f"{server.url}/_sandbox/append", timeout=10, json={
            "exchange": a["exchange"], "account": a["name"], "count": 5}).json()["ids"] for a in listed}
        config = tmp_path / "config.toml"
        write_sandbox_config(config, server.url, [{k: v for k, v in a.items() if not k.startswith("tax_")}
                                                  for a in listed])
        names = sorted(a["name"] for a in listed)
        assert names == sorted(r[0] for r in _rows(FIXTURE, "SELECT account FROM account_identities"))
        done = _cli("--config", str(config), "--db", str(old), "sync", "--quiet",
                    *(arg for name in names for arg in ("--accept-new-identity", name)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "re-derived" in done.stderr and "before fetching" in done.stderr
    # every record the fixture held is there: as it was, or -- where today's sandbox served
    # another row under its id (its generator has changed since) -- kept as version 1
    now = {(sid, rid): row for sid, rid, *row in _rows(old, UNCHANGED["records"])}
    kept = {(sid, rid, version): row for sid, rid, version, *row in _rows(old, UNCHANGED["record_versions"])}
    revised = set()
    for sid, rid, ts, raw, mutable, version, written in _rows(FIXTURE, UNCHANGED["records"]):
        if now[sid, rid] != [ts, raw, mutable, version, written]:
            assert version == 1 and now[sid, rid][3] == 2 and kept[sid, rid, 1][:4] == [ts, raw, mutable, written]
            revised.add((sid, rid))
    assert len(kept) == len(revised) < len(now) / 50
    # the sync added the rows added today beside them (and what else today's sandbox serves)
    account_of = {sid: account for sid, account in _rows(old, "SELECT id, account FROM streams")}
    fixture_ids = {(sid, rid) for sid, rid, *_ in _rows(FIXTURE, UNCHANGED["records"])}
    new = {(account_of[sid], rid) for sid, rid in now.keys() - fixture_ids}
    assert {(name, str(i)) for name, ids in added.items() for i in ids} <= new
    # the entries of the records not revised are those a fresh archive gets from them (an
    # id of today's rows may be an old one in another category: a record is its stream's)
    revised = {(stream, category, rid) for sid, stream, category, rid in _rows(
        FIXTURE, "SELECT e.stream_id, s.stream, e.category, e.record_id FROM entries e "
                 "JOIN streams s ON s.id = e.stream_id") if (sid, rid) in revised}
    fresh = [e for e in _entries(f"sqlite:///{_fresh(FIXTURE, tmp_path)}")
             if (e.stream, e.category, e.record_id) not in revised]
    wanted = {(e.stream, e.category, e.record_id) for e in fresh}
    assert len(wanted) == len(_old_entries(FIXTURE)) - len(revised)
    upgraded = [e for e in _entries(f"sqlite:///{old}") if (e.stream, e.category, e.record_id) in wanted]
    assert upgraded == fresh


def _postgres_0002(url: str) -> None:
    """The fixture's archive as the previous code kept it on PostgreSQL: the schema migrated
    to revision 0002 only (the migrations of that time, still in the tree), then every row
    of the fixture copied in, column for column."""
    import sqlalchemy as sa
    from alembic import command

    from cexledger.archive.migrate import alembic_config

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
        tables = sa.MetaData()
        tables.reflect(conn)
        for name in ("streams", "records", "record_versions", "entries", "checkpoints", "coverage",
                     "stream_meta", "sync_runs", "account_identities"):
            table = tables.tables[name]
            with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as db:
                cursor = db.execute(f"SELECT * FROM {name}")
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
            convert = {column.name: (Decimal if isinstance(column.type, sa.Numeric) else
                                     bool if isinstance(column.type, sa.Boolean) else None)
                       for column in table.columns}
            if rows:
                conn.execute(table.insert(), [
                    {k: v if v is None or convert[k] is None else convert[k](v) for k, v in zip(names, row)}
                    for row in rows])
    engine.dispose()


def _schema(url: str) -> tuple[list[str], list[str]]:
    """(the revision stamped, the ``entries`` columns) of a PostgreSQL archive."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        revision = list(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
        columns = [c["name"] for c in sa.inspect(conn).get_columns("entries")]
    engine.dispose()
    return revision, columns


def test_reparse_upgrades_a_postgresql_archive_too(postgres_url, tmp_path):
    _postgres_0002(postgres_url)
    revision, columns = _schema(postgres_url)
    assert revision == ["0002"] and "fee" in columns
    refused = _cli("--db", postgres_url, "export", "--format", "csv")
    assert refused.returncode == 1 and "`cexledger reparse`" in refused.stderr
    assert refused.stderr.count("\n") == 1
    done = _cli("--db", postgres_url, "reparse")
    assert done.returncode == 0, done.stderr
    revision, columns = _schema(postgres_url)
    assert revision == [HEAD] and "fee" not in columns
    with Archive.open(postgres_url, read_only=True) as archive:
        records = {(r.key, r.record_id): (r.ts, r.raw, r.version) for r in archive.iter_records()}
        keys = {r.key for r in archive.streams()}
        covered = {key: archive.coverage(key) for key in keys}
    streams = {sid: StreamKey(*key) for sid, *key in _rows(
        FIXTURE, "SELECT id, account, exchange, stream, partition FROM streams")}
    assert records == {(streams[sid], rid): (ts, bytes(raw), version) for sid, rid, ts, raw, _, version, _ in
                       _rows(FIXTURE, UNCHANGED["records"])}
    spans: dict[StreamKey, list] = defaultdict(list)
    for sid, start, end in _rows(FIXTURE, "SELECT stream_id, start_ms, end_ms FROM coverage ORDER BY 1, 2"):
        spans[streams[sid]].append((start, end))
    assert {k: v for k, v in covered.items() if v} == dict(spans)
    assert _entries(postgres_url) == _entries(f"sqlite:///{_fresh(FIXTURE, tmp_path)}")
