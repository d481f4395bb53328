"""Bitget financial records, end to end: real CLI, real sandbox, real HTTP."""

from __future__ import annotations

from collections import Counter

import pytest

from .conftest import by_id, kill_sync_midway

DAY_MS = 86_400_000


def assert_archive_equals_truth(sandbox, cli, exchange: str = "bitget") -> int:
    lines = cli.export_jsonl()
    total = 0
    for acc in sandbox.accounts(exchange):
        truth = sandbox.truth(exchange, acc["name"])
        got = by_id(lines, exchange, acc["name"])
        missing = truth.keys() - got.keys()
        extra = got.keys() - truth.keys()
        assert not missing and not extra, f"{acc['name']}: {len(missing)} missing, {len(extra)} extra"
        for rid, row in truth.items():
            assert got[rid] == row, f"{acc['name']} record {rid} differs"
        total += len(truth)
    return total


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_full_sync_matches_ground_truth(sandbox_factory, cli_for, dialect):
    sb = sandbox_factory("--records", "3000", "--bitget-accounts", "2", "--coinw-accounts", "0",
                         "--dialect", dialect, "--seed", "7")
    cli = cli_for(sb)
    proc = cli.run("sync", check=True)
    assert "bitget-1" in proc.stdout and "bitget-2" in proc.stdout
    assert assert_archive_equals_truth(sb, cli) >= 5000

    # the generator's hard cases are really in the data the test compared
    truth = sb.truth("bitget", "bitget-1")
    ts_counts = Counter(int(r["ts"]) for r in truth.values())
    assert max(ts_counts.values()) >= 250, "no large same-timestamp cluster"
    assert any(ts % (30 * DAY_MS) == 0 for ts in ts_counts), "no row on a 30-day grid boundary"
    categories = {cat for cat in (r.get("category") for r in truth.values())}
    assert len(categories) >= 6

    status = cli.run("status", check=True)
    assert "USDT-FUTURES" in status.stdout and "financial-records" in status.stdout


def test_resync_changes_nothing_and_incremental_fetches_only_new(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "2000", "--bitget-accounts", "1", "--coinw-accounts", "0")
    cli = cli_for(sb)
    cli.run("sync", check=True)
    first = cli.export_jsonl()

    sb.reset_stats()
    cli.run("sync", check=True)
    assert cli.export_jsonl() == first, "a re-sync with nothing new changed the archive"
    quiet_requests = sb.stats()["requests"]
    assert quiet_requests <= 2 * 6, f"re-sync with nothing new made {quiet_requests} requests"

    appended = sb.post("/_sandbox/append", {"exchange": "bitget", "account": "bitget-1", "count": 150})["ids"]
    assert len(appended) == 150
    sb.reset_stats()
    proc = cli.run("sync", check=True)
    requests = sb.stats()["requests"]
    # one window per category (two where the newest range crosses a 30-day grid line),
    # plus the pages the 150 new rows need
    assert requests <= 2 * 6 + 4, f"incremental sync made {requests} requests"
    after = cli.export_jsonl()
    assert len(after) == len(first) + 150
    assert {line["id"] for line in after} - {line["id"] for line in first} == set(map(str, appended))
    assert "150" in proc.stdout
    assert_archive_equals_truth(sb, cli)


def test_faults_converge_to_truth(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "1500", "--bitget-accounts", "1", "--coinw-accounts", "0",
                         "--faults", "0.15", "--seed", "3")
    cli = cli_for(sb, timeout=5)
    for _ in range(3):
        if cli.run("sync").returncode == 0:
            break
    else:
        pytest.fail("sync never completed under 15% faults")
    stats = sb.stats()
    assert stats["faults"] > 0, "the sandbox injected no faults: the test proved nothing"
    assert_archive_equals_truth(sb, cli)


@pytest.mark.parametrize("kill_after", [3, 30])
def test_sigkill_mid_sync_then_resync_converges(sandbox_factory, cli_for, kill_after):
    sb = sandbox_factory("--records", "8000", "--bitget-accounts", "1", "--coinw-accounts", "0",
                         "--latency-ms", "60", "--dense-share", "0.9")
    cli = cli_for(sb)
    kill_sync_midway(cli, sb, kill_after)
    cli.run("sync", check=True)
    assert_archive_equals_truth(sb, cli)
