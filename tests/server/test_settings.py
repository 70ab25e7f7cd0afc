"""Settings: JWTGATE_* environment, config file, defaults, and refusals with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from jwtgate.errors import ConfigError
from jwtgate.settings import Settings, insecure_findings, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    monkeypatch.chdir(tmp_path)  # the default ./.jwtgate must not be someone's real folder
    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_server() -> None:
    settings = load_settings()
    assert settings.data_dir == Path(".jwtgate")
    assert settings.issuer_url == "http://127.0.0.1:8000"
    assert settings.database_url_value == "sqlite+aiosqlite:///.jwtgate/jwtgate.db"
    assert settings.signing_alg == "RS256"
    assert settings.registration == "closed"
    assert (settings.access_token_ttl, settings.refresh_reuse_grace, settings.leeway) == (900, 10, 30)
    assert insecure_findings(settings) == []


def test_fixed_env_names_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JWTGATE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JWTGATE_ISSUER", "https://auth.example")
    monkeypatch.setenv("JWTGATE_AUDIENCE", "api")
    monkeypatch.setenv("JWTGATE_ACCESS_TOKEN_TTL", "300")
    monkeypatch.setenv("JWTGATE_REFRESH_REUSE_GRACE", "5")
    monkeypatch.setenv("JWTGATE_SIGNING_ALG", "ES256")
    monkeypatch.setenv("JWTGATE_DATABASE_URL", "memory://")
    monkeypatch.setenv("JWTGATE_REGISTRATION", "open")
    monkeypatch.setenv("JWTGATE_CORS_ORIGINS", "https://app.example, http://localhost:3000")
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.issuer_url == "https://auth.example"
    assert settings.audience == "api"
    assert settings.access_token_ttl == 300
    assert settings.refresh_reuse_grace == 5
    assert settings.signing_alg == "ES256"
    assert settings.database_url_value == "memory://"
    assert settings.registration == "open"
    assert settings.cors_origins == ("https://app.example", "http://localhost:3000")


def test_issuer_defaults_to_the_base_url_of_host_and_port() -> None:
    assert load_settings(host="::1", port=9000).issuer_url == "http://[::1]:9000"


def test_explicit_values_beat_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JWTGATE_DATA_DIR", "/elsewhere")
    assert load_settings(data_dir=tmp_path, port=None).data_dir == tmp_path


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.leeway = 0  # type: ignore[misc]


def test_database_password_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTGATE_DATABASE_URL", "postgresql+asyncpg://u:hunter2@db/jwtgate")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)
    assert settings.database_url_value.endswith("hunter2@db/jwtgate")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("JWTGATE_LEEWAY", "301", "JWTGATE_LEEWAY: Input should be less than or equal to 300"),
        ("JWTGATE_SIGNING_ALG", "none", "JWTGATE_SIGNING_ALG"),
        ("JWTGATE_ACCESS_TOKEN_TTL", "5", "JWTGATE_ACCESS_TOKEN_TTL"),
        ("JWTGATE_REGISTRATION", "maybe", "JWTGATE_REGISTRATION"),
        ("JWTGATE_CORS_ORIGINS", "*", "'*' is not allowed"),
        ("JWTGATE_CORS_ORIGINS", "https://a.example/path", "no path"),
        ("JWTGATE_TRUSTED_PROXY", "*", "trust every client"),
        ("JWTGATE_ISSUER", "auth.example", "absolute http(s) URL"),
        ("JWTGATE_DATABASE_URL", "mysql://x", "supported"),
        ("JWTGATE_MAX_BODY_SIZE", "999999999", "JWTGATE_MAX_BODY_SIZE"),
        ("JWTGATE_KEY_ROTATION_INTERVAL", "600", "0 (off) or at least 3600 seconds"),
        ("JWTGATE_KEY_ROTATION_INTERVAL", "-1", "JWTGATE_KEY_ROTATION_INTERVAL"),
        ("JWTGATE_KEY_ROTATION_INTERVAL", "999999999999", "JWTGATE_KEY_ROTATION_INTERVAL"),
        ("JWTGATE_KEY_ROTATION_INTERVAL", "1d", "JWTGATE_KEY_ROTATION_INTERVAL"),
        ("JWTGATE_REDIS_URL", "http://127.0.0.1:6379", "supported: redis://"),
        ("JWTGATE_REDIS_URL", "redis:", "supported: redis://"),
        ("JWTGATE_REDIS_CHANNEL", "", "JWTGATE_REDIS_CHANNEL"),
        ("JWTGATE_REDIS_CHANNEL", "a b", "no spaces"),
    ],
)
def test_invalid_values_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert message in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_secret_values_never_appear_in_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTGATE_DATABASE_URL", "mysql://user:s3cr3t-pw@db/x")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "s3cr3t-pw" not in str(raised.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"refresh_idle_ttl": 86_400 * 40}, "refresh_idle_ttl must not exceed session_absolute_ttl"),
        ({"access_token_ttl": 3600, "refresh_idle_ttl": 600}, "access_token_ttl must not exceed"),
        ({"tls_cert": "cert.pem"}, "give both --tls-cert and --tls-key"),
        ({"tls_cert": "cert.pem", "tls_key": "key.pem"}, "the TLS certificate file cert.pem does not exist"),
        ({"environment": "production"}, "production needs an https issuer"),
        (
            {"environment": "production", "issuer": "https://auth.example"},
            "production refuses plain HTTP",
        ),
    ],
)
def test_insecure_combinations_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_production_behind_a_trusted_proxy_is_accepted() -> None:
    settings = load_settings(
        environment="production", issuer="https://auth.example", trusted_proxy="10.0.0.1"
    )
    assert settings.trusted_proxy == ("10.0.0.1",)


def test_toml_config_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "jwtgate.toml"
    config.write_text(
        '[jwtgate]\naudience = "from-file"\nleeway = 10\ncors_origins = ["https://a.example"]\n'
    )
    monkeypatch.setenv("JWTGATE_CONFIG", str(config))
    monkeypatch.setenv("JWTGATE_LEEWAY", "20")  # env beats the file
    settings = load_settings()
    assert settings.audience == "from-file"
    assert settings.leeway == 20
    assert settings.cors_origins == ("https://a.example",)


def test_env_file_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "jwtgate.env"
    config.write_text('# comment\nJWTGATE_AUDIENCE="api"\nexport JWTGATE_ACCESS_TOKEN_TTL=120\n')
    monkeypatch.setenv("JWTGATE_CONFIG", str(config))
    settings = load_settings()
    assert (settings.audience, settings.access_token_ttl) == ("api", 120)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.toml", "leeway = ", "not valid UTF-8 TOML"),
        ("unknown.toml", "colour = 'blue'", "unknown settings in"),
        ("bad.env", "JUST_A_WORD", "expected NAME=value"),
        ("range.env", "JWTGATE_LEEWAY=1000", "JWTGATE_LEEWAY"),
    ],
)
def test_bad_config_files_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, content: str, message: str
) -> None:
    config = tmp_path / name
    config.write_text(content)
    monkeypatch.setenv("JWTGATE_CONFIG", str(config))
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_missing_config_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JWTGATE_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings()


def test_findings_name_risky_choices(tmp_path: Path) -> None:
    loose = tmp_path / "data"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    settings = load_settings(
        host="0.0.0.0",
        registration="open",
        signing_alg="HS256",
        cors_origins="http://app.example",
        leeway=200,
        data_dir=loose,
    )
    text = "\n".join(insecure_findings(settings))
    for fragment in (
        "plain HTTP beyond loopback",
        "wildcard address",
        "HS256",
        "REGISTRATION=open",
        "plain-http origin",
        "LEEWAY=200",
        "group/other",
    ):
        assert fragment in text


def test_settings_class_lists_every_fixed_name() -> None:
    fields = set(Settings.model_fields)
    for name in (
        "data_dir",
        "issuer",
        "audience",
        "access_token_ttl",
        "refresh_reuse_grace",
        "signing_alg",
        "database_url",
        "registration",
    ):
        assert name in fields


def test_key_rotation_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().key_rotation_interval == 0
    assert load_settings().key_rotation_seconds is None  # off by default
    monkeypatch.setenv("JWTGATE_KEY_ROTATION_INTERVAL", "86400")
    settings = load_settings()
    assert settings.key_rotation_interval == 86400
    assert settings.key_rotation_seconds == 86400


def test_redis_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert defaults.redis_url is None
    assert defaults.redis_url_value is None  # no Redis unless configured
    assert defaults.redis_channel == "jwtgate:revocations"
    monkeypatch.setenv("JWTGATE_REDIS_URL", "rediss://:hunter2@cache.internal:6380/1")
    monkeypatch.setenv("JWTGATE_REDIS_CHANNEL", "prod:revocations")
    settings = load_settings()
    assert settings.redis_url_value == "rediss://:hunter2@cache.internal:6380/1"
    assert settings.redis_channel == "prod:revocations"
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings.model_dump())


def test_a_bad_redis_url_is_not_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWTGATE_REDIS_URL", "http://user:s3cr3t-pw@cache/0")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "s3cr3t-pw" not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "flagged"),
    [
        ("redis://:hunter2@cache.internal:6379/0", True),
        ("redis://10.0.0.5:6379", True),
        ("rediss://:hunter2@cache.internal:6380/0", False),
        ("redis://127.0.0.1:6379/0", False),
        ("redis://localhost:6379/0", False),
        ("redis://[::1]:6379/0", False),
        ("unix:///run/redis.sock", False),
    ],
)
def test_check_flags_plain_redis_beyond_loopback(url: str, flagged: bool) -> None:
    findings = insecure_findings(load_settings(redis_url=url))
    redis_findings = [f for f in findings if "JWTGATE_REDIS_URL" in f]
    assert bool(redis_findings) is flagged
    assert all("rediss://" in f and "hunter2" not in f for f in redis_findings)
