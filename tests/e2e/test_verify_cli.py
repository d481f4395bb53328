"""``cexledger verify`` on the demo archive (real sandbox data, real CLI): every chain holds,
and a deleted row, a lost entry, a changed CoinW amount and a duplicated id are caught where
they are. Expected values come from ``read_entries`` (the reference reader) on the archive."""

from __future__ import annotations

import json
import random
import shutil
import sqlite3
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from cexledger._json import canonical_decimal
from cexledger.archive import Archive
from cexledger.ledger import Filters
from cexledger.verify import render
from cexledger.verify.run import verify

from .conftest import CLI


@pytest.fixture(scope="module")
def cluster_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo archive of 2000 rows per account: its busiest category has the sandbox's
    300-row same-ts cluster (the session's demo archive, smaller, has a 187-row one)."""
    path = tmp_path_factory.mktemp("verify-cluster") / "archive.db"
    done = subprocess.run([CLI, "--db", str(path), "demo", "--records", "2000", "--seed", "3"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def run(db: Path | str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "--db", str(db), "verify", *args], capture_output=True, text=True,
                          timeout=300)


def verdict(db: Path | str) -> dict:
    done = run(db, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def records_by_chain(db: Path) -> dict[tuple, list[tuple[int, str, Decimal]]]:
    """(account, stream, partition, entry category, coin) -> [(ts, id, amount + fee)] of every
    Bitget record, in exchange order (ts, then numeric id): summed here in Python from the
    archive's rows, independently of verify."""
    sums: dict[tuple, dict[str, list]] = defaultdict(dict)
    with sqlite3.connect(db) as conn:
        for account, stream, partition, category, coin, record_id, ts, amount in conn.execute(
                "SELECT s.account, s.stream, s.partition, e.category, e.coin, e.record_id, e.ts, e.amount "
                "FROM entries e JOIN streams s ON s.id = e.stream_id WHERE s.exchange = 'bitget'"):
            row = sums[(account, stream, partition, category, coin)].setdefault(record_id, [ts, record_id, Decimal(0)])
            row[2] += Decimal(amount)
    return {chain: sorted(((ts, rid, total) for ts, rid, total in rows.values()),
                          key=lambda r: (r[0], len(r[1]), r[1]))
            for chain, rows in sums.items()}


def stream_of(doc: dict, account: str, stream: str, partition: str) -> dict:
    (found,) = [s for s in doc["streams"] if (s["account"], s["stream"], s["partition"]) == (account, stream, partition)]
    return found


def test_the_demo_archive_verifies_with_zero_breaks(demo_archive):
    done = run(demo_archive)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(len(line) <= 80 for line in done.stdout.splitlines()), done.stdout
    assert done.stdout.splitlines()[-1].startswith("verify: every check holds in ")
    doc = verdict(demo_archive)
    assert doc["ok"] and doc["breaks"] == 0
    chains = records_by_chain(demo_archive)
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        summaries = {(s.key.account, s.key.exchange, s.key.stream, s.key.partition): s.records
                     for s in archive.streams()}
    assert {(s["account"], s["exchange"], s["stream"], s["partition"]): s["records"]
            for s in doc["streams"]} == summaries
    for s in doc["streams"]:
        assert s["ok"] and not s["problems"], s
        if s["exchange"] != "bitget":
            continue
        expected = {chain[3:]: rows for chain, rows in chains.items()
                    if chain[:3] == (s["account"], s["stream"], s["partition"])}
        assert {(c["category"], c["coin"]): c["rows"] for c in s["chains"]} == \
            {key: len(rows) for key, rows in expected.items()}
        for c in s["chains"]:           # each chain one stretch, first row to last
            rows = expected[(c["category"], c["coin"])]
            (stretch,) = c["stretches"]
            assert (stretch["first_id"], stretch["last_id"], stretch["rows"]) == (rows[0][1], rows[-1][1], len(rows))


def test_the_largest_same_ts_cluster_lies_in_a_proven_stretch(cluster_archive):
    chains = records_by_chain(cluster_archive)
    size, chain, ts = max((sum(1 for r in rows if r[0] == t), chain, t)
                          for chain, rows in chains.items() for t in {r[0] for r in rows})
    assert size >= 250
    doc = verdict(cluster_archive)
    assert doc["ok"]
    (found,) = [c for c in stream_of(doc, *chain[:3])["chains"] if (c["category"], c["coin"]) == chain[3:]]
    assert not found["breaks"]
    assert any(s["first_ms"] < ts < s["last_ms"] for s in found["stretches"])


def test_the_point_one_plus_point_two_chain_verifies_exactly(demo_archive):
    chains = records_by_chain(demo_archive)
    hits = [(chain, rows) for chain, rows in chains.items()
            if [r[2] for r in rows if r[2] in (Decimal("0.1"), Decimal("0.2"))][:2] == [Decimal("0.1"), Decimal("0.2")]
            and chain[2] == "OTHER" and chain[4] == "USDT"]
    assert hits, "the sandbox's 0.1 + 0.2 transfers are archived"
    doc = verdict(demo_archive)
    for chain, rows in hits:
        (found,) = [c for c in stream_of(doc, *chain[:3])["chains"] if (c["category"], c["coin"]) == chain[3:]]
        point = next(r[0] for r in rows if r[2] == Decimal("0.2"))
        assert not found["breaks"] and any(s["first_ms"] <= point <= s["last_ms"] for s in found["stretches"])


def _copy(src: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / f"{name}.db"
    shutil.copyfile(src, target)
    return target


def _delete_record(db: Path, account: str, stream: str, partition: str, record_id: str,
                   entries_only: bool = False) -> None:
    with sqlite3.connect(db) as conn:
        (sid,) = conn.execute("SELECT id FROM streams WHERE account=? AND stream=? AND partition=?",
                              (account, stream, partition)).fetchone()
        conn.execute("DELETE FROM entries WHERE stream_id=? AND record_id=?", (sid, record_id))
        if not entries_only:
            conn.execute("DELETE FROM record_versions WHERE stream_id=? AND record_id=?", (sid, record_id))
            assert conn.execute("DELETE FROM records WHERE stream_id=? AND record_id=?",
                                (sid, record_id)).rowcount == 1


def _samples(chains: dict[tuple, list], cluster: bool = False) -> list[tuple[tuple, int]]:
    """(chain, index) of rows to delete: a seeded one of every Bitget stream (not a chain's
    end: nothing is on the other side to miss it; not a row that moved nothing: it leaves no
    trace); with ``cluster``, one inside the largest same-ts cluster and its last row instead."""
    rng = random.Random(11)
    out = []
    streams = sorted({chain[:3] for chain in chains})
    for stream in streams:
        candidates = [(chain, k) for chain, rows in sorted(chains.items()) if chain[:3] == stream
                      for k in range(1, len(rows) - 1) if rows[k][2] != 0]
        if candidates:
            out.append(rng.choice(candidates))
    if not cluster:
        return out
    size, chain, ts = max((sum(1 for r in rows if r[0] == t), chain, t)
                          for chain, rows in chains.items() for t in {r[0] for r in rows})
    cluster = [k for k, r in enumerate(chains[chain]) if r[0] == ts]
    inside = [k for k in cluster[1:-1] if chains[chain][k][2] != 0]
    return [(chain, rng.choice(inside)), (chain, cluster[-1])]


@pytest.mark.parametrize("in_cluster", [False, True], ids=["every-stream", "same-ts-cluster"])
def test_deleting_a_single_record_is_a_break_exactly_at_that_row(demo_archive, cluster_archive,
                                                                  tmp_path, in_cluster):
    archive = cluster_archive if in_cluster else demo_archive
    chains = records_by_chain(archive)
    samples = _samples(chains, in_cluster)
    if not in_cluster:
        # every stream with a row inside a chain: the demo's tax records are short chains
        sampled = {chain[1:3] for chain, _ in samples}
        assert {("financial-records", c) for c in ("SPOT", "MARGIN", "USDT-FUTURES", "COIN-FUTURES",
                                                   "USDC-FUTURES", "OTHER")} <= sampled
        assert ("funding-records", "FUNDING") in sampled
        assert any(stream == "tax-records" for stream, _ in sampled)
    for n, (chain, k) in enumerate(samples):
        rows = chains[chain]
        db = _copy(archive, tmp_path, f"deleted-{n}")
        _delete_record(db, *chain[:3], rows[k][1])
        done = run(db, "--json")
        assert done.returncode == 1, (chain, k)
        doc = json.loads(done.stdout)
        assert doc["breaks"] == 1, (chain, k, doc["breaks"])
        (found,) = [c for c in stream_of(doc, *chain[:3])["chains"] if (c["category"], c["coin"]) == chain[3:]]
        (brk,) = found["breaks"]
        assert (brk["before_id"], brk["after_id"]) == (rows[k - 1][1], rows[k + 1][1]), (chain, k)
        assert (brk["before_ms"], brk["after_ms"]) == (rows[k - 1][0], rows[k + 1][0])
        assert Decimal(brk["difference"]) == rows[k][2]
        summary = done.stderr.strip().splitlines()
        assert len(summary) == 1 and summary[0].startswith("verify: 1 break in 1 of ")
        assert f"bitget {chain[0]} {chain[1]} {chain[2]} {chain[4]}" in summary[0]


def test_a_break_in_the_terminal_view_and_its_exit_code(demo_archive, tmp_path):
    chains = records_by_chain(demo_archive)
    chain, k = _samples(chains)[0]
    rows = chains[chain]
    db = _copy(demo_archive, tmp_path, "terminal")
    _delete_record(db, *chain[:3], rows[k][1])
    done = run(db)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines[:-1]), done.stdout   # the summary: one line
    assert lines[-1].startswith("verify: 1 break in 1 of ")
    assert any(line.startswith("  BROKEN  ") for line in lines)
    at = lines.index(f"bitget {chain[0]} {chain[1]} {chain[2]}:")
    assert lines[at + 1] == f"  - 1 break in 1 of {sum(1 for c in chains if c[:3] == chain[:3])} balance chains"
    assert lines[at + 2].startswith(f"  break in {chain[3]} {chain[4]}: after {rows[k - 1][1]} (")
    assert lines[at + 3].startswith(f"    at {rows[k + 1][1]} (")
    assert lines[at + 4].endswith(f", difference {canonical_decimal(rows[k][2])}")


def test_a_record_whose_entries_are_lost_is_a_problem(demo_archive, tmp_path):
    chains = records_by_chain(demo_archive)
    chain, k = _samples(chains)[0]
    record_id = chains[chain][k][1]
    db = _copy(demo_archive, tmp_path, "entries-lost")
    _delete_record(db, *chain[:3], record_id, entries_only=True)
    done = run(db, "--json")
    assert done.returncode == 1
    problems = stream_of(json.loads(done.stdout), *chain[:3])["problems"]
    assert any("1 records without entries" in p and record_id in p for p in problems), problems


def _coinw_settled(db: Path) -> tuple[str, str, str, str]:
    """(account, partition, record id, stream id) of a settled CoinW record."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT s.account, s.partition, e.record_id, s.id FROM entries e JOIN streams s ON s.id = e.stream_id "
            "WHERE s.exchange = 'coinw' AND e.kind = 'realized_pnl' ORDER BY e.record_id LIMIT 1").fetchone()
    return row


def test_a_coinw_entry_changed_is_a_problem(demo_archive, tmp_path):
    db = _copy(demo_archive, tmp_path, "coinw-changed")
    account, partition, record_id, sid = _coinw_settled(db)
    with sqlite3.connect(db) as conn:
        (amount,) = conn.execute("SELECT amount FROM entries WHERE stream_id=? AND record_id=? AND seq=0",
                                 (sid, record_id)).fetchone()
        conn.execute("UPDATE entries SET amount=? WHERE stream_id=? AND record_id=? AND seq=0",
                     (str(Decimal(amount) + Decimal("0.00000001")), sid, record_id))
    done = run(db, "--json")
    assert done.returncode == 1
    problems = stream_of(json.loads(done.stdout), account, "deals-history", partition)["problems"]
    assert problems == [f"1 records whose entries do not sum to their netProfit: {record_id}"]
    assert done.stderr.startswith("verify: 1 other problem in 1 of ")


def test_a_coinw_id_in_two_instruments_is_a_duplicate(demo_archive, tmp_path):
    db = _copy(demo_archive, tmp_path, "coinw-twice")
    account, partition, record_id, sid = _coinw_settled(db)
    with sqlite3.connect(db) as conn:
        (other, other_partition) = conn.execute(
            "SELECT id, partition FROM streams WHERE exchange='coinw' AND account=? AND id != ? ORDER BY id LIMIT 1",
            (account, sid)).fetchone()
        conn.execute("INSERT INTO records SELECT ?, record_id, ts, raw, mutable, version, written_ms "
                     "FROM records WHERE stream_id=? AND record_id=?", (other, sid, record_id))
        conn.execute("INSERT INTO entries SELECT ?, record_id, seq, account, ts, kind, coin, amount, balance, "
                     "category, symbol, exchange_type FROM entries WHERE stream_id=? AND record_id=?",
                     (other, sid, record_id))
        # inside the other stream's coverage, so only the duplicate is wrong
        (ts,) = conn.execute("SELECT ts FROM records WHERE stream_id=? AND record_id=?", (sid, record_id)).fetchone()
        conn.execute("INSERT OR IGNORE INTO coverage VALUES (?, ?, ?)", (other, ts, ts + 1))
    doc = json.loads(run(db, "--json").stdout)
    for part in (partition, other_partition):
        problems = stream_of(doc, account, "deals-history", part)["problems"]
        assert any("also archived in another CoinW stream" in p and record_id in p for p in problems), problems


def test_json_is_the_library_verification(demo_archive):
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        expected = render.to_json(verify(archive, Filters.of(account="bitget-1")))
    assert json.loads(run(demo_archive, "--json", "-a", "bitget-1").stdout) == expected
    assert {s["account"] for s in expected["streams"]} == {"bitget-1"}


def test_verify_refuses_an_unknown_account(demo_archive):
    done = run(demo_archive, "-a", "nobody")
    assert done.returncode == 1 and done.stderr.startswith("cexledger: error: no account 'nobody'")
    assert "Traceback" not in done.stderr


def test_postgresql_gives_the_same_verdict(postgres_url, tmp_path):
    # the same sandbox history synced by the real CLI into both backends
    lite = tmp_path / "lite.db"
    for db in (lite, postgres_url):
        done = subprocess.run([CLI, "--db", str(db), "demo", "--records", "300", "--seed", "5"],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    a, b = verdict(lite), verdict(postgres_url)
    assert a["ok"] and b["ok"]

    def shape(doc: dict) -> list:
        return [(s["account"], s["stream"], s["partition"], s["records"], s["checks"],
                 [(c["category"], c["coin"], c["rows"], len(c["stretches"])) for c in s["chains"]])
                for s in doc["streams"]]
    assert shape(a) == shape(b)


def test_entries_an_older_cexledger_derived_are_refused_with_the_fix(demo_archive, tmp_path):
    db = _copy(demo_archive, tmp_path, "older")
    with sqlite3.connect(db) as conn:
        assert conn.execute("DELETE FROM stream_meta WHERE name = 'normalizer_version'").rowcount
    done = run(db)
    assert done.returncode == 1 and not done.stdout
    (line,) = done.stderr.splitlines()
    assert "derived by an older cexledger" in line and "run `cexledger reparse`" in line


def test_entries_without_their_record_and_records_outside_coverage_are_problems(demo_archive, tmp_path):
    db = _copy(demo_archive, tmp_path, "orphans")
    with sqlite3.connect(db) as conn:
        sid, partition, account = conn.execute(
            "SELECT id, partition, account FROM streams WHERE exchange = 'coinw' AND partition = 'BTC'").fetchone()
        conn.execute("INSERT INTO entries SELECT stream_id, 'no-such-record', seq, account, ts, kind, coin, amount, "
                     "balance, category, symbol, exchange_type FROM entries WHERE stream_id = ? "
                     "ORDER BY record_id LIMIT 1", (sid,))
        (start, end) = conn.execute("SELECT start_ms, end_ms FROM coverage WHERE stream_id = ? "
                                    "ORDER BY end_ms - start_ms DESC LIMIT 1", (sid,)).fetchone()
        inside = conn.execute("SELECT count(*) FROM records WHERE stream_id = ? AND ts >= ? AND ts < ?",
                              (sid, start, end)).fetchone()[0]
        conn.execute("DELETE FROM coverage WHERE stream_id = ? AND start_ms = ?", (sid, start))
    assert inside
    done = run(db, "--json")
    assert done.returncode == 1
    problems = stream_of(json.loads(done.stdout), account, "deals-history", partition)["problems"]
    assert problems[0] == "entries of 1 records that are not archived: no-such-record"
    assert problems[1].startswith(f"{inside} records outside the stream's coverage")


def test_a_time_range_in_the_filters_still_checks_whole_streams(demo_archive):
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        whole = render.to_json(verify(archive, Filters.of(account="bitget-1")))
        year = render.to_json(verify(archive, Filters.of(account="bitget-1", since="2026-06-01",
                                                           until="2026-07-01")))
    assert year == whole and whole["ok"]
