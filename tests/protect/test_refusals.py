"""Authorization header parsing and the RFC 6750 answers."""

from __future__ import annotations

import json

import pytest

from jwtgate.errors import (
    BadSignature,
    ConfigError,
    ExpiredToken,
    InsufficientScope,
    MalformedToken,
    RevokedToken,
    UnknownKey,
)
from jwtgate.protect.errors import InvalidRequest, JWKSUnavailable, RevocationUnavailable
from jwtgate.protect.refusals import bearer_token, missing_token, rejection


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),  # RFC 7235: the scheme is case-insensitive
        ("BEARER abc", "abc"),
        ("Bearer    abc", "abc"),  # 1*SP
        ("Basic dXNlcjpwdw==", None),
        ("Token abc", None),
        ("Bearerabc", None),
        ("", None),
    ],
)
def test_bearer_token(value: str, token: str | None) -> None:
    assert bearer_token(value) == token


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "bearer   ", " Bearer "])
def test_bearer_without_token_is_malformed(value: str) -> None:
    with pytest.raises(MalformedToken):
        bearer_token(value)


def _header(answer_headers: list[tuple[str, str]], name: str) -> str:
    return dict(answer_headers)[name]


def test_missing_token_has_a_challenge_without_error_code() -> None:
    answer = missing_token("api")
    assert answer.status == 401
    assert _header(answer.headers, "www-authenticate") == 'Bearer realm="api"'
    assert json.loads(answer.body)["error"] == "unauthorized"


@pytest.mark.parametrize("error", [MalformedToken, BadSignature, ExpiredToken, RevokedToken, UnknownKey])
def test_token_errors_are_401_invalid_token(error: type[Exception]) -> None:
    answer = rejection(error(), "api")
    assert answer.status == 401
    challenge = _header(answer.headers, "www-authenticate")
    assert challenge.startswith('Bearer realm="api", error="invalid_token", error_description="')
    body = json.loads(answer.body)
    assert body == {"error": "invalid_token", "error_description": error.description}  # type: ignore[attr-defined]


def test_descriptions_never_carry_instance_text() -> None:
    # A kid or claim value chosen by an attacker must not reach a header (injection) or a body.
    answer = rejection(UnknownKey('kid "x"\r\nSet-Cookie: a=b', kid='x"\r\n'), "api")
    text = answer.body.decode() + repr(answer.headers)
    assert "Set-Cookie" not in text
    assert "\r" not in text


def test_insufficient_scope_is_403_with_scope() -> None:
    answer = rejection(InsufficientScope(scope="write"), "api", scope="write admin")
    assert answer.status == 403
    challenge = _header(answer.headers, "www-authenticate")
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="write admin"' in challenge


def test_invalid_request_is_400() -> None:
    answer = rejection(InvalidRequest(), "api")
    assert answer.status == 400
    assert json.loads(answer.body)["error"] == "invalid_request"


@pytest.mark.parametrize("error", [JWKSUnavailable(retry_after=7), RevocationUnavailable(retry_after=7)])
def test_unavailable_is_503_with_retry_after(error: Exception) -> None:
    answer = rejection(error, "api")
    assert answer.status == 503
    assert _header(answer.headers, "retry-after") == "7"
    assert json.loads(answer.body)["error"] == "temporarily_unavailable"


@pytest.mark.parametrize("error", [ValueError("boom"), ConfigError("bad"), UnicodeError()])
def test_unexpected_errors_fail_closed_as_401(error: Exception) -> None:
    answer = rejection(error, "api")
    assert answer.status == 401
    assert b"boom" not in answer.body
    assert b"bad" not in answer.body


def test_realm_is_sanitised() -> None:
    answer = missing_token('a"b\\c')
    assert _header(answer.headers, "www-authenticate") == 'Bearer realm="abc"'
