"""CoinW futures transaction details, end to end: real CLI, real sandbox, real HTTP."""

from __future__ import annotations


import pytest

from cexledger import _json
from cexledger.archive import Archive
from cexledger.model import StreamKey

from .conftest import by_id, kill_sync_midway
from .test_bitget_e2e import assert_archive_equals_truth


@pytest.mark.parametrize("dialect", ["standard", "variant"])
def test_full_sync_matches_ground_truth(sandbox_factory, cli_for, dialect):
    sb = sandbox_factory("--records", "1200", "--bitget-accounts", "0", "--coinw-accounts", "2",
                         "--dialect", dialect, "--seed", "5")
    accounts = sb.accounts("coinw")
    # coinw-1 takes its instruments from the public list, coinw-2 from its config
    accounts[1]["instruments"] = ["btc", "ETH", "SOL", "1000pepe"]
    cli = cli_for(sb, accounts)
    proc = cli.run("sync", check=True)
    assert "public list" in proc.stdout and "config" in proc.stdout
    assert assert_archive_equals_truth(sb, cli, "coinw") >= 2000

    lines = cli.export_jsonl()
    big = [line for line in lines if int(line["id"]) > 2**53]
    assert big, "no id above 2^53 in the data"
    for line in big[:50]:
        # the variant writes some ids as JSON strings (as CoinW does on other endpoints)
        kinds = (int, str) if dialect == "variant" else int
        assert isinstance(line["raw"]["id"], kinds) and str(line["raw"]["id"]) == line["id"]
    status = cli.run("status", check=True).stdout
    for instrument in ("BTC", "ETH", "SOL", "1000PEPE"):
        assert instrument in status


def test_changed_rows_updated_and_history_kept(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "800", "--bitget-accounts", "0", "--coinw-accounts", "1")
    cli = cli_for(sb, instruments=["BTC", "ETH", "SOL", "1000PEPE"])
    cli.run("sync", check=True)
    changed = sb.post("/_sandbox/mutate", {"exchange": "coinw", "account": "coinw-1", "count": 5})["ids"]
    assert changed, "the sandbox had no open position to close"
    sb.reset_stats()
    # open positions are re-read on a schedule (hourly); the flag re-reads them all now
    proc = cli.run("sync", "--recheck-open", check=True)
    assert_archive_equals_truth(sb, cli, "coinw")
    assert "updated" in proc.stdout

    lines = {line["id"]: line for line in cli.export_jsonl()}
    with Archive.open(cli.db_url) as archive:
        run = archive.last_runs(1)[0]
        assert run["stats"]["updated"] == len(changed) and run["stats"]["new"] == 0
        for rid in map(str, changed):
            row = lines[rid]["raw"]
            key = StreamKey("coinw-1", "coinw", "deals-history", row["instrument"].upper())
            kept = [_json.loads(v) for v in archive.versions(key, rid)]
            truth_versions = sb.http.get("/_sandbox/versions", params={
                "exchange": "coinw", "account": "coinw-1", "id": rid}).json()["versions"]
            assert len(kept) == len(truth_versions) >= 2
            assert kept[0]["status"] == "open" and kept[-1]["status"] == "close"


PAGE = 100


def open_positions_by_depth(sb, account: str = "coinw-1") -> dict[str, int]:
    """id -> index in its instrument's newest-first list, for every open position (truth),
    oldest position first (the order in which ``/_sandbox/mutate`` closes them)."""
    by_instrument: dict[str, list[tuple[int, int, str]]] = {}
    for rid, row in sb.truth("coinw", account).items():
        by_instrument.setdefault(str(row["instrument"]).upper(), []).append(
            (int(row["createdDate"]), int(rid), str(row["status"]).lower()))
    found = []
    for rows in by_instrument.values():
        rows.sort(reverse=True)
        found += [(created, rid, i) for i, (created, rid, status) in enumerate(rows) if status == "open"]
    return {str(rid): i for _, rid, i in sorted(found)}


def test_resync_rechecks_deep_open_positions_only_on_schedule_or_when_asked(sandbox_factory, cli_for):
    instruments = ["BTC", "ETH", "SOL", "1000PEPE"]
    sb = sandbox_factory("--records", "4000", "--bitget-accounts", "0", "--coinw-accounts", "1",
                         "--dense-share", "0.9", "--seed", "1")
    depth = open_positions_by_depth(sb)
    assert max(depth.values()) >= 2 * PAGE, "no open position beyond page 2: the test would prove nothing"
    cli = cli_for(sb, instruments=instruments)
    cli.run("sync", check=True)
    first = cli.export_jsonl()

    # (a) nothing new: one request per stream, although open positions sit pages deep
    sb.reset_stats()
    cli.run("sync", check=True)
    stats = sb.stats()
    assert stats["requests"] <= len(instruments), f"re-sync with nothing new made {stats['requests']} requests"
    assert cli.export_jsonl() == first, "a re-sync with nothing new changed the archive"

    # (b) positions close deep in the list: mutate closes the oldest open ones first, so
    # close as many as lead that order while they sit beyond page 1
    oldest_first = list(depth.items())
    count = min(5, next((n for n, (_, i) in enumerate(oldest_first) if i < PAGE), len(oldest_first)))
    assert count >= 3, f"oldest open positions at depths {[i for _, i in oldest_first[:5]]}"
    closed = [str(i) for i in sb.post("/_sandbox/mutate", {"exchange": "coinw", "account": "coinw-1",
                                                          "count": count})["ids"]]
    assert closed == [rid for rid, _ in oldest_first[:count]]
    sb.reset_stats()
    cli.run("sync", check=True)                       # inside the hour: not chased
    assert sb.stats()["requests"] <= len(instruments)
    still = {line["id"]: line["raw"] for line in cli.export_jsonl()}
    assert all(still[rid]["status"] == "open" for rid in closed)
    with Archive.open(cli.db_url) as archive:
        assert archive.last_runs(1)[0]["stats"]["updated"] == 0

    sb.reset_stats()
    cli.run("sync", "--recheck-open", check=True)     # asked: re-read down to the deepest one
    pages_needed = max(depth[rid] for rid in closed) // PAGE + 1
    assert sb.stats()["requests"] >= pages_needed
    assert_archive_equals_truth(sb, cli, "coinw")
    with Archive.open(cli.db_url) as archive:
        assert archive.last_runs(1)[0]["stats"]["updated"] == len(closed)


def test_rows_arriving_mid_sync_cause_no_loss_and_no_duplicate(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "1500", "--bitget-accounts", "0", "--coinw-accounts", "1",
                         "--churn", "0.3", "--dense-share", "0.8")
    before = set(sb.truth("coinw", "coinw-1"))
    cli = cli_for(sb, instruments=["BTC", "ETH", "SOL", "1000PEPE"])
    cli.run("sync", check=True)
    got = by_id(cli.export_jsonl(), "coinw", "coinw-1")      # fails on any duplicate id
    assert before <= set(got), f"{len(before - set(got))} rows that existed at the start were lost"
    assert len(set(sb.truth("coinw", "coinw-1"))) > len(before), "no rows arrived during the sync"
    sb.post("/_sandbox/settings", {"churn": 0.0})
    # churn also closed positions already read: only a recheck is sure to see them again
    cli.run("sync", "--recheck-open", check=True)
    assert_archive_equals_truth(sb, cli, "coinw")


def test_faults_converge_to_truth(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "900", "--bitget-accounts", "0", "--coinw-accounts", "1",
                         "--faults", "0.15", "--seed", "11")
    cli = cli_for(sb, instruments=["BTC", "ETH", "SOL", "1000PEPE"], timeout=5)
    for _ in range(3):
        if cli.run("sync").returncode == 0:
            break
    else:
        pytest.fail("sync never completed under 15% faults")
    assert sb.stats()["faults"] > 0
    assert_archive_equals_truth(sb, cli, "coinw")


def test_sigkill_mid_sync_then_resync_converges(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "3000", "--bitget-accounts", "0", "--coinw-accounts", "1",
                         "--latency-ms", "40", "--dense-share", "0.8")
    cli = cli_for(sb, instruments=["BTC", "ETH", "SOL", "1000PEPE"])
    kill_sync_midway(cli, sb, 8)
    cli.run("sync", check=True)
    assert_archive_equals_truth(sb, cli, "coinw")


def test_wrong_key_is_one_line_naming_the_account(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "100", "--bitget-accounts", "0", "--coinw-accounts", "1")
    acc = dict(sb.accounts("coinw")[0], api_secret="not-the-secret-at-all", instruments=["BTC"])
    cli = cli_for(sb, [acc])
    proc = cli.run("sync")
    assert proc.returncode == 1
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, proc.stderr
    assert "coinw-1" in errors[0] and "6001" in errors[0]
    assert "Traceback" not in proc.stderr + proc.stdout


def test_pipelined_pass_with_faults_and_arrivals_loses_nothing(sandbox_factory, cli_for):
    # one instrument and 250 ms round trips: the pass must fetch pages ahead to keep the
    # limiter busy, while rows arrive (shifting pages) and requests fail
    sb = sandbox_factory("--records", "1500", "--bitget-accounts", "0", "--coinw-accounts", "1",
                         "--instruments", "BTC", "--latency-ms", "250", "--churn", "0.3",
                         "--faults", "0.1", "--seed", "13")
    before = set(sb.truth("coinw", "coinw-1"))
    cli = cli_for(sb, instruments=["BTC"], timeout=5)
    for _ in range(3):
        if cli.run("sync").returncode == 0:
            break
    else:
        pytest.fail("sync never completed")
    got = by_id(cli.export_jsonl(), "coinw", "coinw-1")
    assert before <= set(got), f"{len(before - set(got))} rows that existed at the start were lost"
    assert sb.stats()["faults"] > 0 and len(sb.truth("coinw", "coinw-1")) > len(before)
    sb.post("/_sandbox/settings", {"churn": 0.0, "faults": 0.0})
    cli.run("sync", "--recheck-open", check=True)   # see the test above
    assert_archive_equals_truth(sb, cli, "coinw")
