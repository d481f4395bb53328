"""Entries a newer cexledger's normalizer derived are refused by every read of entries, as
older ones are: this version does not know their rules."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

import cexledger
from cexledger.archive import Archive
from cexledger.exchanges.bitget.normalize import VERSION
from cexledger.ledger import OutdatedEntriesError, require_current
from cexledger.reparse import VERSION_META, reparse, outdated

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "archives" / "schema-0002.db"


@pytest.fixture
def ahead(tmp_path: Path) -> Path:
    """A current archive whose Bitget financial-records streams claim a newer normalizer."""
    path = tmp_path / "ahead.db"
    shutil.copy(FIXTURE, path)
    with Archive.open(f"sqlite:///{path}") as archive:
        reparse(archive, outdated(archive))
    with sqlite3.connect(path) as conn:
        changed = conn.execute(
            "UPDATE stream_meta SET value = ? WHERE name = ? AND stream_id IN "
            "(SELECT id FROM streams WHERE stream = 'financial-records')",
            (str(VERSION + 1), VERSION_META)).rowcount
    assert changed > 0
    return path


def test_entries_of_a_newer_normalizer_are_refused(ahead: Path) -> None:
    with Archive.open(f"sqlite:///{ahead}", read_only=True) as archive:
        with pytest.raises(OutdatedEntriesError, match="newer cexledger.*upgrade cexledger"):
            require_current(archive)
        require_current(archive, exchange="coinw")        # other exchanges' streams still read
    with cexledger.open(ahead) as led:
        with pytest.raises(OutdatedEntriesError, match="newer cexledger"):
            list(led.entries())
        assert list(led.records())                       # raw records never depend on rules
