"""Strict base64url (issue 2): no padding, nothing outside the alphabet, canonical trailing bits."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwtgate.errors import MalformedToken
from jwtgate.jose.b64 import b64url_decode, b64url_encode


@pytest.mark.parametrize("size", range(0, 70))
def test_round_trip_every_length(size: int) -> None:
    data = bytes((i * 37 + size) % 256 for i in range(size))
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


def test_encodes_with_the_url_alphabet() -> None:
    assert b64url_encode(b"\xfb\xff\xbf") == "-_-_"
    assert b64url_decode("-_-_") == b"\xfb\xff\xbf"


@pytest.mark.parametrize(
    "text",
    [
        "QQ==",  # padded
        "QUI=",  # padded
        "QQ=",
        "+/+/",  # standard alphabet, not url-safe
        "QU I",  # space inside
        " QUI",
        "QUI\n",  # trailing newline
        "QUI\t",
        "QUJD\r\n",
        "QUJD.",
        "Q",  # a lone character cannot encode a byte
        "QUJDR",  # length 1 mod 4
        "QUJ?",
        "QUJ\x00",
        "QUJé",  # non-ASCII letter
        "QUJ\uff21",  # fullwidth A
        "\u0661\u0662\u0663\u0664",  # Arabic-Indic digits are digits to str.isdigit, not to base64
    ],
)
def test_rejects_non_strict_input(text: str) -> None:
    with pytest.raises(MalformedToken):
        b64url_decode(text)


@pytest.mark.parametrize(
    ("canonical", "variant"),
    [
        ("QQ", "QR"),  # 1 byte: the last char carries 4 unused bits
        ("QQ", "QX"),
        ("QUI", "QUJ"),  # 2 bytes: the last char carries 2 unused bits
        ("AAAAAA", "AAAAAB"),
        ("_w", "_x"),
    ],
)
def test_rejects_non_canonical_trailing_bits(canonical: str, variant: str) -> None:
    # The lenient stdlib decoder maps both strings to the same bytes: that is the malleability we refuse.
    assert base64.urlsafe_b64decode(variant + "==") == base64.urlsafe_b64decode(canonical + "==")
    assert b64url_decode(canonical) == base64.urlsafe_b64decode(canonical + "==")
    with pytest.raises(MalformedToken):
        b64url_decode(variant)


@pytest.mark.parametrize("value", [b"QUJD", bytearray(b"QUJD"), None, 123])
def test_rejects_non_str(value: object) -> None:
    with pytest.raises(MalformedToken):
        b64url_decode(value)  # type: ignore[arg-type]


@given(st.binary(max_size=200))
def test_round_trip_property(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ .\n", max_size=24)
)
def test_every_accepted_string_is_the_unique_encoding_of_its_bytes(text: str) -> None:
    # If the decoder accepts a string, encoding the result must give that exact string back: one byte
    # string has one and only one accepted spelling.
    try:
        data = b64url_decode(text)
    except MalformedToken:
        return
    assert b64url_encode(data) == text
