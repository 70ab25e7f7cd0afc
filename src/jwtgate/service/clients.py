"""Confidential clients (resource servers that may introspect and revoke): registration and
authentication. A secret is shown once; only its SHA-256 digest is stored and compared in constant time."""

from __future__ import annotations

from collections.abc import Callable

from jwtgate.errors import InvalidClient, InvalidRequest
from jwtgate.service import opaque
from jwtgate.service.ports import AuditStore, ClientStore
from jwtgate.service.records import ClientRecord
from jwtgate.service.types import ClientInfo
from jwtgate.service.validation import clean_text

__all__ = ["ClientRegistry"]

_NO_CLIENT = "0" * 64  # compared against when the id is unknown, so timing does not tell


class ClientRegistry:
    def __init__(self, store: ClientStore, audit: AuditStore, clock: Callable[[], float]) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock

    async def add(self, name: str) -> tuple[ClientInfo, str]:
        """Register a client; returns its info and its secret (shown once). Conflict if the name exists."""
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 128:
            raise InvalidRequest("a client name is 1-128 characters")
        if clean_text(name, 128) != name.strip():
            raise InvalidRequest("a client name cannot contain control characters")
        secret = opaque.new_client_secret()
        now = self._clock()
        client = ClientRecord(opaque.new_id("jgc_"), name.strip(), opaque.digest(secret), now)
        await self._store.create_client(client)
        await self._audit.add_audit_event("client_added", now, detail={"client_id": client.id})
        return ClientInfo.of(client), secret

    async def list(self) -> list[ClientInfo]:
        return [ClientInfo.of(c) for c in await self._store.list_clients()]

    async def authenticate(self, client_id: str, secret: str) -> ClientInfo:
        """The client when ``secret`` is its secret; InvalidClient otherwise."""
        client = None
        if isinstance(client_id, str) and len(client_id) <= 64:
            client = await self._store.get_client(client_id)
        presented = opaque.digest(secret) if isinstance(secret, str) and len(secret) <= 256 else ""
        expected = client.secret_hash if client is not None else _NO_CLIENT
        if not opaque.digests_equal(presented or "x" * 64, expected) or client is None:
            raise InvalidClient
        return ClientInfo.of(client)
