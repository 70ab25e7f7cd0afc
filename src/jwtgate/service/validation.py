"""Checks on caller input before it reaches the store: types, sizes, character sets.

New passwords are checked by :class:`~jwtgate.service.password_policy.PasswordPolicy`.
"""

from __future__ import annotations

import re
import unicodedata

from jwtgate.errors import InvalidRequest

__all__ = [
    "clean_text",
    "normalize_username",
    "parse_scope",
]

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{0,63}")
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")
_MAX_SCOPES = 64


def normalize_username(value: object) -> str:
    """Lower-case username of 1-64 characters from ``a-z 0-9 . _ @ + -``; InvalidRequest otherwise."""
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidRequest("a username is 1-64 characters")
    name = value.strip().lower()
    if _USERNAME.fullmatch(name) is None:
        raise InvalidRequest("a username is 1-64 characters from a-z, 0-9, '.', '_', '@', '+', '-'")
    return name


def parse_scope(value: object) -> tuple[str, ...]:
    """Split a space-separated scope string into unique scope tokens (in order)."""
    if isinstance(value, (list, tuple)):
        parts = list(value)
    elif isinstance(value, str) and len(value) <= 4096:
        parts = value.split(" ")
    else:
        raise InvalidRequest("scope must be a space-separated string")
    tokens = [p for p in parts if p != ""]
    if len(tokens) > _MAX_SCOPES or not all(isinstance(t, str) and _SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise InvalidRequest("invalid scope")
    return tuple(dict.fromkeys(tokens))


def clean_text(value: object, limit: int) -> str | None:
    """Free text we only record (user agent, IP): control characters removed, cut to ``limit``."""
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value[: limit * 2] if unicodedata.category(ch)[0] != "C")
    return cleaned[:limit] or None
