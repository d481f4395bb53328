"""Account identity: whose history each account name holds.

One row per account name: the exchange, the base URL, an irreversible fingerprint of the
API key (never the key, never a secret) and the exchange's user id once a response told it.

Self-contained on purpose (no imports from the package), like every migration.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_identities",
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("exchange", sa.Text, nullable=False),
        sa.Column("base_url", sa.Text, nullable=False),
        sa.Column("key_fingerprint", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_account_identities"),
    )


def downgrade() -> None:
    op.drop_table("account_identities")
