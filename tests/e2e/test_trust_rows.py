"""Issue 8, items 8 and 27, end to end: one row the archive cannot hold never blocks a sync,
and archived entries follow a changed mapping (``reparse``, automatic on upgrade)."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from cexledger.exchanges import spec
from cexledger.model import StreamKey

from .conftest import Cli, by_id


def _db(cli) -> sqlite3.Connection:
    return sqlite3.connect(cli.db)


def _inject(sb, exchange: str, account: str, raw: bytes, partition: str) -> str:
    return sb.post("/_sandbox/inject-row", {"exchange": exchange, "account": account,
                                        "raw": raw.decode(), "partition": partition})["id"]


def _assert_complete(sb, cli, exchange: str, account: str, skip_partition: str | None = None) -> int:
    """Every truth row of ``account`` (outside ``skip_partition``) is archived exactly."""
    got = by_id(cli.export_jsonl(), exchange, account)
    field = "category" if exchange == "bitget" else "instrument"
    truth = {rid: row for rid, row in sb.truth(exchange, account).items()
             if skip_partition is None or str(row.get(field, "")).upper() != skip_partition}
    assert truth, "the sandbox account has no rows"
    for rid, row in truth.items():
        assert got.get(rid) == row, f"{account} record {rid} is not archived exactly"
    return len(truth)


def _raw_and_entries(cli, record_id: str) -> tuple[bytes, int]:
    with _db(cli) as db:
        (raw,) = db.execute("SELECT raw FROM records WHERE record_id = ?", (record_id,)).fetchone()
        (entries,) = db.execute("SELECT count(*) FROM entries WHERE record_id = ?", (record_id,)).fetchone()
    return raw, entries


BAD_COINW = (
    b'{"baseSize":0.001,"closedPiece":1,"createdDate":%d,"direction":"long","fee":"0.05",'
    b'"fundingFee":"0","id":777000000000000001,"instrument":"BTC","liquidateBy":"manual",'
    b'"netProfit":1E+1001,"orderStatus":"finish","status":"close","totalPiece":1}'
)


def test_coinw_row_with_an_inexact_amount_is_archived_raw_only(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "150", "--bitget-accounts", "0", "--coinw-accounts", "2",
                         "--instruments", "BTC,ETH")
    raw = BAD_COINW % (int(time.time() * 1000) - 60_000)
    _inject(sb, "coinw", "coinw-1", raw, "BTC")
    cli = cli_for(sb, instruments=["BTC", "ETH"])
    for run in (1, 2):  # the second run behaves the same: no crash, nothing new
        proc = cli.run("sync", "--quiet")
        assert proc.returncode == 0, f"run {run}: {proc.stdout}\n{proc.stderr}"
        assert "internal error" not in proc.stderr
        assert "raw only" in proc.stdout
        stored, entries = _raw_and_entries(cli, "777000000000000001")
        assert stored == raw and entries == 0
        for account in ("coinw-1", "coinw-2"):
            _assert_complete(sb, cli, "coinw", account)
    # a reparse keeps it raw only, byte for byte, and says so
    proc = cli.run("reparse", check=True)
    assert proc.stdout.strip().endswith(", 1 still raw only")
    assert _raw_and_entries(cli, "777000000000000001") == (raw, 0)


BAD_BITGET = (
    b'{"category":"SPOT","id":"888000000000000001","coin":"USDT","type":"TRANSFER_IN",'
    b'"amount":"1","fee":"0","balance":"1","ts":"99999999999999999999"}'
)


def test_bitget_row_with_an_impossible_time_stops_only_its_stream(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "300", "--bitget-accounts", "2", "--coinw-accounts", "0")
    injected = int(time.time() * 1000)  # the sandbox files the row at the time it is injected
    _inject(sb, "bitget", "bitget-1", BAD_BITGET, "SPOT")
    cli = cli_for(sb)
    for run in (1, 2):
        proc = cli.run("sync", "--quiet")
        assert proc.returncode == 1, f"run {run}: {proc.stdout}\n{proc.stderr}"
        assert "internal error" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("cexledger: error:")]
        assert len(errors) == 1 and "888000000000000001" in errors[0] and "'ts'" in errors[0], errors
        assert "SPOT" in errors[0] and "bitget-1" in errors[0]
        # the other account and the other categories of this one are complete
        _assert_complete(sb, cli, "bitget", "bitget-2")
        _assert_complete(sb, cli, "bitget", "bitget-1", skip_partition="SPOT")
        with _db(cli) as db:
            assert db.execute("SELECT count(*) FROM records WHERE record_id = '888000000000000001'").fetchone() == (0,)
        # the stopped range stays uncovered (the next sync retries it); the others are covered
        assert not _covers(cli, "bitget-1", "SPOT", injected)
        assert _covers(cli, "bitget-1", "MARGIN", injected) and _covers(cli, "bitget-2", "SPOT", injected)


def _covers(cli, account: str, partition: str, ts: int) -> bool:
    with _db(cli) as db:
        return db.execute(
            "SELECT count(*) FROM coverage c JOIN streams s ON s.id = c.stream_id "
            "WHERE s.account = ? AND s.partition = ? AND c.start_ms <= ? AND ? < c.end_ms",
            (account, partition, ts, ts)).fetchone()[0] > 0


# -- item 27: entries follow a changed mapping ---------------------------------------------

_ENTRY_COLUMNS = ("s.account, s.exchange, s.partition, e.record_id, e.seq, e.ts, e.kind, e.coin, "
                  "e.amount, e.balance, e.category, e.symbol, e.exchange_type")


def _entries(cli) -> list[tuple]:
    with _db(cli) as db:
        return db.execute(f"SELECT {_ENTRY_COLUMNS} FROM entries e JOIN streams s ON s.id = e.stream_id "
                          "ORDER BY 1, 2, 3, 4, 5").fetchall()


def _raw_state(cli) -> tuple[list, list]:
    with _db(cli) as db:
        records = db.execute("SELECT stream_id, record_id, ts, raw, version FROM records ORDER BY 1, 2").fetchall()
        versions = db.execute("SELECT * FROM record_versions ORDER BY 1, 2, 3").fetchall()
    return records, versions


def _as_older_cexledger(cli) -> int:
    """Make the archive look as an older normalizer left it: kinds it did not know, rows it
    kept raw only, a different amount, and no version recorded. Returns records touched."""
    with _db(cli) as db:
        db.execute("DELETE FROM stream_meta WHERE name = 'normalizer_version'")
        other = db.execute("UPDATE entries SET kind = 'other' WHERE kind = 'funding'").rowcount
        raw_only = [r for (r,) in db.execute(
            "SELECT DISTINCT record_id FROM entries WHERE kind = 'realized_pnl' ORDER BY record_id LIMIT 7")]
        db.executemany("DELETE FROM entries WHERE record_id = ?", [(r,) for r in raw_only])
        changed = db.execute("UPDATE entries SET amount = '0' WHERE rowid = (SELECT min(rowid) FROM entries "
                             "WHERE kind = 'trade')").rowcount
    assert other and len(raw_only) == 7 and changed == 1
    return other + len(raw_only) + changed


def test_sync_rederives_streams_an_older_normalizer_built(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "400", "--bitget-accounts", "1", "--coinw-accounts", "1",
                         "--instruments", "BTC,ETH")
    cli = cli_for(sb)
    fresh = cli_for(sb)
    cli.run("sync", "--quiet", check=True)
    assert sb.post("/_sandbox/mutate", {"exchange": "coinw", "account": "coinw-1", "count": 3})["ids"]
    cli.run("sync", "--quiet", "--recheck-open", check=True)   # earlier versions kept
    assert _raw_state(cli)[1], "no record has an earlier version"
    fresh.run("sync", "--quiet", check=True)
    expected = _entries(fresh)
    with _db(fresh) as db:
        versions = {StreamKey(*key): value for *key, value in db.execute(
            "SELECT s.account, s.exchange, s.stream, s.partition, m.value FROM stream_meta m "
            "JOIN streams s ON s.id = m.stream_id WHERE m.name = 'normalizer_version'")}
    assert versions and versions == {key: str(spec(key).normalizer.version) for key in versions}, \
        "a fresh sync records each stream's normalizer version"
    assert _entries(cli) == expected

    _as_older_cexledger(cli)
    assert _entries(cli) != expected
    before = _raw_state(cli)
    proc = cli.run("sync", "--quiet", check=True)
    lines = [line for line in proc.stderr.splitlines() if "re-derived" in line]
    accounts = {line.split("'")[1] for line in lines}
    assert len(lines) == len(accounts) == 2 and all("before fetching" in line for line in lines), proc.stderr
    assert _entries(cli) == expected
    assert _raw_state(cli) == before, "raw bytes or record versions changed"
    again = cli.run("sync", "--quiet", check=True)
    assert "re-derived" not in again.stderr, "up-to-date streams were re-derived again"


def test_a_resync_does_not_record_a_version_already_recorded(sandbox_factory, cli_for):
    """Each stream's normalizer version is recorded once: a re-sync writing new rows to
    streams at today's version adds no write of it (one transaction per stream per sync
    saved), and the versions stay today's."""
    sb = sandbox_factory("--records", "200", "--bitget-accounts", "1", "--coinw-accounts", "1",
                         "--instruments", "BTC,ETH")
    cli = cli_for(sb)
    cli.run("sync", "--quiet", check=True)
    with _db(cli) as db:
        db.executescript(
            "CREATE TABLE version_writes (stream_id INTEGER, value TEXT);"
            "CREATE TRIGGER version_insert AFTER INSERT ON stream_meta WHEN NEW.name = 'normalizer_version' "
            "BEGIN INSERT INTO version_writes VALUES (NEW.stream_id, NEW.value); END;"
            "CREATE TRIGGER version_update AFTER UPDATE ON stream_meta WHEN NEW.name = 'normalizer_version' "
            "BEGIN INSERT INTO version_writes VALUES (NEW.stream_id, NEW.value); END;")
        before = db.execute("SELECT count(*) FROM stream_meta WHERE name = 'normalizer_version'").fetchone()[0]
        records = db.execute("SELECT count(*) FROM records").fetchone()[0]
    for account in sb.accounts():
        sb.post("/_sandbox/append", {"exchange": account["exchange"], "account": account["name"], "count": 3})
    cli.run("sync", "--quiet", check=True)
    with _db(cli) as db:
        assert db.execute("SELECT count(*) FROM records").fetchone()[0] == records + 6
        assert db.execute("SELECT count(*) FROM version_writes").fetchone()[0] == 0
        after = db.execute("SELECT count(*) FROM stream_meta WHERE name = 'normalizer_version'").fetchone()[0]
    assert after == before > 0


def test_reparse_command(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "300", "--bitget-accounts", "1", "--coinw-accounts", "1",
                         "--instruments", "BTC,ETH")
    cli = cli_for(sb)
    help_text = cli.run("reparse", "--help", check=True).stdout
    assert "raw" in help_text and "--account" in help_text
    assert cli.run("reparse").returncode == 1          # no archive yet: one line, exit 1
    cli.run("sync", "--quiet", check=True)
    expected = _entries(cli)
    records = len(_raw_state(cli)[0])

    proc = cli.run("reparse", check=True)
    assert proc.stdout.strip() == f"{records} records re-derived, 0 with changed entries, 0 still raw only"
    touched = _as_older_cexledger(cli)
    before = _raw_state(cli)
    proc = cli.run("reparse", check=True)
    line = proc.stdout.strip()
    assert line.startswith(f"{records} records re-derived, ") and line.endswith(", 0 still raw only")
    assert 0 < int(line.split(", ")[1].split()[0]) <= touched
    assert _entries(cli) == expected and _raw_state(cli) == before

    only = cli.run("reparse", "--account", "coinw-1", check=True).stdout
    assert only.startswith(str(sum(1 for r in _raw_state(cli)[0] if r[0] in _stream_ids(cli, "coinw-1"))))
    wrong = cli.run("reparse", "--account", "nobody")
    assert wrong.returncode == 1 and wrong.stderr.count("\n") == 1 and "bitget-1" in wrong.stderr


def _stream_ids(cli, account: str) -> set[int]:
    with _db(cli) as db:
        return {sid for (sid,) in db.execute("SELECT id FROM streams WHERE account = ?", (account,))}


# -- item 25: status says what is not understood -------------------------------------------


def test_status_lists_the_exchange_types_still_mapped_to_other(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "600", "--bitget-accounts", "2", "--coinw-accounts", "0")
    cli = cli_for(sb)
    cli.run("sync", "--quiet", check=True)
    counts: dict[str, int] = {}
    for account in ("bitget-1", "bitget-2"):
        for row in sb.truth("bitget", account).values():
            if row["type"] in ("SOME_NEW_TYPE_2026", "UNDOCUMENTED_BONUS_IN"):
                counts[row["type"]] = counts.get(row["type"], 0) + 1
    assert len(counts) == 2, "the sandbox data lacks its unknown types"
    lines = cli.run("status", check=True).stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("exchange types not understood"))
    block = lines[start + 1:start + 1 + len(counts)]
    assert sorted(line.split()[1] for line in block) == sorted(counts)
    for line in block:
        _, name, count, _ = line.split()
        assert line.startswith("  bitget") and int(count) == counts[name]
    assert all(len(line) <= 80 for line in lines[start:start + 1 + len(counts)])
    one = cli.run("status", "--account", "bitget-2", check=True).stdout
    assert "SOME_NEW_TYPE_2026" in one


@dataclass
class _PostgresCli(Cli):
    """The same CLI, its archive on PostgreSQL."""

    url: str = ""

    @property
    def db_url(self) -> str:
        return self.url


def test_amount_beyond_postgresql_numeric_is_raw_only_there(sandbox_factory, cli_for, postgres_url):
    from cexledger.archive import Archive
    from cexledger.model import StreamKey

    sb = sandbox_factory("--records", "80", "--bitget-accounts", "1", "--coinw-accounts", "0")
    raw = (b'{"category":"SPOT","id":"889000000000000001","coin":"USDT","type":"TRANSFER_IN",'
           b'"amount":"1E+131072","fee":"0","balance":"1","ts":"%d"}' % int(time.time() * 1000))
    _inject(sb, "bitget", "bitget-1", raw, "SPOT")
    plain = cli_for(sb)
    cli = _PostgresCli(plain.tmp, plain.config, plain.db, url=postgres_url)
    for _ in range(2):
        proc = cli.run("sync", "--quiet")
        assert proc.returncode == 0 and "raw only" in proc.stdout, proc.stderr
    assert cli.run("reparse", check=True).stdout.strip().endswith(", 1 still raw only")
    with Archive.open(postgres_url) as archive:
        key = StreamKey("bitget-1", "bitget", "financial-records", "SPOT")
        assert archive.versions(key, "889000000000000001") == [raw]
        assert not [e for e in archive.iter_entries() if e.record_id == "889000000000000001"]
        assert archive.count_records() == (len(sb.truth("bitget", "bitget-1"))
                                           + len(sb.truth("bitget", "bitget-1", stream="funding-records")))
