"""Where an issuer puts scopes and roles: a small frozen description read by one function each.

Issuers disagree: jwtgate and Auth0 write ``scope`` as a space-separated string, Okta writes ``scp`` as
a list, Entra ID ``scp`` as a string and ``roles`` as a list, Keycloak nests roles in
``realm_access.roles`` or ``resource_access.<client>.roles``, Cognito puts groups in ``cognito:groups``.
A :class:`ClaimMap` names the claim (a dotted path for nested objects, or a callable for anything else);
:meth:`ClaimMap.scopes` reads a space-separated string or a list of strings (``scope`` itself only as
the string RFC 9068 defines), :meth:`ClaimMap.roles` a list of strings; anything else grants nothing
(fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jwtgate.errors import ConfigError

__all__ = ["DEFAULT_CLAIM_MAP", "ClaimMap", "RolesReader"]

#: A callable that returns the roles of verified claims (for layouts a dotted path cannot name).
RolesReader = Callable[[Mapping[str, Any]], Iterable[str]]

_EMPTY: frozenset[str] = frozenset()


def _path(spec: str, what: str) -> tuple[str, ...]:
    if type(spec) is not str or not spec:
        raise ConfigError(f"{what} must be a claim name, a dotted path, or a callable")
    parts = tuple(spec.split("."))
    if not all(parts):
        raise ConfigError(f"{what} {spec!r} has an empty path segment")
    return parts


def _read(claims: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = claims
    for part in path:
        if type(value) is not dict:
            return None
        value = value.get(part)
    return value


def _names(value: Any, *, text: bool = True, lists: bool = True) -> frozenset[str]:
    if type(value) is str:
        return frozenset(value.split()) if text else _EMPTY
    if type(value) is list and lists:
        return frozenset(item for item in value if type(item) is str)
    return _EMPTY


@dataclass(frozen=True, slots=True)
class ClaimMap:
    """``scope_claim`` and ``roles_claim``: a claim name, a dotted path (``"realm_access.roles"``), or
    for roles a callable ``claims -> roles``."""

    scope_claim: str = "scope"
    roles_claim: str | RolesReader = "roles"
    _scope_path: tuple[str, ...] = ()
    _roles_path: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scope_path", _path(self.scope_claim, "scope_claim"))
        if not callable(self.roles_claim):
            object.__setattr__(self, "_roles_path", _path(self.roles_claim, "roles_claim"))

    def scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        path = self._scope_path
        if path == ("scope",):
            # RFC 8693 / RFC 9068 define ``scope`` as one space-separated string: a list is malformed.
            return _names(claims.get("scope"), lists=False)
        return _names(claims.get(path[0]) if len(path) == 1 else _read(claims, path))

    def roles(self, claims: Mapping[str, Any]) -> frozenset[str]:
        path = self._roles_path
        if path is None:
            reader: Any = self.roles_claim
            found = reader(claims)
            return _names(list(found) if found is not None and type(found) is not str else found, text=False)
        # Roles are a list: a string "admin editor" is one malformed value, not two roles.
        return _names(claims.get(path[0]) if len(path) == 1 else _read(claims, path), text=False)


DEFAULT_CLAIM_MAP = ClaimMap()
