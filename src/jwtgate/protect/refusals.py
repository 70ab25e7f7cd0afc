"""The guard's refusals, shared by the ASGI, FastAPI, WSGI and Django integrations (RFC 6750, RFC 9449).

* Credentials (``Bearer`` or ``DPoP``) are read by :func:`jwtgate.credentials.parse_credentials`.
* :func:`rejection` turns any guard error into ``(status, headers, body)``: 401 ``invalid_token``,
  403 ``insufficient_scope``, 400 ``invalid_request``, 503 ``temporarily_unavailable`` (also when the
  DPoP replay cache cannot answer: a proof that cannot be checked is refused), and for DPoP 401 with a
  ``DPoP`` challenge (``invalid_dpop_proof``, ``use_dpop_nonce`` with a fresh ``DPoP-Nonce``).
  Descriptions come from the error *class*, never from the instance: nothing taken from the token (a
  ``kid``, a claim) can reach a header or a body.
"""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

from jwtgate.credentials import bearer_token, challenge
from jwtgate.dpop import DEFAULT_ALGORITHMS
from jwtgate.dpop_binding import DPoPBoundToken, DPoPRequired
from jwtgate.errors import (
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    JwtgateError,
    StorageError,
    TokenError,
    UseDPoPNonce,
)
from jwtgate.protect.errors import GuardUnavailable

__all__ = ["MISSING_DESCRIPTION", "Rejection", "bearer_token", "missing_token", "rejection"]

log = logging.getLogger("jwtgate.protect")

MISSING_DESCRIPTION = "a bearer token is required"


class Rejection(NamedTuple):
    """An HTTP answer refusing a request; header names are lower case."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _body(error: str, description: str) -> bytes:
    return json.dumps({"error": error, "error_description": description}).encode()


def _answer(status: int, extra: list[tuple[str, str]], body: bytes) -> Rejection:
    headers = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("cache-control", "no-store"),
        *extra,
    ]
    return Rejection(status, headers, body)


def missing_token(realm: str) -> Rejection:
    """401 for a request without bearer credentials: a challenge with no error code (RFC 6750 3.1)."""
    return _answer(
        401,
        [("www-authenticate", challenge(realm, None, None, None))],
        # No credentials is not an invalid token (RFC 6750 3.1): the same code as the auth server's.
        _body("unauthorized", MISSING_DESCRIPTION),
    )


def rejection(err: Exception, realm: str, *, scope: str | None = None) -> Rejection:
    """The answer for ``err``; unknown errors fail closed as 401 and are logged (type only)."""
    description = type(err).description if isinstance(err, JwtgateError) else "the token is invalid"
    if isinstance(err, InvalidDPoPProof | UseDPoPNonce | DPoPBoundToken | DPoPRequired):
        return _dpop_refusal(err, realm, description)
    if isinstance(err, TokenError):
        log.info("token rejected: %s", err.code)
        header = challenge(realm, "invalid_token", description, None)
        return _answer(401, [("www-authenticate", header)], _body("invalid_token", description))
    if isinstance(err, InsufficientScope):
        log.info("token refused: insufficient_scope")
        header = challenge(realm, "insufficient_scope", description, scope)
        return _answer(403, [("www-authenticate", header)], _body("insufficient_scope", description))
    if isinstance(err, InvalidRequest):
        header = challenge(realm, "invalid_request", description, None)
        return _answer(400, [("www-authenticate", header)], _body("invalid_request", description))
    if isinstance(err, GuardUnavailable):
        log.warning("token not checked: %s", err.code)
        extra = [("retry-after", str(err.retry_after))]
        return _answer(503, extra, _body("temporarily_unavailable", description))
    if isinstance(err, StorageError):
        # The DPoP replay cache (Redis down, or the memory one full): the proof cannot be checked.
        log.warning("DPoP proof not checked: %s", err.code)
        unavailable = GuardUnavailable.description
        return _answer(503, [("retry-after", "1")], _body("temporarily_unavailable", unavailable))
    # A bug or an unexpected library error: refuse the request, never let it through, no traceback out.
    log.error("unexpected error while checking a token: %s", type(err).__name__)
    header = challenge(realm, "invalid_token", "the token is invalid", None)
    return _answer(401, [("www-authenticate", header)], _body("invalid_token", "the token is invalid"))


_DPOP_ALGS = " ".join(DEFAULT_ALGORITHMS)


def _dpop_refusal(err: JwtgateError, realm: str, description: str) -> Rejection:
    """401 with a ``DPoP`` challenge (RFC 9449 section 7.1); a fresh nonce when one is asked for."""
    log.info("token rejected: %s", err.code)
    error = err.oauth_error if isinstance(err, InvalidDPoPProof | UseDPoPNonce) else "invalid_token"
    header = challenge(realm, error, description, scheme="DPoP", algs=_DPOP_ALGS)
    extra = [("www-authenticate", header)]
    if isinstance(err, UseDPoPNonce) and err.nonce:
        extra.append(("dpop-nonce", err.nonce))
    return _answer(401, extra, _body(error, description))
