"""Client authentication of the OAuth endpoints (RFC 6749 section 2.3.1).

``client_secret_basic`` (HTTP Basic, each part form-urlencoded) or ``client_secret_post`` (form
``client_id`` + ``client_secret``); exactly one of them. The secret check itself is the service's
(constant time).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from fastapi import Request

from jwtgate.errors import InvalidClient
from jwtgate.server.problems import ApiError

if TYPE_CHECKING:
    from jwtgate.service import AuthService, ClientInfo

__all__ = ["authenticate_client", "basic_credentials"]


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """``(client_id, secret)`` from ``Authorization: Basic``, None when there is no such header."""
    values = request.headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, "invalid_request", "more than one Authorization header")
    scheme, _, encoded = values[0].strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("client authentication must use HTTP Basic or the form")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient() from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient()
    return unquote_plus(client_id), unquote_plus(secret)


async def authenticate_client(request: Request, form: dict[str, str], service: AuthService) -> ClientInfo:
    """The authenticated client, or :class:`InvalidClient` (401 with a Basic challenge)."""
    basic = basic_credentials(request)
    posted = "client_id" in form or "client_secret" in form
    if basic is not None and posted:
        raise ApiError(400, "invalid_request", "use one client authentication method, not two")
    if basic is not None:
        client_id, secret = basic
    elif posted:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    else:
        raise InvalidClient("client authentication required")
    if not client_id or not secret or len(client_id) > 200 or len(secret) > 200:
        raise InvalidClient()
    return await service.authenticate_client(client_id, secret)
