"""Bad input gets one clear line and a non-zero exit, never a traceback, and never harms
the archive; secrets never leak into any output, log or the database."""

from __future__ import annotations

import hashlib
import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import CLI, Cli


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {proc.stderr!r}"
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def plain_cli(tmp_path: Path, config_text: str | None) -> Cli:
    config = tmp_path / "config.toml"
    if config_text is not None:
        config.write_text(config_text)
        config.chmod(0o600)
    return Cli(tmp=tmp_path, config=config, db=tmp_path / "archive.db")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BITGET = """[accounts.main]
exchange = "{exchange}"
base_url = "{url}"
api_key = "k"
api_secret = "s3cr3t-value-never-shown"
passphrase = "p"
"""


def test_missing_config(tmp_path):
    cli = plain_cli(tmp_path, None)
    one_line_error(cli.run("sync"), "no config file")


def test_malformed_config(tmp_path):
    cli = plain_cli(tmp_path, "[accounts.main\nexchange = ")
    one_line_error(cli.run("sync"), "not valid TOML")


def test_unknown_exchange(tmp_path):
    cli = plain_cli(tmp_path, BITGET.format(exchange="binance", url="http://127.0.0.1:1"))
    one_line_error(cli.run("sync"), "unknown exchange", "binance")


def test_unknown_account_name(tmp_path):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url="http://127.0.0.1:1"))
    one_line_error(cli.run("sync", "nosuch"), "nosuch")


def test_unreachable_host(tmp_path):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url=f"http://127.0.0.1:{free_port()}")
                    + 'categories = ["SPOT"]\n')
    proc = cli.run("sync", timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert errors and all("main" in line for line in errors)


@pytest.mark.parametrize("url", ["nosuchdriver://x/y", "postgresql+psycopg://u:pw@127.0.0.1:1/db", "sqlite:////proc/nope/x.db"])
def test_bad_db_url(tmp_path, url):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url="http://127.0.0.1:1"))
    proc = subprocess.run([CLI, "--config", str(cli.config), "--db", url, "status"],
                          capture_output=True, text=True, env=cli.env(), timeout=60)
    line = one_line_error(proc)
    assert "pw" not in line


def test_corrupt_database_is_left_untouched(tmp_path):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url="http://127.0.0.1:1"))
    cli.db.write_bytes(b"this is not a database, but it is somebody's file\n" * 100)
    digest = hashlib.sha256(cli.db.read_bytes()).hexdigest()
    for command in (["status"], ["sync"], ["export", "--format", "csv"]):
        one_line_error(cli.run(*command))
    assert hashlib.sha256(cli.db.read_bytes()).hexdigest() == digest


def _fill_archive(db: Path, records: int = 20_000) -> None:
    """An archive whose export (megabytes) is far more than a pipe buffer holds."""
    from cexledger.archive import Archive
    from cexledger.reparse import stamp
    from tests.archive.support import KEY, make_record

    with Archive.open(f"sqlite:///{db}") as archive:
        for start in range(0, records, 1000):
            archive.write_page(KEY, [make_record(i) for i in range(start, start + 1000)])
        stamp(archive, KEY)          # as a sync does: today's normalizer built these entries


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_into_a_pipe_closed_early_is_quiet(tmp_path, fmt):
    """`cexledger export | head -1`: the reader leaves; no message, exit 0 or 141 (SIGPIPE)."""
    cli = plain_cli(tmp_path, None)
    _fill_archive(cli.db)
    proc = subprocess.Popen([CLI, "--db", cli.db_url, "export", "--format", fmt],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.env())
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # the writer is now blocked on a full pipe, mid-export
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(60) in (0, 141), stderr
    assert first.strip()
    assert stderr == ""


def test_export_through_a_shell_pipe_to_head(tmp_path):
    cli = plain_cli(tmp_path, None)
    _fill_archive(cli.db)
    proc = subprocess.run(["sh", "-c", f'"{CLI}" --db "{cli.db_url}" export | head -1'],
                          capture_output=True, text=True, env=cli.env(), timeout=60)
    assert proc.stdout.count("\n") == 1 and '"raw":' in proc.stdout
    assert proc.stderr == ""


DB_COMMANDS = [["status"], ["export", "--format", "jsonl"], ["sync"], ["demo", "--records", "10"]]


@pytest.mark.parametrize("command", DB_COMMANDS, ids=lambda c: c[0])
def test_empty_db_option_is_an_error(tmp_path, command):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url="http://127.0.0.1:1"))
    proc = subprocess.run([CLI, "--config", str(cli.config), "--db", "", *command],
                          capture_output=True, text=True, env=cli.env(), timeout=60)
    one_line_error(proc, "--db is empty")
    assert not (tmp_path / "home").exists()  # the default archive was not used


@pytest.mark.parametrize("command", [c for c in DB_COMMANDS if c[0] != "demo"], ids=lambda c: c[0])
def test_empty_db_environment_variable_is_an_error(tmp_path, command):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url="http://127.0.0.1:1"))
    proc = subprocess.run([CLI, "--config", str(cli.config), *command], capture_output=True,
                          text=True, env={**cli.env(), "CEXLEDGER_DB": ""}, timeout=60)
    one_line_error(proc, "CEXLEDGER_DB is set but empty")
    assert not (tmp_path / "home").exists()


@pytest.mark.parametrize(
    "command",
    [["status"], ["export", "--format", "jsonl"], ["export", "--format", "csv", "--out", "x.csv"]],
    ids=lambda c: "-".join(c),
)
def test_status_and_export_never_create_an_archive(tmp_path, command):
    cli = plain_cli(tmp_path, None)
    missing = tmp_path / "no" / "such" / "archive.db"
    proc = subprocess.run([CLI, "--db", str(missing), *command], capture_output=True, text=True,
                          env=cli.env(), cwd=tmp_path, timeout=60)
    assert proc.returncode == 1
    one_line_error(proc, f"no archive at {missing} (run `cexledger sync` first)")
    assert not (tmp_path / "no").exists()
    assert not (tmp_path / "x.csv").exists()
    # the default archive (in the user data dir) is not created either
    proc = subprocess.run([CLI, *command], capture_output=True, text=True, env=cli.env(),
                          cwd=tmp_path, timeout=60)
    one_line_error(proc, "no archive at", "run `cexledger sync` first")
    assert not (tmp_path / "home").exists()


def test_sandbox_on_a_port_in_use(tmp_path):
    cli = plain_cli(tmp_path, None)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([CLI, "sandbox", "serve", "--port", str(port)], capture_output=True,
                              text=True, env=cli.env(), timeout=60)
    line = one_line_error(proc, f"127.0.0.1:{port}", "in use")
    assert proc.returncode == 1 and "internal error" not in line


def test_unknown_export_format(tmp_path):
    cli = plain_cli(tmp_path, BITGET.format(exchange="bitget", url="http://127.0.0.1:1"))
    proc = cli.run("export", "--format", "xlsx")
    assert proc.returncode == 2, proc.stderr          # a usage error: a value outside the choices
    assert "'xlsx' is not one of 'jsonl', 'csv', 'parquet'" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("fmt", ["csv", "cointracking", "beancount"])
def test_merge_daily_outside_koinly_is_a_usage_error(tmp_path, fmt):
    cli = plain_cli(tmp_path, None)
    proc = cli.run("export", "--format", fmt, "--merge-daily")
    assert proc.returncode == 2, proc.stderr          # checked before the archive is opened
    assert "--merge-daily is for --format koinly" in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


def test_help_for_every_command(tmp_path):
    cli = plain_cli(tmp_path, None)
    for command in ([], ["sync"], ["status"], ["export"], ["accounts"], ["demo"], ["sandbox", "serve"]):
        proc = cli.run(*command, "--help")
        assert proc.returncode == 0 and "Usage" in proc.stdout, command


def test_wrong_passphrase_and_secrets_never_leak(sandbox_factory, cli_for):
    sb = sandbox_factory("--records", "300", "--bitget-accounts", "1", "--coinw-accounts", "1")
    good = sb.accounts()
    secrets = [a["api_secret"] for a in good] + [a["passphrase"] for a in good if a.get("passphrase")]
    cli = cli_for(sb, instruments=None)
    cli.run("sync", check=True)
    cli.run("status", check=True)
    cli.run("accounts", check=True)
    cli.run("export", "--format", "jsonl", check=True)
    cli.run("export", "--format", "csv", check=True)

    bad = [dict(a, passphrase="wrong-passphrase") if a["exchange"] == "bitget" else a for a in good]
    bad_cli = cli_for(sb, bad)
    proc = bad_cli.run("sync")
    assert proc.returncode == 1
    line = next(line for line in proc.stderr.splitlines() if "bitget-1" in line)
    assert "40012" in line

    sb.stop()
    blobs = cli.outputs + bad_cli.outputs + [sb.proc.stdout.read(), sb.proc.stderr.read()]
    for path in list(cli.tmp.rglob("*")) + list(bad_cli.tmp.rglob("*")):
        if path.is_file() and path.name != "config.toml":
            blobs.append(path.read_bytes().decode("latin-1"))
    for secret in secrets + ["wrong-passphrase"]:
        for blob in blobs:
            assert secret not in blob


def test_demo_runs(tmp_path):
    cli = plain_cli(tmp_path, None)
    proc = subprocess.run([CLI, "demo", "--records", "300"], capture_output=True, text=True,
                          env=cli.env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "archive status" in proc.stdout and '"raw":' in proc.stdout
    assert "bitget-1" in proc.stdout and "coinw-1" in proc.stdout
