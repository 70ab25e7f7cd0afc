"""Issuer metadata: OpenID Connect Discovery 1.0 and RFC 8414 (OAuth 2.0 Authorization Server Metadata).

Pure functions (no I/O): where the document lives, and what the guard takes from it. The fetching,
caching and refreshing is the :class:`~jwtgate.protect.jwks.JWKSClient`'s, with the same policy as the
JWKS itself.

* OIDC: ``{issuer}/.well-known/openid-configuration`` (the issuer's path kept, the suffix appended).
* RFC 8414 section 3: ``https://host/.well-known/oauth-authorization-server{issuer path}`` (the
  well-known segment inserted between host and path); issuers without a path get the plain form.
* The document's ``issuer`` must equal the configured issuer exactly (OIDC Discovery 4.3, RFC 8414
  3.3): otherwise a document of one tenant could hand out another's keys. ``jwks_uri`` must be https
  (plain http only on loopback, or when allowed), like any URL the guard fetches keys from.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from jwtgate.errors import ConfigError
from jwtgate.protect.errors import JWKSUnavailable
from jwtgate.protect.urls import check_fetch_url

__all__ = ["MAX_METADATA_BYTES", "jwks_uri_from", "oauth_metadata_url", "openid_configuration_url"]

MAX_METADATA_BYTES = 256 * 1024


def openid_configuration_url(issuer: str) -> str:
    """OIDC Discovery: ``{issuer}/.well-known/openid-configuration``."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def oauth_metadata_url(issuer: str) -> str:
    """RFC 8414: the well-known segment goes between the host and the issuer's path."""
    url = httpx.URL(issuer)
    path = url.path.rstrip("/")
    return str(url.copy_with(path="/.well-known/oauth-authorization-server" + path, query=None))


def jwks_uri_from(body: bytes, issuer: str, *, allow_insecure_http: bool = False) -> str:
    """The ``jwks_uri`` of a metadata document for ``issuer``; JWKSUnavailable if it is unusable.

    An issuer mismatch is a configuration error (logged as such by the caller), still answered as
    "unavailable": the guard fails closed, it never falls back to keys it cannot trust.
    """
    if len(body) > MAX_METADATA_BYTES:
        raise JWKSUnavailable("issuer metadata too large")
    try:
        doc: Any = json.loads(body)
    except ValueError as err:
        raise JWKSUnavailable("issuer metadata is not JSON") from err
    if not isinstance(doc, dict):
        raise JWKSUnavailable("issuer metadata is not a JSON object")
    if doc.get("issuer") != issuer:
        raise JWKSUnavailable(
            "configuration error: the metadata names another issuer than the configured one"
        )
    uri = doc.get("jwks_uri")
    if type(uri) is not str or not uri:
        raise JWKSUnavailable("issuer metadata has no jwks_uri")
    try:
        return check_fetch_url(uri, allow_insecure_http=allow_insecure_http)
    except ConfigError as err:
        raise JWKSUnavailable("configuration error: the metadata's jwks_uri is not https") from err
