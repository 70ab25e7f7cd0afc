"""One error hierarchy for everything jwtgate raises.

Every error has a machine ``code`` (precise, for logs and programs) and an ``oauth_error`` (uniform, the
``error`` value an HTTP edge may show: RFC 6750 / RFC 6749). The tree::

    JwtgateError                      code
    ├── ConfigError                   config_error        bad key, bad setting, insecure combination
    ├── TokenError                    invalid_token       what a verifier raises; catch this one
    │   ├── MalformedToken            malformed           not a compact JWS, bad base64url/JSON, too large
    │   ├── UnsupportedAlgorithm      unsupported_algorithm  alg none, unknown alg, alg != the key's alg
    │   ├── UnknownKey                unknown_key         no key with that kid
    │   ├── BadSignature              bad_signature
    │   ├── WrongType                 wrong_type          typ is not the expected one
    │   ├── ExpiredToken              expired
    │   ├── NotYetValid               not_yet_valid       nbf / iat in the future
    │   ├── InvalidClaim              invalid_claim       missing or wrong iss, aud, sub, ... (.claim)
    │   ├── RevokedToken              revoked             its session or jti is on the denylist
    │   ├── InvalidDPoPProof          invalid_dpop_proof  a DPoP proof (RFC 9449) is malformed or wrong
    │   └── UseDPoPNonce              use_dpop_nonce      the proof lacks the server's current nonce (.nonce)
    ├── AuthError                     access_denied       a request is refused
    │   ├── InvalidCredentials        invalid_grant       wrong username or password (never says which)
    │   ├── InvalidGrant              invalid_grant       unknown, expired, revoked or reused refresh token
    │   ├── InvalidClient             invalid_client      client authentication failed
    │   ├── UnsupportedGrantType      unsupported_grant_type  the server or the client does not offer it
    │   ├── InvalidScope              invalid_scope       malformed, or beyond what was granted (HTTP 400)
    │   ├── AuthorizationRefused      authorization_refused   sent back to the client (.oauth_error)
    │   ├── InsufficientScope         insufficient_scope  token valid, scope or role missing
    │   ├── RateLimited               rate_limited        too many attempts (.retry_after seconds)
    │   ├── NotFound                  not_found
    │   ├── Conflict                  conflict            e.g. username taken
    │   └── InvalidRequest            invalid_request     malformed input (HTTP 400); nothing was changed
    ├── StorageError                  storage_error       the database or cache failed
    └── ServiceBusy                   busy                too much work queued (HTTP 503, .retry_after)
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "AuthorizationRefused",
    "BadSignature",
    "ConfigError",
    "Conflict",
    "ExpiredToken",
    "InsufficientScope",
    "InvalidClaim",
    "InvalidClient",
    "InvalidCredentials",
    "InvalidDPoPProof",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "JwtgateError",
    "MalformedToken",
    "NotFound",
    "NotYetValid",
    "RateLimited",
    "RevokedToken",
    "ServiceBusy",
    "StorageError",
    "TokenError",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "UnsupportedGrantType",
    "UseDPoPNonce",
    "WrongType",
]


class JwtgateError(Exception):
    """Root of every jwtgate error. ``code`` is precise; ``oauth_error`` is what an HTTP edge shows."""

    code: str = "error"
    oauth_error: str = "server_error"
    description: str = "jwtgate error"

    def __init__(self, description: str | None = None) -> None:
        self.description = description or type(self).description
        super().__init__(self.description)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, description={self.description!r})"


class ConfigError(JwtgateError, ValueError):
    code = "config_error"
    oauth_error = "server_error"
    description = "invalid configuration"


class TokenError(JwtgateError):
    """The token cannot be accepted. The HTTP edge answers 401 ``invalid_token`` for all of these."""

    code = "invalid_token"
    oauth_error = "invalid_token"
    description = "the token is invalid"


class MalformedToken(TokenError):
    code = "malformed"
    description = "the token is malformed"


class UnsupportedAlgorithm(TokenError):
    code = "unsupported_algorithm"
    description = "the token's algorithm is not accepted"


class UnknownKey(TokenError):
    code = "unknown_key"
    description = "no key matches the token's kid"

    def __init__(self, description: str | None = None, *, kid: str | None = None) -> None:
        super().__init__(description)
        self.kid = kid


class BadSignature(TokenError):
    code = "bad_signature"
    description = "the signature does not verify"


class WrongType(TokenError):
    code = "wrong_type"
    description = "the token has the wrong typ"


class ExpiredToken(TokenError):
    code = "expired"
    description = "the token has expired"


class NotYetValid(TokenError):
    code = "not_yet_valid"
    description = "the token is not valid yet"


class InvalidClaim(TokenError):
    code = "invalid_claim"
    description = "a claim is missing or invalid"

    def __init__(self, description: str | None = None, *, claim: str | None = None) -> None:
        super().__init__(description)
        self.claim = claim


class RevokedToken(TokenError):
    code = "revoked"
    description = "the token has been revoked"


class AuthError(JwtgateError):
    code = "access_denied"
    oauth_error = "access_denied"
    description = "access denied"


class InvalidCredentials(AuthError):
    code = "invalid_credentials"
    oauth_error = "invalid_grant"
    description = "invalid username or password"


class InvalidGrant(AuthError):
    code = "invalid_grant"
    oauth_error = "invalid_grant"
    description = "the refresh token is invalid, expired or revoked"


class InvalidClient(AuthError):
    code = "invalid_client"
    oauth_error = "invalid_client"
    description = "client authentication failed"


class UnsupportedGrantType(AuthError):
    """RFC 6749 section 5.2: a grant this server does not implement, or that the client may not use."""

    code = "unsupported_grant_type"
    oauth_error = "unsupported_grant_type"
    description = "this grant type is not supported for this client"


class InvalidScope(AuthError):
    """RFC 6749 section 5.2: the requested scope is malformed or exceeds what the resource owner
    granted (e.g. a refresh asking for more than the session's original grant). Nothing was spent."""

    code = "invalid_scope"
    oauth_error = "invalid_scope"
    description = "the requested scope is invalid or exceeds the scope originally granted"


class AuthorizationRefused(AuthError):
    """RFC 6749 section 4.1.2.1: an authorization request refused after its redirect URI was trusted;
    ``oauth_error`` (e.g. ``invalid_scope``, ``unsupported_response_type``) goes back to the client."""

    code = "authorization_refused"
    oauth_error = "invalid_request"
    description = "the authorization request is invalid"

    def __init__(self, oauth_error: str, description: str | None = None) -> None:
        super().__init__(description)
        self.oauth_error = oauth_error


class InsufficientScope(AuthError):
    code = "insufficient_scope"
    oauth_error = "insufficient_scope"
    description = "the token lacks a required scope or role"

    def __init__(self, description: str | None = None, *, scope: str | None = None) -> None:
        super().__init__(description)
        self.scope = scope


class RateLimited(AuthError):
    code = "rate_limited"
    oauth_error = "slow_down"
    description = "too many attempts, try again later"

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class NotFound(AuthError):
    code = "not_found"
    oauth_error = "not_found"
    description = "not found"


class Conflict(AuthError):
    code = "conflict"
    oauth_error = "conflict"
    description = "conflict"


class InvalidRequest(AuthError):
    """The input is malformed (wrong type, too long, bad characters). Nothing was changed (HTTP 400)."""

    code = "invalid_request"
    oauth_error = "invalid_request"
    description = "the request is invalid"


class StorageError(JwtgateError):
    code = "storage_error"
    oauth_error = "temporarily_unavailable"
    description = "the storage backend failed"


# The DPoP errors are TokenErrors: a proof is a JWT the verifier refuses, and an edge that knows nothing
# of DPoP yet still fails closed with its 401. Edges that speak DPoP answer them precisely (RFC 9449:
# 400 at token endpoints, 401 with a ``DPoP`` challenge on resources), using ``oauth_error``.


class InvalidDPoPProof(TokenError):
    code = "invalid_dpop_proof"
    oauth_error = "invalid_dpop_proof"
    description = "the DPoP proof is invalid"


class UseDPoPNonce(TokenError):
    """The proof has no nonce, or not the current one; ``nonce`` is a fresh one for the ``DPoP-Nonce``
    response header, so the client can retry (RFC 9449 section 8)."""

    code = "use_dpop_nonce"
    oauth_error = "use_dpop_nonce"
    description = "a DPoP proof with the server's current nonce is required"

    def __init__(self, description: str | None = None, *, nonce: str) -> None:
        super().__init__(description)
        self.nonce = nonce


class ServiceBusy(JwtgateError):
    """Refused before doing the work: the bounded queue in front of a costly step (password hashing)
    is full. Nothing was changed; the client may retry after ``retry_after`` seconds (HTTP 503)."""

    code = "busy"
    oauth_error = "temporarily_unavailable"
    description = "the server is busy, try again shortly"

    def __init__(self, description: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(description)
        self.retry_after = retry_after
