"""Issue 8 through the real CLI: exports never overwrite a database, a closed pipe is exit 141
however small the export, CSV/Parquet say what they have no row for, a damaged archive is
refused before a sync writes, refused archives stay byte-identical, read-only archives can
be read, and a full disk, a read-only place and a deeply nested config are one line each.

"Read-only" is real here although tests run as root (root ignores permission bits): the CLI
runs as root *without* the capabilities that override them (``setpriv`` drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so the kernel refuses its writes to a root-owned
0555 directory and 0444 file exactly as it would for any user; each such test first checks
that a write there really fails. Not as root, permission bits suffice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import resource
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from cexledger.archive import Archive
from cexledger.model import Record
from cexledger.reparse import stamp

from ..archive.support import KEY, make_record
from ..archive.test_trust_archive import corrupt_a_records_page

from .conftest import Cli
from .test_cli_errors import one_line_error, plain_cli

ACCOUNTLESS = '[accounts.main]\nexchange = "bitget"\nbase_url = "http://127.0.0.1:1"\napi_key = "k"\napi_secret = "s"\npassphrase = "p"\n'


def build(cli: Cli, records: int, *, raw_only: int = 0, journal: str = "wal") -> None:
    """A real archive at ``cli.db``: ``records`` understood Bitget records (one entry each)
    and ``raw_only`` kept raw only (no entries), written the way a sync writes them."""
    with Archive.open(cli.db_url) as archive:
        for start in range(0, records, 1000):
            page = [make_record(i, 1_700_000_000_000 + i) for i in range(start, min(records, start + 1000))]
            archive.write_page(KEY, page)
        archive.write_page(KEY, [Record(f"raw{i}", 1_700_000_000_000 + i, b'{"id":"raw%d","amount":"1E+1001"}' % i)
                                 for i in range(raw_only)])
        stamp(archive, KEY)          # as a sync does: today's normalizer built these entries
    if journal != "wal":
        conn = sqlite3.connect(cli.db)
        assert conn.execute(f"PRAGMA journal_mode={journal}").fetchone() == (journal,)
        conn.close()


def snapshot(directory: Path) -> dict[str, str]:
    """Every file in ``directory`` with its SHA-256: what 'byte-identical' compares."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return plain_cli(tmp_path, ACCOUNTLESS)


# ---- 4. --out never overwrites a database --------------------------------------------------


def test_export_out_refuses_the_archive_by_any_path_and_any_database(cli: Cli, tmp_path: Path) -> None:
    build(cli, 50)
    (tmp_path / "link.db").symlink_to(cli.db)
    os.link(cli.db, tmp_path / "hard.db")
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    before = snapshot(tmp_path)
    targets = [str(cli.db), "archive.db", "./sub/../archive.db", str(tmp_path / "link.db"), str(tmp_path / "hard.db"),
               str(cli.db) + "-wal", "archive.db-shm", str(cli.db) + "-journal", str(other)]
    (tmp_path / "sub").mkdir()
    for target in targets:
        for fmt in ("jsonl", "csv", "parquet"):
            proc = subprocess.run(cli.args("export", "--format", fmt, "--out", target), capture_output=True,
                                  text=True, env=cli.env(), cwd=tmp_path)
            line = one_line_error(proc, "cexledger: error: --out", "give another file")
            assert proc.returncode == 1
            assert ("archive" in line) if "other" not in target else ("is a SQLite database" in line)
            assert snapshot(tmp_path) == before, target
    proc = cli.run("export", "--out", str(tmp_path / "fine.jsonl"))   # any other file is fine
    assert proc.returncode == 0 and (tmp_path / "fine.jsonl").stat().st_size > 0


# ---- 5. a closed pipe is exit 141, however small the export --------------------------------


def export_into_a_closed_pipe(cli: Cli, fmt: str, reader_takes: int, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``cexledger export | head -c N``: a real pipe (4 KiB, so any export larger than that
    must meet the closed end) whose reader takes ``reader_takes`` bytes and closes it; 0
    means the reader is gone before the export starts."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    if not reader_takes:
        os.close(read_end)
    try:
        proc = subprocess.Popen(cli.args("export", "--format", fmt), stdout=write_end,
                                stderr=subprocess.PIPE, text=True, env=env)
    finally:
        os.close(write_end)
    if reader_takes:
        taken = b""
        while len(taken) < reader_takes:
            chunk = os.read(read_end, reader_takes - len(taken))
            assert chunk, "the export ended before writing what the reader takes"
            taken += chunk
        os.close(read_end)
    _, stderr = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)


@pytest.mark.parametrize("records, reader_takes", [(3, 0), (2000, 10), (12_000, 10)],
                         ids=["tiny-reader-gone", "one-batch", "many-batches"])
@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("unbuffered", [True, False], ids=["PYTHONUNBUFFERED", "buffered"])
def test_an_export_into_a_closed_pipe_exits_141(cli: Cli, fmt: str, records: int, reader_takes: int,
                                                unbuffered: bool) -> None:
    """Unbuffered (as in many containers and services), stdout is a raw file whose write of
    a whole batch can be cut short by the closing reader: that must not pass for success."""
    build(cli, records)
    env = {k: v for k, v in cli.env().items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    proc = export_into_a_closed_pipe(cli, fmt, reader_takes, env)
    assert (proc.returncode, proc.stderr) == (141, "")


# ---- 6. CSV and Parquet say what they have no row for ---------------------------------------


def test_csv_and_parquet_say_how_many_records_they_leave_out(cli: Cli, tmp_path: Path) -> None:
    build(cli, 40, raw_only=3)
    for fmt, out in (("csv", []), ("csv", ["--out", str(tmp_path / "x.csv")]), ("parquet", ["--out", str(tmp_path / "x.parquet")])):
        proc = cli.run("export", "--format", fmt, *out, check=True)
        notes = [line for line in proc.stderr.splitlines() if line.startswith("note:")]
        assert len(notes) == 1, proc.stderr
        assert notes[0].startswith("note: 3 archived records have no ledger entries and so no row in this export")
        assert "`cexledger export --format jsonl` has every raw record" in notes[0]
    proc = cli.run("export", "--format", "csv", "--exchange", "coinw", check=True)
    assert "note:" not in proc.stderr   # only the chosen exchange's records are counted
    lines = cli.export_jsonl()
    assert len(lines) == 43 and sum(line["id"].startswith("raw") for line in lines) == 3
    assert "note:" not in cli.run("export", "--format", "jsonl", check=True).stderr


def test_no_note_when_every_record_has_entries(cli: Cli) -> None:
    build(cli, 40)
    assert "note" not in cli.run("export", "--format", "csv", check=True).stderr


# ---- 9. a damaged archive is refused before a sync writes -----------------------------------


def test_a_damaged_archive_is_refused_by_sync_and_left_as_it_is(sandbox_factory, cli_for) -> None:
    sandbox = sandbox_factory("--records", "600", "--bitget-accounts", "1", "--coinw-accounts", "0")
    cli = cli_for(sandbox)
    cli.run("sync", "--quiet", check=True)
    sandbox.post("/_sandbox/append", {"exchange": "bitget", "account": sandbox.accounts()[0]["name"], "count": 20})
    corrupt_a_records_page(cli.db)
    before = snapshot(cli.tmp)
    line = one_line_error(cli.run("sync", "--quiet"), "damaged", "Restore it from a backup", ".recover")
    assert line.startswith(f"cexledger: error: cannot open archive {cli.db_url}: integrity check failed")
    assert snapshot(cli.tmp) == before
    proc = cli.run("export", "--format", "jsonl")   # reading the bad page: the same advice
    assert proc.returncode == 1
    one_line_error(proc, "cannot read archive", "database disk image is malformed", "damaged", ".recover")
    assert snapshot(cli.tmp) == before


# ---- 10. a refused archive is never changed ---------------------------------------------


def test_a_newer_rollback_journal_archive_is_refused_unchanged(cli: Cli, tmp_path: Path) -> None:
    build(cli, 20, journal="delete")
    conn = sqlite3.connect(cli.db)
    conn.execute("UPDATE cexledger_alembic_version SET version_num = '9999'")
    conn.commit()
    conn.close()
    before = snapshot(tmp_path)
    for command in (["sync"], ["status"], ["export", "--format", "csv"], ["export", "--out", str(tmp_path / "x")]):
        proc = cli.run(*command)
        assert proc.returncode == 1
        one_line_error(proc, "made by a newer cexledger")
        assert snapshot(tmp_path) == before, command   # no WAL switch, no -wal/-shm/-journal


# ---- 11. read-only media, full disks, deep configs ------------------------------------------


def without_write_override() -> list[str]:
    """The command prefix that takes away root's power to ignore permission bits."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test read-only archives as root"
    return [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]


def read_only_copy(cli: Cli, tmp_path: Path) -> Cli:
    """The archive copied into a root-owned 0555 directory as a 0444 file, with the proof
    that the CLI's process really cannot write there."""
    place = tmp_path / "media"
    place.mkdir()
    shutil.copy(cli.db, place / "archive.db")
    assert not (tmp_path / "archive.db-wal").exists()   # a cleanly closed WAL-mode archive
    (place / "archive.db").chmod(0o444)
    place.chmod(0o555)
    probe = subprocess.run([*without_write_override(), "sh", "-c", f"echo x > {place}/probe || echo x >> {place}/archive.db"],
                           capture_output=True)
    assert probe.returncode != 0 and sorted(p.name for p in place.iterdir()) == ["archive.db"]
    return Cli(tmp=cli.tmp, config=cli.config, db=place / "archive.db")


def run_restricted(cli: Cli, *args: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run([*without_write_override(), *cli.args(*args)], capture_output=True, text=True,
                          env=cli.env(), timeout=300, **kwargs)


def test_status_and_export_read_a_wal_archive_on_read_only_media(cli: Cli, tmp_path: Path) -> None:
    build(cli, 30, raw_only=2)
    with sqlite3.connect(cli.db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    conn.close()
    media = read_only_copy(cli, tmp_path)
    before = snapshot(media.db.parent)
    status = run_restricted(media, "status")
    assert status.returncode == 0, status.stderr
    assert "financial-records" in status.stdout
    jsonl = run_restricted(media, "export", "--format", "jsonl")
    assert jsonl.returncode == 0, jsonl.stderr
    assert len(jsonl.stdout.splitlines()) == 32
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    csv = run_restricted(media, "export", "--format", "csv", "--out", str(out / "x.csv"))
    assert csv.returncode == 0, csv.stderr
    assert len((out / "x.csv").read_text().splitlines()) == 31
    assert snapshot(media.db.parent) == before   # nothing written, no -wal or -shm left


def test_sync_into_a_read_only_place_is_one_line(cli: Cli, tmp_path: Path) -> None:
    build(cli, 10)
    media = read_only_copy(cli, tmp_path)
    before = snapshot(media.db.parent)
    proc = run_restricted(media, "sync", "--quiet")
    line = one_line_error(proc, "is read-only", "status", "export")
    assert proc.returncode == 1 and line.startswith(f"cexledger: error: cannot write to archive {media.db_url}")
    fresh = Cli(tmp=cli.tmp, config=cli.config, db=media.db.parent / "new.db")   # creating one there
    one_line_error(run_restricted(fresh, "sync", "--quiet"), "is read-only")
    assert snapshot(media.db.parent) == before


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_to_a_full_standard_output_is_one_line(cli: Cli, fmt: str) -> None:
    build(cli, 3000)
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(cli.args("export", "--format", fmt), stdout=full, stderr=subprocess.PIPE,
                              text=True, env=cli.env())
    assert proc.returncode == 1
    assert proc.stderr == "cexledger: error: cannot write the export to standard output: No space left on device\n"


def _file_size_limit(limit: int):
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))   # writes past it fail with EFBIG
    return preexec


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_export_out_to_a_full_disk_is_one_line_and_leaves_nothing(cli: Cli, tmp_path: Path, fmt: str) -> None:
    build(cli, 5000, journal="delete")   # no -shm: the size limit bites only the export
    whole = tmp_path / f"whole.{fmt}"
    cli.run("export", "--format", fmt, "--out", str(whole), check=True)
    assert whole.stat().st_size > 2 * 10_000
    out = tmp_path / "exports"
    out.mkdir()
    proc = subprocess.run(cli.args("export", "--format", fmt, "--out", str(out / f"x.{fmt}")), capture_output=True,
                          text=True, env=cli.env(), preexec_fn=_file_size_limit(10_000))
    one_line_error(proc, f"cannot write the export to {out / f'x.{fmt}'}: File too large")
    assert proc.returncode == 1
    assert list(out.iterdir()) == []   # no half-written file, no temporary left


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_out_to_a_named_pipe_writes_into_it_and_leaves_it_a_pipe(cli: Cli, tmp_path: Path, fmt: str) -> None:
    """``--out`` naming something that is not a regular file (a named pipe here; ``/dev/null``
    alike) is written in place: renaming a temporary file over it would replace the device or
    pipe with a plain file (as root, ``--out /dev/null`` would destroy ``/dev/null``)."""
    build(cli, 40)
    whole = tmp_path / f"whole.{fmt}"
    cli.run("export", "--format", fmt, "--out", str(whole), check=True)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    for target in (fifo, link):
        proc = subprocess.Popen(cli.args("export", "--format", fmt, "--out", str(target)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli.env())
        with open(fifo, "rb") as reader:
            received = reader.read()
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
        assert received == whole.read_bytes()
        assert fifo.is_fifo() and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_out_through_a_symlink_replaces_its_target_keeping_permissions(cli: Cli, tmp_path: Path) -> None:
    build(cli, 40)
    shared = tmp_path / "shared.csv"
    shared.write_text("old\n")
    shared.chmod(0o664)
    link = tmp_path / "link.csv"
    link.symlink_to(shared)
    cli.run("export", "--format", "csv", "--out", str(link), check=True)
    assert link.is_symlink() and link.resolve() == shared
    assert shared.read_text().startswith("time,") and (shared.stat().st_mode & 0o777) == 0o664
    fresh = tmp_path / "fresh.csv"
    proc = subprocess.run(["sh", "-c", 'umask 022 && exec "$@"', "sh",
                           *cli.args("export", "--format", "csv", "--out", str(fresh))],
                          capture_output=True, text=True, env=cli.env())
    assert proc.returncode == 0, proc.stderr
    assert (fresh.stat().st_mode & 0o777) == 0o644, "a new export gets the umask's permissions"


@pytest.mark.parametrize("nested", ["[" * 3000 + "]" * 3000, "{a=" * 3000 + "1" + "}" * 3000])
def test_a_deeply_nested_config_is_one_line(tmp_path: Path, nested: str) -> None:
    cli = plain_cli(tmp_path, f"x = {nested}\n")
    for command in ("accounts", "sync"):
        proc = cli.run(command)
        one_line_error(proc, "nests arrays or tables too deeply")
        assert proc.returncode == 1


def test_a_wal_with_changes_but_no_shm_on_read_only_media_is_refused_in_one_line(cli: Cli, tmp_path: Path) -> None:
    build(cli, 30)
    live = sqlite3.connect(cli.db)   # a copy taken while a writer had changes in the -wal only
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("DELETE FROM sync_runs")
    live.execute("INSERT INTO sync_runs (account, exchange, started_ms, finished_ms, stats) VALUES ('a', 'b', 1, 2, '{}')")
    live.commit()
    place = tmp_path / "media"
    place.mkdir()
    shutil.copy(cli.db, place / "archive.db")
    shutil.copy(str(cli.db) + "-wal", place / "archive.db-wal")
    live.close()
    assert (place / "archive.db-wal").stat().st_size > 0
    for file in place.iterdir():
        file.chmod(0o444)
    place.chmod(0o555)
    media = Cli(tmp=cli.tmp, config=cli.config, db=place / "archive.db")
    before = snapshot(place)
    for command in (["status"], ["export"]):
        proc = run_restricted(media, *command)
        assert proc.returncode == 1
        one_line_error(proc, "holds changes not yet in the database", "copy the archive with its -wal file")
    assert snapshot(place) == before
