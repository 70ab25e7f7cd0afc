"""SQL storage: SQLAlchemy Core tables, queries and engine setup (SQLite, PostgreSQL)."""

from jwtgate.storage.sql.store import SqlStore

__all__ = ["SqlStore"]
