"""Discovery (OIDC and RFC 8414) and JWKS as providers publish them: keys without alg, x5c/x5t,
encryption keys, and the configuration errors named in the log."""

from __future__ import annotations

import logging

import httpx
import pytest

from jwtgate import Key, generate_key
from jwtgate.protect import Guard, JWKSClient, JWKSUnavailable, JWTAuthMiddleware
from jwtgate.protect.discovery import jwks_uri_from, oauth_metadata_url, openid_configuration_url
from jwtgate.protect.providers import OIDC, EntraID

from .asgi_driver import call
from .conftest import NOW, Clock
from .idp import IdP, jwk_as_published, sign
from .test_providers import TENANT, _entra_v2, _oidc, api

ISS = "https://idp.test"
META = ISS + "/.well-known/openid-configuration"
JWKS = ISS + "/jwks"


@pytest.fixture(scope="module")
def key() -> Key:
    return generate_key("RS256", kid="d1")


def test_well_known_urls() -> None:
    assert openid_configuration_url("https://idp.test/") == META
    assert openid_configuration_url("https://idp.test/tenant/x") == (
        "https://idp.test/tenant/x/.well-known/openid-configuration"
    )
    # RFC 8414 section 3: the well-known segment goes between host and path.
    assert oauth_metadata_url("https://idp.test/tenant/x") == (
        "https://idp.test/.well-known/oauth-authorization-server/tenant/x"
    )
    assert oauth_metadata_url("https://idp.test") == "https://idp.test/.well-known/oauth-authorization-server"


def test_metadata_must_name_the_configured_issuer() -> None:
    good = b'{"issuer": "https://idp.test", "jwks_uri": "https://idp.test/jwks"}'
    assert jwks_uri_from(good, ISS) == JWKS
    with pytest.raises(JWKSUnavailable):
        jwks_uri_from(good, "https://idp.test/")  # not equal: not the same issuer
    with pytest.raises(JWKSUnavailable):
        jwks_uri_from(b'{"issuer": "https://idp.test", "jwks_uri": "http://evil.test/jwks"}', ISS)
    for garbage in (b"[]", b"not json", b'{"issuer": "https://idp.test"}', b"{" + b" " * 300_000 + b"}"):
        with pytest.raises(JWKSUnavailable):
            jwks_uri_from(garbage, ISS)


async def test_rfc8414_path_insertion_discovery(key: Key) -> None:
    issuer = "https://idp.test/tenants/acme"
    idp = IdP()
    idp.publish(
        issuer=issuer,
        discovery_url=oauth_metadata_url(issuer),
        jwks_uri=issuer + "/keys",
        keys=[jwk_as_published(key, "oidc")],
    )
    provider = OIDC(issuer, audience="api", discovery_url=oauth_metadata_url(issuer))
    guard = Guard(provider=provider, http_client=idp.async_client(), clock=Clock())
    try:
        token = sign(key, {"typ": "JWT"}, {**_oidc(NOW), "iss": issuer})
        assert (await guard.authenticate(token))["sub"] == "alice"
    finally:
        await guard.aclose()


async def test_metadata_is_cached_and_refreshed_like_the_jwks(key: Key) -> None:
    idp = IdP()
    idp.publish(issuer=ISS, discovery_url=META, jwks_uri=JWKS, keys=[jwk_as_published(key, "oidc")])
    clock = Clock()
    jwks = JWKSClient(
        discovery_url=META, issuer=ISS, http_client=idp.async_client(), clock=clock, algorithms=["RS256"]
    )
    try:
        keys = await jwks.refresh()
        assert "d1" in keys
        assert jwks.url == JWKS
        await jwks.refresh()
        assert idp.hits == {META: 1, JWKS: 1}
        # The keys move: the metadata names a new JWKS after its max-age.
        moved = ISS + "/jwks-2"
        idp.publish(issuer=ISS, discovery_url=META, jwks_uri=moved, keys=[jwk_as_published(key, "oidc")])
        clock.advance(301)
        await jwks.refresh()
        assert jwks.url == moved
        assert idp.hits == {META: 2, JWKS: 1, moved: 1}
    finally:
        await jwks.aclose()


async def test_issuer_mismatch_is_a_logged_configuration_error(
    key: Key, caplog: pytest.LogCaptureFixture
) -> None:
    idp = IdP()
    idp.publish(
        issuer="https://other.test", discovery_url=META, jwks_uri=JWKS, keys=[jwk_as_published(key, "oidc")]
    )
    app = JWTAuthMiddleware(
        api(), provider=OIDC(ISS, audience="api"), http_client=idp.async_client(), clock=Clock()
    )
    try:
        with caplog.at_level(logging.ERROR, logger="jwtgate.protect.jwks"):
            token = sign(key, {"typ": "JWT"}, _oidc(NOW))
            answer = await call(app, [(b"authorization", f"Bearer {token}".encode())])
        assert answer.status == 503  # fail closed: never keys of another issuer
        assert "configuration error" in caplog.text
        assert JWKS not in idp.hits  # its keys were never fetched
    finally:
        await app.guard.aclose()


async def test_entra_keys_without_alg_are_used_with_the_preset(key: Key) -> None:
    discovery = f"https://login.microsoftonline.com/{TENANT}/v2.0/.well-known/openid-configuration"
    idp = IdP()
    idp.publish(
        issuer=f"https://login.microsoftonline.com/{TENANT}/v2.0",
        discovery_url=discovery,
        jwks_uri="https://login.microsoftonline.com/common/discovery/v2.0/keys",
        keys=[jwk_as_published(key, "entra")],
    )
    guard = Guard(provider=EntraID(TENANT, audience="a"), http_client=idp.async_client(), clock=Clock())
    try:
        claims = await guard.authenticate(sign(key, {"typ": "JWT"}, {**_entra_v2(NOW), "aud": "a"}))
        assert claims["tid"] == TENANT
    finally:
        await guard.aclose()


def _entra_like(key: Key, count: int) -> list[dict[str, object]]:
    return [{**jwk_as_published(key, "entra"), "kid": f"k{n}"} for n in range(count)]


@pytest.mark.parametrize(
    ("algorithms", "expected"),
    [
        (None, "no key usable for any algorithm: 3 keys lack alg"),
        (["RS256", "PS256"], "no key usable for algorithms [RS256, PS256]: 3 keys lack alg"),
        (["ES256"], "no key usable for algorithms [ES256]: 3 keys lack alg"),
    ],
)
def test_no_usable_key_names_the_reason(
    key: Key, algorithms: list[str] | None, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    idp = IdP()
    idp.serve(JWKS, {"keys": _entra_like(key, 3)})
    jwks = JWKSClient(JWKS, sync_http_client=idp.sync_client(), algorithms=algorithms)
    with caplog.at_level(logging.ERROR, logger="jwtgate.protect.jwks"), pytest.raises(JWKSUnavailable):
        jwks.refresh_sync()
    assert expected in caplog.text
    assert "configuration error" in caplog.text


def test_keys_with_a_disallowed_alg_are_skipped(key: Key, caplog: pytest.LogCaptureFixture) -> None:
    es = generate_key("ES256", kid="es")
    idp = IdP()
    idp.serve(JWKS, {"keys": [es.public_key().to_jwk(), jwk_as_published(key, "auth0")]})
    jwks = JWKSClient(JWKS, sync_http_client=idp.sync_client(), algorithms=["RS256"])
    with caplog.at_level(logging.INFO, logger="jwtgate.protect.jwks"):
        keys = jwks.refresh_sync()
    assert [item.kid for item in keys] == ["d1"]
    assert "skipped 1 key has an alg that is not allowed" in caplog.text


def test_x5c_is_never_parsed(key: Key) -> None:
    idp = IdP()
    entry = {**jwk_as_published(key, "auth0"), "x5c": ["this is not base64 at all!"], "x5u": "https://evil"}
    idp.serve(JWKS, {"keys": [entry]})
    keys = JWKSClient(JWKS, sync_http_client=idp.sync_client()).refresh_sync()
    assert "d1" in keys


def test_wsgi_path_uses_discovery_too(key: Key) -> None:
    idp = IdP()
    idp.publish(issuer=ISS, discovery_url=META, jwks_uri=JWKS, keys=[jwk_as_published(key, "oidc")])
    client = JWKSClient(
        discovery_url=META, issuer=ISS, sync_http_client=idp.sync_client(), algorithms=["RS256"]
    )
    guard = Guard(
        issuer=ISS, audience="api", jwks=client, token_types=None, clock=Clock(), required_claims=()
    )
    claims = guard.authenticate_sync(sign(key, {}, _oidc(NOW)))
    assert claims["sub"] == "alice"
    guard.close_sync()


def test_discovery_needs_the_issuer() -> None:
    with pytest.raises(ValueError, match="issuer"):
        JWKSClient(discovery_url=META)
    with pytest.raises(ValueError, match="exactly one"):
        JWKSClient(JWKS, discovery_url=META, issuer=ISS)
    with pytest.raises(ValueError, match="https"):
        JWKSClient(discovery_url="http://idp.example/.well-known/openid-configuration", issuer=ISS)


async def test_plain_keyword_form_with_discovery(key: Key) -> None:
    idp = IdP()
    idp.publish(issuer=ISS, discovery_url=META, jwks_uri=JWKS, keys=[jwk_as_published(key, "oidc")])
    guard = Guard(
        issuer=ISS,
        audience="api",
        discovery_url=META,
        algorithms=["RS256"],
        token_types=["JWT"],
        required_claims=["sub"],
        scope_claim="scp",
        http_client=idp.async_client(),
        clock=Clock(),
    )
    try:
        claims = await guard.authenticate(sign(key, {"typ": "JWT"}, {**_oidc(NOW), "scp": ["a", "b"]}))
        assert guard.user(claims).scopes == {"a", "b"}
        with pytest.raises(Exception, match="typ"):
            await guard.authenticate(sign(key, {"typ": "at+jwt"}, _oidc(NOW)))
    finally:
        await guard.aclose()


def test_unreachable_metadata_is_503_not_a_pass(key: Key) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    client = JWKSClient(
        discovery_url=META, issuer=ISS, sync_http_client=httpx.Client(transport=httpx.MockTransport(down))
    )
    with pytest.raises(JWKSUnavailable):
        client.refresh_sync()
