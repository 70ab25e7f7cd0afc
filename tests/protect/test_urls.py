"""Keys and revocations are fetched over https, or plain http on loopback only."""

from __future__ import annotations

import pytest

from jwtgate.errors import ConfigError
from jwtgate.protect import FeedRevocations, Guard, JWKSClient
from jwtgate.protect.urls import check_fetch_url


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example/.well-known/jwks.json",
        "http://127.0.0.1:8000/.well-known/jwks.json",
        "http://localhost/.well-known/jwks.json",
        "http://[::1]:8000/api/revocations",
    ],
)
def test_allowed(url: str) -> None:
    assert check_fetch_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://auth.example/.well-known/jwks.json",
        "http://10.0.0.5/jwks",
        "ftp://auth.example/jwks",
        "file:///etc/passwd",
        "/relative/jwks.json",
        "",
    ],
)
def test_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        check_fetch_url(url)
    with pytest.raises(ConfigError):
        JWKSClient(url)
    with pytest.raises(ConfigError):
        FeedRevocations(url)


def test_explicit_opt_in_for_plain_http() -> None:
    url = "http://auth.internal/.well-known/jwks.json"
    assert JWKSClient(url, allow_insecure_http=True).url == url
    guard = Guard(
        issuer="http://auth.internal",
        audience="api",
        jwks_url=url,
        revocation="feed",
        allow_insecure_http=True,
    )
    assert guard.revocations is not None
    with pytest.raises(ConfigError):
        Guard(issuer="http://auth.internal", audience="api", jwks_url=url)
