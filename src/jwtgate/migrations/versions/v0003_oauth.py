"""OAuth: client registrations, the client of each session, authorization codes, used assertion ids.

An existing client was a resource server: it becomes a confidential client with no grants that may
introspect and revoke (what it could do before).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Server defaults fill the rows that exist now; they are dropped afterwards so that every insert says
# what it means (the live schema has none).
_CLIENT_COLUMNS = (
    ("kind", sa.String(16), sa.text("'confidential'")),
    ("grants", sa.Text, sa.text("'[]'")),
    ("scopes", sa.Text, sa.text("'[]'")),
    ("redirect_uris", sa.Text, sa.text("'[]'")),
    ("first_party", sa.Boolean, sa.false()),
    ("audiences", sa.Text, sa.text("'[]'")),
    ("introspect", sa.Boolean, sa.true()),
)


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.alter_column("secret_hash", existing_type=sa.String(64), nullable=True)
        for name, type_, default in _CLIENT_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=False, server_default=default))
        batch.add_column(sa.Column("jwks_url", sa.String(2048)))
        batch.add_column(sa.Column("jwks", sa.Text))
    with op.batch_alter_table("clients") as batch:
        for name, type_, _ in _CLIENT_COLUMNS:
            batch.alter_column(name, existing_type=type_, existing_nullable=False, server_default=None)
    op.add_column("sessions", sa.Column("client_id", sa.String(64)))
    op.create_index("ix_sessions_client_id", "sessions", ["client_id"])
    op.create_table(
        "authorization_codes",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.String(1024), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("created_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
        sa.Column("used_at", sa.Double),
        sa.Column("session_id", sa.String(64)),
    )
    op.create_index("ix_authorization_codes_expires_at", "authorization_codes", ["expires_at"])
    op.create_table(
        "assertion_ids",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(256), primary_key=True),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
    op.create_index("ix_assertion_ids_expires_at", "assertion_ids", ["expires_at"])


def downgrade() -> None:
    op.drop_table("assertion_ids")
    op.drop_table("authorization_codes")
    op.drop_index("ix_sessions_client_id", "sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("client_id")
    op.execute(sa.text("DELETE FROM clients WHERE secret_hash IS NULL"))
    with op.batch_alter_table("clients") as batch:
        for name in ("jwks", "jwks_url", *(column[0] for column in reversed(_CLIENT_COLUMNS))):
            batch.drop_column(name)
        batch.alter_column("secret_hash", existing_type=sa.String(64), nullable=False)
