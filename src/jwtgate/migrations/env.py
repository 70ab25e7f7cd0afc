"""Alembic environment: only online migrations on a connection passed in by jwtgate.migrations.upgrade."""

from __future__ import annotations

from alembic import context

from jwtgate.storage.sql.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through jwtgate (jwtgate migrate or Store.migrate())")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
