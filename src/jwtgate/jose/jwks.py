"""JWK Sets (RFC 7517 section 5): keys looked up by ``kid``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any

from jwtgate.errors import ConfigError, UnknownKey
from jwtgate.jose.jwk import Key, OctKey, key_from_jwk

__all__ = ["KeySet"]

MAX_KID_LENGTH = 256


class KeySet:
    """An immutable set of keys with unique ``kid``s."""

    __slots__ = ("_by_kid", "skipped")

    def __init__(self, keys: Iterable[Key] = (), *, skipped: Iterable[str] = ()) -> None:
        by_kid: dict[str, Key] = {}
        for key in keys:
            if not isinstance(key, Key):
                raise ConfigError("a KeySet holds Key objects (see generate_key / key_from_jwk)")
            if key.kid in by_kid:
                raise ConfigError(f"duplicate kid {key.kid!r} in key set")
            by_kid[key.kid] = key
        self._by_kid = by_kid
        #: Why JWKS entries were left out by :meth:`from_jwks` (unsupported types, encryption keys).
        self.skipped: tuple[str, ...] = tuple(skipped)

    @classmethod
    def from_jwks(cls, document: Mapping[str, Any], *, algorithms: Collection[str] | None = None) -> KeySet:
        """Build from a JWKS document ``{"keys": [...]}``. Keys jwtgate cannot use for signatures
        (other key types or curves, ``use: enc``, no algorithm) are left out and listed in ``skipped``;
        a document that is not a JWKS at all is a ConfigError. ``algorithms``: see :func:`key_from_jwk`
        (keys without ``alg`` take the one allowed algorithm that fits; others are left out)."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise ConfigError("a JWKS must be an object with a 'keys' array")
        keys: list[Key] = []
        skipped: list[str] = []
        for entry in document["keys"]:
            try:
                key = key_from_jwk(entry, algorithms=algorithms)
            except ConfigError as err:
                skipped.append(str(err))
                continue
            if not key.can_verify:
                skipped.append(f"key {key.kid!r} is not for signatures")
                continue
            keys.append(key)
        return cls(keys, skipped=skipped)

    def to_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public JWKS document. Symmetric keys are never published."""
        return {
            "keys": [
                key.public_key().to_jwk() for key in self._by_kid.values() if not isinstance(key, OctKey)
            ]
        }

    def get(self, kid: object) -> Key:
        """The key with this ``kid``, or UnknownKey."""
        if type(kid) is not str or len(kid) > MAX_KID_LENGTH:
            raise UnknownKey("invalid kid")
        key = self._by_kid.get(kid)
        if key is None:
            raise UnknownKey(kid=kid)
        return key

    def only(self) -> Key:
        """The single key of a one-key set (for tokens without ``kid``), or UnknownKey."""
        if len(self._by_kid) != 1:
            raise UnknownKey("the token has no kid and the key set has more than one key")
        return next(iter(self._by_kid.values()))

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __iter__(self) -> Iterator[Key]:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    def __repr__(self) -> str:
        return f"KeySet({list(self._by_kid)!r})"
