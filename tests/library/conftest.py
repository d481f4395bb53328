"""The library's tests read archives the real CLI built from the real sandbox over HTTP:
the session's ``demo_archive`` (``tests/conftest.py``), and for syncing from Python the e2e
harness's sandbox and config (``tests/e2e/conftest.py``)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cexledger import _json
from tests.e2e.conftest import cli_for, sandbox_factory  # noqa: F401 - fixtures used here

CLI = str(Path(sys.executable).parent / "cexledger")


def run_cli(db: str | Path, *args: str) -> subprocess.CompletedProcess:
    """The real ``cexledger --db DB ARGS``, checked."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEXLEDGER_")}
    done = subprocess.run([CLI, "--db", str(db), *args], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def csv_rows(db: str | Path, *args: str) -> list[dict[str, str]]:
    """The rows of the real CSV export (with ``args``, e.g. ``--since``)."""
    return list(csv.DictReader(io.StringIO(run_cli(db, "export", "--format", "csv", *args).stdout)))


def jsonl_lines(db: str | Path, *args: str) -> list[dict]:
    return [_json.loads(line) for line in run_cli(db, "export", "--format", "jsonl", *args).stdout.splitlines()]


@pytest.fixture(scope="session")
def demo_csv(demo_archive: Path) -> list[dict[str, str]]:
    return csv_rows(demo_archive)
