"""Issue 8, "messages people can act on" (and the CoinW items about what is really archived):
the real ``cexledger`` executable, piped (no terminal), against the sandbox."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cexledger import _exit
from cexledger.archive import Archive
from cexledger.demo import write_sandbox_config

from .conftest import CLI, Cli, kill_sync_midway
from .test_cli_errors import BITGET, free_port, one_line_error, plain_cli

WIDTH = 80
RAW_MS = re.compile(r"\b\d{13}\b")        # a Unix-millisecond timestamp


def narrow(cli: Cli, *args: str, check: bool = False, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the CLI as cron would: output piped, ``COLUMNS=80``."""
    full = dict(cli.env(), COLUMNS=str(WIDTH), **(env or {}))
    proc = subprocess.run(cli.args(*args), capture_output=True, text=True, env=full, timeout=timeout)
    cli.outputs += [proc.stdout, proc.stderr]
    if check and proc.returncode != 0:
        raise AssertionError(f"cexledger {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def assert_reads_at_80(text: str) -> list[str]:
    """No line wider than 80, no cell cut with an ellipsis (an API key's mask, ``bg_1…9f``,
    the tax key's too, is the only one allowed: it is not a cut, it hides the key)."""
    lines = text.splitlines()
    for line in lines:
        assert len(line) <= WIDTH, f"{len(line)} characters: {line!r}"
        if line.split()[:2] != ["api", "key"] and line.split()[:3] != ["tax", "api", "key"]:
            assert "…" not in line, text
    return lines


def row_of(lines: list[str], first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in lines:
        cells = line.split()
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row for {first!r} in:\n" + "\n".join(lines))


# -- 2: CoinW instruments not in the public list ---------------------------------------------

def test_unknown_coinw_instruments_are_refused_naming_the_close_match(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "600", "--bitget-accounts", "0", "--coinw-accounts", "1")
    cli = cli_for(sb, instruments=["BTCUSDT", "ETH-USDT", "SOL"])
    proc = cli.run("sync")
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors == [
        "cexledger: error: account 'coinw-1': unknown CoinW instrument 'BTCUSDT' (did you mean 'BTC'?)",
        "cexledger: error: account 'coinw-1': unknown CoinW instrument 'ETH-USDT' (did you mean 'ETH'?)",
    ]
    with Archive.open(cli.db_url, create=False) as archive:
        streams = {s.key.partition: s for s in archive.streams()}
    assert set(streams) == {"SOL"}, "a refused instrument must leave nothing in the archive"
    assert streams["SOL"].records > 0 and streams["SOL"].coverage
    truth_sol = [r for r in sb.truth("coinw", "coinw-1").values() if str(r["instrument"]).upper() == "SOL"]
    assert streams["SOL"].records == len(truth_sol)
    assert "BTCUSDT" not in cli.run("status", check=True).stdout


# -- 3: status shows what is really archived ---------------------------------------------------

def test_interrupted_coinw_backfill_is_not_shown_as_safe(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "4000", "--bitget-accounts", "0", "--coinw-accounts", "1",
                         "--dense-share", "0.9", "--instruments", "BTC,ETH")
    cli = cli_for(sb, instruments=["BTC", "ETH"])
    kill_sync_midway(cli, sb, after_requests=6)
    with Archive.open(cli.db_url, create=False) as archive:
        btc = next(s for s in archive.streams() if s.key.partition == "BTC")
    assert btc.records > 0 and not btc.coverage, "the kill came too late to prove anything"
    proc = narrow(cli, "status", check=True)
    cells = row_of(proc.stdout.splitlines(), "BTC")
    assert cells[-2:] == ["0", "days"], proc.stdout
    assert any(line.startswith("WARNING: coinw-1/deals-history/BTC:") for line in proc.stderr.splitlines()), proc.stderr


def test_streams_that_failed_on_their_first_page_are_listed(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "300", "--bitget-accounts", "1", "--coinw-accounts", "1")
    bad = [dict(a, api_secret="not-the-secret-at-all") for a in sb.accounts()]
    bad[1]["instruments"] = ["BTC", "ETH"]
    cli = cli_for(sb, bad)
    assert cli.run("sync").returncode == 1
    proc = narrow(cli, "status", check=True)
    lines = proc.stdout.splitlines()
    for partition in ("BTC", "ETH", "SPOT", "USDT-FUTURES"):
        cells = row_of(lines, partition)
        assert cells[1] == "0" and cells[-2:] == ["0", "days"], cells
    warned = [line for line in proc.stderr.splitlines() if line.startswith("WARNING:")]
    assert len(warned) == 2 + 6 + 1, proc.stderr       # two instruments, six categories, the funding wallet


# -- 18: one cause, one line --------------------------------------------------------------------

def test_an_unreachable_host_is_one_line_per_account(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url=url))
    proc = cli.run("sync", timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    line = one_line_error(proc)
    # 24 financial-records windows (6 categories) and 4 of the funding wallet: one cause
    assert line.startswith("cexledger: error: account 'main': 28 windows in 7 streams failed: "), line
    assert "cannot connect (ConnectError" in line and not RAW_MS.search(line), line
    assert "GET /" not in line, "the line names no one endpoint of the several that failed"
    with Archive.open(cli.db_url, create=False) as archive:
        logged = archive.last_runs(1)[0]["stats"]["errors"]
    assert len(logged) == 28, "the run log keeps every failed window"
    for entry in logged:
        assert not RAW_MS.search(entry), entry
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d → \d{4}-\d\d-\d\d \d\d:\d\d", entry), entry


# -- 19: tables at 80 columns without a terminal ------------------------------------------------

def test_sync_status_and_accounts_read_at_80_columns_piped(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "500", "--bitget-accounts", "1", "--coinw-accounts", "1")
    long_name = "bitget-main-account"
    accounts = [dict(a, name=long_name) if a["exchange"] == "bitget" else a for a in sb.accounts()]
    cli = cli_for(sb, accounts)
    sync = narrow(cli, "sync", check=True)
    lines = assert_reads_at_80(sync.stdout)
    with Archive.open(cli.db_url, create=False) as archive:
        summaries = archive.streams()
        last = {run["account"]: run["stats"] for run in archive.last_runs(2)}
    assert len(summaries) == 6 + 1 + 6     # six categories and the funding wallet, six of CoinW
    status_lines = [line for line in lines if line.startswith(f"{long_name} (bitget): ok in ")]
    assert len(status_lines) == 1, sync.stdout              # its own line, not in a table row
    assert f"{last[long_name]['new']} new" in status_lines[0]
    for s in summaries:                                     # one row per stream, values in order
        cells = next(line.split() for line in lines if line.split()[:2] == [s.key.stream, s.key.partition])
        assert len(cells) == 5 and all(c.isdigit() for c in cells[2:]), cells
    assert sum(int(line.split()[3]) for line in lines
               if line.split()[:1] in (["financial-records"], ["funding-records"], ["deals-history"])
               ) == sum(s.records for s in summaries)

    status = narrow(cli, "status", check=True)
    lines = assert_reads_at_80(status.stdout)
    assert any(line.startswith(long_name) and "bitget financial-records" in line for line in lines)
    for s in summaries:
        cells = row_of(lines, s.key.partition)
        assert cells[1] == str(s.records), cells
        if s.records:
            assert re.fullmatch(r"\d{4}-\d\d-\d\d", cells[2]) and re.fullmatch(r"\d{4}-\d\d-\d\d", cells[3])
        else:
            assert cells[2:4] == ["-", "-"], cells
        assert cells[-2:] == ["90", "days"], cells
        assert "→" in cells, cells
    assert not status.stderr.strip(), status.stderr

    accounts_out = narrow(cli, "accounts", check=True)
    lines = assert_reads_at_80(accounts_out.stdout)
    assert f"{long_name} (bitget)" in lines and "coinw-1 (coinw)" in lines
    assert any(line.split()[:2] == ["base", "url"] and line.split()[2] == sb.url for line in lines)


def test_demo_reads_at_80_columns_piped(tmp_path):
    cli = plain_cli(tmp_path, None)
    proc = subprocess.run([CLI, "demo", "--records", "300"], capture_output=True, text=True,
                          env=dict(cli.env(), COLUMNS=str(WIDTH)), timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = assert_reads_at_80(proc.stdout)
    assert "archive status" in lines and any(line.startswith("bitget-1 (bitget): ok in") for line in lines)
    assert any(line.startswith("coinw-1 · coinw deals-history") for line in lines)
    assert '  "raw": {' in lines
    # every stream, the funding wallet and a year of tax records among them
    for stream in ("financial-records", "funding-records", "tax-records"):
        assert f"bitget-1 · bitget {stream}" in lines, stream
        assert any(line.split()[:2] == [stream, "FUNDING" if stream == "funding-records" else "SPOT"]
                   for line in lines), f"{stream} missing from the sync summary"
    assert any(line.startswith("the sandbox runs at ") and line.endswith(
        "× the exchanges' rate limits to keep the demo short") for line in lines)


# -- 20: Ctrl-C while the modules are still being imported -------------------------------------

def _entry_running(pid: int) -> bool:
    """Whether the process runs cexledger's entry (it catches SIGTERM from its first line on,
    which the kernel shows in ``SigCgt``); before that only the interpreter's own start and
    the console script's first import run, which no code of cexledger can guard."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True     # already gone: it ran
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("command", [["--version"], ["status"]])
def test_ctrl_c_at_any_early_moment_is_one_line_and_130(tmp_path, command):
    cli = plain_cli(tmp_path, None)
    seen = set()
    for k in range(40):                      # at least 12 moments; more until one interrupted
        if k >= 12 and _exit.INTERRUPTED in seen:
            break
        delay = (k % 12) * 0.02               # after the entry runs: the test's input
        proc = subprocess.Popen([CLI, "--db", cli.db_url, *command], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=cli.env())
        for _ in range(5000):                 # bounded: the entry starts within seconds
            if _entry_running(proc.pid):
                break
            time.sleep(0.001)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert "Traceback" not in out + err, (delay, err)
        assert "KeyboardInterrupt" not in err, (delay, err)
        # it ended before the signal came: its exit code, or killed by the signal while the
        # interpreter was shutting down after its output was complete
        finished = {0 if command == ["--version"] else 1}
        if "cexledger 0.1" in out or "no archive at" in err:
            finished.add(-signal.SIGINT)
        assert proc.returncode in {_exit.INTERRUPTED, *finished}, (delay, proc.returncode, err)
        if proc.returncode == _exit.INTERRUPTED:
            assert len(err.strip().splitlines()) == 1, err
        seen.add(proc.returncode)
    assert _exit.INTERRUPTED in seen, "no signal arrived while the command ran"


@pytest.mark.parametrize("command", [["--help"], ["--version"], ["sync", "--help"]])
def test_stdout_closed_before_any_output_exits_141(tmp_path, command):
    cli = plain_cli(tmp_path, None)
    proc = subprocess.Popen([CLI, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli.env())
    proc.stdout.close()              # the reader is gone before the command writes anything
    err = proc.stderr.read().decode()
    assert proc.wait(60) == _exit.BROKEN_PIPE, err
    assert err == "", err


# -- 22: unknown filters -------------------------------------------------------------------------

def test_unknown_account_and_exchange_filters_are_refused(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "200", "--bitget-accounts", "1", "--coinw-accounts", "1")
    cli = cli_for(sb)
    cli.run("sync", check=True)
    for args in (["status", "--account", "nosuch"], ["export", "--account", "nosuch"]):
        proc = cli.run(*args)
        assert proc.returncode == 1 and proc.stdout == ""
        one_line_error(proc, "no account 'nosuch' in the archive (archived: bitget-1, coinw-1)")
    proc = cli.run("export", "--exchange", "binance")
    assert proc.returncode == 1 and proc.stdout == ""
    one_line_error(proc, "unknown exchange 'binance' (supported: bitget, coinw)")
    lines = cli.export_jsonl("--exchange", "CoinW", "--account", "coinw-1")
    assert lines and {line["exchange"] for line in lines} == {"coinw"}
    proc = cli.run("export", "--format", "csv", "--account", "bitget-1", "--exchange", "coinw")
    assert proc.returncode == 1 and proc.stdout == ""    # not a silent "wrote 0 rows"
    one_line_error(proc, "account 'bitget-1' holds bitget history, not coinw")


# -- 23: an account whose secret variable is unset -----------------------------------------------

def test_an_incomplete_account_is_listed_reported_and_skipped(sandbox_factory, tmp_path):
    sb = sandbox_factory("--records", "200", "--bitget-accounts", "1", "--coinw-accounts", "1")
    accounts = []
    for a in sb.accounts():
        if a["exchange"] == "bitget":
            a = {k: v for k, v in a.items() if k != "api_secret"}
            a["api_secret_env"] = "CEXLEDGER_TEST_UNSET_SECRET"
        accounts.append(a)
    config = tmp_path / "config.toml"
    write_sandbox_config(config, sb.url, accounts)
    cli = Cli(tmp=tmp_path, config=config, db=tmp_path / "archive.db")

    listed = narrow(cli, "accounts", check=True)
    lines = assert_reads_at_80(listed.stdout)
    assert "bitget-1 (bitget)" in lines and "coinw-1 (coinw)" in lines
    assert any("INCOMPLETE" in line and "CEXLEDGER_TEST_UNSET_SECRET" in line for line in lines)

    proc = cli.run("sync")
    assert proc.returncode == 1
    assert one_line_error(proc) == ("cexledger: error: account 'bitget-1': environment variable "
                                    "CEXLEDGER_TEST_UNSET_SECRET (for `api_secret`) is not set")
    with Archive.open(cli.db_url, create=False) as archive:
        assert {s.key.account for s in archive.streams()} == {"coinw-1"}
        assert archive.count_records("coinw-1") == len(sb.truth("coinw", "coinw-1"))

    named = cli.run("sync", "bitget-1")
    one_line_error(named, "account 'bitget-1'", "CEXLEDGER_TEST_UNSET_SECRET", "is not set")
    assert named.returncode == 1

    status = cli.run("status", check=True)     # it must not look safe for the unsynced account
    warned = [line for line in status.stderr.splitlines() if "bitget-1" in line]
    assert len(warned) == 1 and warned[0].startswith("WARNING: account 'bitget-1' is configured "
                                                     "but nothing of it is archived"), status.stderr
    assert "CEXLEDGER_TEST_UNSET_SECRET" in warned[0] and "coinw-1" not in status.stderr


# -- 24: exit codes -------------------------------------------------------------------------------

def test_every_exit_code_is_documented(tmp_path):
    cli = plain_cli(tmp_path, None)
    text = subprocess.run([CLI, "--help"], capture_output=True, text=True, env=cli.env()).stdout
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    for code, _ in _exit.HELP:
        assert re.search(rf"^\s+{code}\s+\S", text, re.MULTILINE), f"--help does not list {code}"
        assert f"| {code} |" in section, f"README does not list {code}"
    usage = subprocess.run([CLI, "--no-such-option"], capture_output=True, text=True, env=cli.env())
    assert usage.returncode == _exit.USAGE == 2


def test_internal_errors_have_their_own_exit_code(monkeypatch):
    from typer.testing import CliRunner

    from cexledger import cli

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "load_config", broken)
    monkeypatch.delenv("CEXLEDGER_DEBUG", raising=False)
    result = CliRunner().invoke(cli.app, ["accounts"])
    assert result.exit_code == _exit.INTERNAL == 70
    assert "internal error: RuntimeError: a bug" in result.stderr
