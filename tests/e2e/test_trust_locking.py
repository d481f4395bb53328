"""Issue 8 item 15: one sync per account at a time, across processes (SQLite and PostgreSQL).

Two real ``cexledger sync`` processes against one sandbox. The sandbox's ``hold`` setting
keeps the first run mid-flight (its requests wait on arrival) while the test looks at the
second: synchronisation on observable state, never on sleeps.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass

import pytest

from cexledger.archive import Archive

from .conftest import Cli, Sandbox, wait_for
from .test_bitget_e2e import assert_archive_equals_truth

BITGET_PATH = "/api/v3/account/financial-records"


@dataclass
class UrlCli(Cli):
    """A ``Cli`` whose archive is any database URL (here: PostgreSQL)."""

    url: str = ""

    @property
    def db_url(self) -> str:
        return self.url or f"sqlite:///{self.db}"


@pytest.fixture(params=["sqlite", "postgresql"])
def make_cli(request, cli_for):
    def make(sb: Sandbox, accounts: list[dict] | None = None) -> Cli:
        cli = cli_for(sb, accounts)
        url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else ""
        return UrlCli(cli.tmp, cli.config, cli.db, url=url)

    return make


class Lines:
    """Collects a process's stderr lines as they come (a reader thread)."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def join(self) -> list[str]:
        self._thread.join()
        return self.lines


def _hold(sb: Sandbox, on: bool) -> None:
    sb.post("/_sandbox/settings", {"hold": on})


def _started(sb: Sandbox, exchanges: set[str]) -> bool:
    """Whether a request of every one of ``exchanges`` has arrived (its account is locked)."""
    paths = sb.stats()["by_path"]
    seen = {"bitget" if path == BITGET_PATH else "coinw" for path in paths}
    return exchanges <= seen


def _finish(proc: subprocess.Popen, lines: Lines) -> tuple[int, str, list[str]]:
    stdout, _ = proc.communicate()
    return proc.returncode, stdout, lines.join()


def test_a_second_sync_waits_for_the_first_and_does_only_the_new_work(sandbox_factory, make_cli):
    sb = sandbox_factory("--records", "4000", "--bitget-accounts", "1", "--coinw-accounts", "1",
                         "--latency-ms", "20", "--instruments", "BTC,ETH")
    # Every request in flight waits while the test holds the answers; released together, the
    # sandbox's own processing bunches the arrival of the next ones: keep the clients at half
    # the sandbox's limits (Bitget 20/s, CoinW 5/s) so that artefact cannot show as a 429
    half = {"bitget": 10, "coinw": 2.5}
    accounts = [dict(a, rate_limit=half[a["exchange"]]) for a in sb.accounts()]
    cli = make_cli(sb, accounts)
    _hold(sb, True)
    first = cli.popen("sync", "--quiet")
    first_err = Lines(first)
    try:
        wait_for(lambda: _started(sb, {"bitget", "coinw"}) or first.poll() is not None,
                 what="the first sync's first requests")
        assert first.poll() is None, first_err.join()
        second = cli.popen("sync", "--quiet")
        second_err = Lines(second)
        wait_for(lambda: len([x for x in second_err.lines if x.startswith("waiting")]) == 2
                 or second.poll() is not None, what="the second sync's waiting lines")
    finally:
        _hold(sb, False)
    rc1, _, err1 = _finish(first, first_err)
    rc2, out2, err2 = _finish(second, second_err)
    assert (rc1, rc2) == (0, 0), (err1, err2)
    assert sorted(err2) == [
        "waiting for account 'bitget-1': another cexledger process is syncing it",
        "waiting for account 'coinw-1': another cexledger process is syncing it",
    ]
    assert not err1

    stats = sb.stats()
    with Archive.open(cli.db_url) as archive:
        runs = archive.last_runs(10)
    assert stats["rate_limited"] == 0, (stats, [(r["account"], r["started_ms"], r["stats"]) for r in runs])
    assert len(runs) == 4
    for account in ("bitget-1", "coinw-1"):
        backfill, incremental = sorted(r["stats"]["requests"] for r in runs if r["account"] == account)[::-1]
        assert incremental * 3 <= backfill, (account, backfill, incremental)   # the work was done once
    assert stats["requests"] <= sum(r["stats"]["requests"] for r in runs)   # nothing else asked
    assert assert_archive_equals_truth(sb, cli, "bitget") and assert_archive_equals_truth(sb, cli, "coinw")


def test_wait_zero_skips_a_busy_account_at_once(sandbox_factory, make_cli):
    sb = sandbox_factory("--records", "300", "--bitget-accounts", "1", "--coinw-accounts", "0")
    cli = make_cli(sb)
    _hold(sb, True)
    first = cli.popen("sync", "--quiet")
    first_err = Lines(first)
    try:
        wait_for(lambda: _started(sb, {"bitget"}) or first.poll() is not None,
                 what="the first sync's first request")
        assert first.poll() is None, first_err.join()
        second = cli.popen("sync", "--quiet", "--wait", "0")
        second_err = Lines(second)
        wait_for(lambda: second.poll() is not None, what="the second sync to end")
    finally:
        _hold(sb, False)
    rc2, _, err2 = _finish(second, second_err)
    assert rc2 == 1
    assert err2 == ["cexledger: error: account 'bitget-1': another cexledger process is syncing it "
                    "(--wait 0); skipped — run again later"]
    rc1, _, err1 = _finish(first, first_err)
    assert rc1 == 0, err1
    assert_archive_equals_truth(sb, cli, "bitget")
