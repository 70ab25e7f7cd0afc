"""The HTTP edge shared by the ASGI, FastAPI and WSGI integrations (RFC 6750).

* :func:`bearer_token` reads one ``Authorization`` value. The scheme is matched case-insensitively
  (RFC 7235 section 2.1), so ``bearer x`` is accepted like ``Bearer x``; another scheme counts as no
  credentials at all.
* :func:`rejection` turns any guard error into ``(status, headers, body)``: 401 ``invalid_token``,
  403 ``insufficient_scope``, 400 ``invalid_request``, 503 ``temporarily_unavailable``. Descriptions come
  from the error *class*, never from the instance: nothing taken from the token (a ``kid``, a claim)
  can reach a header or a body.
"""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

from jwtgate.errors import InsufficientScope, JwtgateError, MalformedToken, TokenError
from jwtgate.protect.errors import GuardUnavailable, InvalidRequest

__all__ = ["MISSING_DESCRIPTION", "Rejection", "bearer_token", "missing_token", "rejection"]

log = logging.getLogger("jwtgate.protect")

MISSING_DESCRIPTION = "a bearer token is required"


class Rejection(NamedTuple):
    """An HTTP answer refusing a request; header names are lower case."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def bearer_token(value: str) -> str | None:
    """The token in one ``Authorization`` value; ``None`` if it holds no bearer credentials.

    Raises MalformedToken for the bearer scheme with nothing after it.
    """
    if value[:7] != "Bearer " and value[:7].lower() != "bearer ":
        if value.strip().lower() == "bearer":
            raise MalformedToken("empty bearer token")
        return None
    token = value[7:].strip(" \t")
    if not token:
        raise MalformedToken("empty bearer token")
    return token


def _quoted(text: str) -> str:
    # RFC 6750 section 3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
    return "".join(ch for ch in text if " " <= ch <= "~" and ch not in '"\\')


def _challenge(realm: str, error: str | None, description: str | None, scope: str | None) -> str:
    parts = [f'Bearer realm="{_quoted(realm)}"']
    if error is not None:
        parts.append(f'error="{error}"')
    if description is not None:
        parts.append(f'error_description="{_quoted(description)}"')
    if scope:
        parts.append(f'scope="{_quoted(scope)}"')
    return ", ".join(parts)


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
        [("www-authenticate", _challenge(realm, None, None, None))],
        _body("invalid_token", MISSING_DESCRIPTION),
    )


def rejection(err: Exception, realm: str, *, scope: str | None = None) -> Rejection:
    """The answer for ``err``; unknown errors fail closed as 401 and are logged (type only)."""
    description = type(err).description if isinstance(err, JwtgateError) else "the token is invalid"
    if isinstance(err, TokenError):
        log.info("token rejected: %s", err.code)
        challenge = _challenge(realm, "invalid_token", description, None)
        return _answer(401, [("www-authenticate", challenge)], _body("invalid_token", description))
    if isinstance(err, InsufficientScope):
        log.info("token refused: insufficient_scope")
        challenge = _challenge(realm, "insufficient_scope", description, scope)
        return _answer(403, [("www-authenticate", challenge)], _body("insufficient_scope", description))
    if isinstance(err, InvalidRequest):
        challenge = _challenge(realm, "invalid_request", description, None)
        return _answer(400, [("www-authenticate", challenge)], _body("invalid_request", description))
    if isinstance(err, GuardUnavailable):
        log.warning("token not checked: %s", err.code)
        extra = [("retry-after", str(err.retry_after))]
        return _answer(503, extra, _body("temporarily_unavailable", description))
    # A bug or an unexpected library error: refuse the request, never let it through, no traceback out.
    log.error("unexpected error while checking a token: %s", type(err).__name__)
    challenge = _challenge(realm, "invalid_token", "the token is invalid", None)
    return _answer(401, [("www-authenticate", challenge)], _body("invalid_token", "the token is invalid"))
