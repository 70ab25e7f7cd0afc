"""Cookie mode for browsers: tokens in HttpOnly cookies, CSRF double submit bound to the session.

- access token: ``__Host-jwtgate-access`` (``HttpOnly; Secure; SameSite=Lax; Path=/``);
- refresh token: ``__Secure-jwtgate-refresh`` (``HttpOnly; Secure; SameSite=Strict``), sent only to
  ``/api/cookie/refresh``;
- CSRF token: ``jwtgate-csrf`` (readable by the page's script, ``Secure; SameSite=Lax; Path=/``), an
  HMAC of the session id under the server secret every instance shares. A cookie-authenticated unsafe
  request must repeat it in the ``X-CSRF-Token`` header, and its ``Origin`` (when sent) must be this
  server or an allowed CORS origin. Browsers treat ``http://localhost`` as secure (works in development).

JavaScript never sees the access or refresh token; an attacker's page cannot read the CSRF cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request
from starlette.responses import Response

from jwtgate.server.problems import ApiError
from jwtgate.settings import Settings

__all__ = [
    "ACCESS_COOKIE",
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "REFRESH_COOKIE",
    "REFRESH_PATH",
    "CsrfSigner",
    "check_origin",
    "clear_session_cookies",
    "same_secret",
    "set_session_cookies",
]

ACCESS_COOKIE = "__Host-jwtgate-access"
REFRESH_COOKIE = "__Secure-jwtgate-refresh"
CSRF_COOKIE = "jwtgate-csrf"
CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/api/cookie/refresh"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_secret(presented: str, expected: str) -> bool:
    """Constant-time equality of two texts. ``hmac.compare_digest`` raises TypeError on a ``str``
    holding non-ASCII characters (a header decoded as latin-1 can), so both sides are compared as
    UTF-8 bytes: such input is simply unequal, never a 500."""
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


class CsrfSigner:
    """Derives the CSRF token of a session: ``HMAC-SHA256(key, sid)``, base64url-free hex.

    The key is the server secret ``csrf`` in the database (32 random bytes, sealed with the
    key-encryption key when one is set), so every instance agrees and a restart keeps browser sessions
    working.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the CSRF key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "CsrfSigner(key=<redacted>)"

    def token_for(self, session_id: str) -> str:
        return hmac.new(self._key, session_id.encode(), hashlib.sha256).hexdigest()

    def check(self, request: Request, session_id: str) -> None:
        """The request's ``X-CSRF-Token`` must be this session's token (constant-time compare)."""
        presented = request.headers.get(CSRF_HEADER, "")
        if not same_secret(presented, self.token_for(session_id)):
            raise ApiError(403, "access_denied", "missing or wrong CSRF token")


def check_origin(request: Request, settings: Settings) -> None:
    """Refuse a browser request whose ``Origin`` is neither this server nor an allowed origin."""
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a cross-site browser request (browsers send Origin on unsafe methods)
    own = f"{request.url.scheme}://{request.url.netloc}"
    issuer = urlsplit(settings.issuer_url)
    allowed = {own, f"{issuer.scheme}://{issuer.netloc}", *settings.cors_origins}
    if origin not in allowed:
        raise ApiError(403, "access_denied", "cross-origin request refused")


def set_session_cookies(
    response: Response, *, access_token: str, refresh_token: str, csrf_token: str, settings: Settings
) -> None:
    response.set_cookie(
        ACCESS_COOKIE,
        access_token,
        max_age=settings.access_token_ttl,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    response.set_cookie(
        REFRESH_COOKIE,
        refresh_token,
        max_age=settings.refresh_idle_ttl,
        path=REFRESH_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token,
        max_age=settings.refresh_idle_ttl,
        path="/",
        secure=True,
        httponly=False,  # the page's script reads it to send X-CSRF-Token
        samesite="lax",
    )


def clear_session_cookies(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
    response.delete_cookie(REFRESH_COOKIE, path=REFRESH_PATH, secure=True, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=True, httponly=False, samesite="lax")
