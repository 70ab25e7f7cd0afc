"""Strict base64url (RFC 4648 section 5, RFC 7515 section 2): no padding, no characters outside the
alphabet, canonical trailing bits. Anything else is a :class:`~jwtgate.errors.MalformedToken`."""

from __future__ import annotations

import base64
import binascii
import re

from jwtgate.errors import MalformedToken

__all__ = ["b64url_decode", "b64url_encode", "is_b64url"]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", b"", b"==", b"=")
# With 2 or 3 characters in the last quantum, the unused low bits of the last character must be zero,
# otherwise several strings decode to the same bytes (a signature could be altered without notice).
_CANONICAL_LAST = {
    2: frozenset(_ALPHABET[i] for i in range(0, 64, 16)),
    3: frozenset(_ALPHABET[i] for i in range(0, 64, 4)),
}
_IS_B64URL = re.compile(r"[A-Za-z0-9_-]*").fullmatch


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def is_b64url(segment: str) -> bool:
    """True when every character of ``segment`` is in the base64url alphabet."""
    return _IS_B64URL(segment) is not None


def b64url_decode(segment: str) -> bytes:
    """Decode strict base64url; MalformedToken for padding, foreign characters or non-canonical input."""
    if type(segment) is not str or _IS_B64URL(segment) is None:
        raise MalformedToken("invalid base64url")
    return decode_checked(segment)


def decode_checked(segment: str) -> bytes:
    """Decode a segment already known to hold only base64url characters (the caller matched the alphabet)."""
    rem = len(segment) & 3
    if rem and (rem == 1 or segment[-1] not in _CANONICAL_LAST[rem]):
        raise MalformedToken("invalid base64url")
    try:
        return binascii.a2b_base64(
            segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[rem], strict_mode=True
        )
    except (
        binascii.Error,
        UnicodeEncodeError,
    ) as err:  # pragma: no cover - the checks above leave nothing for it to reject
        raise MalformedToken("invalid base64url") from err


def decode_signed_parts(token: str, head_length: int, payload_length: int) -> tuple[bytes, bytes, bytes]:
    """``(signing input, payload bytes, signature bytes)`` of a compact JWS already matched against
    the alphabet, whose first two segments have these lengths: one encode and one translation for the
    whole token instead of one per segment (the fresh-token path), with the checks of
    :func:`decode_checked` on both decoded segments."""
    raw = token.encode("ascii")
    signed = head_length + 1 + payload_length
    standard = raw.translate(_TO_STANDARD)
    payload_rem = payload_length & 3
    signature_rem = (len(raw) - signed - 1) & 3
    if (payload_rem and (payload_rem == 1 or token[signed - 1] not in _CANONICAL_LAST[payload_rem])) or (
        signature_rem and (signature_rem == 1 or token[-1] not in _CANONICAL_LAST[signature_rem])
    ):
        raise MalformedToken("invalid base64url")
    a2b = binascii.a2b_base64
    try:
        payload = a2b(standard[head_length + 1 : signed] + _PADDING[payload_rem], strict_mode=True)
        signature = a2b(standard[signed + 1 :] + _PADDING[signature_rem], strict_mode=True)
    except binascii.Error as err:  # pragma: no cover - the checks above leave nothing for it to reject
        raise MalformedToken("invalid base64url") from err
    return raw[:signed], payload, signature
