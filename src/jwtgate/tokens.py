"""The access-token profile (RFC 9068) on top of compact JWS: the recipe most code uses.

:class:`Issuer` mints ``at+jwt`` tokens; :class:`Verifier` checks them: signature with the key's own
algorithm, ``typ``, ``iss`` (exact), ``aud`` (exact membership), ``exp``/``nbf``/``iat`` with a bounded
leeway, the required claims and their types. Time comes from an injected clock; nothing here does I/O.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jwtgate.errors import (
    ConfigError,
    ExpiredToken,
    InvalidClaim,
    MalformedToken,
    NotYetValid,
    UnsupportedAlgorithm,
    WrongType,
)
from jwtgate.jose.b64 import b64url_encode, decode_signed_parts
from jwtgate.jose.jsonutil import dumps_compact, loads_object
from jwtgate.jose.jwa import ALGORITHMS
from jwtgate.jose.jwk import Key
from jwtgate.jose.jwks import KeySet
from jwtgate.jose.jws import (
    ACCESS_TOKEN_HEADER,
    DEFAULT_MAX_SIZE,
    key_for,
    match_compact,
    parse_header,
)

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "DEFAULT_LEEWAY",
    "MAX_LEEWAY",
    "REGISTERED_CLAIMS",
    "Clock",
    "Issuer",
    "MintedToken",
    "Verifier",
]

Clock = Callable[[], float]

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
DEFAULT_LEEWAY = 30
MAX_LEEWAY = 300
DEFAULT_TTL = 900
MAX_TTL = 86400
#: Latest accepted NumericDate (year 9999): larger values are nonsense, not "never expires".
MAX_NUMERIC_DATE = 253402300799
RFC9068_REQUIRED = ("iss", "sub", "aud", "exp", "iat", "jti")
REGISTERED_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "sid", "scope"})
_STRING_CLAIMS = ("sub", "jti", "sid", "client_id", "scope")
_HEADER_CACHE_SIZE = 64
#: Key-carrying or extension header members: never tolerated, whatever a policy says.
_NEVER_IN_HEADER = frozenset({"crit", "jku", "x5u", "x5c", "jwk", "b64", "zip", "enc"})


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A freshly signed token and the claims it carries (for callers that store ``jti`` or ``exp``)."""

    token: str
    claims: dict[str, Any]

    def __repr__(self) -> str:
        return f"MintedToken(jti={self.claims.get('jti')!r}, exp={self.claims.get('exp')!r})"


def _random_jti() -> str:
    return secrets.token_urlsafe(16)


class Issuer:
    """Mints RFC 9068 access tokens signed with ``key`` (header ``typ: at+jwt`` and the key's ``kid``)."""

    def __init__(
        self,
        key: Key,
        *,
        issuer: str,
        audience: str | Sequence[str],
        client_id: str = "jwtgate",
        default_ttl: int = DEFAULT_TTL,
        max_ttl: int = MAX_TTL,
        clock: Clock = time.time,
        new_jti: Callable[[], str] = _random_jti,
    ) -> None:
        if not isinstance(key, Key):
            raise ConfigError("Issuer needs a Key (see generate_key / key_from_jwk)")
        if not key.can_sign:
            raise ConfigError(f"key {key.kid!r} cannot sign (a public key, or not for signatures)")
        _check_text(issuer, "issuer")
        _check_text(client_id, "client_id")
        self._audience = _audience_value(audience)
        if not 0 < default_ttl <= max_ttl:
            raise ConfigError("default_ttl must be positive and at most max_ttl")
        self.key = key
        self.issuer = issuer
        self.client_id = client_id
        self.default_ttl = default_ttl
        self.max_ttl = max_ttl
        self._clock = clock
        self._new_jti = new_jti
        header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        self._header_segment = b64url_encode(dumps_compact(header))

    def issue(self, subject: str, **options: Any) -> str:
        """Sign an access token for ``subject``; see :meth:`mint` for the options. Returns the token."""
        return self.mint(subject, **options).token

    def mint(
        self,
        subject: str,
        *,
        ttl: int | None = None,
        scope: str | Iterable[str] | None = None,
        session_id: str | None = None,
        audience: str | Sequence[str] | None = None,
        client_id: str | None = None,
        jti: str | None = None,
        claims: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> MintedToken:
        """Sign an access token and return it with its claims.

        ``claims`` adds caller claims (e.g. ``roles``, ``cnf``); they may not replace registered ones.
        """
        _check_text(subject, "subject")
        ttl = self.default_ttl if ttl is None else ttl
        if type(ttl) is not int or not 0 < ttl <= self.max_ttl:
            raise ConfigError(f"ttl must be an integer from 1 to {self.max_ttl} seconds")
        issued_at = int(self._clock() if now is None else now)
        body: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self._audience if audience is None else _audience_value(audience),
            "exp": issued_at + ttl,
            "iat": issued_at,
            "nbf": issued_at,
            "jti": self._new_jti() if jti is None else jti,
            "client_id": self.client_id if client_id is None else client_id,
        }
        if session_id is not None:
            body["sid"] = session_id
        if scope is not None:
            body["scope"] = scope if isinstance(scope, str) else " ".join(scope)
        for name in _STRING_CLAIMS:
            if name in body:
                _check_text(body[name], name)
        if claims:
            clash = REGISTERED_CLAIMS.intersection(claims)
            if clash:
                raise ConfigError(f"caller claims may not set {', '.join(sorted(clash))}")
            body.update(claims)
        signing_input = self._header_segment + "." + b64url_encode(dumps_compact(body))
        signature = self.key.sign(signing_input.encode("ascii"))
        return MintedToken(signing_input + "." + b64url_encode(signature), body)


_CONTAINERS = (list, dict)
#: claims, names of claims holding lists/objects, and the interval in which the time claims hold
_CacheEntry = tuple[dict[str, Any], tuple[str, ...], float, float]


class Verifier:
    """Verifies RFC 9068 access tokens. :meth:`verify` returns the claims or raises a TokenError.

    The defaults are the strict access-token profile; tokens of other issuers need it loosened on
    purpose, one option at a time:

    * ``issuer``: one string, or several spellings of the same issuer (Google uses two);
    * ``types``: accepted header ``typ`` values (case-insensitive); ``None`` accepts any ``typ`` or none;
    * ``require``: claims that must be present (``exp``, ``iss`` and the audience claim always are);
    * ``algorithms``: when given, a key whose algorithm is not listed verifies nothing;
    * ``header_members``: header members allowed besides ``alg``/``typ``/``kid`` (e.g. ``x5t``: never
      followed, never used to pick a key); ``crit``, ``jku``, ``x5u``, ``x5c``, ``jwk`` never are;
    * ``audience_claim``: the claim holding the audience (Cognito access tokens carry the client in
      ``client_id`` and have no ``aud``): the audience is always checked, only its claim changes;
    * ``claim_values``: claims that must equal a given string (Cognito ``token_use: access``).

    ``cache_size`` > 0 keeps that many verified tokens (keyed by the exact string) so a token used for
    many requests is verified twice (a token enters the cache on its second use); time claims are still
    checked on every call, and :meth:`update_keys` clears the cache.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str | Iterable[str],
        audience: str | Sequence[str],
        leeway: int = DEFAULT_LEEWAY,
        clock: Clock = time.time,
        max_token_size: int = DEFAULT_MAX_SIZE,
        require: Iterable[str] = RFC9068_REQUIRED,
        types: Iterable[str] | None = ACCESS_TOKEN_TYPES,
        cache_size: int = 0,
        algorithms: Iterable[str] | None = None,
        header_members: Iterable[str] = (),
        audience_claim: str = "aud",
        claim_values: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(keys, KeySet):
            raise ConfigError("Verifier needs a KeySet")
        issuers = (issuer,) if isinstance(issuer, str) else _string_tuple(issuer, "issuer")
        if not issuers:
            raise ConfigError("at least one issuer is required")
        for value in issuers:
            _check_text(value, "issuer")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience)
        if not audiences:
            raise ConfigError("at least one audience is required")
        for value in audiences:
            _check_text(value, "audience")
        if type(leeway) is not int or not 0 <= leeway <= MAX_LEEWAY:
            raise ConfigError(f"leeway must be an integer from 0 to {MAX_LEEWAY} seconds")
        if type(max_token_size) is not int or not 256 <= max_token_size <= 65536:
            raise ConfigError("max_token_size must be from 256 to 65536 bytes")
        if type(cache_size) is not int or cache_size < 0:
            raise ConfigError("cache_size must be a non-negative integer")
        if isinstance(types, str) or isinstance(algorithms, str) or isinstance(require, str):
            raise ConfigError("types, algorithms and require are lists of strings, not one string")
        _check_text(audience_claim, "audience_claim")
        allowed_algorithms = None if algorithms is None else frozenset(algorithms)
        if allowed_algorithms is not None:
            unknown = allowed_algorithms - ALGORITHMS.keys()
            if unknown or not allowed_algorithms:
                raise ConfigError(f"algorithms must be some of {', '.join(ALGORITHMS)}")
        extra_header = frozenset(header_members)
        forbidden = extra_header & _NEVER_IN_HEADER
        if forbidden:
            raise ConfigError(f"header member(s) never allowed: {', '.join(sorted(forbidden))}")
        expected = dict(claim_values or {})
        for name, value in expected.items():
            _check_text(name, "claim name")
            _check_text(value, f"expected value of {name}")
        # The audience is never skipped, only read from another claim; iss and exp are always checked.
        required = tuple(dict.fromkeys(("exp", "iss", audience_claim, *require, *expected)))
        self.issuer = issuers[0]
        self.issuers = frozenset(issuers)
        self.audiences = frozenset(audiences)
        self.audience_claim = audience_claim
        self.leeway = leeway
        self.max_token_size = max_token_size
        self.algorithms = allowed_algorithms
        self._clock = clock
        self._required = required
        self._required_set = frozenset(required)
        self._types = None if types is None else frozenset(t.lower() for t in types)
        self._header = ACCESS_TOKEN_HEADER | extra_header
        self._expected = tuple(expected.items())
        self._keys = keys
        self._headers: dict[str, Key] = {}
        self._cache_size = cache_size
        # token -> (claims, names of the claims holding a list or object, copied on every hit)
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()
        self._seen: set[int] = set()

    @property
    def keys(self) -> KeySet:
        return self._keys

    def update_keys(self, keys: KeySet) -> None:
        """Replace the key set (after a JWKS refetch or a rotation) and clear every cache."""
        if not isinstance(keys, KeySet):
            raise ConfigError("update_keys needs a KeySet")
        self._keys = keys
        self._headers = {}
        self._cache = OrderedDict()
        self._seen = set()

    def verify(self, token: str, *, now: float | None = None) -> dict[str, Any]:
        """Return the claims of a valid token; raise a TokenError subclass otherwise."""
        if type(token) is not str:
            raise MalformedToken("a token must be a string")
        if len(token) > self.max_token_size:
            raise MalformedToken("token too large")
        current = self._clock() if now is None else now
        cached = self._cache.get(token) if self._cache_size else None
        if cached is not None:
            claims, containers, valid_from, valid_until = cached
            if not valid_from <= current < valid_until:
                self._check_times(claims, current)  # raises the precise error
            return _copy_claims(claims, containers)
        if match_compact(token) is None:
            raise MalformedToken("not a compact JWS")
        # Exactly two dots (matched above): only the header is needed as a string (its cache key).
        head_length = token.index(".")
        payload_length = token.index(".", head_length + 1) - head_length - 1
        head = token[:head_length]
        key = self._headers.get(head)
        if key is None:
            key = self._key_for_header(head)
        signing_input, payload_bytes, signature_bytes = decode_signed_parts(
            token, head_length, payload_length
        )
        # key._verify is what Key.verify calls: one frame less on the path every fresh token takes.
        key._verify(signing_input, signature_bytes)
        claims = loads_object(payload_bytes)
        self._check_claims(claims)
        self._check_times(claims, current)
        if self._cache_size:
            # Admit a token on its second verification only: a token used once (a new token per
            # request) would pay the insertion and push useful entries out. Hashes are enough here: a
            # collision only admits a token early, the cache itself is keyed by the exact string.
            # The memory of first sightings holds as many tokens as the cache: a token seen again
            # only after more new tokens than that would be pushed out of the (FIFO) cache before
            # its next use anyway, so admitting it would cost an insertion and buy nothing.
            seen, fingerprint = self._seen, hash(token)
            if fingerprint not in seen:
                if len(seen) >= self._cache_size:
                    seen.clear()
                seen.add(fingerprint)
                return claims
            if len(self._cache) >= self._cache_size:
                # Oldest first, O(1). Threads share a Verifier (WSGI, FastAPI sync routes): another one
                # may have emptied it meanwhile, which is harmless.
                with contextlib.suppress(KeyError):
                    self._cache.popitem(last=False)
            containers = tuple([name for name, value in claims.items() if type(value) in _CONTAINERS])
            self._cache[token] = (claims, containers, *self._validity(claims))
            return _copy_claims(claims, containers)
        return claims

    def _key_for_header(self, segment: str) -> Key:
        header = parse_header(segment, self._header)
        types = self._types
        if types is not None:
            typ = header.get("typ")
            if typ is None or typ.lower() not in types:
                raise WrongType(f"typ must be one of {', '.join(sorted(types))}")
        key = key_for(header, self._keys)
        if self.algorithms is not None and key.alg not in self.algorithms:
            raise UnsupportedAlgorithm(f"alg {key.alg} is not among the allowed algorithms")
        # Header segments repeat across tokens of one key: remember the outcome (bounded, keys only).
        if len(self._headers) >= _HEADER_CACHE_SIZE:
            self._headers.clear()
        self._headers[segment] = key
        return key

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if not claims.keys() >= self._required_set:  # one C-level test; the loop only names the gap
            for name in self._required:
                if name not in claims:
                    raise InvalidClaim(f"missing claim {name}", claim=name)
        # Present: required above. Only a string can be an issuer (a list is not even hashable).
        iss = claims["iss"]
        if type(iss) is not str or iss not in self.issuers:
            raise InvalidClaim("unexpected issuer", claim="iss")
        aud = claims[self.audience_claim]
        if type(aud) is str:
            ok = aud in self.audiences
        elif type(aud) is list and aud and all(type(item) is str for item in aud):
            ok = not self.audiences.isdisjoint(aud)
        else:
            ok = False
        if not ok:
            raise InvalidClaim("unexpected audience", claim=self.audience_claim)
        for name, expected in self._expected:
            if claims[name] != expected:
                raise InvalidClaim(f"claim {name} has an unexpected value", claim=name)
        get = claims.get
        for name in _STRING_CLAIMS:
            value = get(name, "absent")  # one lookup; a present null is not a string and is refused
            if type(value) is not str or (not value and name != "scope"):
                raise InvalidClaim(f"claim {name} must be a non-empty string", claim=name)

    def _validity(self, claims: dict[str, Any]) -> tuple[float, float]:
        """The interval in which the (already checked) time claims accept the token, leeway included."""
        nbf, iat = claims.get("nbf"), claims.get("iat")
        start = iat if nbf is None or (iat is not None and iat > nbf) else nbf
        return (-math.inf if start is None else start - self.leeway), claims["exp"] + self.leeway

    def _check_times(self, claims: dict[str, Any], now: float) -> None:
        leeway = self.leeway
        # Integers in range (what issuers write) are checked inline; anything else (absent, null, a
        # float, a string, a bool) goes through _numeric_date, which decides and raises precisely.
        exp = claims.get("exp")
        if type(exp) is not int or not 0 <= exp <= MAX_NUMERIC_DATE:
            exp = _numeric_date(claims, "exp")
        if exp is not None and now >= exp + leeway:
            raise ExpiredToken
        nbf = claims.get("nbf")
        if type(nbf) is not int or not 0 <= nbf <= MAX_NUMERIC_DATE:
            nbf = _numeric_date(claims, "nbf")
        if nbf is not None and now + leeway < nbf:
            raise NotYetValid
        iat = claims.get("iat")
        if type(iat) is not int or not 0 <= iat <= MAX_NUMERIC_DATE:
            iat = _numeric_date(claims, "iat")
        if iat is not None and now + leeway < iat:
            raise NotYetValid("the token was issued in the future")


def _copy_claims(claims: dict[str, Any], containers: tuple[str, ...]) -> dict[str, Any]:
    """A copy of cached claims the caller may change freely: lists and objects inside are copied too,
    so one request's edits (roles, aud, cnf) never reach the entry the next request gets."""
    copy = dict(claims)
    for name in containers:
        copy[name] = _copy_json(copy[name])
    return copy


def _copy_json(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {name: _copy_json(item) for name, item in value.items()}
    if kind is list:
        return [_copy_json(item) for item in value]
    return value


def _numeric_date(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        if name in claims:
            raise InvalidClaim(f"claim {name} must be a number", claim=name)
        return None
    kind = type(value)
    if (kind is int or kind is float) and 0 <= value <= MAX_NUMERIC_DATE and not math.isnan(value):
        return value  # type: ignore[no-any-return]
    raise InvalidClaim(f"claim {name} must be a NumericDate", claim=name)


def _string_tuple(values: object, name: str) -> tuple[str, ...]:
    if not isinstance(values, list | tuple | set | frozenset):
        raise ConfigError(f"{name} must be a string or a list of strings")
    return tuple(values)


def _check_text(value: object, name: str) -> None:
    if type(value) is not str or not value or len(value) > 1024:
        raise ConfigError(f"{name} must be a non-empty string of at most 1024 characters")


def _audience_value(audience: str | Sequence[str]) -> str | list[str]:
    if isinstance(audience, str):
        _check_text(audience, "audience")
        return audience
    values = list(audience)
    if not values:
        raise ConfigError("at least one audience is required")
    for value in values:
        _check_text(value, "audience")
    return values[0] if len(values) == 1 else values
