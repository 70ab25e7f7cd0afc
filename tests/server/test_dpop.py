"""DPoP (RFC 9449) at the auth server, through the real app: bound tokens from every token endpoint,
server nonces, proofs on the API routes, replay, key binding of refresh tokens, and the modes."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from jwtgate import generate_key
from jwtgate.dpop import ProofSigner, create_proof
from jwtgate.jose.b64 import b64url_encode
from jwtgate.jose.jsonutil import dumps_compact

from .conftest import BASE_URL, PASSWORD, FrozenClock, assert_error_shape

URL = BASE_URL


def claims_of(token: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    return loaded


async def nonce_of(client: httpx.AsyncClient, signer: ProofSigner, clock: FrozenClock) -> str:
    """Ask for a nonce the way a client learns it: a proof without one gets 400 use_dpop_nonce."""
    proof = signer.proof("POST", f"{URL}/api/login", now=clock.now)
    response = await client.post(
        "/api/login", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof}
    )
    assert_error_shape(response, 400, "use_dpop_nonce")
    return response.headers["DPoP-Nonce"]


async def dpop_login(client: httpx.AsyncClient, signer: ProofSigner, clock: FrozenClock) -> dict[str, Any]:
    nonce = await nonce_of(client, signer, clock)
    proof = signer.proof("POST", f"{URL}/api/login", now=clock.now, nonce=nonce)
    response = await client.post(
        "/api/login", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof}
    )
    assert response.status_code == 200, response.text
    assert response.headers["DPoP-Nonce"]
    body: dict[str, Any] = response.json()
    return body


def resource(
    signer: ProofSigner, token: str, clock: FrozenClock, path: str = "/api/protected"
) -> dict[str, str]:
    proof = signer.proof("GET", f"{URL}{path}", now=clock.now, access_token=token)
    return {"Authorization": f"DPoP {token}", "DPoP": proof}


@pytest.fixture
def signer() -> ProofSigner:
    return ProofSigner(generate_key("ES256"))


async def test_a_proof_binds_the_tokens_to_its_key(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    tokens = await dpop_login(client, signer, clock)
    assert tokens["token_type"] == "DPoP"
    assert claims_of(tokens["access_token"])["cnf"] == {"jkt": signer.jkt}
    response = await client.get("/api/protected", headers=resource(signer, tokens["access_token"], clock))
    assert response.status_code == 200
    assert response.json()["user"]["cnf"]["jkt"] == signer.jkt
    me = await client.get("/api/me", headers=resource(signer, tokens["access_token"], clock, "/api/me"))
    assert me.status_code == 200


async def test_replayed_proof_is_refused(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    tokens = await dpop_login(client, signer, clock)
    headers = resource(signer, tokens["access_token"], clock)
    assert (await client.get("/api/protected", headers=headers)).status_code == 200
    again = await client.get("/api/protected", headers=headers)
    body = assert_error_shape(again, 401, "invalid_dpop_proof")
    assert "already used" in body["error_description"]
    assert again.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="invalid_dpop_proof"' in again.headers["WWW-Authenticate"]


async def test_a_captured_token_with_a_proof_of_another_key_is_refused(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    tokens = await dpop_login(client, signer, clock)
    thief = ProofSigner(generate_key("ES256"))
    response = await client.get("/api/protected", headers=resource(thief, tokens["access_token"], clock))
    assert_error_shape(response, 401, "invalid_dpop_proof")


async def test_a_bound_token_sent_as_bearer_is_refused(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    tokens = await dpop_login(client, signer, clock)
    response = await client.get(
        "/api/protected", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert_error_shape(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/protected"), ("GET", "/api/me"), ("GET", "/api/protected?x=1#frag")],
)
async def test_a_proof_for_another_url_or_method_is_refused(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock, method: str, path: str
) -> None:
    tokens = await dpop_login(client, signer, clock)
    proof = signer.proof(method, f"{URL}{path}", now=clock.now, access_token=tokens["access_token"])
    response = await client.get(
        "/api/protected", headers={"Authorization": f"DPoP {tokens['access_token']}", "DPoP": proof}
    )
    if path.startswith("/api/protected?"):
        assert response.status_code == 200  # query and fragment are not part of htu
    else:
        assert_error_shape(response, 401, "invalid_dpop_proof")


async def test_a_proof_without_ath_or_a_token_without_proof_is_refused(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    tokens = await dpop_login(client, signer, clock)
    no_ath = signer.proof("GET", f"{URL}/api/protected", now=clock.now)
    auth = {"Authorization": f"DPoP {tokens['access_token']}"}
    assert_error_shape(
        await client.get("/api/protected", headers={**auth, "DPoP": no_ath}), 401, "invalid_dpop_proof"
    )
    assert_error_shape(await client.get("/api/protected", headers=auth), 401, "invalid_dpop_proof")


async def test_a_stale_nonce_gets_a_fresh_one_and_the_retry_succeeds(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    old = await nonce_of(client, signer, clock)
    clock.advance(3600)  # two nonce windows later
    stale = signer.proof("POST", f"{URL}/api/login", now=clock.now, nonce=old)
    body = {"username": "alice", "password": PASSWORD}
    refused = await client.post("/api/login", json=body, headers={"DPoP": stale})
    assert_error_shape(refused, 400, "use_dpop_nonce")
    fresh = refused.headers["DPoP-Nonce"]
    assert fresh != old
    retry = signer.proof("POST", f"{URL}/api/login", now=clock.now, nonce=fresh)
    assert (await client.post("/api/login", json=body, headers={"DPoP": retry})).status_code == 200


async def test_refresh_needs_a_proof_by_the_sessions_key_and_spends_nothing_otherwise(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    tokens = await dpop_login(client, signer, clock)
    body = {"refresh_token": tokens["refresh_token"]}
    without = await client.post("/api/token/refresh", json=body)
    assert_error_shape(without, 400, "invalid_dpop_proof")
    nonce = without.headers["DPoP-Nonce"]
    thief = ProofSigner(generate_key("ES256"))
    stolen = thief.proof("POST", f"{URL}/api/token/refresh", now=clock.now, nonce=nonce)
    assert_error_shape(
        await client.post("/api/token/refresh", json=body, headers={"DPoP": stolen}),
        400,
        "invalid_dpop_proof",
    )
    # the refresh token was not spent by those attempts: its owner rotates it normally
    own = signer.proof("POST", f"{URL}/api/token/refresh", now=clock.now, nonce=nonce)
    rotated = await client.post("/api/token/refresh", json=body, headers={"DPoP": own})
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["token_type"] == "DPoP"
    assert claims_of(rotated.json()["access_token"])["cnf"] == {"jkt": signer.jkt}


async def test_the_oauth_token_endpoint_binds_too(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    first = await client.post(
        "/oauth/token", data=form, headers={"DPoP": signer.proof("POST", f"{URL}/oauth/token", now=clock.now)}
    )
    assert_error_shape(first, 400, "use_dpop_nonce")
    proof = signer.proof("POST", f"{URL}/oauth/token", now=clock.now, nonce=first.headers["DPoP-Nonce"])
    response = await client.post("/oauth/token", data=form, headers={"DPoP": proof})
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("attack", ["private_jwk", "alg_none", "hs256", "huge_header", "two_headers"])
async def test_malformed_proofs_at_the_token_endpoint(
    client: httpx.AsyncClient, alice: Any, clock: FrozenClock, attack: str
) -> None:
    key = generate_key("ES256")
    good = create_proof(key, "POST", f"{URL}/api/login", now=clock.now)
    head, payload, signature = good.split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=="))
    if attack == "private_jwk":
        header["jwk"] = key.to_jwk(private=True)
    elif attack == "alg_none":
        header["alg"] = "none"
    elif attack == "hs256":
        header["alg"] = "HS256"
    elif attack == "huge_header":
        header["pad"] = "x" * 10_000
    proof = b64url_encode(dumps_compact(header)) + "." + payload + "." + signature
    headers = [("DPoP", good), ("DPoP", good)] if attack == "two_headers" else [("DPoP", proof)]
    response = await client.post(
        "/api/login", json={"username": "alice", "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error"] in ("invalid_dpop_proof", "invalid_request")
    assert key.to_jwk(private=True)["d"] not in response.text


async def test_metadata_lists_the_dpop_algorithms(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert "ES256" in metadata["dpop_signing_alg_values_supported"]
    assert "HS256" not in metadata["dpop_signing_alg_values_supported"]


@pytest.mark.parametrize("settings_overrides", [{"dpop": "required"}])
async def test_required_mode_refuses_bearer(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    body = {"username": "alice", "password": PASSWORD}
    assert_error_shape(await client.post("/api/login", json=body), 400, "invalid_dpop_proof")
    tokens = await dpop_login(client, signer, clock)
    assert (
        await client.get("/api/protected", headers=resource(signer, tokens["access_token"], clock))
    ).status_code == 200


@pytest.mark.parametrize("settings_overrides", [{"dpop": "off"}])
async def test_off_mode_ignores_proofs(
    client: httpx.AsyncClient, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    proof = signer.proof("POST", f"{URL}/api/login", now=clock.now)
    response = await client.post(
        "/api/login", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"
    assert "DPoP-Nonce" not in response.headers
    metadata = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert "dpop_signing_alg_values_supported" not in metadata


async def test_the_python_client_with_dpop_against_the_real_app(
    app: Any, alice: Any, clock: FrozenClock
) -> None:
    from jwtgate.client import JwtgateAuth

    auth = JwtgateAuth(URL, username="alice", password=PASSWORD, dpop=True, clock=clock)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 5555))
    async with httpx.AsyncClient(transport=transport, base_url=URL, auth=auth) as http:
        assert (await http.get("/api/me")).json()["username"] == "alice"
        assert auth.token_type == "DPoP"
        assert claims_of(auth.access_token or "")["cnf"] == {"jkt": auth.dpop_jkt}
        clock.advance(900)  # the access token expires: the client refreshes with a proof
        assert (await http.get("/api/protected")).status_code == 200


async def test_a_nonce_from_one_instance_is_accepted_by_another(
    settings: Any, service: Any, alice: Any, signer: ProofSigner, clock: FrozenClock
) -> None:
    """Nonces need no database: a MAC under the server secret every instance shares."""
    from jwtgate.server import create_app
    from jwtgate.service import AuthService
    from jwtgate.storage import open_store

    from .conftest import cheap_hasher_for_tests, service_policy_of

    other_store = await open_store(f"sqlite+aiosqlite:///{settings.data_dir / 'test.db'}")
    other = await AuthService.open(
        store=other_store, policy=service_policy_of(settings), clock=clock, hasher=cheap_hasher_for_tests()
    )
    try:
        apps = [create_app(settings, service=s, clock=clock) for s in (service, other)]
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url=URL) for a in apps]
        async with clients[0] as first, clients[1] as second:
            nonce = await nonce_of(first, signer, clock)
            proof = signer.proof("POST", f"{URL}/api/login", now=clock.now, nonce=nonce)
            response = await second.post(
                "/api/login", json={"username": "alice", "password": PASSWORD}, headers={"DPoP": proof}
            )
            assert response.status_code == 200, response.text
    finally:
        await other.close()
