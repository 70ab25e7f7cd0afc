"""jwtgate.protect: guard any Python API with access tokens of jwtgate or any OIDC issuer.

::

    from jwtgate.protect import JWTAuthMiddleware
    app = JWTAuthMiddleware(app, issuer="https://auth.example", audience="api",
                            jwks_url="https://auth.example/.well-known/jwks.json", revocation="feed")

    from jwtgate.protect.providers import Keycloak       # Auth0, Okta, EntraID, Cognito, Google, OIDC
    app = JWTAuthMiddleware(app, provider=Keycloak("https://sso.example/realms/acme", audience="api"))

    from jwtgate.protect.fastapi import require          # Depends(require(scopes=["read"]))
    from jwtgate.protect.wsgi import jwt_required         # @jwt_required(scopes=["read"]) on Flask views

:class:`Guard` does the checking for all integrations; :class:`JWKSClient` fetches and caches keys;
:mod:`~jwtgate.protect.revocation` keeps the denylist in sync. ``require`` and ``jwt_required`` are also
importable from here; FastAPI and Flask are imported only when they are used. Django and DRF:
:mod:`jwtgate.protect.django`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jwtgate.protect.asgi import JWTAuthMiddleware
from jwtgate.protect.claims import ClaimMap
from jwtgate.protect.errors import GuardUnavailable, InvalidRequest, JWKSUnavailable, RevocationUnavailable
from jwtgate.protect.guard import Guard, TokenUser, check_grants
from jwtgate.protect.jwks import JWKSClient
from jwtgate.protect.providers import Provider
from jwtgate.protect.revocation import Denylist, FeedRevocations, RedisRevocations
from jwtgate.protect.wsgi import JWTAuthWSGIMiddleware, jwt_required

if TYPE_CHECKING:
    from jwtgate.protect.fastapi import require

__all__ = [
    "ClaimMap",
    "Denylist",
    "FeedRevocations",
    "Guard",
    "GuardUnavailable",
    "InvalidRequest",
    "JWKSClient",
    "JWKSUnavailable",
    "JWTAuthMiddleware",
    "JWTAuthWSGIMiddleware",
    "Provider",
    "RedisRevocations",
    "RevocationUnavailable",
    "TokenUser",
    "check_grants",
    "jwt_required",
    "require",
]


def __getattr__(name: str) -> Any:
    # FastAPI is an optional dependency: import it only when require() is asked for.
    if name == "require":
        from jwtgate.protect.fastapi import require

        return require
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
