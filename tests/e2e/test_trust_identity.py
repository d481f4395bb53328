"""Issue 8 item 1: the archive knows whose it is (real CLI against the sandbox over HTTP).

An archived account name pointed at another user's keys or at another base URL is refused in
one line with nothing written; a new key of the same user (a rotation) just works.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.demo import write_sandbox_config
from cexledger.identity import key_fingerprint

from .conftest import Cli, Sandbox, by_id

NAME = "main"


def _point(cli: Cli, sb: Sandbox, creds: dict, base_url: str | None = None) -> None:
    """Rewrite the config: account ``main`` with these credentials (and base URL)."""
    account = {k: v for k, v in creds.items() if k in ("exchange", "api_key", "api_secret", "passphrase")}
    write_sandbox_config(cli.config, base_url or sb.url, [dict(account, name=NAME)])


def _snapshot(cli: Cli) -> tuple[str, list[dict], list[dict]]:
    """What a user sees of the archive: status, every record, every logged run."""
    status = cli.run("status", check=True).stdout
    with Archive.open(cli.db_url, create=False) as archive:
        runs = archive.last_runs(1000)
    return status, cli.export_jsonl(), runs


def _dump(cli: Cli) -> dict[str, list[tuple]]:
    """Every row of every table of the archive, sorted: what a refused sync must not change."""
    conn = sqlite3.connect(f"file:{cli.db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def _archived(cli: Cli, sb: Sandbox, exchange: str, sandbox_name: str) -> None:
    """The archive holds exactly the sandbox's truth of ``sandbox_name`` under ``main``."""
    truth = sb.truth(exchange, sandbox_name)
    got = by_id(cli.export_jsonl(), exchange, NAME)
    assert got.keys() == truth.keys()
    for rid, row in truth.items():
        assert got[rid] == row, f"record {rid} differs"


def _synced(sandbox_factory, cli_for, exchange: str, records: str = "400") -> tuple[Sandbox, Cli, list[dict]]:
    counts = ["--bitget-accounts", "2", "--coinw-accounts", "0"] if exchange == "bitget" else \
             ["--bitget-accounts", "0", "--coinw-accounts", "2"]
    sb = sandbox_factory("--records", records, *counts, "--instruments", "BTC,ETH")
    users = sb.accounts(exchange)
    cli = cli_for(sb, [])
    _point(cli, sb, users[0])
    cli.run("sync", "--quiet", check=True)
    return sb, cli, users


@pytest.mark.parametrize("exchange", ["bitget", "coinw"])
def test_another_users_keys_under_an_archived_name_are_refused(sandbox_factory, cli_for, exchange):
    sb, cli, (user_a, user_b) = _synced(sandbox_factory, cli_for, exchange)
    before = _snapshot(cli)
    assert before[1], "account A archived nothing"
    tables = _dump(cli)

    _point(cli, sb, user_b)
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("cexledger: error: account 'main': "), line
    assert "another exchange user" in line or "reaches exchange user" in line, line
    assert "own account name" in line and "--accept-new-identity" not in line   # proven: never offered
    assert _dump(cli) == tables         # not a row written or changed (streams, stream meta, ...)
    assert _snapshot(cli) == before     # nothing of B written, status and run log unchanged
    b_ids = set(sb.truth(exchange, user_b["name"]))
    assert not b_ids & set(by_id(cli.export_jsonl(), exchange, NAME))


def test_accepting_another_bitget_user_backfills_in_full(sandbox_factory, cli_for):
    """--accept-new-identity does not trust the old coverage for that run: nothing is skipped."""
    sb, cli, (user_a, user_b) = _synced(sandbox_factory, cli_for, "bitget")
    _point(cli, sb, user_b)
    proc = cli.run("sync", "--quiet", "--accept-new-identity", NAME)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    b_ids = set(sb.truth("bitget", user_b["name"]))
    assert b_ids <= set(by_id(cli.export_jsonl(), "bitget", NAME))
    sb.reset_stats()
    cli.run("sync", "--quiet", check=True)      # later runs trust coverage again
    assert sb.stats()["requests"] <= 12


def test_accepting_never_overrides_a_coinw_user_id(sandbox_factory, cli_for):
    sb, cli, (user_a, user_b) = _synced(sandbox_factory, cli_for, "coinw")
    tables = _dump(cli)
    _point(cli, sb, user_b)
    proc = cli.run("sync", "--quiet", "--accept-new-identity", NAME)
    assert proc.returncode == 1
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "never overrides the exchange's user id" in lines[0], proc.stderr
    assert "--accept-new-identity main" not in lines[0]
    assert _dump(cli) == tables


def test_a_network_failure_before_evidence_is_not_a_refusal(sandbox_factory, cli_for):
    sb, cli, (user_a, _) = _synced(sandbox_factory, cli_for, "bitget", records="100")
    tables = _dump(cli)
    _point(cli, sb, sb.post("/_sandbox/keys", {"exchange": "bitget", "account": user_a["name"]}))
    sb.stop()                       # every request now fails to connect
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert "identity not yet confirmed (" in lines[0] and "work items failed: " in lines[0], lines[0]
    assert "run again" in lines[0] and "--accept-new-identity" not in lines[0]
    assert _dump(cli) == tables     # nothing recorded, not even the run


def test_base_urls_compare_normalised_and_hold_no_credentials(sandbox_factory, cli_for):
    sb, cli, (user_a, _) = _synced(sandbox_factory, cli_for, "bitget", records="50")
    host = sb.url.split("://", 1)[1]
    _point(cli, sb, user_a, base_url=f"http://{host}/")   # a trailing slash: the same URL
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with Archive.open(cli.db_url) as archive:
        assert archive.identity(NAME).base_url == sb.url.rstrip("/")
    _point(cli, sb, user_a, base_url=f"http://me:pw@{host}")
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "must not hold a user name or password" in lines[0], proc.stderr
    assert "pw" not in lines[0]


def test_an_old_coinw_archive_takes_its_user_from_the_rows(sandbox_factory, cli_for):
    sb, cli, (user_a, user_b) = _synced(sandbox_factory, cli_for, "coinw", records="100")
    with Archive.open(cli.db_url) as archive, archive._writing() as conn:
        conn.exec_driver_sql("DELETE FROM account_identities")   # as made before identities
    tables = _dump(cli)
    _point(cli, sb, user_b)
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "reaches exchange user" in lines[0], proc.stderr
    assert "--accept-new-identity" not in lines[0]
    assert _dump(cli) == tables


@pytest.mark.parametrize("exchange", ["bitget", "coinw"])
def test_another_base_url_is_refused_until_accepted(sandbox_factory, cli_for, exchange):
    sb, cli, (user_a, _) = _synced(sandbox_factory, cli_for, exchange, records="200")
    before = _snapshot(cli)
    other = sb.url.replace("127.0.0.1", "localhost")   # the same server under another name
    _point(cli, sb, user_a, base_url=other)
    sb.reset_stats()
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "base URL" in lines[0] and sb.url in lines[0] and other in lines[0], proc.stderr
    assert lines[0].startswith("cexledger: error: account 'main': the archive holds"), lines[0]   # like every other line
    assert "--accept-new-identity main" in lines[0]
    assert sb.stats()["requests"] == 0          # refused before asking the exchange anything
    assert _snapshot(cli) == before

    cli.run("sync", "--quiet", "--accept-new-identity", NAME, check=True)
    cli.run("sync", "--quiet", check=True)      # recorded: later syncs need no flag
    with Archive.open(cli.db_url) as archive:
        assert archive.identity(NAME).base_url == other


def test_accepting_an_account_not_being_synced_is_a_usage_error(sandbox_factory, cli_for):
    sb, cli, _ = _synced(sandbox_factory, cli_for, "bitget", records="50")
    proc = cli.run("sync", "--quiet", "--accept-new-identity", "nosuch")
    assert proc.returncode == 1
    assert _error_lines(proc.stderr) == [
        "cexledger: error: --accept-new-identity 'nosuch' is not an account being synced (syncing: main)"]


@pytest.mark.parametrize("exchange", ["bitget", "coinw"])
def test_a_rotated_key_of_the_same_user_just_works(sandbox_factory, cli_for, exchange):
    sb, cli, (user_a, _) = _synced(sandbox_factory, cli_for, exchange)
    with Archive.open(cli.db_url) as archive:
        first = archive.identity(NAME)
    assert first.key_fingerprint == key_fingerprint(exchange, user_a["api_key"])
    if exchange == "coinw":
        assert first.user_id is not None    # CoinW rows name their user

    rotated = sb.post("/_sandbox/keys", {"exchange": exchange, "account": user_a["name"]})
    assert rotated["api_key"] != user_a["api_key"]
    sb.post("/_sandbox/append", {"exchange": exchange, "account": user_a["name"], "count": 7})
    _point(cli, sb, rotated)
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not proc.stderr.strip()
    _archived(cli, sb, exchange, user_a["name"])
    with Archive.open(cli.db_url) as archive:
        now = archive.identity(NAME)
    assert now.key_fingerprint == key_fingerprint(exchange, rotated["api_key"])
    assert (now.base_url, now.user_id, now.created_ms) == (first.base_url, first.user_id, first.created_ms)

    # trusted again: the next sync plans from the archived coverage (incremental, cheap)
    sb.reset_stats()
    cli.run("sync", "--quiet", check=True)
    assert sb.stats()["requests"] <= 12

    # the archive holds no key, secret or passphrase of any key it was given
    blob = b"".join(p.read_bytes() for p in Path(cli.db).parent.glob(Path(cli.db).name + "*") if p.is_file())
    for creds in (user_a, rotated):
        for field in ("api_key", "api_secret", "passphrase"):
            if creds.get(field):
                assert creds[field].encode() not in blob, f"{field} found in the archive"


def test_a_new_key_without_evidence_is_refused_not_hung(sandbox_factory, cli_for):
    """An account with no rows: the new key's rows can prove nothing, so it is refused."""
    sb = sandbox_factory("--records", "0", "--bitget-accounts", "1", "--coinw-accounts", "0")
    (user,) = sb.accounts("bitget")
    cli = cli_for(sb, [])
    _point(cli, sb, user)
    cli.run("sync", "--quiet", check=True)
    before = _snapshot(cli)
    _point(cli, sb, sb.post("/_sandbox/keys", {"exchange": "bitget", "account": user["name"]}))
    proc = cli.run("sync", "--quiet")
    assert proc.returncode == 1
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and "no row falls in the archived coverage" in lines[0], proc.stderr
    assert _snapshot(cli) == before
    cli.run("sync", "--quiet", "--accept-new-identity", NAME, check=True)


def test_an_archive_without_a_recorded_identity_adopts_the_config(sandbox_factory, cli_for):
    sb, cli, (user_a, _) = _synced(sandbox_factory, cli_for, "coinw", records="100")
    with Archive.open(cli.db_url) as archive, archive._writing() as conn:
        conn.exec_driver_sql("DELETE FROM account_identities")   # as made before identities
    cli.run("sync", "--quiet", check=True)
    with Archive.open(cli.db_url) as archive:
        adopted = archive.identity(NAME)
    assert adopted.key_fingerprint == key_fingerprint("coinw", user_a["api_key"])
    assert adopted.user_id is not None
