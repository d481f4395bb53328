"""The ledger convention: a fee is an entry of its own, so entries lose their ``fee`` column.

Each entry is one signed amount of one kind (``cexledger.model``). The fee a Bitget row
carried beside its amount becomes a second entry of kind ``fee`` when the row is re-derived
from its raw bytes (Bitget's normalizer version 3): ``sync`` re-derives the streams of the
accounts it syncs first, ``cexledger reparse`` every stream. Until then those streams'
entries are out of date, and reads that use entries refuse them (raw records are untouched).

Self-contained on purpose (no imports from the package), like every migration.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _recreate() -> str:
    """SQLite 3.35 and later (and PostgreSQL) drop the column in place (``fee`` is in no
    index or key); an older SQLite, as some long-term-support systems' Python links, cannot:
    the table is then copied without it (Alembic's batch mode), indexes and keys included."""
    if op.get_bind().dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35, 0):
        return "always"
    return "never"


def upgrade() -> None:
    with op.batch_alter_table("entries", recreate=_recreate()) as batch:
        batch.drop_column("fee")


def downgrade() -> None:
    with op.batch_alter_table("entries", recreate="never") as batch:
        batch.add_column(sa.Column("fee", sa.Text().with_variant(sa.Numeric(), "postgresql"),
                                   nullable=False, server_default="0"))
