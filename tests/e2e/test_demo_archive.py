"""The demo never mixes sandbox accounts into a real archive: ``CEXLEDGER_DB`` (a user's real
archive, set for cron) is ignored, and an explicit ``--db`` holding other accounts is refused
before anything is synced. A failed demo sync exits 1."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from cexledger.archive import Archive
from cexledger.model import Record, StreamKey

from .conftest import CLI, by_id
from .test_cli_errors import one_line_error, plain_cli


def _real_archive(path: Path) -> str:
    url = f"sqlite:///{path}"
    with Archive.open(url) as archive:
        archive.write_page(StreamKey("main", "bitget", "financial-records", "SPOT"),
                           [Record(record_id="1", ts=1_700_000_000_000, raw=b'{"id":"1"}')])
    return url


def test_the_demo_ignores_cexledger_db(tmp_path: Path) -> None:
    cli = plain_cli(tmp_path, None)
    real = tmp_path / "real.db"
    _real_archive(real)
    before = hashlib.sha256(real.read_bytes()).hexdigest()
    proc = subprocess.run([CLI, "demo", "--records", "50"], capture_output=True, text=True,
                          env={**cli.env(), "CEXLEDGER_DB": str(real)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert str(real) not in proc.stdout
    assert hashlib.sha256(real.read_bytes()).hexdigest() == before
    with Archive.open(f"sqlite:///{real}", read_only=True) as archive:
        assert archive.account_names() == ["main"]
    # the demo showed every stream
    for stream in ("financial-records", "funding-records", "tax-records", "deals-history"):
        assert f" · {'coinw' if stream == 'deals-history' else 'bitget'} {stream}" in proc.stdout, stream


def test_the_demo_refuses_an_archive_holding_other_accounts(tmp_path: Path) -> None:
    cli = plain_cli(tmp_path, None)
    real = tmp_path / "real.db"
    url = _real_archive(real)
    proc = subprocess.run([CLI, "--db", url, "demo", "--records", "50"], capture_output=True,
                          text=True, env=cli.env(), timeout=300)
    one_line_error(proc, "holds other accounts (main)")
    with Archive.open(url, read_only=True) as archive:
        assert archive.account_names() == ["main"]
    fresh = tmp_path / "demo.db"
    ok = subprocess.run([CLI, "--db", str(fresh), "demo", "--records", "50"], capture_output=True,
                        text=True, env=cli.env(), timeout=300)
    assert ok.returncode == 0, ok.stderr
    again = subprocess.run([CLI, "--db", str(fresh), "demo", "--records", "50"], capture_output=True,
                           text=True, env=cli.env(), timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr   # the same sandbox users, on a new port
    assert "FAILED" not in again.stdout


def test_sync_says_when_it_creates_the_archive(sandbox_factory, cli_for) -> None:
    """A typo in ``--db`` starts a new archive: the first line says so; later syncs do not."""
    sb = sandbox_factory("--records", "50", "--bitget-accounts", "1", "--coinw-accounts", "0")
    cli = cli_for(sb)
    first = cli.run("sync", check=True)
    folded = first.stdout.replace("\n", "")      # a long path folds at the terminal's width
    assert folded.startswith(f"created a new archive at sqlite:///{cli.db}")
    again = cli.run("sync", check=True)
    assert "created a new archive" not in again.stdout


def test_sigterm_ends_a_sync_in_one_line_and_a_rerun_completes_it(sandbox_factory, cli_for) -> None:
    """``kill`` (a service manager stopping cexledger) mid-sync: one line, exit 143, no
    traceback; what was committed stays, and the next sync completes the archive exactly."""
    import signal

    from .conftest import wait_for

    sb = sandbox_factory("--records", "3000", "--latency-ms", "50", "--bitget-accounts", "1",
                         "--coinw-accounts", "0")
    cli = cli_for(sb)
    proc = cli.popen("sync", "--quiet")
    try:
        wait_for(lambda: sb.stats()["requests"] >= 5 or proc.poll() is not None, what="5 requests")
        assert proc.poll() is None, "sync finished before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.strip()] == [
        "cexledger: terminated; everything archived so far is kept — run the command again to continue"]
    cli.run("sync", "--quiet", check=True)
    archived = cli.export_jsonl()
    for stream in ("financial-records", "funding-records"):
        assert set(by_id(archived, "bitget", "bitget-1", stream)) == set(sb.truth("bitget", "bitget-1", stream)), stream
