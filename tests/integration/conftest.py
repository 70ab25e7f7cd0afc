"""Integration fixtures: the real auth server app and services it talks to (Redis on 127.0.0.1:6379)."""

from __future__ import annotations

# Real `jwtgate serve` processes (tests/processes.py).
from processes import fleet, module_fleet, new_logs_of_each_test  # noqa: F401

# Redis skip/fail rule shared with tests/storage and tests/service (JWTGATE_REQUIRE_SERVICES=1 fails).
from storage.conftest import redis_url  # noqa: F401
