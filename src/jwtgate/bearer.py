"""RFC 6750 bearer credentials, shared by both HTTP edges (the auth server and the guard).

* :func:`bearer_token` reads one ``Authorization`` value. The scheme is matched case-insensitively
  (RFC 7235 section 2.1); another scheme means no bearer credentials (``None``); the bearer scheme
  with nothing after it is a MalformedToken.
* :func:`challenge` builds the ``WWW-Authenticate`` value of RFC 6750 section 3. Parameter values are
  reduced to the characters the RFC allows, so nothing can break out of the header.
"""

from __future__ import annotations

from jwtgate.errors import MalformedToken

__all__ = ["bearer_token", "challenge"]


def bearer_token(value: str) -> str | None:
    """The token in one ``Authorization`` value; ``None`` if it holds no bearer credentials."""
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


def challenge(
    realm: str, error: str | None = None, description: str | None = None, scope: str | None = None
) -> str:
    """``Bearer realm="..."`` plus ``error``, ``error_description`` and ``scope`` when given."""
    parts = [f'Bearer realm="{_quoted(realm)}"']
    if error is not None:
        parts.append(f'error="{_quoted(error)}"')
        if description:
            parts.append(f'error_description="{_quoted(description)}"')
    if scope:
        parts.append(f'scope="{_quoted(scope)}"')
    return ", ".join(parts)
