"""The archive's tables, as SQLAlchemy Core metadata.

Every stream (account × exchange × endpoint × partition) gets a small integer id in
``streams``; the big tables refer to it instead of repeating four strings per row.

    streams          id ─┬─ (account, exchange, stream, partition) unique, last_write_ms
    records          (stream_id, record_id) pk: latest raw bytes, ts, mutable, version
    record_versions  (stream_id, record_id, version) pk: every superseded raw
    entries          (stream_id, record_id, seq) pk: normalized ledger lines of the latest raw
    checkpoints      (stream_id, slot) pk: resumable paging state (JSON)
    coverage         (stream_id, start_ms) pk: disjoint half-open [start_ms, end_ms) ranges
    stream_meta      (stream_id, name) pk: free-form per-stream values
    sync_runs        id pk: one row per sync run (stats JSON)
    account_identities  account pk: exchange, base_url, key fingerprint, exchange user id

Exactness: money columns are :class:`ExactDecimal` — canonical decimal text on SQLite
(which has no decimal type), ``NUMERIC`` on PostgreSQL; both read back as ``Decimal``.
Ids are text, timestamps are BIGINT Unix milliseconds, raw records are byte-exact BLOB/BYTEA.

This module describes the schema for queries; ``migrations/`` creates it. A test checks
that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from .._json import canonical_decimal

__all__ = [
    "ExactDecimal",
    "exact_decimal",
    "metadata",
    "streams",
    "records",
    "record_versions",
    "entries",
    "checkpoints",
    "coverage",
    "stream_meta",
    "sync_runs",
    "account_identities",
]


def exact_decimal(dialect_name: str) -> Callable[[Decimal], Any]:
    """How a decimal is bound: canonical text (SQLite) or a canonical ``Decimal`` (NUMERIC)."""
    if dialect_name == "sqlite":
        return canonical_decimal
    return lambda value: Decimal(canonical_decimal(value))


class ExactDecimal(sa.types.TypeDecorator[Decimal]):
    """A ``Decimal`` stored exactly: canonical text on SQLite, ``NUMERIC`` on PostgreSQL.

    Values are written in canonical form (no exponent, no trailing zeros) on every backend,
    so SQLite and PostgreSQL return the same ``Decimal`` for the same input.
    """

    impl = sa.Text
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(sa.Numeric(asdecimal=True))
        return dialect.type_descriptor(sa.Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        return None if value is None else exact_decimal(dialect.name)(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(value)


metadata = sa.MetaData()

_BIG = sa.BigInteger()


def _stream_fk() -> sa.Column[int]:
    return sa.Column("stream_id", sa.Integer, sa.ForeignKey("streams.id"), nullable=False)


streams = sa.Table(
    "streams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("exchange", sa.Text, nullable=False),
    sa.Column("stream", sa.Text, nullable=False),
    sa.Column("partition", sa.Text, nullable=False),
    sa.Column("last_write_ms", _BIG, nullable=True),
    sa.UniqueConstraint("account", "exchange", "stream", "partition", name="uq_streams_key"),
)

records = sa.Table(
    "records",
    metadata,
    _stream_fk(),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("ts", _BIG, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("mutable", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("written_ms", _BIG, nullable=False),
    sa.PrimaryKeyConstraint("stream_id", "record_id", name="pk_records"),
    sa.Index("ix_records_stream_ts", "stream_id", "ts", "record_id"),
    sa.Index(
        "ix_records_mutable",
        "stream_id",
        sqlite_where=sa.text("mutable"),
        postgresql_where=sa.text("mutable"),
    ),
)

record_versions = sa.Table(
    "record_versions",
    metadata,
    sa.Column("stream_id", sa.Integer, nullable=False),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("ts", _BIG, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=False),
    sa.Column("mutable", sa.Boolean, nullable=False),
    sa.Column("written_ms", _BIG, nullable=False),
    sa.Column("replaced_ms", _BIG, nullable=False),
    sa.PrimaryKeyConstraint("stream_id", "record_id", "version", name="pk_record_versions"),
    sa.ForeignKeyConstraint(
        ["stream_id", "record_id"],
        ["records.stream_id", "records.record_id"],
        name="fk_record_versions_record",
    ),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("stream_id", sa.Integer, nullable=False),
    sa.Column("record_id", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("ts", _BIG, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("coin", sa.Text, nullable=True),
    sa.Column("amount", ExactDecimal(), nullable=False),
    sa.Column("balance", ExactDecimal(), nullable=True),
    sa.Column("category", sa.Text, nullable=True),
    sa.Column("symbol", sa.Text, nullable=True),
    sa.Column("exchange_type", sa.Text, nullable=True),
    sa.PrimaryKeyConstraint("stream_id", "record_id", "seq", name="pk_entries"),
    sa.ForeignKeyConstraint(
        ["stream_id", "record_id"],
        ["records.stream_id", "records.record_id"],
        name="fk_entries_record",
    ),
    sa.Index("ix_entries_order", "ts", "account", "record_id", "stream_id", "seq"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    _stream_fk(),
    sa.Column("slot", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_ms", _BIG, nullable=False),
    sa.PrimaryKeyConstraint("stream_id", "slot", name="pk_checkpoints"),
)

coverage = sa.Table(
    "coverage",
    metadata,
    _stream_fk(),
    sa.Column("start_ms", _BIG, nullable=False),
    sa.Column("end_ms", _BIG, nullable=False),
    sa.PrimaryKeyConstraint("stream_id", "start_ms", name="pk_coverage"),
)

stream_meta = sa.Table(
    "stream_meta",
    metadata,
    _stream_fk(),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("stream_id", "name", name="pk_stream_meta"),
)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("exchange", sa.Text, nullable=False),
    sa.Column("started_ms", _BIG, nullable=False),
    sa.Column("finished_ms", _BIG, nullable=False),
    sa.Column("stats", sa.Text, nullable=False),
    sa.Index("ix_sync_runs_started", "started_ms"),
)

account_identities = sa.Table(
    "account_identities",
    metadata,
    sa.Column("account", sa.Text, nullable=False),
    sa.Column("exchange", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("key_fingerprint", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text, nullable=True),
    sa.Column("created_ms", _BIG, nullable=False),
    sa.Column("updated_ms", _BIG, nullable=False),
    sa.PrimaryKeyConstraint("account", name="pk_account_identities"),
)
