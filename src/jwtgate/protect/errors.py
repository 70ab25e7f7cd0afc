"""Errors the guard adds to :mod:`jwtgate.errors`.

::

    JwtgateError
    └── GuardUnavailable           temporarily_unavailable  503 + Retry-After: the guard cannot decide now
        ├── JWKSUnavailable        jwks_unavailable         no usable signing keys (down, garbage, timeout)
        └── RevocationUnavailable  revocation_unavailable   the revocation denylist is not in sync

(A malformed request, e.g. two Authorization headers, is :class:`jwtgate.errors.InvalidRequest`: 400.)
Both unavailable errors fail closed: a request the guard cannot check is refused, never let through.
"""

from __future__ import annotations

from jwtgate.errors import InvalidRequest, JwtgateError

__all__ = ["GuardUnavailable", "InvalidRequest", "JWKSUnavailable", "RevocationUnavailable"]


class GuardUnavailable(JwtgateError):
    """The guard cannot check a token right now; the HTTP edge answers 503 with ``Retry-After``."""

    code = "guard_unavailable"
    oauth_error = "temporarily_unavailable"
    description = "token verification is temporarily unavailable"

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class JWKSUnavailable(GuardUnavailable):
    code = "jwks_unavailable"
    description = "the signing keys are temporarily unavailable"


class RevocationUnavailable(GuardUnavailable):
    code = "revocation_unavailable"
    description = "the revocation list is temporarily unavailable"
