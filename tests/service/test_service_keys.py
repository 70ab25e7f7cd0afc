"""The key ring: files and modes, JWKS, rotation with pre-published keys, retirement, other processes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jwtgate import KeySet, Verifier
from jwtgate.errors import ConfigError, ExpiredToken, UnknownKey
from jwtgate.service import AuthService, FileKeyStore

from ._support import FrozenClock, OpenService


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_first_open_creates_private_files(open_service: OpenService, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    service = await open_service(keys=FileKeyStore(keys_dir), signing_alg="ES256")
    assert mode(keys_dir) == 0o700
    files = sorted(p.name for p in keys_dir.iterdir() if not p.name.startswith("."))
    infos = await service.list_keys()
    assert sorted(i.state for i in infos) == ["active", "next"]
    assert files == sorted([f"{i.kid}.jwk" for i in infos] + ["ring.json"])
    for path in keys_dir.iterdir():
        assert mode(path) == 0o600, path
    assert "d" in __import__("json").loads((keys_dir / f"{infos[0].kid}.jwk").read_text())
    assert "FileKeyStore" in repr(FileKeyStore(keys_dir))


async def test_keys_survive_a_restart(open_service: OpenService, tmp_path: Path) -> None:
    first = await open_service(keys=FileKeyStore(tmp_path / "keys"))
    await first.add_user("alice", "correct horse")
    pair = await first.login("alice", "correct horse")
    again = await open_service(keys=FileKeyStore(tmp_path / "keys"))
    assert await again.list_keys() == await first.list_keys()
    await again.authenticate(pair.access_token)


async def test_default_signing_algorithm_is_rs256(open_service: OpenService, tmp_path: Path) -> None:
    from jwtgate.service import ServicePolicy

    assert ServicePolicy(issuer="https://x").signing_alg == "RS256"
    service = await open_service(keys=FileKeyStore(tmp_path / "keys"), signing_alg="RS256")
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
    before = {i.state: i for i in await service.list_keys()}
    old_token = (await service.login("alice", "correct horse")).access_token
    # resource servers that fetched the JWKS before the rotation already know the next key
    cached = Verifier(
        KeySet.from_jwks(service.jwks()), issuer="https://auth.test", audience="api", clock=clock
    )
    clock.advance(60)
    active = await service.rotate_keys()
    assert active.kid == before["next"].kid
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


async def test_retired_key_still_verifies_its_live_tokens(service: AuthService, clock: FrozenClock) -> None:
    clock.advance(100)
    token = (await service.login("alice", "correct horse")).access_token
    await service.rotate_keys()
    clock.advance(899)
    assert (await service.authenticate(token))["username"] == "alice"


async def test_rotation_elsewhere_is_picked_up(
    open_service: OpenService, clock: FrozenClock, tmp_path: Path
) -> None:
    server = await open_service(keys=FileKeyStore(tmp_path / "keys"))
    await server.add_user("alice", "correct horse")
    cli = await open_service(keys=FileKeyStore(tmp_path / "keys"))
    old_kids = {i.kid for i in await server.list_keys()}
    new_active = await cli.rotate_keys()
    clock.advance(5)  # key_check_interval
    await server.authenticate((await server.login("alice", "correct horse")).access_token)
    assert {i.kid for i in await server.list_keys()} - old_kids
    token = (await server.login("alice", "correct horse")).access_token
    header = __import__("json").loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == new_active.kid


async def test_changing_the_algorithm_rotates(open_service: OpenService, tmp_path: Path) -> None:
    first = await open_service(keys=FileKeyStore(tmp_path / "keys"), signing_alg="ES256")
    await first.add_user("alice", "correct horse")
    old = (await first.login("alice", "correct horse")).access_token
    second = await open_service(keys=FileKeyStore(tmp_path / "keys"), signing_alg="EdDSA")
    states = {i.state: i.alg for i in await second.list_keys()}
    assert states == {"active": "EdDSA", "next": "EdDSA", "retired": "ES256"}
    await second.authenticate(old)


async def test_key_files_readable_by_others_are_refused(open_service: OpenService, tmp_path: Path) -> None:
    await open_service(keys=FileKeyStore(tmp_path / "keys"))
    victim = next((tmp_path / "keys").glob("*.jwk"))
    os.chmod(victim, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        await open_service(keys=FileKeyStore(tmp_path / "keys"))


@pytest.mark.parametrize(
    "ring",
    [
        '{"keys": [{"kid": "../../etc/passwd", "alg": "ES256", "state": "active", "created_at": 1}]}',
        '{"keys": [{"kid": "abc", "alg": "ES256", "state": "bogus", "created_at": 1}]}',
        '{"keys": [{"kid": "abc", "alg": "ES256", "state": "active", "created_at": 1}]}',
        "not json",
        "[]",
    ],
)
async def test_a_corrupt_ring_is_a_config_error(open_service: OpenService, tmp_path: Path, ring: str) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    (keys / "ring.json").write_text(ring)
    with pytest.raises(ConfigError):
        await open_service(keys=FileKeyStore(keys))


async def test_automatic_rotation_when_the_key_is_old_enough(
    open_service: OpenService, clock: FrozenClock, tmp_path: Path
) -> None:
    service = await open_service(keys=FileKeyStore(tmp_path / "keys"), key_rotation_interval=86400)
    other = await open_service(keys=FileKeyStore(tmp_path / "keys"), key_rotation_interval=86400)
    first = {i.state: i for i in await service.list_keys()}
    assert first["active"].activated_at == clock.now
    assert first["next"].activated_at is None
    clock.advance(86399)
    assert (await service.maintain())["keys_rotated"] == 0
    clock.advance(1)
    assert (await service.maintain())["keys_rotated"] == 1
    assert (await other.maintain())["keys_rotated"] == 0  # the other process sees it was done
    second = {i.state: i for i in await service.list_keys()}
    assert second["active"].kid == first["next"].kid
    assert second["active"].activated_at == clock.now
    events = [e for e in await service.audit_events() if e["kind"] == "keys_rotated"]
    assert events[0]["detail"] == {"active_kid": second["active"].kid, "automatic": True}


async def test_no_automatic_rotation_by_default(service: AuthService, clock: FrozenClock) -> None:
    before = await service.list_keys()
    clock.advance(400 * 86400)
    assert (await service.maintain())["keys_rotated"] == 0
    assert [i.kid for i in await service.list_keys()] == [i.kid for i in before]


async def test_a_ring_key_without_its_private_part_is_refused(
    open_service: OpenService, tmp_path: Path
) -> None:
    import json

    from jwtgate import generate_key

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    key = generate_key("ES256")
    (keys / f"{key.kid}.jwk").write_text(json.dumps(key.to_jwk()))  # public members only
    os.chmod(keys / f"{key.kid}.jwk", 0o600)
    entry = {"kid": key.kid, "alg": "ES256", "state": "active", "created_at": 1}
    (keys / "ring.json").write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(ConfigError, match="private"):
        await open_service(keys=FileKeyStore(keys))


async def test_a_too_short_hmac_ring_key_says_why(open_service: OpenService, tmp_path: Path) -> None:
    """An HS key shorter than its hash is refused with the rule, not just "invalid" (and no key bytes)."""
    import json

    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    jwk = {"kty": "oct", "k": "AAAAAAAAAAA", "alg": "HS256", "kid": "short", "use": "sig"}
    (keys / "short.jwk").write_text(json.dumps(jwk))
    os.chmod(keys / "short.jwk", 0o600)
    entry = {"kid": "short", "alg": "HS256", "state": "active", "created_at": 1}
    (keys / "ring.json").write_text(json.dumps({"keys": [entry]}))
    with pytest.raises(ConfigError, match="at least 32 bytes") as caught:
        await open_service(keys=FileKeyStore(keys), signing_alg="HS256")
    assert "AAAAAAAAAAA" not in str(caught.value)
