"""Initial archive schema: streams, records (+ versions), entries, checkpoints, coverage.

Self-contained on purpose (no imports from the package): a migration describes the schema
as it was at this revision, whatever ``schema.py`` becomes later.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Canonical decimal text on SQLite (no decimal type there), NUMERIC on PostgreSQL.
_DECIMAL = sa.Text().with_variant(sa.Numeric(), "postgresql")


def _stream_fk() -> sa.Column:
    return sa.Column("stream_id", sa.Integer, sa.ForeignKey("streams.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "streams",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("partition", sa.Text, nullable=False),
        sa.Column("last_write_ms", sa.BigInteger, nullable=True),
        sa.UniqueConstraint("account", "exchange", "stream", "partition", name="uq_streams_key"),
    )
    op.create_table(
        "records",
        _stream_fk(),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("mutable", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("written_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "record_id", name="pk_records"),
    )
    op.create_index("ix_records_stream_ts", "records", ["stream_id", "ts", "record_id"])
    op.create_index(
        "ix_records_mutable",
        "records",
        ["stream_id"],
        sqlite_where=sa.text("mutable"),
        postgresql_where=sa.text("mutable"),
    )
    op.create_table(
        "record_versions",
        sa.Column("stream_id", sa.Integer, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("mutable", sa.Boolean, nullable=False),
        sa.Column("written_ms", sa.BigInteger, nullable=False),
        sa.Column("replaced_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "record_id", "version", name="pk_record_versions"),
        sa.ForeignKeyConstraint(
            ["stream_id", "record_id"],
            ["records.stream_id", "records.record_id"],
            name="fk_record_versions_record",
        ),
    )
    op.create_table(
        "entries",
        sa.Column("stream_id", sa.Integer, nullable=False),
        sa.Column("record_id", sa.Text, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("coin", sa.Text, nullable=True),
        sa.Column("amount", _DECIMAL, nullable=False),
        sa.Column("fee", _DECIMAL, nullable=False),
        sa.Column("balance", _DECIMAL, nullable=True),
        sa.Column("category", sa.Text, nullable=True),
        sa.Column("symbol", sa.Text, nullable=True),
        sa.Column("exchange_type", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("stream_id", "record_id", "seq", name="pk_entries"),
        sa.ForeignKeyConstraint(
            ["stream_id", "record_id"],
            ["records.stream_id", "records.record_id"],
            name="fk_entries_record",
        ),
    )
    op.create_index("ix_entries_order", "entries", ["ts", "account", "record_id", "stream_id", "seq"])
    op.create_table(
        "checkpoints",
        _stream_fk(),
        sa.Column("slot", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "slot", name="pk_checkpoints"),
    )
    op.create_table(
        "coverage",
        _stream_fk(),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("end_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "start_ms", name="pk_coverage"),
    )
    op.create_table(
        "stream_meta",
        _stream_fk(),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "name", name="pk_stream_meta"),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("started_ms", sa.BigInteger, nullable=False),
        sa.Column("finished_ms", sa.BigInteger, nullable=False),
        sa.Column("stats", sa.Text, nullable=False),
    )
    op.create_index("ix_sync_runs_started", "sync_runs", ["started_ms"])


def downgrade() -> None:
    for table in (
        "sync_runs",
        "stream_meta",
        "coverage",
        "checkpoints",
        "entries",
        "record_versions",
        "records",
        "streams",
    ):
        op.drop_table(table)
