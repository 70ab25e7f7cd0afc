"""Opaque secrets: refresh tokens, client secrets and random identifiers.

A refresh token is ``jgr_`` + 43 base64url characters (256 random bits); a client secret is ``jgs_`` + the
same. Only their SHA-256 digests (hex) are stored, so a database leak gives no usable token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = [
    "CLIENT_SECRET_PREFIX",
    "REFRESH_TOKEN_PREFIX",
    "digest",
    "digests_equal",
    "looks_like_refresh_token",
    "new_client_secret",
    "new_id",
    "new_refresh_token",
]

REFRESH_TOKEN_PREFIX = "jgr_"  # noqa: S105 - a prefix, not a secret
CLIENT_SECRET_PREFIX = "jgs_"  # noqa: S105 - a prefix, not a secret
_SECRET_BYTES = 32
_TOKEN_SHAPE = re.compile(r"jgr_[A-Za-z0-9_-]{43}")


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def new_client_secret() -> str:
    return CLIENT_SECRET_PREFIX + secrets.token_urlsafe(_SECRET_BYTES)


def new_id(prefix: str = "") -> str:
    """A random identifier (128 bits) for users, sessions and clients; not a secret. Never begins with
    ``-``, so that it can be typed as a command-line argument (``jwtgate sessions revoke SID``)."""
    while (value := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return prefix + value


def looks_like_refresh_token(value: object) -> bool:
    """Shape check only (cheap, before any lookup); says nothing about validity."""
    return isinstance(value, str) and _TOKEN_SHAPE.fullmatch(value) is not None


def digest(secret: str) -> str:
    """Hex SHA-256 of a secret's UTF-8 bytes: what the store keeps instead of the secret."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def digests_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hex digests."""
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))
