"""Every preset against tokens in its provider's real shape, keys and metadata served by a local IdP.

For each preset: a valid token gives 200 with the right scopes and roles; tampered, expired, wrong
audience, wrong issuer, ``alg: none``, key confusion (HS256 keyed with the RSA public key) and a key of
another trusted issuer give 401.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtgate import Key, KeySet, generate_key
from jwtgate.errors import MalformedToken, RevokedToken
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jsonutil import dumps_compact
from jwtgate.protect import Denylist, Guard, JWTAuthMiddleware
from jwtgate.protect.providers import (
    OIDC,
    Auth0,
    Cognito,
    EntraID,
    Google,
    Jwtgate,
    Keycloak,
    Okta,
    Provider,
)

from .asgi_driver import Answer, call
from .conftest import NOW, Clock
from .idp import IdP, jwk_as_published, sign, unsigned

TENANT = "8eaef023-2b34-4da1-9baa-8bc8c9d6a490"
ENTRA_CLIENT = "6e74172b-be56-4843-9ff4-e66a39bb12e3"


@dataclass(frozen=True)
class Case:
    """One provider: the preset, where its documents live, and a token in its real shape."""

    name: str
    preset: Callable[[], Provider]
    discovery_url: str | None
    jwks_uri: str
    shape: str
    header: dict[str, Any]
    claims: Callable[[float], dict[str, Any]]
    scopes: set[str]
    roles: set[str]
    audience_claim: str = "aud"


def _keycloak(now: float) -> dict[str, Any]:
    return {
        "exp": int(now) + 300,
        "iat": int(now),
        "auth_time": int(now) - 10,
        "jti": "onrtac:4f1c",
        "iss": "https://sso.test/realms/acme",
        "aud": ["api", "account"],
        "sub": "f:5a3c:alice",
        "typ": "Bearer",
        "azp": "web",
        "sid": "0b4d2c",
        "acr": "1",
        "realm_access": {"roles": ["editor", "offline_access"]},
        "resource_access": {"account": {"roles": ["manage-account"]}, "api": {"roles": ["notes-admin"]}},
        "scope": "openid profile read",
        "preferred_username": "alice",
    }


def _auth0(now: float) -> dict[str, Any]:
    return {  # the default profile: no jti, typ JWT, aud a list with userinfo
        "iss": "https://acme.auth0.test/",
        "sub": "auth0|6123",
        "aud": ["https://api.acme.test", "https://acme.auth0.test/userinfo"],
        "iat": int(now),
        "exp": int(now) + 86400 - 1,
        "azp": "xJb3",
        "scope": "openid profile read:notes",
        "permissions": ["read:notes", "write:notes"],
    }


def _okta(now: float) -> dict[str, Any]:
    return {
        "ver": 1,
        "jti": "AT.f3c_9x",
        "iss": "https://acme.okta.test/oauth2/default",
        "aud": "api://default",
        "iat": int(now),
        "exp": int(now) + 3600,
        "cid": "0oa1",
        "uid": "00u1",
        "scp": ["openid", "notes.read"],
        "auth_time": int(now) - 5,
        "sub": "alice@acme.test",
        "groups": ["Everyone", "editors"],
    }


def _entra_v2(now: float) -> dict[str, Any]:
    return {
        "aud": ENTRA_CLIENT,
        "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 4000,
        "aio": "AWQAm/8",
        "azp": "3b3c",
        "azpacr": "0",
        "name": "Alice",
        "oid": "690222be",
        "preferred_username": "alice@acme.test",
        "rh": "0.AXo",
        "roles": ["Notes.Admin"],
        "scp": "Notes.Read Notes.Write",
        "sub": "Eyld5",
        "tid": TENANT,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0",
    }


def _entra_v1(now: float) -> dict[str, Any]:
    return {
        "aud": "api://notes",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + 4000,
        "appid": "3b3c",
        "appidacr": "0",
        "oid": "690222be",
        "roles": ["Notes.Admin"],
        "scp": "Notes.Read",
        "sub": "Eyld5",
        "tid": TENANT,
        "unique_name": "alice@acme.test",
        "uti": "fqiBq",
        "ver": "1.0",
    }


def _cognito(now: float) -> dict[str, Any]:
    return {  # an access token: no aud, client_id, token_use
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "cognito:groups": ["admins"],
        "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Acme",
        "version": 2,
        "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
        "origin_jti": "bbbb",
        "event_id": "cccc",
        "token_use": "access",
        "scope": "notes/read openid",
        "auth_time": int(now),
        "exp": int(now) + 3600,
        "iat": int(now),
        "jti": "dddd",
        "username": "alice",
    }


def _google(now: float) -> dict[str, Any]:
    return {  # the issuer spelled without scheme, as Google sometimes does
        "iss": "accounts.google.com",
        "azp": "1234-web.apps.googleusercontent.test",
        "aud": "1234-web.apps.googleusercontent.test",
        "sub": "110169484474386276334",
        "email": "alice@acme.test",
        "email_verified": True,
        "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
        "iat": int(now),
        "exp": int(now) + 3600,
    }


def _jwtgate(now: float) -> dict[str, Any]:
    return {
        "iss": "https://auth.test",
        "sub": "alice",
        "aud": "jwtgate",
        "exp": int(now) + 900,
        "iat": int(now),
        "nbf": int(now),
        "jti": "j1",
        "client_id": "jwtgate",
        "sid": "s1",
        "scope": "read write",
        "roles": ["editor"],
    }


def _oidc(now: float) -> dict[str, Any]:
    return {
        "iss": "https://idp.test",
        "sub": "alice",
        "aud": "api",
        "exp": int(now) + 600,
        "iat": int(now),
        "scope": "read",
        "roles": ["viewer"],
    }


CASES = [
    Case(
        "keycloak",
        lambda: Keycloak("https://sso.test/realms/acme", audience="api"),
        "https://sso.test/realms/acme/.well-known/openid-configuration",
        "https://sso.test/realms/acme/protocol/openid-connect/certs",
        "keycloak",
        {"typ": "JWT"},
        _keycloak,
        {"openid", "profile", "read"},
        {"editor", "offline_access"},
    ),
    Case(
        "auth0",
        lambda: Auth0("acme.auth0.test", audience="https://api.acme.test"),
        "https://acme.auth0.test/.well-known/openid-configuration",
        "https://acme.auth0.test/.well-known/jwks.json",
        "auth0",
        {"typ": "JWT"},
        _auth0,
        {"openid", "profile", "read:notes"},
        {"read:notes", "write:notes"},
    ),
    Case(
        "okta",
        lambda: Okta("https://acme.okta.test/oauth2/default", audience="api://default"),
        "https://acme.okta.test/oauth2/default/.well-known/oauth-authorization-server",
        "https://acme.okta.test/oauth2/default/v1/keys",
        "okta",
        {},  # no typ
        _okta,
        {"openid", "notes.read"},
        {"Everyone", "editors"},
    ),
    Case(
        "entra-v2",
        lambda: EntraID(TENANT, audience=ENTRA_CLIENT),
        f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration",
        f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys",
        "entra",
        {"typ": "JWT"},
        _entra_v2,
        {"Notes.Read", "Notes.Write"},
        {"Notes.Admin"},
    ),
    Case(
        "entra-v1",
        lambda: EntraID(TENANT, audience="api://notes", version=1),
        f"https://login.microsoftonline.com/{TENANT}/.well-known/openid-configuration",
        f"https://login.microsoftonline.com/{TENANT}/discovery/keys",
        "entra",
        {"typ": "JWT", "x5t": "k-x5t"},
        _entra_v1,
        {"Notes.Read"},
        {"Notes.Admin"},
    ),
    Case(
        "cognito",
        lambda: Cognito("eu-west-1", "eu-west-1_Acme", client_ids=["3n4b5urk1ft4fl3mg5e62d9ado"]),
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Acme/.well-known/openid-configuration",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Acme/.well-known/jwks.json",
        "cognito",
        {},  # no typ
        _cognito,
        {"notes/read", "openid"},
        {"admins"},
        audience_claim="client_id",
    ),
    Case(
        "google",
        lambda: Google("1234-web.apps.googleusercontent.test"),
        "https://accounts.google.com/.well-known/openid-configuration",
        "https://www.googleapis.com/oauth2/v3/certs",
        "google",
        {"typ": "JWT"},
        _google,
        set(),
        set(),
    ),
    Case(
        "jwtgate",
        lambda: Jwtgate("https://auth.test"),
        None,
        "https://auth.test/.well-known/jwks.json",
        "jwtgate",
        {"typ": "at+jwt"},
        _jwtgate,
        {"read", "write"},
        {"editor"},
    ),
    Case(
        "oidc",
        lambda: OIDC("https://idp.test", audience="api"),
        "https://idp.test/.well-known/openid-configuration",
        "https://idp.test/jwks",
        "oidc",
        {"typ": "at+jwt"},
        _oidc,
        {"read"},
        {"viewer"},
    ),
]
IDS = [case.name for case in CASES]


async def whoami(request: Request) -> JSONResponse:
    user = request.user
    return JSONResponse({"sub": user.identity, "scopes": sorted(user.scopes), "roles": sorted(user.roles)})


def api() -> Starlette:
    return Starlette(routes=[Route("/hello", whoami)])


@pytest.fixture(scope="module")
def idp_key() -> Key:
    return generate_key("RS256", kid="idp-k1")


@pytest.fixture(scope="module")
def stranger_key() -> Key:
    # Another trusted issuer's key, published under the same kid: only its own issuer may use it.
    return generate_key("RS256", kid="idp-k1")


OTHER = "https://other.test"


def published(case: Case, key: Key, stranger: Key) -> IdP:
    idp = IdP()
    issuer = case.preset().issuer
    idp.publish(
        issuer=issuer,
        discovery_url=case.discovery_url,
        jwks_uri=case.jwks_uri,
        keys=[
            jwk_as_published(key, case.shape),
            # An encryption key (Keycloak publishes one): skipped, never used for signatures.
            {**generate_rsa_enc_jwk(), "use": "enc"},
        ],
    )
    idp.publish(
        issuer=OTHER,
        discovery_url=OTHER + "/.well-known/openid-configuration",
        jwks_uri=OTHER + "/jwks",
        keys=[jwk_as_published(stranger, "oidc")],
    )
    return idp


_ENC_KEY = generate_key("RS256", kid="enc-1")


def generate_rsa_enc_jwk() -> dict[str, Any]:
    public = _ENC_KEY.public_key().to_jwk()
    return {"kty": "RSA", "kid": "enc-1", "alg": "RSA-OAEP", "n": public["n"], "e": public["e"]}


def app_for(case: Case, idp: IdP, clock: Clock) -> JWTAuthMiddleware:
    # Two trusted issuers: the preset and another one whose key shares the kid.
    return JWTAuthMiddleware(
        api(),
        issuers=[case.preset(), OIDC(OTHER, audience="api")],
        http_client=idp.async_client(),
        clock=clock,
    )


async def get(app: JWTAuthMiddleware, token: str) -> Answer:
    return await call(app, [(b"authorization", f"Bearer {token}".encode())])


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> Case:
    result: Case = request.param
    return result


async def test_valid_token_in_the_providers_shape(case: Case, idp_key: Key, stranger_key: Key) -> None:
    clock = Clock()
    idp = published(case, idp_key, stranger_key)
    app = app_for(case, idp, clock)
    try:
        answer = await get(app, sign(idp_key, case.header, case.claims(NOW)))
        assert answer.status == 200, answer.body
        body = json.loads(answer.body)
        assert set(body["scopes"]) == case.scopes
        assert set(body["roles"]) == case.roles
    finally:
        await app.guard.aclose()


def _forgeries(case: Case, key: Key, stranger: Key) -> dict[str, str]:
    claims = case.claims(NOW)
    good = sign(key, case.header, claims)
    head, _body, signature = good.split(".")
    tampered_claims = {**claims, "sub": "mallory"}
    public_pem = key.public_key().to_pem(private=False)
    confusion_header = {**case.header, "alg": "HS256", "kid": key.kid}
    confusion_input = (
        b64url_encode(dumps_compact(confusion_header)) + "." + b64url_encode(dumps_compact(claims))
    ).encode()
    audience_claim = case.audience_claim
    return {
        "tampered": f"{head}.{b64url_encode(dumps_compact(tampered_claims))}.{signature}",
        "expired": sign(key, case.header, {**claims, "exp": int(NOW) - 3600, "iat": int(NOW) - 7200}),
        "wrong audience": sign(key, case.header, {**claims, audience_claim: "someone-else"}),
        "wrong issuer": sign(key, case.header, {**claims, "iss": "https://evil.test"}),
        "alg none": unsigned({**case.header, "alg": "none", "kid": key.kid}, claims, b"x"),
        "key confusion": unsigned(
            confusion_header, claims, hmac.new(public_pem, confusion_input, hashlib.sha256).digest()
        ),
        "another trusted issuer's key": sign(stranger, case.header, claims),
    }


FORGERIES = [
    "tampered",
    "expired",
    "wrong audience",
    "wrong issuer",
    "alg none",
    "key confusion",
    "another trusted issuer's key",
]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_forgeries_are_refused(case: Case, forgery: str, idp_key: Key, stranger_key: Key) -> None:
    clock = Clock()
    idp = published(case, idp_key, stranger_key)
    app = app_for(case, idp, clock)
    try:
        answer = await get(app, _forgeries(case, idp_key, stranger_key)[forgery])
        assert answer.status == 401, answer.body
        assert json.loads(answer.body)["error"] == "invalid_token"
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    finally:
        await app.guard.aclose()


async def test_the_other_issuer_still_works_with_its_own_key(idp_key: Key, stranger_key: Key) -> None:
    case = CASES[0]
    app = app_for(case, published(case, idp_key, stranger_key), Clock())
    try:
        token = sign(stranger_key, {"typ": "JWT"}, {**_oidc(NOW), "iss": OTHER})
        assert (await get(app, token)).status == 200
        # Its key, the preset's issuer: refused (checked with the preset issuer's keys only).
        assert (await get(app, sign(stranger_key, {"typ": "JWT"}, _keycloak(NOW)))).status == 401
    finally:
        await app.guard.aclose()


async def test_an_untrusted_issuer_is_refused_before_any_fetch(idp_key: Key, stranger_key: Key) -> None:
    case = CASES[0]
    idp = published(case, idp_key, stranger_key)
    app = app_for(case, idp, Clock())
    try:
        await app.guard.start()
        before = dict(idp.hits)
        token = sign(idp_key, {"typ": "JWT"}, {**_keycloak(NOW), "iss": "https://evil.test"})
        assert (await get(app, token)).status == 401
        assert idp.hits == before
    finally:
        await app.guard.aclose()


async def test_keycloak_id_tokens_are_refused(idp_key: Key, stranger_key: Key) -> None:
    case = CASES[0]
    app = app_for(case, published(case, idp_key, stranger_key), Clock())
    try:
        token = sign(idp_key, {"typ": "JWT"}, {**_keycloak(NOW), "typ": "ID", "aud": "api"})
        assert (await get(app, token)).status == 401
    finally:
        await app.guard.aclose()


async def test_cognito_id_tokens_and_missing_client_id_are_refused(idp_key: Key, stranger_key: Key) -> None:
    case = next(item for item in CASES if item.name == "cognito")
    app = app_for(case, published(case, idp_key, stranger_key), Clock())
    try:
        claims = _cognito(NOW)
        id_token = {**claims, "token_use": "id", "aud": claims["client_id"]}
        assert (await get(app, sign(idp_key, {}, id_token))).status == 401
        no_client = {name: value for name, value in claims.items() if name != "client_id"}
        assert (await get(app, sign(idp_key, {}, no_client))).status == 401
        other_client = {**claims, "client_id": "another-app"}
        assert (await get(app, sign(idp_key, {}, other_client))).status == 401
    finally:
        await app.guard.aclose()


def test_cognito_needs_client_ids() -> None:
    with pytest.raises(Exception, match="audience"):
        Cognito("eu-west-1", "eu-west-1_Acme", client_ids=[])


async def test_google_accepts_both_issuer_spellings(idp_key: Key, stranger_key: Key) -> None:
    case = next(item for item in CASES if item.name == "google")
    app = app_for(case, published(case, idp_key, stranger_key), Clock())
    try:
        for spelling in ("accounts.google.com", "https://accounts.google.com"):
            token = sign(idp_key, {"typ": "JWT"}, {**_google(NOW), "iss": spelling})
            assert (await get(app, token)).status == 200
    finally:
        await app.guard.aclose()


async def test_x5t_in_the_header_is_refused_by_the_strict_default(idp_key: Key) -> None:
    guard = Guard(issuer="https://auth.test", audience="jwtgate", keys=_keyset(idp_key), clock=Clock())
    app = JWTAuthMiddleware(api(), guard=guard)
    try:
        ok = sign(idp_key, {"typ": "at+jwt"}, _jwtgate(NOW))
        assert (await get(app, ok)).status == 200
        with_x5t = sign(idp_key, {"typ": "at+jwt", "x5t": "abc"}, _jwtgate(NOW))
        assert (await get(app, with_x5t)).status == 401
        with pytest.raises(MalformedToken, match="x5t"):
            await guard.authenticate(with_x5t)
    finally:
        await guard.aclose()


class _StaticRevocations:
    """A revocation source that is always in sync: only the denylist matters here."""

    def __init__(self, clock: Clock) -> None:
        self.denylist = Denylist(clock=clock)

    def check_fresh(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def test_revocations_apply_to_the_first_issuer_only(idp_key: Key, stranger_key: Key) -> None:
    clock = Clock()
    source = _StaticRevocations(clock)
    source.denylist.add("sid", "s1", NOW + 3600)
    guard = Guard(
        issuers=[
            Jwtgate("https://auth.test", keys=_keyset(idp_key)),
            OIDC(OTHER, audience="api", keys=_keyset(stranger_key)),
        ],
        revocation_source=source,
        clock=clock,
    )
    try:
        with pytest.raises(RevokedToken):
            await guard.authenticate(sign(idp_key, {"typ": "at+jwt"}, _jwtgate(NOW)))
        # Another issuer's session ids live in another namespace: the same value revokes nothing there.
        other = sign(stranger_key, {"typ": "JWT"}, {**_oidc(NOW), "iss": OTHER, "sid": "s1"})
        assert (await guard.authenticate(other))["sid"] == "s1"
    finally:
        await guard.aclose()


def _keyset(key: Key) -> KeySet:
    return KeySet([key.public_key()])


def test_presets_are_frozen_data() -> None:
    provider = Keycloak(
        "https://sso.test/realms/acme/", audience="api", roles_claim="resource_access.api.roles"
    )
    assert provider.issuer == "https://sso.test/realms/acme"
    assert provider.discovery_url == "https://sso.test/realms/acme/.well-known/openid-configuration"
    assert provider.claims.roles(_keycloak(NOW)) == {"notes-admin"}
    with pytest.raises(AttributeError):
        provider.issuer = "x"  # type: ignore[misc]
    with pytest.raises(TypeError, match="unknown option"):
        Okta("https://acme.okta.test/oauth2/default", audience="api", scopes_claim="scp")
    assert Auth0("acme.auth0.test", audience="a").issuer == "https://acme.auth0.test/"
    assert EntraID(TENANT, audience="a", version=1).issuer == f"https://sts.windows.net/{TENANT}/"
    assert Cognito("eu-west-1", "p", client_ids="c").audience_claim == "client_id"
    assert repr(provider) == "Provider(name='keycloak', issuer='https://sso.test/realms/acme')"


def test_roles_from_a_callable() -> None:
    provider = OIDC("https://idp.test", audience="api", roles_claim=lambda claims: claims.get("grp", []))
    assert provider.claims.roles({"grp": ["a", "b", 3]}) == {"a", "b"}
    assert provider.claims.roles({}) == set()


def test_guard_options_are_one_form_or_the_other() -> None:
    with pytest.raises(TypeError):
        Guard(provider=OIDC("https://idp.test", audience="api"), issuer="https://idp.test")
    with pytest.raises(TypeError):
        Guard(provider=OIDC("https://idp.test", audience="api"), algorithms=["RS256"])
    with pytest.raises(Exception, match="issuers"):
        Guard(issuers=[])
    with pytest.raises(Exception, match="trusted twice"):
        Guard(issuers=[OIDC("https://idp.test", audience="a"), OIDC("https://idp.test", audience="b")])
