"""Issue 12, password policy (NIST SP 800-63B): the rules, NFKC, legacy hashes, the hashing pool."""

from __future__ import annotations

import asyncio
import unicodedata

import pytest

from jwtgate.errors import ConfigError, InvalidCredentials, InvalidRequest, ServiceBusy
from jwtgate.service import AuthService
from jwtgate.service.password_policy import PasswordPolicy, load_common_passwords
from jwtgate.service.passwords import Argon2Hasher, HashingPool

from ._support import OpenService


def full_width(text: str) -> str:
    """The full-width form of ASCII text (what some East Asian keyboards type): NFKC maps it back."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


@pytest.fixture(scope="module")
def policy() -> PasswordPolicy:
    return PasswordPolicy()


def test_the_shipped_list_holds_common_and_breached_passwords() -> None:
    common = load_common_passwords()
    assert len(common) > 50_000
    assert {"password", "12345678", "iloveyou", "sunshine", "baseball"} <= common


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("password", "too common"),
        ("PassWord", "too common"),  # case-insensitive
        ("12345678", "too common"),
        ("qwertyuiop", "too common"),
        ("football", "too common"),
        ("        ", "repeated"),  # eight spaces
        ("aaaaaaaaaaa", "repeated"),
        ("abababababab", "repeated"),
        ("xyzxyzxyz", "repeated"),
        ("23456789", "sequence"),
        ("lmnopqrstu", "sequence"),
        ("98765432", "sequence"),
        ("short", "8 to 1024"),
        ("1234567", "8 to 1024"),
        ("x" * 1025, "8 to 1024"),
        ("my jwtgate login", "name of this service"),
        ("nul\x00in the middle", "NUL"),
    ],
)
def test_weak_passwords_are_refused_with_the_rule_named(
    policy: PasswordPolicy, password: str, rule: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        policy.check(password, username="someone")
    assert rule in raised.value.description


@pytest.mark.parametrize("password", ["carol", "CAROL", "Carol1234", "my name is carol!", "xxcarolxx"])
def test_a_password_equal_to_or_containing_the_username_is_refused(
    policy: PasswordPolicy, password: str
) -> None:
    with pytest.raises(InvalidRequest, match="username"):
        policy.check(password.ljust(8, "!") if len(password) < 8 else password, username="carol")


def test_short_usernames_inside_a_password_are_a_coincidence(policy: PasswordPolicy) -> None:
    assert policy.check("totally fine passphrase", username="al") == "totally fine passphrase"


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3 but longer",
        "пароль для входа",  # any Unicode: Cyrillic
        "パスワードは長い",  # Japanese, 8 characters
        "🔑🔑 emoji keys 🗝",
        "a b c d e f g h",  # spaces are characters like any other
    ],
)
def test_no_composition_rules_any_unicode(policy: PasswordPolicy, password: str) -> None:
    assert policy.check(password, username="dave") == unicodedata.normalize("NFKC", password)


def test_long_passphrases_up_to_1024_characters(policy: PasswordPolicy) -> None:
    long = ("a quite long passphrase " * 50)[:1024]
    assert policy.check(long) == long


def test_passwords_are_nfkc_normalised(policy: PasswordPolicy) -> None:
    wide = full_width("passphrase12")  # full-width letters and digits
    assert policy.check(wide) == "passphrase12"
    decomposed = "cafe\u0301 au lait"  # e + combining acute
    assert policy.check(decomposed) == "caf\u00e9 au lait"
    with pytest.raises(InvalidRequest, match="too common"):
        policy.check(full_width("password"))  # "password" in full width is still "password"


def test_the_minimum_is_configurable_within_bounds() -> None:
    strict = PasswordPolicy.with_words([], min_length=12)
    with pytest.raises(InvalidRequest, match="12 to 1024"):
        strict.check("eleven char")
    assert strict.check("twelve chars")
    for bad in (7, 65, "8", 8.0):
        with pytest.raises(ConfigError):
            PasswordPolicy.with_words([], min_length=bad)  # type: ignore[arg-type]


async def test_the_service_applies_the_policy_everywhere(open_service: OpenService) -> None:
    service = await open_service()
    for bad in ("password", "12345678", "        ", "frank123"):
        with pytest.raises(InvalidRequest):
            await service.add_user("frank", bad)
        with pytest.raises(InvalidRequest):
            await service.register("frank", bad)
    await service.add_user("frank", "a fine passphrase")
    with pytest.raises(InvalidRequest, match="username"):
        await service.set_password("frank", "FRANK and beans")
    frank = next(u for u in await service.list_users() if u.username == "frank")
    pair = await service.login("frank", "a fine passphrase")
    with pytest.raises(InvalidRequest, match="too common"):
        await service.change_password(frank.id, "a fine passphrase", "iloveyou")
    # Refused changes changed nothing: the old password still works, the session too.
    await service.login("frank", "a fine passphrase")
    assert (await service.authenticate(pair.access_token))["sub"] == frank.id


async def test_nfkc_forms_of_one_password_all_log_in(open_service: OpenService) -> None:
    service = await open_service()
    await service.add_user("grace", "café au lait")  # composed é
    await service.login("grace", "cafe\u0301 au lait")  # decomposed: same password
    await service.add_user("heidi", full_width("full width pass"))
    await service.login("heidi", "full width pass")
    with pytest.raises(InvalidCredentials):
        await service.login("heidi", "full width pas")


async def test_a_legacy_hash_of_a_non_nfkc_password_still_verifies_and_is_upgraded(
    open_service: OpenService,
) -> None:
    """Hashes made before normalisation hold the raw text: the raw form is tried as a fallback and a
    match re-hashes the NFKC form (the next login needs only one verification)."""
    hasher = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)
    service = await open_service(hasher=hasher)
    raw = full_width("legacy pass")  # full width: its NFKC form differs
    await service.add_user("ivan", "temporary passphrase")
    ivan = next(u for u in await service.list_users() if u.username == "ivan")
    record = await service.store.get_user(ivan.id)
    assert record is not None
    legacy_hash = await hasher.hash(raw)  # as jwtgate 0.1 stored it: no normalisation
    await service.store.set_password_hash(ivan.id, legacy_hash, record.password_changed_at)
    await service.login("ivan", raw)
    upgraded = await service.store.get_user(ivan.id)
    assert upgraded is not None
    assert upgraded.password_hash != legacy_hash
    assert await hasher.verify(upgraded.password_hash, "legacy pass")
    await service.login("ivan", "legacy pass")  # the normalised form now works too
    with pytest.raises(InvalidCredentials):
        await service.login("ivan", "legacy pas")


async def test_ascii_hashes_made_before_the_policy_keep_working(open_service: OpenService) -> None:
    """Existing users keep their passwords, even ones the policy would refuse today."""
    hasher = Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1)
    service = await open_service(hasher=hasher)
    await service.add_user("judy", "temporary passphrase")
    judy = next(u for u in await service.list_users() if u.username == "judy")
    record = await service.store.get_user(judy.id)
    assert record is not None
    await service.store.set_password_hash(judy.id, await hasher.hash("password"), record.password_changed_at)
    await service.login("judy", "password")


async def test_the_hashing_pool_refuses_beyond_its_queue() -> None:
    """Regression (issue 12, login storm): hashing queued without bound. Beyond workers + queue the
    pool refuses at once with ServiceBusy; it never runs more than ``workers`` at a time."""
    pool = HashingPool(workers=1, queue=2)
    release = asyncio.Event()
    running = 0
    most = 0
    loop = asyncio.get_running_loop()

    def work() -> int:
        nonlocal running, most
        running += 1
        most = max(most, running)
        asyncio.run_coroutine_threadsafe(release.wait(), loop).result(timeout=10)
        running -= 1
        return 7

    tasks = [asyncio.create_task(pool.run(work)) for _ in range(3)]
    await asyncio.sleep(0)  # let them enter the pool (scheduling, not waiting for time to pass)
    assert pool.pending == 3
    with pytest.raises(ServiceBusy) as raised:
        await pool.run(work)
    assert raised.value.retry_after >= 1
    assert pool.refused == 1
    release.set()
    assert await asyncio.gather(*tasks) == [7, 7, 7]
    assert most == 1
    assert pool.pending == 0


async def test_a_busy_pool_is_not_a_failed_login(open_service: OpenService) -> None:
    """A login refused because the pool is full must not count against the account."""
    pool = HashingPool(workers=1, queue=0)
    service: AuthService = await open_service(
        hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1, pool=pool)
    )
    await service.add_user("kim", "a fine passphrase")
    gate = asyncio.Event()
    loop = asyncio.get_running_loop()
    blocker = asyncio.create_task(
        pool.run(lambda: asyncio.run_coroutine_threadsafe(gate.wait(), loop).result(timeout=10))
    )
    await asyncio.sleep(0)
    for _ in range(10):  # more than the account's failure limit
        with pytest.raises(ServiceBusy):
            await service.login("kim", "a fine passphrase", ip="192.0.2.1")
    gate.set()
    await blocker
    await service.login("kim", "a fine passphrase", ip="192.0.2.1")  # not locked out
