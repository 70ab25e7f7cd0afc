"""A client registration: what an OAuth client is allowed, as one frozen, validated description.

Rules (each refusal is an InvalidRequest naming the rule, never echoing the input):

- a name is 1-64 characters from ``A-Z a-z 0-9 . _ -``, starting with a letter or digit;
- ``public`` clients (browser and native apps) have no secret and cannot use ``client_credentials``
  or ``private_key_jwt``, nor introspect;
- ``password`` is for first-party clients only (RFC 9700 section 2.4);
- ``authorization_code`` needs at least one redirect URI; a redirect URI is absolute, has no fragment,
  and is ``https``, ``http`` on a loopback host, or a private-use scheme with a dot (RFC 8252);
- a client with a JWKS (inline or by URL) authenticates with ``private_key_jwt`` and gets no secret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jwtgate.errors import ConfigError, InvalidRequest
from jwtgate.jose.jwks import KeySet
from jwtgate.service.records import ClientKind
from jwtgate.service.validation import parse_scope

__all__ = ["GRANT_TYPES", "ClientRegistration", "check_client_name", "check_redirect_uri"]

GRANT_TYPES = ("authorization_code", "client_credentials", "password", "refresh_token")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_AUDIENCE = re.compile(r"[\x21-\x7e]{1,200}")
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_URIS = 20
_MAX_JWKS = 16_384


def check_client_name(name: object) -> str:
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidRequest(
            "a client name is 1-64 characters from A-Z, a-z, 0-9, '.', '_', '-', "
            "starting with a letter or digit"
        )
    return name


def check_redirect_uri(uri: object) -> str:
    """A registrable redirect URI (see the module docstring); InvalidRequest otherwise."""
    if not isinstance(uri, str) or not 0 < len(uri) <= 2048 or not uri.isprintable() or " " in uri:
        raise InvalidRequest("a redirect URI is 1-2048 printable characters without spaces")
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise InvalidRequest("a redirect URI must be an absolute URI") from None
    if parts.fragment or "#" in uri:
        raise InvalidRequest("a redirect URI cannot have a fragment (RFC 6749 section 3.1.2)")
    if parts.scheme == "https" and host:
        return uri
    if parts.scheme == "http" and host in _LOOPBACK:
        return uri
    if _PRIVATE_SCHEME.fullmatch(parts.scheme) and (parts.path or parts.netloc):
        return uri
    raise InvalidRequest("a redirect URI is https, http on a loopback host, or a private-use scheme")


def _check_jwks_url(url: str) -> str:
    parts = urlsplit(url)
    if len(url) > 2048 or not parts.hostname:
        raise InvalidRequest("a JWKS URL is an absolute https URL")
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise InvalidRequest("a JWKS URL is https (http only on a loopback host)")
    return url


def _check_jwks(text: str) -> str:
    if len(text) > _MAX_JWKS:
        raise InvalidRequest("the JWKS is too large")
    try:
        document: Any = json.loads(text)
        keys = KeySet.from_jwks(document)
    except (ValueError, ConfigError):
        raise InvalidRequest("the JWKS is not a JSON Web Key Set") from None
    if not len(keys):
        raise InvalidRequest("the JWKS holds no usable signature key (each key needs its alg)")
    if any(getattr(key, "can_sign", False) for key in keys):
        raise InvalidRequest("the JWKS holds a private or symmetric key: register public keys only")
    return json.dumps(keys.to_jwks(), separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRegistration:
    """What a client may do. ``introspect=None`` means: a client with no grant is a resource server
    (it may introspect, as every client could before registrations existed); otherwise it may not."""

    kind: ClientKind = "confidential"
    grants: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    first_party: bool = False
    audiences: tuple[str, ...] = ()
    introspect: bool | None = None
    jwks_url: str | None = None
    jwks: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("public", "confidential"):
            raise InvalidRequest("a client is public or confidential")
        grants = tuple(dict.fromkeys(self.grants))
        unknown = [g for g in grants if g not in GRANT_TYPES]
        if unknown:
            raise InvalidRequest(f"grants are {', '.join(GRANT_TYPES)}")
        uris = tuple(dict.fromkeys(check_redirect_uri(u) for u in self.redirect_uris))
        audiences = tuple(dict.fromkeys(self.audiences))
        if len(uris) > _MAX_URIS or len(audiences) > _MAX_URIS:
            raise InvalidRequest(f"at most {_MAX_URIS} redirect URIs and audiences")
        if not all(isinstance(a, str) and _AUDIENCE.fullmatch(a) for a in audiences):
            raise InvalidRequest("an audience is 1-200 printable characters without spaces")
        public = self.kind == "public"
        if public and "client_credentials" in grants:
            raise InvalidRequest("a public client cannot use client_credentials (it has no credentials)")
        if "password" in grants and not self.first_party:
            raise InvalidRequest("the password grant is for first-party clients only (--first-party)")
        if "authorization_code" in grants and not uris:
            raise InvalidRequest("the authorization_code grant needs at least one redirect URI")
        if uris and "authorization_code" not in grants:
            raise InvalidRequest("redirect URIs are for the authorization_code grant")
        if self.jwks is not None and self.jwks_url is not None:
            raise InvalidRequest("give a JWKS or a JWKS URL, not both")
        if public and (self.jwks is not None or self.jwks_url is not None):
            raise InvalidRequest("a public client has no keys (private_key_jwt is for confidential clients)")
        introspect = (not grants and not public) if self.introspect is None else bool(self.introspect)
        if introspect and public:
            raise InvalidRequest("a public client cannot introspect")
        set_ = object.__setattr__  # frozen: normalised values are written once, here
        set_(self, "grants", grants)
        set_(self, "scopes", parse_scope(list(self.scopes)))
        set_(self, "redirect_uris", uris)
        set_(self, "audiences", audiences)
        set_(self, "introspect", introspect)
        set_(self, "first_party", bool(self.first_party))
        if self.jwks_url is not None:
            set_(self, "jwks_url", _check_jwks_url(self.jwks_url))
        if self.jwks is not None:
            set_(self, "jwks", _check_jwks(self.jwks))

    @property
    def uses_keys(self) -> bool:
        """True when the client authenticates with ``private_key_jwt`` (and so has no secret)."""
        return self.jwks is not None or self.jwks_url is not None
