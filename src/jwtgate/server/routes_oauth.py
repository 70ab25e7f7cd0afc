"""OAuth 2.0 endpoints: token (authorization_code, refresh_token, client_credentials, password),
revocation (RFC 7009) and introspection (RFC 7662), each with client authentication
(:mod:`.client_auth`). Unknown parameters are ignored, repeated ones refused (RFC 6749 section 3.2).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from jwtgate import errors
from jwtgate.server.bodies import form_body_openapi, read_form
from jwtgate.server.client_auth import CLIENT_FIELDS, authenticate_client
from jwtgate.server.openapi import (
    CLIENT_BASIC,
    DPOP_PROOF,
    FORM_BODY,
    UNAVAILABLE,
    error_responses,
    parameters,
    success,
)
from jwtgate.server.problems import ApiError
from jwtgate.server.responses import NO_STORE, client_context, json_no_store, token_response
from jwtgate.server.schemas import Introspection, TokenAnswer
from jwtgate.server.state import app_state, dpop_gate, service_of
from jwtgate.service import AuthService
from jwtgate.service.records import ClientRecord
from jwtgate.service.types import AccessGrant, TokenPair

__all__ = ["build_oauth_router"]

_TOKEN_FIELDS = CLIENT_FIELDS | {
    "grant_type",
    "username",
    "password",
    "scope",
    "refresh_token",
    "code",
    "redirect_uri",
    "code_verifier",
}
_TOKEN_OPERATION_FIELDS = CLIENT_FIELDS | {"token", "token_type_hint"}
_HINTS = frozenset({"access_token", "refresh_token"})
_GRANT_TYPES = ("authorization_code", "client_credentials", "password", "refresh_token")

_MAX_TOKEN_PARAMETER = 16_384  # longer than any token this server issues: not worth a lookup


async def _client_token_request(request: Request) -> tuple[AuthService, ClientRecord, str, str | None]:
    """The shared start of RFC 7009 revocation and RFC 7662 introspection: the form, an authenticated
    client, and the ``token`` with its ``token_type_hint``."""
    form = await read_form(request, _TOKEN_OPERATION_FIELDS)
    service = service_of(request)
    client = await authenticate_client(request, form, service, required=True)
    return service, client, _required(form, "token"), _hint(form)


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise ApiError(400, "invalid_request", f"the {name} parameter is required")
    return value


def _hint(form: dict[str, str]) -> str | None:
    # RFC 7009 section 2.1: an unknown hint is ignored, the search extends to every type.
    hint = form.get("token_type_hint")
    return hint if hint in _HINTS else None


async def _grant(
    request: Request,
    service: AuthService,
    client: ClientRecord,
    grant_type: str,
    form: dict[str, str],
    dpop_jkt: str | None,
) -> TokenPair | AccessGrant:
    context = client_context(request)
    scope = form.get("scope")
    if grant_type == "password":
        username, password = _required(form, "username"), _required(form, "password")
        if len(username) > 150 or len(password) > 1024:
            raise errors.InvalidCredentials()
        return await service.token_password(
            client, username, password, scope=scope, dpop_jkt=dpop_jkt, **context
        )
    if grant_type == "refresh_token":
        return await service.token_refresh(
            client, _required(form, "refresh_token"), ip=context["ip"], dpop_jkt=dpop_jkt, scope=scope
        )
    if grant_type == "client_credentials":
        return await service.token_client_credentials(client, scope)
    if grant_type == "authorization_code":
        return await service.token_authorization_code(
            client,
            _required(form, "code"),
            redirect_uri=form.get("redirect_uri"),
            code_verifier=form.get("code_verifier"),
            **context,
        )
    raise ApiError(400, "unsupported_grant_type", f"grant_type is one of {', '.join(_GRANT_TYPES)}")


def _client_authentication(properties: dict[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    """``openapi_extra`` of an endpoint taking an urlencoded form and client authentication: HTTP Basic
    (client_secret_basic), or in the form (client_secret_post, private_key_jwt, or a public client's
    ``client_id``), so none of the schemes is required."""
    form_fields = {
        "client_id": "client_secret_post, private_key_jwt or a public client",
        "client_secret": "client_secret_post",
        "client_assertion_type": "private_key_jwt: urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "private_key_jwt: a JWT signed with the client's key",
    }
    return {**form_body_openapi(properties | form_fields, required), "security": [{}, {CLIENT_BASIC: []}]}


def build_oauth_router() -> APIRouter:
    router = APIRouter(prefix="/oauth", tags=["oauth"])

    @router.post(
        "/token",
        summary="OAuth 2.0 token endpoint (authorization_code, refresh_token, client_credentials, password)",
        openapi_extra=parameters(
            DPOP_PROOF,
            extra=_client_authentication(
                {
                    "grant_type": "authorization_code, refresh_token, client_credentials or password",
                    "username": "for the password grant",
                    "password": "for the password grant",
                    "scope": "optional, space-separated",
                    "refresh_token": "for the refresh_token grant",
                    "code": "for the authorization_code grant",
                    "redirect_uri": "for the authorization_code grant",
                    "code_verifier": "for the authorization_code grant (PKCE)",
                },
                ("grant_type",),
            ),
        ),
        responses={**success(200, TokenAnswer), **error_responses(*FORM_BODY, 401, 403, 429, *UNAVAILABLE)},
    )
    async def token(request: Request) -> Response:
        form = await read_form(request, _TOKEN_FIELDS)
        service = service_of(request)
        client = await authenticate_client(request, form, service, required=False)
        grant_type = _required(form, "grant_type")
        metrics = app_state(request).metrics
        label = grant_type if grant_type in _GRANT_TYPES else "other"
        gate = dpop_gate(request)
        try:
            # A DPoP proof binds the session (password grant) or must come from its key (refresh).
            jkt = await gate.token_request(request) if grant_type in ("password", "refresh_token") else None
            result = await _grant(request, service, client, grant_type, form, jkt)
        except errors.InvalidDPoPProof as exc:
            metrics.auth_events.labels(label, exc.code).inc()
            raise ApiError(400, "invalid_dpop_proof", exc.description, headers=gate.nonce_header()) from None
        except (errors.UnsupportedGrantType, errors.InvalidScope) as exc:
            metrics.auth_events.labels(label, exc.code).inc()
            raise ApiError(400, exc.oauth_error, exc.description) from None
        except (errors.InvalidCredentials, errors.InvalidGrant) as exc:
            metrics.auth_events.labels(label, exc.code).inc()
            # RFC 6749 section 5.2: invalid_grant is a 400 at the token endpoint.
            description = exc.description if isinstance(exc, errors.InvalidGrant) else type(exc).description
            raise ApiError(400, "invalid_grant", description) from None
        metrics.auth_events.labels(label, "ok").inc()
        return token_response(result, headers=gate.nonce_header(), always_scope=True)

    @router.post(
        "/revoke",
        summary="RFC 7009 token revocation (client authentication required)",
        response_class=Response,  # 200 with no body
        openapi_extra=_client_authentication(
            {"token": "the token to revoke", "token_type_hint": "access_token or refresh_token"},
            ("token",),
        ),
        responses={
            200: {"description": "Revoked, or not a live token of this client (RFC 7009)"},
            **error_responses(*FORM_BODY, 401, *UNAVAILABLE),
        },
    )
    async def revoke(request: Request) -> Response:
        service, client, token_value, hint = await _client_token_request(request)
        # RFC 7009 section 2.2: 200 whether or not the token was known, valid, or the client's.
        if len(token_value) <= _MAX_TOKEN_PARAMETER:
            await service.revoke_token(token_value, token_type_hint=hint, client=client)
        return Response(status_code=200, headers=NO_STORE)

    @router.post(
        "/introspect",
        summary="RFC 7662 token introspection (clients registered with --introspect)",
        openapi_extra=_client_authentication(
            {"token": "the token to inspect", "token_type_hint": "access_token or refresh_token"},
            ("token",),
        ),
        responses={**success(200, Introspection), **error_responses(*FORM_BODY, 401, 403, *UNAVAILABLE)},
    )
    async def introspect(request: Request) -> Response:
        service, client, token_value, hint = await _client_token_request(request)
        if not client.introspect:
            raise ApiError(403, "unauthorized_client", "this client is not registered to introspect tokens")
        if len(token_value) > _MAX_TOKEN_PARAMETER:
            return json_no_store({"active": False})
        return json_no_store(await service.introspect(token_value, token_type_hint=hint, client=client))

    return router
