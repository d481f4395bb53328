"""Bitget's funding wallet (stream ``funding-records``), end to end: the real CLI against the
sandbox over HTTP. Also a classic (non-UTA) Bitget account, which every UTA endpoint refuses."""

from __future__ import annotations

import csv
import io
import sqlite3
from decimal import Decimal

import pytest

from .conftest import by_id, kill_sync_midway

STREAM = "funding-records"
ACC = "bitget-1"


def expected_kind(row: dict) -> str:
    """The kind a funding row must get, from the sandbox's own (groupType, type, sign)."""
    group, type_, amount = row["groupType"], row["type"], Decimal(str(row["amount"]))
    if type_ == "":
        # an inflow under withdraw is money moved in from the trading account
        return "transfer" if group == "withdraw" and amount > 0 else {"withdraw": "withdrawal"}[group]
    return {"deposit": "deposit", "withdraw": "withdrawal", "transfer_in": "transfer",
            "transfer_out": "transfer"}[type_]


def assert_funding_equals_truth(sb, cli, account: str = ACC) -> dict:
    """The archive's funding stream is exactly the sandbox's truth: ids, raw rows, and each
    entry's amount, balance (Decimal) and kind. Returns the truth."""
    truth = sb.truth("bitget", account, stream=STREAM)
    assert truth, "the sandbox served no funding rows: the test would prove nothing"
    got = by_id(cli.export_jsonl(), "bitget", account, stream=STREAM)
    missing, extra = truth.keys() - got.keys(), got.keys() - truth.keys()
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} extra"
    for rid, row in truth.items():
        assert got[rid] == row, f"funding record {rid} differs"
    entries = [e for e in csv.DictReader(io.StringIO(cli.run("export", "--format", "csv", check=True).stdout))
               if e["stream"] == STREAM and e["account"] == account]
    assert len(entries) == len(truth)
    for e in entries:
        row = truth[e["record_id"]]
        assert Decimal(e["amount"]) == Decimal(str(row["amount"]))
        assert Decimal(e["balance"]) == Decimal(str(row["balance"]))
        assert e["seq"] == "0"              # one entry per row: the endpoint reports no fee
        assert e["category"] == "FUNDING" and e["coin"] == row["coin"]
        assert e["kind"] == expected_kind(row), (e, row)
    return truth


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_full_sync_archives_the_funding_truth(sandbox_factory, cli_for, dialect):
    sb = sandbox_factory("--records", "1000", "--funding-records", "600", "--coinw-accounts", "0",
                         "--dialect", dialect, "--seed", "11")
    cli = cli_for(sb)
    proc = cli.run("sync", check=True)
    assert STREAM in proc.stdout
    truth = assert_funding_equals_truth(sb, cli)
    # the data really holds every kind, the empty type among them
    assert {(r["groupType"], r["type"]) for r in truth.values()} >= {
        ("deposit", "deposit"), ("withdraw", "withdraw"), ("transfer", "transfer_in"),
        ("transfer", "transfer_out"), ("withdraw", "")}
    status = cli.run("status", check=True).stdout
    assert f"{ACC} · bitget {STREAM}" in status
    funding_line = next(line for line in status.splitlines() if line.startswith("FUNDING"))
    assert str(len(truth)) in funding_line and "→" in funding_line, funding_line


def test_incremental_sync_fetches_only_appended_rows(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "500", "--funding-records", "300", "--coinw-accounts", "0")
    cli = cli_for(sb)
    cli.run("sync", check=True)
    before = cli.export_jsonl()
    appended = sb.post("/_sandbox/append", {"exchange": "bitget", "account": ACC, "count": 40,
                                            "stream": STREAM})["ids"]
    assert len(appended) == 40
    cli.run("sync", check=True)
    after = cli.export_jsonl()
    key = lambda line: (line["stream"], line["id"])  # noqa: E731
    old = {key(line): line for line in before}
    new = {key(line): line for line in after}
    assert set(new) - set(old) == {(STREAM, str(i)) for i in appended}
    assert all(new[k] == v for k, v in old.items()), "an earlier record changed"
    assert_funding_equals_truth(sb, cli)


@pytest.mark.parametrize("kill_after", [2, 12])
def test_killed_midway_then_rerun_is_uninterrupted(sandbox_factory, cli_for, kill_after):
    sb = sandbox_factory("--records", "300", "--funding-records", "3000", "--coinw-accounts", "0",
                         "--latency-ms", "60")
    cli = cli_for(sb)
    kill_sync_midway(cli, sb, kill_after)
    cli.run("sync", check=True)
    assert_funding_equals_truth(sb, cli)


def test_faults_429s_and_latency_lose_no_rows(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "400", "--funding-records", "1200", "--coinw-accounts", "0",
                         "--faults", "0.15", "--latency-ms", "30", "--seed", "5")
    sb.post("/_sandbox/inject", {"exchange": "bitget", "account": ACC, "kind": "rate_limited",
                                 "count": 4})
    cli = cli_for(sb, timeout=5)
    for _ in range(3):
        if cli.run("sync").returncode == 0:
            break
    else:
        pytest.fail("sync never completed under 15% faults")
    stats = sb.stats()
    assert stats["faults"] > 0, "the sandbox injected no faults: the test proved nothing"
    funding_log = [e for e in sb.http.get("/_sandbox/requests", params={
        "exchange": "bitget", "account": ACC, "path": "/api/v3/account/funding-financial-records"}).json()["requests"]]
    assert any(e["kind"] is not None for e in funding_log), "no funding request met a fault"
    assert_funding_equals_truth(sb, cli)


def max_per_second(times: list[float]) -> int:
    """The most requests in any 1-second window."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= 1.0:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_funding_has_its_own_rate_budget(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "12000", "--funding-records", "4000", "--coinw-accounts", "0")
    cli = cli_for(sb)
    cli.run("sync", check=True)
    log = sb.http.get("/_sandbox/requests", params={"exchange": "bitget", "account": ACC}).json()["requests"]
    funding = [e for e in log if e["path"] == "/api/v3/account/funding-financial-records"]
    financial = [e for e in log if e["path"] == "/api/v3/account/financial-records"]
    assert len(funding) >= 40 and len(financial) >= 100
    refused = [(e["path"], e["status"], e["arrived"]) for e in funding + financial
               if e["status"] != "200"]
    assert not refused, f"requests were refused: {refused}"
    assert max_per_second([e["arrived"] for e in funding]) <= 10
    # financial records run at their own 20/s beside it: faster than the funding budget allows
    assert 10 < max_per_second([e["arrived"] for e in financial]) <= 20
    # and in the same time: the two streams overlap
    assert min(e["arrived"] for e in funding) < max(e["arrived"] for e in financial)
    assert min(e["arrived"] for e in financial) < max(e["arrived"] for e in funding)
    assert_funding_equals_truth(sb, cli)


def test_classic_account_gets_one_line_and_others_sync(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "300", "--classic-accounts", "bitget-1")
    cli = cli_for(sb)
    proc = cli.run("sync")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("cexledger: error:")]
    assert len(errors) == 1, proc.stderr
    assert "bitget-1" in errors[0] and "classic" in errors[0] and "Unified Trading" in errors[0], errors[0]
    lines = cli.export_jsonl()
    assert not [line for line in lines if line["account"] == "bitget-1"], "a classic account wrote rows"
    with sqlite3.connect(cli.db) as db:
        for table in ("records", "coverage", "checkpoints"):
            written = db.execute(f"SELECT count(*) FROM {table} JOIN streams ON streams.id = stream_id "
                                 "WHERE account = 'bitget-1'").fetchone()[0]
            assert written == 0, f"{written} {table} rows for a classic account"
    coinw = sb.accounts("coinw")[0]["name"]
    assert by_id(lines, "coinw", coinw) == sb.truth("coinw", coinw)
