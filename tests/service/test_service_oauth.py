"""Clients, RFC 7009 revocation, RFC 7662 introspection and the revocation feed."""

from __future__ import annotations

from typing import Any

import pytest

from jwtgate.errors import Conflict, InvalidClient, RevokedToken
from jwtgate.service import AuthService, InvalidRequest
from jwtgate.service.opaque import digest

from ._support import FrozenClock


async def test_clients_are_authenticated_by_secret(service: AuthService) -> None:
    info, secret = await service.add_client("billing-api")
    assert secret.startswith("jgs_")
    assert len(secret) == 4 + 43
    assert info.id.startswith("jgc_")
    assert await service.authenticate_client(info.id, secret) == info
    stored = await service.store.get_client(info.id)
    assert stored is not None
    assert stored.secret_hash == digest(secret)
    assert secret not in repr(stored)
    for client_id, presented in [
        (info.id, secret + "x"),
        (info.id, ""),
        ("jgc_unknown", secret),
        (info.id, None),
        (None, secret),
        ("x" * 100_000, secret),
        (info.id, "y" * 100_000),
    ]:
        with pytest.raises(InvalidClient):
            await service.authenticate_client(client_id, presented)  # type: ignore[arg-type]
    with pytest.raises(Conflict):
        await service.add_client("billing-api")
    for bad in ("", "x" * 129, "tab\tname", None):
        with pytest.raises(InvalidRequest):
            await service.add_client(bad)  # type: ignore[arg-type]
    assert [c.name for c in await service.list_clients()] == ["billing-api"]


async def test_introspect_access_token(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse")
    body = await service.introspect(pair.access_token)
    claims = await service.authenticate(pair.access_token)
    assert body == {
        "active": True,
        "token_type": "Bearer",
        "scope": "read write",
        "client_id": "jwtgate",
        "username": "alice",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims["nbf"],
        "sub": claims["sub"],
        "aud": "api",
        "iss": "https://auth.test",
        "jti": claims["jti"],
        "sid": pair.session_id,
    }
    await service.logout(pair.session_id)
    assert await service.introspect(pair.access_token) == {"active": False}


async def test_introspect_refresh_token(service: AuthService, clock: FrozenClock) -> None:
    pair = await service.login("alice", "correct horse")
    body = await service.introspect(pair.refresh_token, "refresh_token")
    assert body["active"] is True
    assert (body["token_type"], body["username"], body["sid"]) == (
        "refresh_token",
        "alice",
        pair.session_id,
    )
    await service.refresh(pair.refresh_token)
    assert await service.introspect(pair.refresh_token) == {"active": False}


@pytest.mark.parametrize(
    "token", ["", "garbage", "a.b.c", "jgr_" + "A" * 43, "x" * 100_000, None, 42, {"a": 1}]
)
async def test_introspect_anything_invalid_is_inactive(service: AuthService, token: Any) -> None:
    assert await service.introspect(token) == {"active": False}


async def test_introspect_expired_is_inactive(service: AuthService, clock: FrozenClock) -> None:
    pair = await service.login("alice", "correct horse")
    clock.advance(900 + 30)
    assert await service.introspect(pair.access_token) == {"active": False}


async def test_revoke_access_token_denylists_its_jti(service: AuthService, clock: FrozenClock) -> None:
    pair = await service.login("alice", "correct horse")
    claims = await service.authenticate(pair.access_token)
    clock.advance(30)
    sibling = await service.refresh(pair.refresh_token)  # same session, another jti
    await service.revoke_token(pair.access_token, "access_token")
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    await service.authenticate(sibling.access_token)  # only that token
    feed = await service.revocations()
    assert feed["revocations"] == [
        {
            "cursor": feed["cursor"],
            "type": "jti",
            "value": claims["jti"],
            "expires_at": claims["exp"] + 30,
        }
    ]


async def test_revoke_refresh_token_revokes_its_session(service: AuthService) -> None:
    pair = await service.login("alice", "correct horse")
    await service.revoke_token(pair.refresh_token, "refresh_token")
    with pytest.raises(RevokedToken):
        await service.authenticate(pair.access_token)
    assert await service.introspect(pair.refresh_token) == {"active": False}


@pytest.mark.parametrize("token", ["", "nonsense", "jgr_" + "B" * 43, "a.b.c", None, 7])
async def test_revoking_unknown_tokens_is_silently_ok(service: AuthService, token: Any) -> None:
    await service.revoke_token(token)
    assert (await service.revocations())["revocations"] == []


async def test_revocation_feed_pages_by_cursor(service: AuthService) -> None:
    sids = [(await service.login("alice", "correct horse")).session_id for _ in range(5)]
    for sid in sids:
        await service.logout(sid)
    first = await service.revocations(after=0, limit=2)
    assert [r["value"] for r in first["revocations"]] == sids[:2]
    second = await service.revocations(after=first["cursor"], limit=2)
    third = await service.revocations(after=second["cursor"], limit=2)
    assert [r["value"] for r in second["revocations"] + third["revocations"]] == sids[2:]
    empty = await service.revocations(after=third["cursor"])
    assert empty == {"revocations": [], "cursor": third["cursor"]}
    assert (await service.revocations(after=2**63 - 1))["revocations"] == []
    for after, limit in [(-1, 10), (0, 0), (0, 1001), ("1", 10), (True, 10), (0, 2.5), (2**63, 1)]:
        with pytest.raises(InvalidRequest):
            await service.revocations(after=after, limit=limit)  # type: ignore[arg-type]
