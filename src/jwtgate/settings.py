"""The settings of the auth server and the CLI; the only module that reads the environment.

Sources, highest priority first: explicit values (CLI flags) > ``JWTGATE_*`` environment
variables > the optional file named by ``JWTGATE_CONFIG`` (TOML, or an env-file of
``JWTGATE_X=value`` lines) > defaults. :func:`load_settings` builds a frozen :class:`Settings`
or raises :class:`~jwtgate.errors.ConfigError` with a message naming the offending
``JWTGATE_*`` variables (never their values: some are secrets). Invalid or insecure
combinations are refused when the object is built; softer problems are listed by
:func:`insecure_findings` (``jwtgate check`` exits non-zero on any).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from jwtgate.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "ISSUER_REQUIRED",
    "Settings",
    "insecure_findings",
    "load_settings",
    "unknown_variables",
]

ISSUER_REQUIRED = (
    "JWTGATE_ISSUER is required with a PostgreSQL database or a non-loopback host: every instance must "
    "sign with one issuer, and the default (this instance's own http://HOST:PORT) differs between "
    "instances; set it to the public URL clients use, e.g. JWTGATE_ISSUER=https://auth.example.com"
)

ENV_PREFIX = "JWTGATE_"
_CONFIG_VAR = "JWTGATE_CONFIG"
# JWTGATE_* names read by other parts of the project (scripts, tests, the examples, the benchmarks), not
# settings: they must not be reported as unknown.
_OTHER_VARIABLES = frozenset(
    {
        _CONFIG_VAR,
        "JWTGATE_ALL_TESTS",
        "JWTGATE_BENCH_TOKENS",
        "JWTGATE_JS",
        "JWTGATE_REQUIRE_SERVICES",
        "JWTGATE_TEST_ARTIFACTS",
        "JWTGATE_TEST_WORKERS",
        "JWTGATE_URL",
        "JWTGATE_VENV",
    }
)
_REDIS_SCHEMES = ("redis", "rediss", "unix")
_SUPPORTED_DATABASES = ("sqlite+aiosqlite://", "postgresql+asyncpg://", "memory://")
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

Seconds = int
_MIN_ROTATION_INTERVAL = 3600  # a rotation retires the old key after access_ttl + leeway: not too often
_MAX_ROTATION_INTERVAL = 10 * 365 * 86_400
CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_list(value: Any) -> Any:
    """Accept ``"a, b"`` (env, env-file) as well as a list (TOML, Python)."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    """Validated, frozen configuration. Field ``x`` is set by ``JWTGATE_X``.

    Durations are integer seconds. ``issuer`` and ``database_url`` default to values derived
    from other fields: read them through :attr:`issuer_url` and :attr:`database_url_value`.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        case_sensitive=False,
        validate_default=True,
    )

    data_dir: Path = Path(".jwtgate")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    environment: Literal["development", "production"] = "development"
    issuer: str | None = None
    audience: str = Field("jwtgate", min_length=1, max_length=200)
    client_id: str = Field("jwtgate", min_length=1, max_length=200)
    access_token_ttl: Seconds = Field(900, ge=30, le=86_400)
    refresh_idle_ttl: Seconds = Field(7 * 86_400, ge=300, le=90 * 86_400)
    session_absolute_ttl: Seconds = Field(30 * 86_400, ge=300, le=365 * 86_400)
    refresh_reuse_grace: Seconds = Field(10, ge=0, le=120)
    leeway: Seconds = Field(30, ge=0, le=300)
    signing_alg: Literal["RS256", "PS256", "ES256", "EdDSA", "HS256"] = "RS256"
    database_url: SecretStr | None = None
    registration: Literal["closed", "open"] = "closed"
    cors_origins: CommaList = ()
    max_body_size: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024)
    trusted_proxy: CommaList = ()
    tls_cert: Path | None = None
    tls_key: Path | None = None
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Hardening (issue 12): log lines, connection limits, password policy, the hashing pool.
    log_format: Literal["text", "json"] = "text"
    max_header_size: int = Field(16 * 1024, ge=1024, le=1024 * 1024)  # request line + headers: 431
    max_request_line: int = Field(8 * 1024, ge=256, le=64 * 1024)  # method, target, version: 414
    header_timeout: Seconds = Field(10, ge=1, le=300)  # a request's head must arrive within this
    keepalive_timeout: Seconds = Field(5, ge=1, le=300)  # idle time between requests on a connection
    max_connections: int = Field(1000, ge=1, le=100_000)  # requests beyond get 503
    http_implementation: Literal["auto", "httptools", "h11"] = "auto"  # uvicorn's HTTP/1.1 parser
    password_min_length: int = Field(8, ge=8, le=64)
    password_hash_workers: int = Field(0, ge=0, le=256)  # 0: one fewer than the CPUs, at least 1
    password_hash_queue: int = Field(32, ge=0, le=10_000)  # hashes waiting beyond: 503
    login_max_failures_account: int = Field(5, ge=1, le=1000)
    login_max_failures_ip: int = Field(50, ge=1, le=100_000)
    login_failure_window: Seconds = Field(900, ge=1, le=86_400)
    # 0: off; else rotate the signing key once it has signed this long (checked every maintenance round).
    key_rotation_interval: Seconds = Field(0, ge=0, le=_MAX_ROTATION_INTERVAL)
    # Unset: no Redis. Set: every revocation is also published on redis_channel (guards' redis mode).
    redis_url: SecretStr | None = None
    redis_channel: str = Field("jwtgate:revocations", min_length=1, max_length=200)
    # Scale-out: private signing keys and server secrets live in the database, sealed with this
    # key-encryption key (base64url, 32 bytes) when one is set; _PREVIOUS lists keys still accepted
    # to open records while `jwtgate keys rewrap` moves them to the current one.
    key_encryption_key: SecretStr | None = None
    key_encryption_key_file: Path | None = None
    key_encryption_key_previous: SecretStr | None = None
    # Seconds between polls of the database for other instances' changes (revocations, key ring).
    sync_interval: float = Field(1.0, ge=0.05, le=60)
    # Seconds a new `next` key is published in the JWKS before a rotation lets it sign.
    key_publication_delay: Seconds = Field(300, ge=0, le=86_400)
    # DPoP (RFC 9449): off (proofs ignored), allowed (tokens bound when a proof is sent), required.
    dpop: Literal["off", "allowed", "required"] = "allowed"
    # Lockout (issue 12): a successful login gives the client a signed device token; its holder is not
    # blocked by failures made by others. Clients without one share a budget of failures per account
    # per hour (after it, waits doubling from 1 s up to an hour), whatever their number of addresses.
    device_token_ttl: Seconds = Field(90 * 86_400, ge=3600, le=400 * 86_400)
    login_max_failures_untrusted: int = Field(20, ge=1, le=10_000)
    # Production mode (issue 12). Unset: the environment's default (development: docs on, no cap, no
    # success limit, open /metrics and /api/revocations; production: docs off, 50 sessions per user,
    # 30 successful logins per account per hour, bearer tokens with scope jwtgate:metrics or
    # jwtgate:revocations). 0 turns a cap off.
    docs: Literal["on", "off"] | None = None
    max_sessions_per_user: int | None = Field(None, ge=0, le=100_000)
    login_max_successes: int | None = Field(None, ge=0, le=100_000)
    operations_auth: Literal["on", "off"] | None = None

    @property
    def docs_enabled(self) -> bool:
        """Whether /docs, /redoc and /openapi.json are served."""
        return self.docs == "on" if self.docs is not None else self.environment == "development"

    @property
    def session_cap(self) -> int:
        """Live sessions a user may hold (the oldest are revoked beyond it); 0: no cap."""
        if self.max_sessions_per_user is not None:
            return self.max_sessions_per_user
        return 50 if self.environment == "production" else 0

    @property
    def login_success_limit(self) -> int:
        """Successful logins per account per hour before the next waits; 0: no limit."""
        if self.login_max_successes is not None:
            return self.login_max_successes
        return 30 if self.environment == "production" else 0

    @property
    def operations_protected(self) -> bool:
        """Whether /metrics and /api/revocations need a bearer token with their scope."""
        if self.operations_auth is not None:
            return self.operations_auth == "on"
        return self.environment == "production"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ConfigFileSource(settings_cls))

    @field_validator("cors_origins", "trusted_proxy", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            parts = urlsplit(origin)
            if origin == "*" or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("each origin must be scheme://host[:port]; '*' is not allowed")
            if parts.path or parts.query or parts.fragment:
                raise ValueError("an origin has no path, query or fragment")
        return value

    @field_validator("trusted_proxy")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry == "*":
                raise ValueError("'*' would trust every client's X-Forwarded-For; list proxy IPs")
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as err:
                raise ValueError("each trusted proxy is an IP address or network") from err
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            # RFC 8414 section 2: an https URL with no query or fragment (http allowed for dev).
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError("the issuer must be an absolute http(s) URL")
            if parts.query or parts.fragment:
                raise ValueError("the issuer has no query or fragment")
        return value

    @field_validator("key_rotation_interval")
    @classmethod
    def _rotation(cls, value: int) -> int:
        if 0 < value < _MIN_ROTATION_INTERVAL:
            raise ValueError(f"0 (off) or at least {_MIN_ROTATION_INTERVAL} seconds")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in _REDIS_SCHEMES or not (parts.netloc or parts.path):
                raise ValueError("supported: redis://HOST[:PORT][/DB], rediss:// (TLS), unix://PATH")
        return value

    @field_validator("redis_channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not value.isprintable() or " " in value:
            raise ValueError("a channel name has no spaces or control characters")
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(_SUPPORTED_DATABASES):
            raise ValueError("supported: sqlite+aiosqlite://, postgresql+asyncpg://, memory://")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> Settings:
        if self.refresh_idle_ttl > self.session_absolute_ttl:
            raise ValueError(
                "refresh_idle_ttl must not exceed session_absolute_ttl "
                "(JWTGATE_REFRESH_IDLE_TTL, JWTGATE_SESSION_ABSOLUTE_TTL)"
            )
        if self.access_token_ttl > self.refresh_idle_ttl:
            raise ValueError(
                "access_token_ttl must not exceed refresh_idle_ttl "
                "(JWTGATE_ACCESS_TOKEN_TTL, JWTGATE_REFRESH_IDLE_TTL)"
            )
        if self.key_encryption_key is not None and self.key_encryption_key_file is not None:
            raise ValueError("set JWTGATE_KEY_ENCRYPTION_KEY or JWTGATE_KEY_ENCRYPTION_KEY_FILE, not both")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError(
                "a TLS certificate and its private key go together: give both --tls-cert and --tls-key "
                "(JWTGATE_TLS_CERT, JWTGATE_TLS_KEY), or neither to serve plain HTTP"
            )
        for what, path in (("certificate", self.tls_cert), ("private key", self.tls_key)):
            if path is not None and not path.is_file():
                raise ValueError(
                    f"the TLS {what} file {path} does not exist (or is not a file); "
                    "`jwtgate dev-cert` makes a pair for local development"
                )
        if self.environment == "production":
            if not self.issuer_url.startswith("https://"):
                raise ValueError("production needs an https issuer")
            if self.tls_cert is None and not self.trusted_proxy:
                raise ValueError(
                    "production refuses plain HTTP: give --tls-cert/--tls-key (JWTGATE_TLS_CERT, "
                    "JWTGATE_TLS_KEY), or JWTGATE_TRUSTED_PROXY when a proxy terminates TLS"
                )
        return self

    @property
    def tls(self) -> bool:
        """Whether ``jwtgate serve`` terminates TLS itself."""
        return self.tls_cert is not None

    @property
    def base_url(self) -> str:
        """The URL this server answers on, from host, port and TLS."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def issuer_url(self) -> str:
        """``JWTGATE_ISSUER``, or the base URL when unset."""
        return self.issuer if self.issuer is not None else self.base_url

    @property
    def database_url_value(self) -> str:
        """The database URL (may hold a password: never log it)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'jwtgate.db').as_posix()}"

    @property
    def key_rotation_seconds(self) -> int | None:
        """``key_rotation_interval`` as the service policy takes it: None when off."""
        return self.key_rotation_interval or None

    @property
    def redis_url_value(self) -> str | None:
        """The Redis URL, or None when unset (may hold a password: never log it)."""
        return None if self.redis_url is None else self.redis_url.get_secret_value()

    @property
    def keys_dir(self) -> Path:
        """Where releases before 0.2 kept the key ring (imported into the database once)."""
        return self.data_dir / "keys"

    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url_value.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the database URL (None for other databases)."""
        url = self.database_url_value
        if not url.startswith("sqlite"):
            return None
        return Path(url.split(":///", 1)[1]) if ":///" in url else None

    @property
    def database_location(self) -> str:
        """Where the data is, for messages: the SQLite file, or the database URL without password."""
        path = self.sqlite_path
        if path is not None:
            return str(path)
        if self.database_url_value == "memory://":
            return "memory://"
        parts = urlsplit(self.database_url_value)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    def key_encryption_keys(self) -> tuple[bytes | None, list[bytes]]:
        """(current KEK, previous KEKs) from the settings; ConfigError naming the variable on bad input.
        The file must be readable by its owner only."""
        from jwtgate.service.sealing import parse_kek

        current: bytes | None = None
        if self.key_encryption_key is not None:
            current = parse_kek(
                self.key_encryption_key.get_secret_value(), source=f"{ENV_PREFIX}KEY_ENCRYPTION_KEY"
            )
        elif self.key_encryption_key_file is not None:
            path = self.key_encryption_key_file
            source = f"{ENV_PREFIX}KEY_ENCRYPTION_KEY_FILE"
            try:
                mode = path.stat().st_mode
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as err:
                raise ConfigError(f"{source}: cannot read {path}") from err
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"{source}: {path} is readable by others: chmod 600 it")
            current = parse_kek(text, source=source)
        previous: list[bytes] = []
        if self.key_encryption_key_previous is not None:
            for part in self.key_encryption_key_previous.get_secret_value().split(","):
                if part.strip():
                    previous.append(parse_kek(part, source=f"{ENV_PREFIX}KEY_ENCRYPTION_KEY_PREVIOUS"))
        return current, previous

    @property
    def issuer_must_be_set(self) -> bool:
        """PostgreSQL (several instances) or a non-loopback host: the default issuer (this instance's
        own URL) would differ between instances and move with the port, so it must be explicit."""
        shared = self.database_url_value.startswith("postgresql")
        return self.issuer is None and (shared or not _is_loopback(self.host))


class _ConfigFileSource(PydanticBaseSettingsSource):
    """Values from the file named by ``JWTGATE_CONFIG``: TOML (``.toml``) or an env-file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ is overridden; this abstract hook is unused

    def __call__(self) -> dict[str, Any]:
        path_text = os.environ.get(_CONFIG_VAR)
        if not path_text:
            return {}
        path = Path(path_text)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise ConfigError(f"{_CONFIG_VAR}: cannot read {path}: {err.strerror}") from err
        values = _parse_toml(raw, path) if path.suffix == ".toml" else _parse_env_file(raw, path)
        unknown = sorted(set(values) - set(Settings.model_fields))
        if unknown:
            names = ", ".join(unknown)
            raise ConfigError(f"{_CONFIG_VAR}: unknown settings in {path}: {names}")
        return values


def _parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{_CONFIG_VAR}: {path} is not valid UTF-8 TOML: {err}") from err
    # Settings may sit at the top level or under a [jwtgate] table.
    table = document.get("jwtgate", document)
    if not isinstance(table, dict):
        raise ConfigError(f"{_CONFIG_VAR}: [jwtgate] in {path} must be a table")
    return {_field_name(key): value for key, value in table.items()}


def _parse_env_file(raw: bytes, path: Path) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{_CONFIG_VAR}: {path} is not UTF-8") from err
    values: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            raise ConfigError(f"{_CONFIG_VAR}: {path} line {number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[_field_name(key.strip())] = value
    return values


def _field_name(key: str) -> str:
    key = key.lower()
    return key.removeprefix(ENV_PREFIX.lower())


def _env_name(field: object) -> str:
    return f"{ENV_PREFIX}{str(field).upper()}"


#: The settings the CLI takes as flags (named ``--flag`` in messages when given that way).
_CLI_FLAGS = frozenset({"data_dir", "database_url", "host", "port", "tls_cert", "tls_key", "issuer"})


def _flag_name(field: object) -> str:
    return "--" + str(field).replace("_", "-")


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from ``overrides`` (``None`` ignored), the environment and the file.

    Raises :class:`ConfigError` with one line per problem, naming the setting the way it was given:
    ``--flag`` for an explicit value (the CLI passes its flags here), else the ``JWTGATE_*`` variable;
    never its value (some are secrets).
    """
    explicit = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**explicit)
    except ValidationError as err:
        lines = []
        for problem in err.errors(include_input=False, include_url=False):
            location = problem["loc"]
            if not location:
                name = ""
            elif location[0] in explicit and location[0] in _CLI_FLAGS:
                name = _flag_name(location[0])
            else:
                name = _env_name(location[0])
            message = str(problem["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {message}" if name else message)
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """One warning per ``JWTGATE_*`` variable of the environment that no setting reads (a typo is
    otherwise silently ignored), naming the nearest valid variable when there is one."""
    environ = dict(os.environ) if environ is None else environ
    known = {_env_name(name) for name in Settings.model_fields} | _OTHER_VARIABLES
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        # Compared without the common prefix, which would make every name look alike.
        stems = {known_name.removeprefix(ENV_PREFIX): known_name for known_name in known}
        nearest = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), sorted(stems), n=1, cutoff=0.6)
        hint = f"; did you mean {stems[nearest[0]]}?" if nearest else ""
        warnings.append(f"{name} is not a jwtgate setting and is ignored{hint}")
    return warnings


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def insecure_findings(settings: Settings) -> list[str]:
    """Valid but risky choices, one sentence each; an empty list means nothing to report."""
    findings: list[str] = []
    exposed = not _is_loopback(settings.host)
    if exposed and not settings.tls and not settings.trusted_proxy:
        findings.append(
            f"JWTGATE_HOST={settings.host} serves plain HTTP beyond loopback: tokens and passwords "
            "cross the network in clear; give --tls-cert/--tls-key or run behind a TLS proxy named in "
            "JWTGATE_TRUSTED_PROXY"
        )
    issuer_host = urlsplit(settings.issuer_url).hostname or ""
    if settings.issuer_url.startswith("http://") and not _is_loopback(issuer_host):
        findings.append("JWTGATE_ISSUER is a plain http URL on a non-loopback host; use https")
    if issuer_host in ("0.0.0.0", "::"):  # noqa: S104 - detecting, not binding
        findings.append("JWTGATE_ISSUER defaults to a wildcard address; set it to the public URL")
    if settings.signing_alg == "HS256":
        findings.append(
            "JWTGATE_SIGNING_ALG=HS256 means every verifier must hold the signing secret; "
            "prefer RS256/ES256/EdDSA so APIs verify with the public JWKS"
        )
    if settings.registration == "open":
        findings.append("JWTGATE_REGISTRATION=open lets anyone create an account")
    for origin in settings.cors_origins:
        host = urlsplit(origin).hostname or ""
        if origin.startswith("http://") and not _is_loopback(host):
            findings.append(f"JWTGATE_CORS_ORIGINS allows the plain-http origin {origin}")
    if settings.leeway > 120:
        findings.append(f"JWTGATE_LEEWAY={settings.leeway}s accepts expired tokens for long")
    redis_url = settings.redis_url_value
    if redis_url is not None:
        redis_parts = urlsplit(redis_url)
        if redis_parts.scheme == "redis" and not _is_loopback(redis_parts.hostname or ""):
            # Never the URL itself: it may hold a password.
            findings.append(
                "JWTGATE_REDIS_URL is a plain redis:// URL to a non-loopback host: revocations (and "
                "any Redis password) cross the network in clear; use rediss://"
            )
    if settings.issuer_must_be_set:
        findings.append(ISSUER_REQUIRED)
    findings.extend(_data_dir_findings(settings.data_dir))
    return findings


def _data_dir_findings(data_dir: Path) -> list[str]:
    findings: list[str] = []
    for path in (data_dir, data_dir / "keys"):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            findings.append(f"{path} is accessible to group/other (mode {stat.filemode(mode)})")
    return findings
