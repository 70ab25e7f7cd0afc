"""Identity-provider presets: what the guard must know about an issuer, as data.

A :class:`Provider` is one frozen description (issuer and its spellings, audience, where the keys come
from, allowed algorithms, the ``typ`` policy, required claims, where scopes and roles live) read by one
code path (:meth:`Provider.verifier` and the guard). The presets are small functions returning one,
set as each provider documents its access tokens::

    from jwtgate.protect.providers import Keycloak
    app = JWTAuthMiddleware(app, provider=Keycloak("https://sso.example/realms/acme", audience="api"))

Every preset takes the same keyword options to change one thing (``algorithms=``, ``token_types=``,
``required_claims=``, ``scope_claim=``, ``roles_claim=``, ``jwks_url=``, ...): see :data:`OPTIONS`.

================  ===========================  ======================  ================================
preset            token ``typ``                scopes / roles          notes
================  ===========================  ======================  ================================
``Jwtgate``       ``at+jwt``                   ``scope`` / ``roles``   RFC 9068, the strict default
``Keycloak``      ``JWT`` or ``at+jwt``        ``scope`` /             payload ``typ: Bearer`` required
                                               ``realm_access.roles``  (no ID tokens)
``Auth0``         ``JWT`` or ``at+jwt``        ``scope`` /             issuer ``https://domain/``
                                               ``permissions``
``Okta``          any or none                  ``scp`` / ``groups``    RFC 8414 metadata
``EntraID``       ``JWT`` or ``at+jwt``        ``scp`` / ``roles``     keys without ``alg``; v1 ``x5t``
``Cognito``       any or none                  ``scope`` /             ``client_id`` checked (no
                                               ``cognito:groups``      ``aud``), ``token_use: access``
``Google``        ``JWT``                      (none) / ``roles``      ID tokens; two issuer spellings
``OIDC``          ``JWT`` or ``at+jwt``        ``scope`` / ``roles``   any OpenID Connect issuer
================  ===========================  ======================  ================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jwtgate import KeySet, Verifier
from jwtgate.errors import ConfigError
from jwtgate.protect.claims import ClaimMap, RolesReader
from jwtgate.protect.discovery import oauth_metadata_url, openid_configuration_url
from jwtgate.tokens import ACCESS_TOKEN_TYPES, RFC9068_REQUIRED

__all__ = [
    "OIDC",
    "OPTIONS",
    "Auth0",
    "Cognito",
    "EntraID",
    "Google",
    "Jwtgate",
    "Keycloak",
    "Okta",
    "Provider",
    "oauth_metadata_url",
    "openid_configuration_url",
]

#: ``JWT`` plus the RFC 9068 values: what issuers that predate RFC 9068 put in the header.
JWT_OR_ACCESS_TOKEN = ("jwt", *ACCESS_TOKEN_TYPES)
#: Certificate hints some issuers (Entra ID v1) put in the header: tolerated, never followed or used.
CERTIFICATE_HINTS = ("x5t", "x5t#S256")
_OIDC_REQUIRED = ("iss", "sub", "aud", "exp", "iat")


@dataclass(frozen=True, slots=True)
class Provider:
    """One trusted issuer. Give exactly one of ``discovery_url``, ``jwks_url`` or ``keys``.

    ``issuer`` is what the discovery document must name; ``issuer_aliases`` are other spellings tokens
    may carry. ``audience`` is checked in ``audience_claim`` (``aud``; Cognito: ``client_id``).
    ``token_types`` ``None`` accepts any ``typ`` or none. ``algorithms`` ``None`` accepts what each key
    is bound to. ``claim_values`` are claims that must equal a string (``token_use: access``).
    """

    name: str
    issuer: str
    audience: tuple[str, ...]
    discovery_url: str | None = None
    jwks_url: str | None = None
    keys: KeySet | None = None
    issuer_aliases: tuple[str, ...] = ()
    algorithms: tuple[str, ...] | None = None
    token_types: tuple[str, ...] | None = ACCESS_TOKEN_TYPES
    required_claims: tuple[str, ...] = RFC9068_REQUIRED
    audience_claim: str = "aud"
    claim_values: tuple[tuple[str, str], ...] = ()
    header_members: tuple[str, ...] = ()
    claims: ClaimMap = field(default_factory=ClaimMap)
    token_url: str | None = None

    def __post_init__(self) -> None:
        sources = (self.discovery_url, self.jwks_url, self.keys)
        if sum(source is not None for source in sources) != 1:
            raise ConfigError(f"{self.name}: give exactly one of discovery_url, jwks_url or keys")
        if not self.audience or not all(type(a) is str and a for a in self.audience):
            raise ConfigError(f"{self.name}: an audience is required (the API's identifier at the issuer)")
        if self.keys is not None and not isinstance(self.keys, KeySet):
            raise ConfigError(f"{self.name}: keys must be a KeySet")

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every spelling of the issuer a token may carry (the configured one first)."""
        return (self.issuer, *self.issuer_aliases)

    def verifier(
        self,
        keys: KeySet,
        *,
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
        max_token_size: int = 8192,
        cache_size: int = 0,
    ) -> Verifier:
        """The core :class:`~jwtgate.Verifier` for this issuer's tokens, over ``keys``."""
        return Verifier(
            keys,
            issuer=self.issuers,
            audience=self.audience,
            leeway=leeway,
            clock=clock,
            max_token_size=max_token_size,
            require=self.required_claims,
            types=self.token_types,
            cache_size=cache_size,
            algorithms=self.algorithms,
            header_members=self.header_members,
            audience_claim=self.audience_claim,
            claim_values=dict(self.claim_values),
        )

    def __repr__(self) -> str:
        return f"Provider(name={self.name!r}, issuer={self.issuer!r})"


#: The options every preset (and ``Guard``) accepts to change one aspect of the preset.
OPTIONS = frozenset(
    {
        "algorithms",
        "audience_claim",
        "claim_values",
        "discovery_url",
        "header_members",
        "issuer_aliases",
        "jwks_url",
        "keys",
        "required_claims",
        "roles_claim",
        "scope_claim",
        "token_types",
        "token_url",
    }
)


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, Iterable):
        raise ConfigError(f"{what} must be a string or a list of strings")
    items = tuple(value)
    if not all(type(item) is str for item in items):
        raise ConfigError(f"{what} must be a string or a list of strings")
    return items


def build(
    name: str,
    issuer: str,
    audience: str | Collection[str] | None,
    defaults: Mapping[str, Any],
    options: Mapping[str, Any],
) -> Provider:
    """A Provider from a preset's ``defaults`` overridden by the caller's ``options`` (one code path)."""
    unknown = set(options) - OPTIONS
    if unknown:
        raise TypeError(f"{name}: unknown option(s) {', '.join(sorted(unknown))}; known: {sorted(OPTIONS)}")
    if type(issuer) is not str or not issuer:
        raise ConfigError(f"{name}: the issuer must be a non-empty string")
    if audience is None:
        raise ConfigError(f"{name}: audience= is required (the API's identifier at the issuer)")
    merged = {**defaults, **options}
    sources = [option for option in ("discovery_url", "jwks_url", "keys") if option in options]
    if sources:  # the caller named the key source: the preset's default one gives way
        for option in ("discovery_url", "jwks_url", "keys"):
            if option not in sources:
                merged.pop(option, None)
    scope_claim = merged.pop("scope_claim", "scope")
    roles_claim: str | RolesReader = merged.pop("roles_claim", "roles")
    values: dict[str, Any] = {
        "issuer_aliases": _strings(merged.pop("issuer_aliases", ()), "issuer_aliases"),
        "header_members": _strings(merged.pop("header_members", ()), "header_members"),
    }
    if "algorithms" in merged:
        algorithms = merged.pop("algorithms")
        values["algorithms"] = None if algorithms is None else _strings(algorithms, "algorithms")
    if "token_types" in merged:
        types = merged.pop("token_types")
        values["token_types"] = None if types is None else _strings(types, "token_types")
    if "required_claims" in merged:
        values["required_claims"] = _strings(merged.pop("required_claims"), "required_claims")
    if "claim_values" in merged:
        claim_values = merged.pop("claim_values")
        if not isinstance(claim_values, Mapping):
            raise ConfigError(f"{name}: claim_values must be a mapping of claim name to string")
        values["claim_values"] = tuple(claim_values.items())
    return Provider(
        name=name,
        issuer=issuer,
        audience=_strings(audience, "audience"),
        claims=ClaimMap(scope_claim, roles_claim),
        **values,
        **merged,
    )


def Jwtgate(issuer: str, *, audience: str | Collection[str] = "jwtgate", **options: Any) -> Provider:
    """A ``jwtgate serve`` issuer: RFC 9068 ``at+jwt`` tokens, keys at ``/.well-known/jwks.json``."""
    base = issuer.rstrip("/")
    defaults = {"jwks_url": base + "/.well-known/jwks.json", "token_url": base + "/oauth/token"}
    return build("jwtgate", issuer, audience, defaults, options)


def Keycloak(realm_url: str, *, audience: str | Collection[str], **options: Any) -> Provider:
    """A Keycloak realm (``https://host/realms/NAME``, also the issuer). Roles from ``realm_access.roles``;
    for a client's roles pass ``roles_claim="resource_access.CLIENT.roles"``. Only access tokens pass:
    Keycloak marks them ``typ: Bearer`` in the payload (ID tokens say ``ID``)."""
    issuer = realm_url.rstrip("/")
    defaults = {
        "discovery_url": openid_configuration_url(issuer),
        "algorithms": ("RS256",),
        "token_types": JWT_OR_ACCESS_TOKEN,
        "required_claims": ("iss", "sub", "aud", "exp", "iat", "jti"),
        "claim_values": {"typ": "Bearer"},
        "header_members": CERTIFICATE_HINTS,
        "roles_claim": "realm_access.roles",
        "token_url": issuer + "/protocol/openid-connect/token",
    }
    return build("keycloak", issuer, audience, defaults, options)


def Auth0(domain: str, *, audience: str | Collection[str], **options: Any) -> Provider:
    """An Auth0 tenant (``domain`` such as ``acme.eu.auth0.com``; issuer ``https://domain/``, with the
    slash). Default and RFC 9068 token profiles; roles from the RBAC ``permissions`` claim."""
    host = domain.removeprefix("https://").strip("/")
    issuer = f"https://{host}/"
    defaults = {
        "discovery_url": openid_configuration_url(issuer),
        "algorithms": ("RS256",),
        "token_types": JWT_OR_ACCESS_TOKEN,
        "required_claims": _OIDC_REQUIRED,
        "header_members": CERTIFICATE_HINTS,
        "roles_claim": "permissions",
        "token_url": issuer + "oauth/token",
    }
    return build("auth0", issuer, audience, defaults, options)


def Okta(issuer: str, *, audience: str | Collection[str], **options: Any) -> Provider:
    """An Okta authorization server (``https://org.okta.com/oauth2/default``). Scopes are the ``scp``
    list, roles the ``groups`` claim (add a groups claim in Okta); metadata per RFC 8414."""
    issuer = issuer.rstrip("/")
    defaults = {
        "discovery_url": issuer + "/.well-known/oauth-authorization-server",
        "algorithms": ("RS256",),
        "token_types": None,  # Okta access tokens carry no typ
        "required_claims": ("iss", "sub", "aud", "exp", "iat", "jti"),
        "header_members": CERTIFICATE_HINTS,
        "scope_claim": "scp",
        "roles_claim": "groups",
        "token_url": issuer + "/v1/token",
    }
    return build("okta", issuer, audience, defaults, options)


def EntraID(tenant_id: str, *, audience: str | Collection[str], version: int = 2, **options: Any) -> Provider:
    """Microsoft Entra ID (Azure AD), one tenant. ``version`` is the access token version the API's app
    registration asks for (``accessTokenAcceptedVersion``): 2 (issuer ``login.microsoftonline.com/TENANT
    /v2.0``) or 1 (``sts.windows.net/TENANT/``, with ``x5t`` in the header). Its keys carry no ``alg``:
    RS256 is the one allowed algorithm that fits them. Scopes in ``scp`` (a string), roles in ``roles``."""
    if type(tenant_id) is not str or not tenant_id or "/" in tenant_id:
        raise ConfigError("EntraID: tenant_id must be the tenant's id (a GUID) or domain")
    if tenant_id.lower() in ("common", "organizations", "consumers"):
        # Their metadata names "{tenantid}" as issuer: every tenant's tokens would pass. Trust tenants
        # one by one instead (issuers=[EntraID(a, ...), EntraID(b, ...)]).
        raise ConfigError("EntraID: give one tenant's id; multi-tenant endpoints would trust every tenant")
    if version == 2:
        issuer = f"https://login.microsoftonline.com/{tenant_id}/v2.0"
        discovery = openid_configuration_url(issuer)
    elif version == 1:
        issuer = f"https://sts.windows.net/{tenant_id}/"
        discovery = f"https://login.microsoftonline.com/{tenant_id}/.well-known/openid-configuration"
    else:
        raise ConfigError("EntraID: version must be 1 or 2")
    defaults = {
        "discovery_url": discovery,
        "algorithms": ("RS256",),
        "token_types": JWT_OR_ACCESS_TOKEN,
        "required_claims": _OIDC_REQUIRED,
        "header_members": CERTIFICATE_HINTS,
        "scope_claim": "scp",
        "roles_claim": "roles",
        "token_url": f"https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token",
    }
    return build("entra-id", issuer, audience, defaults, options)


def Cognito(region: str, user_pool_id: str, *, client_ids: str | Collection[str], **options: Any) -> Provider:
    """An Amazon Cognito user pool. Its access tokens have no ``aud``: the app client is checked in
    ``client_id`` against ``client_ids`` instead (never skipped), and ``token_use`` must be ``access``
    (ID tokens are refused). Groups (``cognito:groups``) are the roles."""
    issuer = f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    defaults = {
        "discovery_url": openid_configuration_url(issuer),
        "algorithms": ("RS256",),
        "token_types": None,  # Cognito access tokens carry no typ
        "required_claims": ("iss", "sub", "exp", "iat", "jti", "client_id", "token_use"),
        "audience_claim": "client_id",
        "claim_values": {"token_use": "access"},
        "header_members": CERTIFICATE_HINTS,
        "roles_claim": "cognito:groups",
    }
    return build("cognito", issuer, client_ids, defaults, options)


def Google(client_id: str | Collection[str], **options: Any) -> Provider:
    """Google ID tokens for your OAuth client(s) (``aud`` is the client id). Google writes the issuer
    as ``https://accounts.google.com`` or ``accounts.google.com``: both are accepted."""
    issuer = "https://accounts.google.com"
    defaults = {
        "discovery_url": openid_configuration_url(issuer),
        "issuer_aliases": ("accounts.google.com",),
        "algorithms": ("RS256",),
        "token_types": ("jwt",),
        "required_claims": _OIDC_REQUIRED,
        "header_members": CERTIFICATE_HINTS,
    }
    return build("google", issuer, client_id, defaults, options)


def OIDC(issuer: str, *, audience: str | Collection[str], **options: Any) -> Provider:
    """Any OpenID Connect issuer: discovery at ``{issuer}/.well-known/openid-configuration`` (or pass
    ``discovery_url=oauth_metadata_url(issuer)`` for RFC 8414), RS256 unless ``algorithms=`` says
    otherwise, ``typ`` ``JWT`` or ``at+jwt``, ``iss sub aud exp iat`` required."""
    defaults = {
        "discovery_url": openid_configuration_url(issuer),
        "algorithms": ("RS256",),
        "token_types": JWT_OR_ACCESS_TOKEN,
        "required_claims": _OIDC_REQUIRED,
        "header_members": CERTIFICATE_HINTS,
    }
    return build("oidc", issuer, audience, defaults, options)
