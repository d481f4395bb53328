"""The archive: raw records, normalized entries, checkpoints and coverage in one database.

    from cexledger.archive import Archive

    with Archive.open() as archive:               # sqlite:///<user data dir>/archive.db
        result = archive.write_page(key, records, slot="2024-05", state={"cursor": "42"},
                                    cover=(start_ms, end_ms))
        for entry in archive.iter_entries(account="main"):
            ...

SQLite by default, PostgreSQL with ``postgresql+psycopg://``; the schema is created and
migrated with Alembic on open.
"""

from __future__ import annotations

from .engine import default_url, url_of
from .results import AccountIdentity, ArchivedRecord, Checkpoint, StreamSummary, WriteResult
from .store import Archive, NewPages

__all__ = ["AccountIdentity", "Archive", "ArchivedRecord", "Checkpoint", "NewPages", "StreamSummary", "WriteResult", "default_url", "url_of"]
