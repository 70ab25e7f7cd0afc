"""Client authentication of the OAuth endpoints (RFC 6749 section 2.3, RFC 7523 section 2.2).

Exactly one method per request, and presented credentials are always checked:

- ``client_secret_basic``: ``Authorization: Basic`` (each part form-urlencoded);
- ``client_secret_post``: form ``client_id`` + ``client_secret``;
- ``private_key_jwt``: form ``client_assertion_type`` + ``client_assertion``;
- ``none``: form ``client_id`` alone, for public clients only.

Wrong, unknown or mixed credentials, another ``Authorization`` scheme, or a confidential client that
does not authenticate: 401 ``invalid_client`` with a ``WWW-Authenticate`` challenge. A request with
no client at all is the built-in client's at the token endpoint (first-party pages, the OpenAPI
"Authorize" button) and refused at revocation and introspection.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from fastapi import Request

from jwtgate.errors import InvalidClient
from jwtgate.server.client_keys import client_keys
from jwtgate.server.problems import ApiError
from jwtgate.server.state import app_state
from jwtgate.service.clients import ASSERTION_TYPE

if TYPE_CHECKING:
    from jwtgate.service import AuthService
    from jwtgate.service.records import ClientRecord

__all__ = ["CLIENT_FIELDS", "authenticate_client", "basic_credentials"]

#: The form parameters client authentication reads; routes add them to their own.
CLIENT_FIELDS = frozenset({"client_id", "client_secret", "client_assertion", "client_assertion_type"})
_ENDPOINTS = ("/oauth/token", "/oauth/revoke", "/oauth/introspect")
_MAX_ID = 200
_MAX_SECRET = 256


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(client_id, secret)`` from ``Authorization: Basic``, None when there is no such header."""
    values = request.headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "invalid_request", "more than one Authorization header")
    scheme, _, encoded = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("client authentication must use HTTP Basic, the form or a client assertion")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient()
    return unquote_plus(client_id), unquote_plus(secret)


def assertion_audiences(request: Request) -> list[str]:
    """What a client assertion's ``aud`` may name: the issuer or one of its OAuth endpoints."""
    issuer = app_state(request).settings.issuer_url.rstrip("/")
    return [issuer, issuer + "/", *(issuer + path for path in _ENDPOINTS)]


async def authenticate_client(
    request: Request, form: dict[str, str], service: AuthService, *, required: bool
) -> ClientRecord:
    """The client making the request; :class:`InvalidClient` (401 with a challenge) otherwise.
    ``required=False``: a request without any client is the built-in client's."""
    basic = basic_credentials(request)
    posted_secret = "client_secret" in form
    assertion = "client_assertion" in form or "client_assertion_type" in form
    if (basic is not None) + posted_secret + assertion > 1:
        raise InvalidClient("use one client authentication method, not several")
    form_id = form.get("client_id")
    if form_id is not None and not 0 < len(form_id) <= _MAX_ID:
        raise InvalidClient()
    clients = service.clients
    if basic is not None:
        client_id, secret = basic
        if form_id is not None and client_id and form_id != client_id:
            raise InvalidClient("client_id differs from the authenticated client")
        if not secret:
            # OpenAPI UIs (Swagger's password flow) send ``Basic base64(":")`` or ``base64("id:")`` for
            # a client without a secret: that identifies a public client (method ``none``) or none at
            # all. It never authenticates a confidential client (public() refuses those).
            client_id = client_id or form_id or ""
            if client_id:
                return await clients.public(client_id)
            if required:
                raise InvalidClient("client authentication required")
            return clients.builtin
        return await clients.by_secret(_checked(client_id, _MAX_ID), _checked(secret, _MAX_SECRET))
    if posted_secret:
        return await clients.by_secret(
            _checked(form_id, _MAX_ID), _checked(form["client_secret"], _MAX_SECRET)
        )
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
        return await clients.by_assertion(
            form.get("client_assertion", ""),
            assertion_audiences(request),
            claimed_id=form_id,
            keys_at=client_keys(request),
        )
    if form_id is not None:
        return await clients.public(form_id)
    if required:
        raise InvalidClient("client authentication required")
    return clients.builtin


def _checked(value: str | None, limit: int) -> str:
    if not value or len(value) > limit:
        raise InvalidClient()
    return value
