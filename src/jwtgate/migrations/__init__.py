"""Alembic migrations, shipped inside the package so that an installed jwtgate can migrate its database.

:func:`upgrade` runs them programmatically on an open connection; ``env.py`` picks that connection up.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config pointing at this package; ``connection`` is handed to ``env.py``."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["connection"] = connection
    return config


def upgrade(connection: sa.Connection, revision: str = "head") -> None:
    """Upgrade the database behind ``connection`` (a sync connection, e.g. from ``run_sync``)."""
    command.upgrade(alembic_config(connection), revision)


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def script_revisions() -> tuple[str, list[str]]:
    """The head revision this jwtgate ships and every revision it knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations shipped")
    return head, [rev.revision for rev in script.walk_revisions()]


def schema_problem(current: str | None) -> tuple[str, str] | None:
    """Why a database at revision ``current`` cannot be used as it is: ``(kind, message)`` with kind
    ``missing`` (no jwtgate schema), ``behind`` or ``newer``; None when it is at the head."""
    head, known = script_revisions()
    if current == head:
        return None
    if current is None:
        return "missing", "no jwtgate schema"
    if current not in known:
        message = (
            f"the database schema is at revision {current}, newer than this jwtgate knows "
            f"(up to {head}): upgrade jwtgate"
        )
        return "newer", message
    message = (
        f"the database schema is at revision {current}; this jwtgate needs {head}: "
        "run `jwtgate migrate` (or start `jwtgate serve`, which migrates)"
    )
    return "behind", message
