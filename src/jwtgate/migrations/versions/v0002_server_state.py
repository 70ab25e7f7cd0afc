"""Server state in the database: the signing key ring, server secrets and named values (issuer, ring
version), so that every instance shares them (they were files in the data folder before).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(128), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("retire_after", sa.Double),
        sa.Column("activated_at", sa.Double),
        sa.Column("activate_at", sa.Double),
        sa.Column("material", sa.Text, nullable=False),
        sa.Column("kek_id", sa.String(64)),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("material", sa.Text, nullable=False),
        sa.Column("kek_id", sa.String(64)),
        sa.Column("created_at", sa.Double, nullable=False),
    )
    op.create_table(
        "server_meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("server_meta")
    op.drop_table("server_secrets")
    op.drop_table("signing_keys")
