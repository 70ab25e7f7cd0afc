"""The SQL schema (SQLAlchemy Core). Portable across SQLite and PostgreSQL.

This is the live description used by the queries; the migrations under ``jwtgate.migrations`` create it, and a
test checks that they agree. Times are POSIX seconds (double precision). Role and scope lists are JSON text.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(512), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("roles", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("password_changed_at", sa.Double, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("last_used_at", sa.Double, nullable=False),
    sa.Column("idle_expires_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("scope", sa.String(1024)),
    sa.Column("user_agent", sa.String(512)),
    sa.Column("ip", sa.String(64)),
    sa.Column("revoked_at", sa.Double),
    sa.Column("dpop_jkt", sa.String(64)),
    # No foreign key: the built-in client is not a row. NULL means the built-in client.
    sa.Column("client_id", sa.String(64)),
    sa.Index("ix_sessions_user_id", "user_id"),
    sa.Index("ix_sessions_client_id", "client_id"),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column(
        "session_id",
        sa.String(64),
        sa.ForeignKey("sessions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("parent_digest", sa.String(64)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double),
    sa.Index("ix_refresh_tokens_session_id", "session_id", "created_at"),
)

# AUTOINCREMENT on SQLite: a cursor is never handed out twice, even after the newest rows were purged.
revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("cursor", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("value", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.UniqueConstraint("kind", "value", name="uq_revocations_kind_value"),
    sa.Index("ix_revocations_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

clients = sa.Table(
    "clients",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64)),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("grants", sa.Text, nullable=False),
    sa.Column("scopes", sa.Text, nullable=False),
    sa.Column("redirect_uris", sa.Text, nullable=False),
    sa.Column("first_party", sa.Boolean, nullable=False),
    sa.Column("audiences", sa.Text, nullable=False),
    sa.Column("introspect", sa.Boolean, nullable=False),
    sa.Column("jwks_url", sa.String(2048)),
    sa.Column("jwks", sa.Text),
)

authorization_codes = sa.Table(
    "authorization_codes",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("client_id", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("redirect_uri", sa.String(2048), nullable=False),
    sa.Column("scope", sa.String(1024), nullable=False),
    sa.Column("code_challenge", sa.String(128), nullable=False),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("used_at", sa.Double),
    sa.Column("session_id", sa.String(64)),
    sa.Index("ix_authorization_codes_expires_at", "expires_at"),
)

# RFC 7523 section 3: a client assertion's jti is accepted once (kept until the assertion expires).
assertion_ids = sa.Table(
    "assertion_ids",
    metadata,
    sa.Column("client_id", sa.String(64), primary_key=True),
    sa.Column("jti", sa.String(256), primary_key=True),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Index("ix_assertion_ids_expires_at", "expires_at"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.Double, nullable=False),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("user_id", sa.String(64)),
    sa.Column("session_id", sa.String(64)),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Index("ix_audit_events_at", "at"),
    sqlite_autoincrement=True,
)

# What every instance must agree on (schema v0002): the key ring, server secrets, named values.
# ``material`` is a private JWK or a secret, sealed with the key-encryption key named by ``kek_id``
# (plain text when ``kek_id`` is null; see jwtgate.service.sealing).
signing_keys = sa.Table(
    "signing_keys",
    metadata,
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

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("material", sa.Text, nullable=False),
    sa.Column("kek_id", sa.String(64)),
    sa.Column("created_at", sa.Double, nullable=False),
)

server_meta = sa.Table(
    "server_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


def row_values(table: sa.Table, record: Any) -> dict[str, Any]:
    """The column values of ``table`` read from the same-named attributes of a record."""
    return {c.name: getattr(record, c.name) for c in table.c}
