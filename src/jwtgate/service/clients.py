"""OAuth clients: registration, lookup, and authentication (RFC 6749 section 2.3, RFC 7523).

- Secrets are shown once; only their SHA-256 digest is stored and compared in constant time (an
  unknown client costs the same comparison).
- ``private_key_jwt``: a JWT signed with one of the client's registered keys, ``iss`` = ``sub`` = the
  client id, ``aud`` naming this server's token endpoint or issuer, a short life, and a ``jti`` that is
  accepted once (kept until the assertion expires).
- The built-in client (``policy.client_id``, default ``jwtgate``) is not stored: a public, first-party
  client with the password and refresh grants and no scope bound, which the first-party JSON routes,
  the pages and clients that send no client credentials use.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from jwtgate.errors import ConfigError, Conflict, InvalidClient, JwtgateError, NotFound, TokenError
from jwtgate.jose.b64 import decode_checked
from jwtgate.jose.jsonutil import loads_object
from jwtgate.jose.jwks import KeySet
from jwtgate.jose.jws import match_compact, verify_compact
from jwtgate.service import opaque
from jwtgate.service.policy import ServicePolicy
from jwtgate.service.ports import Store
from jwtgate.service.records import ClientRecord
from jwtgate.service.registration import ClientRegistration, check_client_name
from jwtgate.service.types import ClientInfo

__all__ = ["ASSERTION_TYPE", "ClientRegistry"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
KeysAt = Callable[[str, "str | None"], Awaitable[KeySet]]
_NO_CLIENT = "0" * 64  # compared against when the id is unknown, so timing does not tell
_ASSERTION_HEADER = frozenset({"alg", "typ", "kid"})
_MAX_ASSERTION = 8192
_MAX_ASSERTION_LIFE = 3600  # seconds (Authlib signs for an hour; the jti is kept that long)


class ClientRegistry:
    def __init__(self, store: Store, policy: ServicePolicy, clock: Callable[[], float]) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self.builtin = ClientRecord(
            id=policy.client_id,
            name=policy.client_id,
            secret_hash=None,
            created_at=0.0,
            kind="public",
            grants=("password", "refresh_token"),
            first_party=True,
            audiences=(policy.audience,),
        )

    # ------------------------------------------------------------------ registry
    async def add(self, name: str, registration: ClientRegistration) -> tuple[ClientInfo, str | None]:
        """Register a client; returns its info and its secret (None for public and key clients)."""
        check_client_name(name)
        if name == self.builtin.id or await self._store.get_client_by_name(name) is not None:
            raise Conflict("a client with this name already exists")
        secret = None
        if registration.kind == "confidential" and not registration.uses_keys:
            secret = opaque.new_client_secret()
        now = self._clock()
        client = ClientRecord(
            id=opaque.new_id("jgc_"),
            name=name,
            secret_hash=None if secret is None else opaque.digest(secret),
            created_at=now,
            kind=registration.kind,
            grants=registration.grants,
            scopes=registration.scopes,
            redirect_uris=registration.redirect_uris,
            first_party=registration.first_party,
            audiences=registration.audiences,
            introspect=bool(registration.introspect),
            jwks_url=registration.jwks_url,
            jwks=registration.jwks,
        )
        await self._store.create_client(client)
        await self._store.add_audit_event("client_added", now, detail={"client_id": client.id})
        return ClientInfo.of(client), secret

    async def list_all(self) -> list[ClientInfo]:
        return [ClientInfo.of(c) for c in await self._store.list_clients()]

    async def by_name(self, name: str) -> ClientRecord:
        """The registered client named ``name`` (or with this id); NotFound otherwise."""
        if not isinstance(name, str) or len(name) > 128:
            raise NotFound("no such client")
        client = await self._store.get_client_by_name(name) or await self._store.get_client(name)
        if client is None:
            raise NotFound("no such client")
        return client

    async def remove(self, client: ClientRecord) -> None:
        await self._store.delete_client(client.id)
        await self._store.add_audit_event("client_removed", self._clock(), detail={"client_id": client.id})

    async def rotate_secret(self, client: ClientRecord) -> str:
        if client.secret_hash is None:
            raise InvalidClient("this client has no secret (public, or private_key_jwt)")
        secret = opaque.new_client_secret()
        await self._store.set_client_secret(client.id, opaque.digest(secret))
        detail = {"client_id": client.id}
        await self._store.add_audit_event("client_secret_rotated", self._clock(), detail=detail)
        return secret

    async def get(self, client_id: str | None) -> ClientRecord | None:
        """The client with this id, the built-in one for None or its id."""
        if client_id is None or client_id == self.builtin.id:
            return self.builtin
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        return await self._store.get_client(client_id)

    def allowed_scopes(self, client: ClientRecord) -> tuple[str, ...] | None:
        """The scopes ``client`` may obtain, or None when it is not bounded (the built-in client)."""
        return None if client.id == self.builtin.id else client.scopes

    def audience_of(self, client: ClientRecord) -> str | list[str]:
        """The ``aud`` of the client's access tokens: its registered audiences; else this server's
        own for first-party clients, and the client's id for others, so that a third-party token is
        never accepted by the first-party routes (``/api/*``: sessions, logout everywhere)."""
        if client.audiences:
            audiences = list(client.audiences)
        else:
            audiences = [self._policy.audience if client.first_party else client.id]
        return audiences[0] if len(audiences) == 1 else audiences

    # ------------------------------------------------------------------ authentication
    async def public(self, client_id: str) -> ClientRecord:
        """A client identified by ``client_id`` alone (method ``none``): it must be public."""
        client = await self.get(client_id)
        if client is None or client.kind != "public":
            raise InvalidClient
        return client

    async def by_secret(self, client_id: str, secret: str) -> ClientRecord:
        """The confidential client whose secret this is; InvalidClient otherwise (constant time)."""
        client = None
        if isinstance(client_id, str) and len(client_id) <= 64 and client_id != self.builtin.id:
            client = await self._store.get_client(client_id)
        presented = opaque.digest(secret) if isinstance(secret, str) and len(secret) <= 256 else "x" * 64
        expected = client.secret_hash if client is not None and client.secret_hash else _NO_CLIENT
        if not opaque.digests_equal(presented, expected) or client is None or client.secret_hash is None:
            raise InvalidClient
        return client

    async def by_assertion(
        self,
        assertion: str,
        audiences: Sequence[str],
        claimed_id: str | None = None,
        keys_at: KeysAt | None = None,
    ) -> ClientRecord:
        """RFC 7523 section 3: the client that signed ``assertion``; InvalidClient otherwise.
        ``keys_at(url, kid)`` fetches the keys of clients registered with a JWKS URL."""
        now = self._clock()
        if not isinstance(assertion, str) or len(assertion) > _MAX_ASSERTION or not match_compact(assertion):
            raise InvalidClient("the client assertion is malformed")
        try:
            unverified = loads_object(decode_checked(assertion.split(".")[1]))
        except JwtgateError:
            raise InvalidClient("the client assertion is malformed") from None
        client_id = unverified.get("sub")
        if not isinstance(client_id, str) or (claimed_id is not None and claimed_id != client_id):
            raise InvalidClient
        client = await self.get(client_id)
        if client is None or client.id == self.builtin.id:
            raise InvalidClient
        if client.jwks is not None:
            keys = _keys(client.jwks)
        elif client.jwks_url is not None and keys_at is not None:
            keys = await keys_at(client.jwks_url, _unverified_kid(assertion))
        else:
            raise InvalidClient
        return await self.by_assertion_keys(client, assertion, keys, audiences, now)

    async def by_assertion_keys(
        self, client: ClientRecord, assertion: str, keys: KeySet, audiences: Sequence[str], now: float
    ) -> ClientRecord:
        try:
            _, payload = verify_compact(assertion, keys, allowed_header=_ASSERTION_HEADER)
            claims = loads_object(payload)
        except (TokenError, ConfigError):
            raise InvalidClient from None
        leeway = self._policy.leeway
        exp: Any = claims.get("exp")
        jti = claims.get("jti")
        if claims.get("iss") != client.id or claims.get("sub") != client.id:
            raise InvalidClient
        if not _names_one_of(claims.get("aud"), audiences):
            raise InvalidClient("the client assertion is not for this server")
        if type(exp) not in (int, float) or not now - leeway < exp <= now + _MAX_ASSERTION_LIFE + leeway:
            raise InvalidClient("the client assertion has expired or lives too long")
        nbf: Any = claims.get("nbf", claims.get("iat"))
        if nbf is not None and (type(nbf) not in (int, float) or nbf > now + leeway):
            raise InvalidClient("the client assertion is not valid yet")
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            raise InvalidClient("the client assertion needs a jti")
        if not await self._store.use_assertion_id(client.id, jti, float(exp) + leeway, now):
            await self._store.add_audit_event("client_assertion_replay", now, detail={"client_id": client.id})
            raise InvalidClient("the client assertion was already used")
        return client


def _unverified_kid(assertion: str) -> str | None:
    # Only which key to fetch; the signature is checked with the fetched keys.
    try:
        kid = loads_object(decode_checked(assertion.split(".")[0])).get("kid")
    except JwtgateError:
        return None
    return kid if isinstance(kid, str) and len(kid) <= 256 else None


def _keys(jwks: str) -> KeySet:
    document: Any = json.loads(jwks)
    return KeySet.from_jwks(document)


def _names_one_of(aud: object, audiences: Sequence[str]) -> bool:
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    return any(isinstance(v, str) and v in audiences for v in values)
