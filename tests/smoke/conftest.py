"""Real ``jwtgate serve`` processes (tests/processes.py), on SQLite: no PostgreSQL or Redis needed."""

from __future__ import annotations

from processes import local_fleet, module_fleet, new_logs_of_each_test  # noqa: F401
