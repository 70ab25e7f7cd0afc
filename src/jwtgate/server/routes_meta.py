"""Discovery and operations: JWKS, RFC 8414 metadata, revocation feed, health, metrics.

In production (or with ``JWTGATE_OPERATIONS_AUTH=on``) the revocation feed and the metrics need a
bearer access token with scope ``jwtgate:revocations`` / ``jwtgate:metrics``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import JSONResponse

from jwtgate import errors
from jwtgate.server.authentication import request_credentials
from jwtgate.server.dpop import DPOP_ALGORITHMS
from jwtgate.server.openapi import AUTHENTICATED, UNAVAILABLE, error_responses, success
from jwtgate.server.problems import ApiError, bearer_challenge
from jwtgate.server.responses import json_no_store
from jwtgate.server.schemas import Health, JsonWebKeySet, RevocationFeed
from jwtgate.server.state import app_state, dpop_gate, service_of
from jwtgate.service.policy import SIGNING_ALGORITHMS

__all__ = [
    "METRICS_SCOPE",
    "REVOCATIONS_SCOPE",
    "authorization_server_metadata",
    "build_meta_router",
    "require_operations_scope",
]

logger = logging.getLogger("jwtgate.server")

#: The scopes an access token needs for the operations routes when they are protected (production).
METRICS_SCOPE = "jwtgate:metrics"
REVOCATIONS_SCOPE = "jwtgate:revocations"

_OPERATIONS_AUTH = {
    401: "Production (JWTGATE_OPERATIONS_AUTH=on): no or an invalid access token.",
    403: "Production (JWTGATE_OPERATIONS_AUTH=on): the token lacks the scope jwtgate:revocations.",
}

# The feed's cursor is a non-negative 63-bit integer (database ids).
_MAX_CURSOR = 2**63 - 1


def authorization_server_metadata(
    issuer: str,
    *,
    registration_open: bool,
    scopes: Iterable[str] = ("read",),
    dpop_algorithms: tuple[str, ...] = (),
) -> dict[str, Any]:
    """RFC 8414 section 2 metadata; endpoint URLs hang off the issuer URL. Everything listed is
    implemented: this is what clients such as Authlib configure themselves from."""
    base = issuer.rstrip("/")
    client_auth = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
    signing_algs = sorted(SIGNING_ALGORITHMS - {"HS256"})
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "scopes_supported": sorted(set(scopes)),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "password", "refresh_token"],
        "token_endpoint_auth_methods_supported": [*client_auth, "none"],
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "revocation_endpoint_auth_methods_supported": [*client_auth, "none"],
        "revocation_endpoint_auth_signing_alg_values_supported": signing_algs,
        "introspection_endpoint_auth_methods_supported": client_auth,
        "introspection_endpoint_auth_signing_alg_values_supported": signing_algs,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{base}/docs",
    }
    if dpop_algorithms:
        metadata["dpop_signing_alg_values_supported"] = list(dpop_algorithms)  # RFC 9449 section 5.1
    if registration_open:
        metadata["jwtgate_registration_endpoint"] = f"{base}/api/register"
    return metadata


async def _metadata_response(request: Request) -> Response:
    settings = app_state(request).settings
    clients = await service_of(request).list_clients()
    scopes = {"read", *(scope for client in clients for scope in client.scopes)}
    body = authorization_server_metadata(
        service_of(request).policy.issuer,
        registration_open=settings.registration == "open",
        scopes=scopes,
        dpop_algorithms=DPOP_ALGORITHMS if settings.dpop != "off" else (),
    )
    if not settings.docs_enabled:
        del body["service_documentation"]  # /docs is not served (production default)
    return JSONResponse(body, headers={"Cache-Control": "public, max-age=300"})


async def require_operations_scope(request: Request, scope: str) -> None:
    """When the operations routes are protected (production, or JWTGATE_OPERATIONS_AUTH=on): a valid
    access token in the Authorization header (verified like any API token: signature, claims,
    denylist, DPoP binding) carrying ``scope``; 401 without one, 403 ``insufficient_scope`` otherwise.
    Cookies are not accepted: these routes serve machines, not pages."""
    if not app_state(request).settings.operations_protected:
        return
    credentials = request_credentials(request)
    claims = await service_of(request).authenticate(credentials.token)
    await dpop_gate(request).resource_request(request, credentials.scheme, credentials.token, claims)
    granted = claims.get("scope")
    if not isinstance(granted, str) or scope not in granted.split():
        description = f"this needs an access token with scope {scope}"
        challenge = bearer_challenge("insufficient_scope", description)
        raise ApiError(403, "insufficient_scope", description, headers={"WWW-Authenticate": challenge})


def build_meta_router() -> APIRouter:
    router = APIRouter(tags=["discovery and operations"])

    @router.get(
        "/.well-known/jwks.json",
        summary="Public keys (next, active, retired)",
        responses=success(200, JsonWebKeySet),
    )
    async def jwks(request: Request) -> Response:
        document = service_of(request).jwks()
        # Short cache: a rotation publishes the next key well before it signs.
        return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})

    @router.get(
        "/.well-known/oauth-authorization-server",
        summary="RFC 8414 metadata",
        responses=error_responses(*UNAVAILABLE),
    )
    async def metadata(request: Request) -> Response:
        return await _metadata_response(request)

    @router.get(
        "/.well-known/oauth-authorization-server/{issuer_path:path}",
        summary="RFC 8414 metadata at the path-insertion location of an issuer with a path",
        responses=error_responses(404, *UNAVAILABLE),
    )
    async def metadata_for_path(request: Request, issuer_path: str) -> Response:
        # RFC 8414 section 3.1: https://host/tenant is described at
        # https://host/.well-known/oauth-authorization-server/tenant; any other path is not ours.
        own = urlsplit(service_of(request).policy.issuer).path.strip("/")
        if not own or issuer_path.strip("/") != own:
            raise ApiError(404, "not_found", "not found")
        return await _metadata_response(request)

    @router.get(
        "/api/revocations",
        summary="Revocation feed for guards: entries after a cursor",
        responses={
            **success(200, RevocationFeed),
            **error_responses(*AUTHENTICATED, 422, *UNAVAILABLE, text=_OPERATIONS_AUTH),
        },
    )
    async def revocations(
        request: Request,
        after: Annotated[int, Query(ge=0, le=_MAX_CURSOR)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    ) -> Response:
        await require_operations_scope(request, REVOCATIONS_SCOPE)
        page = await service_of(request).revocations(after=after, limit=limit)
        return json_no_store(page)

    @router.get("/healthz", summary="Liveness: the process answers", responses=success(200, Health))
    async def healthz() -> Response:
        return json_no_store({"status": "ok"})

    @router.get(
        "/readyz",
        summary="Readiness: the database answers",
        responses={**success(200, Health), **error_responses(*UNAVAILABLE)},
    )
    async def readyz(request: Request) -> Response:
        state = app_state(request)
        if state.service is None:
            body = {"error": "temporarily_unavailable", "error_description": "starting"}
            return json_no_store(body, status_code=503)
        try:
            await state.service.ping()
        except errors.StorageError:
            logger.warning("readiness check failed: storage unavailable")
            body = {
                "error": "temporarily_unavailable",
                "error_description": "the database does not answer",
            }
            return json_no_store(body, status_code=503)
        return json_no_store({"status": "ready"})

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        await require_operations_scope(request, METRICS_SCOPE)
        content = app_state(request).metrics.render()
        return Response(content, media_type=CONTENT_TYPE_LATEST)

    return router
