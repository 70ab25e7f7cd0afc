"""HTTP credentials of both token schemes, shared by both HTTP edges (the auth server and the guard):
``Authorization: Bearer <token>`` (RFC 6750) and ``Authorization: DPoP <token>`` (RFC 9449).

* :func:`parse_credentials` reads one ``Authorization`` value into ``(scheme, token)``. The scheme is
  matched case-insensitively (RFC 7235 section 2.1); another scheme means no token credentials
  (``None``); a known scheme with nothing after it is a MalformedToken.
* :func:`challenge` builds a ``WWW-Authenticate`` value (RFC 6750 section 3, RFC 9449 section 7.1).
  Parameter values are reduced to the characters the RFCs allow, so nothing can break out of the header.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from jwtgate.errors import MalformedToken

__all__ = ["BEARER", "DPOP", "Credentials", "bearer_token", "challenge", "parse_credentials"]

Scheme = Literal["bearer", "dpop"]
BEARER: Scheme = "bearer"
DPOP: Scheme = "dpop"
_PREFIXES: tuple[tuple[str, Scheme], ...] = (("bearer ", BEARER), ("dpop ", DPOP))


class Credentials(NamedTuple):
    scheme: Scheme
    token: str


def parse_credentials(value: str) -> Credentials | None:
    """The scheme and token of one ``Authorization`` value; ``None`` for other schemes."""
    lowered = value[:7].lower()
    for prefix, scheme in _PREFIXES:
        if lowered.startswith(prefix):
            token = value[len(prefix) :].strip(" \t")
            if not token:
                raise MalformedToken(f"empty {scheme} token")
            return Credentials(scheme, token)
    if value.strip().lower() in ("bearer", "dpop"):
        raise MalformedToken("empty token")
    return None


def bearer_token(value: str) -> str | None:
    """The token of one ``Authorization: Bearer`` value; ``None`` if it holds no bearer credentials."""
    found = parse_credentials(value)
    return found.token if found is not None and found.scheme == BEARER else None


def _quoted(text: str) -> str:
    # RFC 6750 section 3: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
    return "".join(ch for ch in text if " " <= ch <= "~" and ch not in '"\\')


def challenge(
    realm: str,
    error: str | None = None,
    description: str | None = None,
    scope: str | None = None,
    *,
    scheme: str = "Bearer",
    algs: str | None = None,
) -> str:
    """``Bearer realm="..."`` (or ``DPoP``, with ``algs``) plus ``error``, ``error_description`` and
    ``scope`` when given."""
    parts = [f'{scheme} realm="{_quoted(realm)}"']
    if algs:
        parts.append(f'algs="{_quoted(algs)}"')
    if error is not None:
        parts.append(f'error="{_quoted(error)}"')
        if description:
            parts.append(f'error_description="{_quoted(description)}"')
    if scope:
        parts.append(f'scope="{_quoted(scope)}"')
    return ", ".join(parts)
