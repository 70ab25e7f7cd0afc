"""Who made a request: the verified caller (:class:`TokenUser`), the anonymous one on open paths, and
:func:`check_grants`, the scope and role test every integration shares (403 when it fails)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from jwtgate.errors import InsufficientScope
from jwtgate.protect.claims import DEFAULT_CLAIM_MAP, ClaimMap

__all__ = ["AnonymousUser", "TokenUser", "check_grants"]


class TokenUser:
    """The authenticated caller, shaped like Starlette's ``BaseUser`` (``is_authenticated``,
    ``display_name``, ``identity``) with the verified ``claims`` at hand; ``scopes`` and ``roles`` are
    read where the token's issuer keeps them."""

    __slots__ = ("claim_map", "claims")

    def __init__(self, claims: dict[str, Any], claim_map: ClaimMap = DEFAULT_CLAIM_MAP) -> None:
        self.claims = claims
        self.claim_map = claim_map

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def identity(self) -> str:
        return str(self.claims.get("sub", ""))

    @property
    def display_name(self) -> str:
        claims = self.claims
        name = claims.get("preferred_username") or claims.get("username") or claims.get("email")
        return name if isinstance(name, str) else self.identity

    @property
    def is_client(self) -> bool:
        """True when the caller is a client acting for itself (OAuth client credentials: ``sub`` is
        its ``client_id``, RFC 9068 section 2.2), False when it is a user (or a client acting for one)."""
        claims = self.claims
        client_id = claims.get("client_id", claims.get("azp"))
        return isinstance(client_id, str) and claims.get("sub") == client_id

    @property
    def is_user(self) -> bool:
        return not self.is_client

    @property
    def scopes(self) -> frozenset[str]:
        return self.claim_map.scopes(self.claims)

    @property
    def roles(self) -> frozenset[str]:
        return self.claim_map.roles(self.claims)

    def __repr__(self) -> str:
        return f"TokenUser(sub={self.identity!r}, client={self.is_client})"


class AnonymousUser:
    """Put in ``scope["user"]`` on paths left open, so ``request.user`` works there too."""

    __slots__ = ()
    is_authenticated = False
    is_client = False
    is_user = False
    identity = ""
    display_name = ""
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()


def check_grants(
    claims: Mapping[str, Any],
    scopes: Collection[str] = (),
    roles: Collection[str] = (),
    claim_map: ClaimMap = DEFAULT_CLAIM_MAP,
) -> None:
    """Raise InsufficientScope unless the token has every scope in ``scopes`` and role in ``roles``
    (read where ``claim_map`` says; by default the ``scope`` string and the ``roles`` list)."""
    if scopes and not claim_map.scopes(claims).issuperset(scopes):
        raise InsufficientScope(scope=" ".join(scopes))
    if roles and not claim_map.roles(claims).issuperset(roles):
        raise InsufficientScope("the token lacks a required role")
