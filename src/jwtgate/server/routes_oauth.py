"""OAuth 2.0 endpoints: token (password and refresh_token grants), revocation, introspection."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from jwtgate import errors
from jwtgate.server.bodies import form_body_openapi, read_form
from jwtgate.server.client_auth import authenticate_client
from jwtgate.server.problems import ApiError
from jwtgate.server.responses import NO_STORE, client_context, json_no_store, token_response
from jwtgate.server.state import app_state, dpop_gate, service_of
from jwtgate.service import AuthService

__all__ = ["build_oauth_router"]

_TOKEN_FIELDS = frozenset(
    {"grant_type", "username", "password", "scope", "refresh_token", "client_id", "client_secret"}
)
_TOKEN_OPERATION_FIELDS = frozenset({"token", "token_type_hint", "client_id", "client_secret"})
_HINTS = frozenset({"access_token", "refresh_token"})


_MAX_TOKEN_PARAMETER = 16_384  # longer than any token this server issues: not worth a lookup


async def _client_token_request(request: Request) -> tuple[AuthService, str, str | None]:
    """The shared start of RFC 7009 revocation and RFC 7662 introspection: the form, an authenticated
    client, and the ``token`` with its ``token_type_hint``."""
    form = await read_form(request, _TOKEN_OPERATION_FIELDS)
    service = service_of(request)
    await authenticate_client(request, form, service)
    return service, _required(form, "token"), _hint(form)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise ApiError(400, "invalid_request", f"the {name} parameter is required")
    return value


def _hint(form: dict[str, str]) -> str | None:
    # RFC 7009 section 2.1: an unknown hint is ignored, the search extends to every type.
    hint = form.get("token_type_hint")
    return hint if hint in _HINTS else None


def build_oauth_router() -> APIRouter:
    router = APIRouter(prefix="/oauth", tags=["oauth"])

    @router.post(
        "/token",
        summary="OAuth 2.0 token endpoint (grant_type=password or refresh_token)",
        openapi_extra=form_body_openapi(
            {
                "grant_type": "password or refresh_token",
                "username": "for the password grant",
                "password": "for the password grant",
                "scope": "optional, space-separated",
                "refresh_token": "for the refresh_token grant",
            },
            ("grant_type",),
        ),
    )
    async def token(request: Request) -> Response:
        form = await read_form(request, _TOKEN_FIELDS)
        grant_type = _required(form, "grant_type")
        service = service_of(request)
        metrics = app_state(request).metrics
        gate = dpop_gate(request)
        try:
            jkt = await gate.token_request(request) if grant_type in ("password", "refresh_token") else None
            if grant_type == "password":
                username, password = _required(form, "username"), _required(form, "password")
                if len(username) > 150 or len(password) > 1024:
                    raise errors.InvalidCredentials()
                pair = await service.login(
                    username,
                    password,
                    scope=form.get("scope") or None,
                    dpop_jkt=jkt,
                    **client_context(request),
                )
            elif grant_type == "refresh_token":
                refresh_token = _required(form, "refresh_token")
                pair = await service.refresh(refresh_token, dpop_jkt=jkt, **client_context(request))
            else:
                raise ApiError(400, "unsupported_grant_type", "use password or refresh_token")
        except errors.InvalidDPoPProof as exc:
            metrics.auth_events.labels(grant_type, exc.code).inc()
            raise ApiError(400, "invalid_dpop_proof", exc.description, headers=gate.nonce_header()) from None
        except (errors.InvalidCredentials, errors.InvalidGrant) as exc:
            metrics.auth_events.labels(grant_type, exc.code).inc()
            # RFC 6749 section 5.2: invalid_grant is a 400 at the token endpoint.
            raise ApiError(400, "invalid_grant", type(exc).description) from None
        metrics.auth_events.labels(grant_type, "ok").inc()
        return token_response(pair, headers=gate.nonce_header())

    @router.post(
        "/revoke",
        summary="RFC 7009 token revocation (client authentication required)",
        openapi_extra=form_body_openapi(
            {"token": "the token to revoke", "token_type_hint": "access_token or refresh_token"},
            ("token",),
        ),
    )
    async def revoke(request: Request) -> Response:
        service, token_value, hint = await _client_token_request(request)
        # RFC 7009 section 2.2: 200 whether or not the token was known or valid.
        if len(token_value) <= _MAX_TOKEN_PARAMETER:
            await service.revoke_token(token_value, token_type_hint=hint)
        return Response(status_code=200, headers=NO_STORE)

    @router.post(
        "/introspect",
        summary="RFC 7662 token introspection (client authentication required)",
        openapi_extra=form_body_openapi(
            {"token": "the token to inspect", "token_type_hint": "access_token or refresh_token"},
            ("token",),
        ),
    )
    async def introspect(request: Request) -> Response:
        service, token_value, hint = await _client_token_request(request)
        if len(token_value) > _MAX_TOKEN_PARAMETER:
            return json_no_store({"active": False})
        return json_no_store(await service.introspect(token_value, token_type_hint=hint))

    return router
