"""The key ring in the database: JWKS, rotation with pre-published keys and a publication delay,
algorithm switches, retirement, other instances, read-only opens, and sealing with a key-encryption key."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from jwtgate import KeySet, Verifier, generate_key
from jwtgate.errors import ConfigError, ExpiredToken, UnknownKey
from jwtgate.service import AuthService, Sealer
from jwtgate.service.keystore import KeyInfo, StoredKey
from jwtgate.service.ports import NotInitialised

from ._support import FrozenClock, OpenService


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


def states(infos: list[KeyInfo]) -> dict[str, KeyInfo]:
    return {i.state: i for i in infos if i.state != "retired"}


async def test_first_open_creates_an_active_and_a_next_key_in_the_store(open_service: OpenService) -> None:
    service = await open_service(signing_alg="ES256")
    stored = await service.store.load_keys()
    assert sorted(s.info.state for s in stored) == ["active", "next"]
    assert all(json.loads(s.material)["d"] for s in stored)  # no KEK: plain private JWKs
    assert {s.kek_id for s in stored} == {None}
    assert await service.store.keys_version() is not None


async def test_keys_survive_a_restart(open_service: OpenService) -> None:
    first = await open_service()
    await first.add_user("alice", "correct horse")
    pair = await first.login("alice", "correct horse")
    again = await open_service()
    assert await again.list_keys() == await first.list_keys()
    await again.authenticate(pair.access_token)


async def test_default_signing_algorithm_is_rs256(open_service: OpenService) -> None:
    from jwtgate.service import ServicePolicy

    assert ServicePolicy(issuer="https://x").signing_alg == "RS256"
    service = await open_service(signing_alg="RS256")
    assert {k["kty"] for k in service.jwks()["keys"]} == {"RSA"}
    assert {i.alg for i in await service.list_keys()} == {"RS256"}


async def test_jwks_publishes_public_keys_only(service: AuthService) -> None:
    jwks = service.jwks()
    assert len(jwks["keys"]) == 2  # active + next
    for jwk in jwks["keys"]:
        assert "d" not in jwk
        assert jwk["kid"]
    assert {k["kid"] for k in jwks["keys"]} == {i.kid for i in await service.list_keys()}


async def test_symmetric_keys_are_never_published(open_service: OpenService) -> None:
    service = await open_service(signing_alg="HS256")
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    await service.authenticate(pair.access_token)
    assert service.jwks() == {"keys": []}


async def test_rotation_publishes_first_and_retires_later(service: AuthService, clock: FrozenClock) -> None:
    before = states(await service.list_keys())
    old_token = (await service.login("alice", "correct horse")).access_token
    # resource servers that fetched the JWKS before the rotation already know the next key
    cached = Verifier(
        KeySet.from_jwks(service.jwks()), issuer="https://auth.test", audience="api", clock=clock
    )
    clock.advance(60)
    rotation = await service.rotate_keys()
    assert rotation.scheduled is None  # the ring's first next key was published from the start
    assert rotation.active.kid == before["next"].kid
    after = {i.state: i for i in await service.list_keys()}
    assert after["retired"].kid == before["active"].kid
    assert after["retired"].retire_after == clock.now + 900 + 30
    assert after["next"].kid not in (before["active"].kid, before["next"].kid)
    new_token = (await service.login("alice", "correct horse")).access_token
    assert cached.verify(new_token)["sub"]  # signed by the pre-published key
    assert len(service.jwks()["keys"]) == 3
    await service.authenticate(old_token)
    await service.authenticate(new_token)
    assert "keys_rotated" in [e["kind"] for e in await service.audit_events()]
    # the retired key verifies until its last token expired, then it is gone
    clock.advance(900 + 30 - 1)
    with pytest.raises(ExpiredToken):
        await service.authenticate(old_token)
    clock.advance(1)
    with pytest.raises(UnknownKey):
        await service.authenticate(old_token)
    assert before["active"].kid not in {k["kid"] for k in service.jwks()["keys"]}
    assert (await service.purge())["keys"] == 1
    assert sorted(i.state for i in await service.list_keys()) == ["active", "next"]


async def test_a_next_key_signs_only_after_its_publication_delay(
    service: AuthService, clock: FrozenClock
) -> None:
    await service.rotate_keys()  # promotes the ring's first next key; publishes a fresh one
    fresh = states(await service.list_keys())["next"]
    clock.advance(100)
    rotation = await service.rotate_keys()
    assert rotation.scheduled is not None
    assert rotation.scheduled.kid == fresh.kid
    assert rotation.scheduled.activate_at == fresh.created_at + 300
    assert kid_of((await service.login("alice", "correct horse")).access_token) != fresh.kid
    clock.advance(199)
    await service.sync(force=True)
    assert states(await service.list_keys())["active"].kid != fresh.kid
    clock.advance(1)
    await service.sync()  # the background sync promotes it once its time has come
    assert states(await service.list_keys())["active"].kid == fresh.kid
    assert kid_of((await service.login("alice", "correct horse")).access_token) == fresh.kid


async def test_rotate_at_once_skips_the_delay(service: AuthService, clock: FrozenClock) -> None:
    await service.rotate_keys()
    fresh = states(await service.list_keys())["next"]
    rotation = await service.rotate_keys(at_once=True)  # e.g. the active key leaked
    assert rotation.scheduled is None
    assert rotation.active.kid == fresh.kid


async def test_switching_algorithm_publishes_a_next_key_first(
    open_service: OpenService, clock: FrozenClock
) -> None:
    service = await open_service(signing_alg="ES256")
    await service.add_user("alice", "correct horse")
    old = (await service.login("alice", "correct horse")).access_token
    rotation = await service.rotate_keys(alg="EdDSA")
    assert rotation.scheduled is not None
    assert rotation.scheduled.alg == "EdDSA"
    assert rotation.active.alg == "ES256"
    assert "OKP" in {k["kty"] for k in service.jwks()["keys"]}  # published before it signs
    assert service.ring_alg == "ES256"
    clock.advance(300)
    await service.sync()
    assert {i.state: i.alg for i in await service.list_keys()} == {
        "active": "EdDSA",
        "next": "EdDSA",
        "retired": "ES256",
    }
    await service.authenticate(old)
    assert kid_of((await service.login("alice", "correct horse")).access_token) == rotation.scheduled.kid


async def test_the_configured_algorithm_never_rotates_an_existing_ring(open_service: OpenService) -> None:
    """Regression: opening with another JWTGATE_SIGNING_ALG (a read-only command from a shell without
    the variable) switched the live ring to that algorithm at once, never pre-published."""
    first = await open_service(signing_alg="ES256")
    before = await first.list_keys()
    version = await first.store.keys_version()
    second = await open_service(signing_alg="RS256")
    assert await second.list_keys() == before
    assert await second.store.keys_version() == version
    assert second.ring_alg == "ES256"


async def test_a_read_only_open_of_an_empty_store_fails_and_writes_nothing(clock: FrozenClock) -> None:
    from jwtgate.storage.memory import MemoryStore

    from ._support import make_policy

    store = MemoryStore()
    with pytest.raises(NotInitialised):
        await AuthService.open(store=store, policy=make_policy(), clock=clock, create=False)
    assert store._keys == []
    assert store._secrets == {}


async def test_a_read_only_open_writes_nothing(open_service: OpenService) -> None:
    writer = await open_service()
    version = await writer.store.keys_version()
    reader = await open_service(create=False, signing_alg="EdDSA")
    assert await reader.list_keys() == await writer.list_keys()
    assert await reader.store.keys_version() == version


async def test_rotation_elsewhere_is_picked_up(open_service: OpenService, clock: FrozenClock) -> None:
    server = await open_service()
    await server.add_user("alice", "correct horse")
    cli = await open_service()
    old_kids = {i.kid for i in await server.list_keys()}
    rotation = await cli.rotate_keys()
    clock.advance(1)  # the sync interval
    await server.sync()
    assert {i.kid for i in await server.list_keys()} - old_kids
    token = (await server.login("alice", "correct horse")).access_token
    assert kid_of(token) == rotation.active.kid


async def test_concurrent_rotations_rotate_once(open_service: OpenService, clock: FrozenClock) -> None:
    import asyncio

    one, two = await open_service(), await open_service()
    clock.advance(10)
    await asyncio.gather(
        one.rotate_keys(), two.rotate_keys(), return_exceptions=False
    )  # the second finds a fresh next key: scheduled, not promoted again
    infos = await one.list_keys()
    assert sorted(i.state for i in infos) == ["active", "next", "retired"]


async def test_a_ring_key_without_its_private_part_is_refused(open_service: OpenService) -> None:
    service = await open_service()
    key = generate_key("ES256")
    public = StoredKey(KeyInfo(key.kid, "ES256", "active", 1.0), json.dumps(key.to_jwk()))
    await service.store.update_keys(lambda _: [public])
    with pytest.raises(ConfigError, match="private"):
        await open_service()


async def test_a_too_short_hmac_ring_key_says_why(open_service: OpenService) -> None:
    """An HS key shorter than its hash is refused with the rule, not just "invalid" (and no key bytes)."""
    service = await open_service()
    jwk = {"kty": "oct", "k": "AAAAAAAAAAA", "alg": "HS256", "kid": "short", "use": "sig"}
    short = StoredKey(KeyInfo("short", "HS256", "active", 1.0), json.dumps(jwk))
    await service.store.update_keys(lambda _: [short])
    with pytest.raises(ConfigError, match="at least 32 bytes") as caught:
        await open_service(signing_alg="HS256")
    assert "AAAAAAAAAAA" not in str(caught.value)


async def test_automatic_rotation_when_the_key_is_old_enough(
    open_service: OpenService, clock: FrozenClock
) -> None:
    service = await open_service(key_rotation_interval=86400)
    other = await open_service(key_rotation_interval=86400)
    first = states(await service.list_keys())
    assert first["active"].activated_at == clock.now
    assert first["next"].activated_at is None
    clock.advance(86399)
    assert (await service.maintain())["keys_rotated"] == 0
    clock.advance(1)
    assert (await service.maintain())["keys_rotated"] == 1
    assert (await other.maintain())["keys_rotated"] == 0  # the other instance sees it was done
    second = states(await service.list_keys())
    assert second["active"].kid == first["next"].kid
    assert second["active"].activated_at == clock.now
    events = [e for e in await service.audit_events() if e["kind"] == "keys_rotated"]
    assert events[0]["detail"] == {"active_kid": second["active"].kid, "automatic": True}


async def test_no_automatic_rotation_by_default(service: AuthService, clock: FrozenClock) -> None:
    before = await service.list_keys()
    clock.advance(400 * 86400)
    assert (await service.maintain())["keys_rotated"] == 0
    assert [i.kid for i in await service.list_keys()] == [i.kid for i in before]


# -- sealing with a key-encryption key ----------------------------------------------------------------


def kek() -> bytes:
    return secrets.token_bytes(32)


async def test_private_keys_are_sealed_with_the_kek(open_service: OpenService) -> None:
    current = kek()
    service = await open_service(sealer=Sealer(current))
    await service.add_user("alice", "correct horse")
    stored = await service.store.load_keys()
    assert {s.kek_id for s in stored} == {Sealer(current).kek_id}
    for item in stored:
        assert '"d"' not in item.material
        assert item.material.startswith("jgk1.")
        assert item.info.kid not in item.material
    secret = await service.store.get_secret("csrf")
    assert secret is not None
    assert secret[1] == Sealer(current).kek_id
    pair = await service.login("alice", "correct horse")
    again = await open_service(sealer=Sealer(current))
    await again.authenticate(pair.access_token)
    assert again.server_secret("csrf") == service.server_secret("csrf")


async def test_a_wrong_kek_refuses_to_start_and_overwrites_nothing(open_service: OpenService) -> None:
    service = await open_service(sealer=Sealer(kek()))
    stored = await service.store.load_keys()
    version = await service.store.keys_version()
    wrong = kek()
    with pytest.raises(
        ConfigError, match="cannot decrypt the signing keys: wrong key-encryption key"
    ) as caught:
        await open_service(sealer=Sealer(wrong))
    assert wrong.hex() not in str(caught.value)
    with pytest.raises(ConfigError, match="no key-encryption key is configured"):
        await open_service(sealer=Sealer())
    assert await service.store.load_keys() == stored
    assert await service.store.keys_version() == version


async def test_a_record_sealed_for_another_kid_does_not_open(open_service: OpenService) -> None:
    """A sealed private key copied onto another key's row fails (the kid is the associated data)."""
    current = kek()
    service = await open_service(sealer=Sealer(current))
    stored = await service.store.load_keys()
    swapped = [
        StoredKey(stored[0].info, stored[1].material, stored[1].kek_id),
        StoredKey(stored[1].info, stored[0].material, stored[0].kek_id),
    ]
    await service.store.update_keys(lambda _: swapped)
    with pytest.raises(ConfigError, match="wrong key-encryption key"):
        await open_service(sealer=Sealer(current))


async def test_rewrap_moves_every_key_and_secret_to_a_new_kek(open_service: OpenService) -> None:
    old, new = kek(), kek()
    service = await open_service(sealer=Sealer(old))
    await service.add_user("alice", "correct horse")
    pair = await service.login("alice", "correct horse")
    moving = await open_service(sealer=Sealer(new, previous=[old]))
    assert moving.unsealed_keys() == 2
    counts = await moving.rewrap()
    assert counts["keys"] == 2
    assert counts["secrets"] >= 1
    assert {s.kek_id for s in await moving.store.load_keys()} == {Sealer(new).kek_id}
    after = await open_service(sealer=Sealer(new))  # the old KEK is no longer needed
    await after.authenticate(pair.access_token)
    assert after.server_secret("csrf") == service.server_secret("csrf")
    with pytest.raises(ConfigError, match="wrong key-encryption key"):
        await open_service(sealer=Sealer(old))
    assert (await after.rewrap()) == {"keys": 0, "secrets": 0}


async def test_plain_keys_are_sealed_by_a_rewrap(open_service: OpenService) -> None:
    service = await open_service()
    current = kek()
    sealed = await open_service(sealer=Sealer(current))  # a KEK opens plain records (upgrade path)
    assert sealed.unsealed_keys() == 2
    await sealed.rewrap()
    assert {s.kek_id for s in await service.store.load_keys()} == {Sealer(current).kek_id}


def test_the_sealer_never_shows_a_key() -> None:
    secret = kek()
    sealer = Sealer(secret)
    assert secret.hex() not in repr(sealer)
    assert base64.urlsafe_b64encode(secret).decode().rstrip("=") not in repr(sealer)
    material, _ = sealer.seal("kid", b'{"d": "private"}')
    assert "private" not in material


async def test_a_scheduled_activation_is_done_once_whichever_instance_syncs_first(
    open_service: OpenService, clock: FrozenClock
) -> None:
    one, two = await open_service(), await open_service()
    await one.rotate_keys()
    clock.advance(10)
    rotation = await one.rotate_keys()  # the fresh next key: scheduled
    assert rotation.scheduled is not None
    await two.sync(force=True)
    clock.advance(300)
    await two.sync()  # the other instance promotes it
    version = await one.store.keys_version()
    await one.sync()  # finds it done: reloads, writes nothing
    await one.sync()
    assert await one.store.keys_version() == version
    assert states(await one.list_keys())["active"].kid == rotation.scheduled.kid
