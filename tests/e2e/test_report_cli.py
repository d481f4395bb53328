"""``cexledger report`` through the real CLI on the session's ``demo_archive``: its ``--json``
is the library's ``build_report``, its figures equal the CSV export's, the terminal view
reads at 80 columns, bad input is one line, and a PostgreSQL copy reports the same."""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from cexledger import _json
from cexledger.archive import Archive
from cexledger.archive.schema import metadata
from cexledger.ledger import Filters
from cexledger.report.figures import build_report
from cexledger.report.json import report_document

from .conftest import CLI

SELECTIONS = [(), ("--since", "2026-09-01"), ("--until", "2026-10-15T12:00"),
              ("--account", "bitget-1"), ("-a", "coinw-1", "--since", "2026-06-01", "--until", "2026-12-01"),
              ("-e", "bitget")]


def run(db: str | Path, *args: str, code: int = 0, columns: int = 80) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER")}
    env["COLUMNS"] = str(columns)
    proc = subprocess.run([CLI, "--db", str(db), *args], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return proc


def _filters(args: tuple[str, ...]) -> Filters:
    names = {"--since": "since", "--until": "until", "--account": "account", "-a": "account",
             "-e": "exchange", "--exchange": "exchange"}
    return Filters.of(**{names[a]: b for a, b in zip(args[::2], args[1::2])})


@pytest.mark.parametrize("args", SELECTIONS)
def test_json_is_build_report(demo_archive: Path, args: tuple[str, ...]) -> None:
    document = _json.loads(run(demo_archive, "report", "--json", "--no-verify", *args).stdout)
    with Archive.open(f"sqlite:///{demo_archive}", read_only=True) as archive:
        report = build_report(archive, _filters(args), now_ms=document["generated_ms"])
    assert document == _json.loads(_json.dumps(report_document(report)))
    assert document["months"]


@pytest.mark.parametrize("args", SELECTIONS)
def test_figures_equal_the_csv_exports(demo_archive: Path, args: tuple[str, ...]) -> None:
    document = _json.loads(run(demo_archive, "report", "--json", "--no-verify", *args).stdout)
    rows = csv.DictReader(io.StringIO(run(demo_archive, "export", "-f", "csv", *args).stdout))
    fees: dict[str, Decimal] = defaultdict(Decimal)
    pnl: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["kind"] == "fee":
            fees[row["coin"]] += Decimal(row["amount"])
        elif row["kind"] in ("realized_pnl", "liquidation"):
            pnl[row["coin"]] += Decimal(row["amount"])
    together = [p for p in document["periods"] if p["account"] is None]
    assert {p["coin"]: Decimal(p["fees"]) for p in together} == {c: v for c, v in fees.items()
                                                                  if c in {p["coin"] for p in together}}
    assert {p["coin"]: Decimal(p["realized_pnl"]) for p in together if Decimal(p["realized_pnl"])} \
        == {c: v for c, v in pnl.items() if v}
    assert not {c for c, v in fees.items() if v} - {p["coin"] for p in together}


@pytest.mark.parametrize("args", [(), ("-a", "bitget-1", "--since", "2026-09-01")])
def test_the_terminal_view_reads_at_80_columns(demo_archive: Path, args: tuple[str, ...]) -> None:
    text = run(demo_archive, "report", *args).stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "E-" not in text and "E+" not in text
    assert "\x1b[" not in text                                       # piped: no colours
    document = _json.loads(run(demo_archive, "report", "--json", *args).stdout)
    net = next(p for p in document["periods"] if p["account"] == (document["account"] or "bitget-1"))
    assert f"period: net {net['net']}," in text


def test_an_empty_selection_is_one_line_and_empty_lists(demo_archive: Path) -> None:
    text = run(demo_archive, "report", "--since", "2040-01-01").stdout
    assert "no ledger entries in this selection" in text
    document = _json.loads(run(demo_archive, "report", "--json", "--since", "2040-01-01").stdout)
    assert (document["months"], document["instruments"], document["periods"]) == ([], [], [])


@pytest.mark.parametrize(("args", "code", "says"), [
    (("-a", "nobody"), 1, "no account 'nobody' in the archive"),
    (("-e", "kraken"), 1, "unknown exchange 'kraken'"),
    (("--since", "2026-02-01", "--until", "2026-01-01"), 1, "since must be before until"),
    (("--since", "2026-13-01"), 1, "is not a time"),
    (("--bogus",), 2, "No such option"),
])
def test_bad_input_is_one_line(demo_archive: Path, args: tuple[str, ...], code: int, says: str) -> None:
    proc = run(demo_archive, "report", *args, code=code)
    assert says in proc.stderr and "Traceback" not in proc.stderr
    if code == 1:
        assert len(proc.stderr.strip().splitlines()) == 1


def _copy_to(source: Path, url: str) -> None:
    """Every table of the SQLite archive ``source``, row for row, into the archive at ``url``."""
    with Archive.open(url):
        pass                                                # creates the schema at head
    plain = sa.create_engine(f"sqlite:///{source}")
    target = sa.create_engine(url)
    with plain.connect() as read, target.begin() as write:
        for table in metadata.sorted_tables:
            rows = [dict(row._mapping) for row in read.execute(sa.select(table))]
            write.execute(sa.delete(table))
            if rows:
                write.execute(sa.insert(table), rows)
    plain.dispose()
    target.dispose()


def _without_now(document: dict) -> dict:
    """The document without what depends on the moment it was made."""
    for name in ("generated", "generated_ms"):
        document.pop(name)
    for stream in document["coverage"]:
        stream.pop("retention_edge")
        stream.pop("retention_edge_ms")
    return document


def test_postgresql_reports_the_same(demo_archive: Path, postgres_url: str) -> None:
    _copy_to(demo_archive, postgres_url)
    for args in SELECTIONS[:4]:
        pg = _json.loads(run(postgres_url, "report", "--json", "--no-verify", *args).stdout)
        lite = _json.loads(run(demo_archive, "report", "--json", "--no-verify", *args).stdout)
        assert _without_now(pg) == _without_now(lite)
        assert pg["months"]


def test_an_empty_archive_says_so(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    Archive.open(f"sqlite:///{db}").close()
    assert "The archive is empty." in run(db, "report").stdout
    document = _json.loads(run(db, "report", "--json").stdout)
    assert (document["accounts"], document["months"], document["coverage"]) == ([], [], [])
