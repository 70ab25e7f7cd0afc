"""The guard's public names, and that it imports no web framework until one is used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jwtgate.protect


def test_all_is_sorted_and_complete() -> None:
    names = jwtgate.protect.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(jwtgate.protect, name) is not None


def test_require_is_importable_from_the_package() -> None:
    from jwtgate.protect import require
    from jwtgate.protect.fastapi import require as direct

    assert require is direct


def test_importing_the_guard_pulls_in_no_web_framework() -> None:
    code = (
        "import sys, jwtgate.protect\n"
        "names = ('fastapi', 'starlette', 'flask', 'werkzeug', 'redis', 'django', 'rest_framework')\n"
        "loaded = sorted(m for m in names if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="nope"):
        jwtgate.protect.nope  # type: ignore[attr-defined]  # noqa: B018


def test_provider_presets_are_public() -> None:
    from jwtgate.protect import Provider, providers

    built = [
        providers.Keycloak("https://x.test/realms/r", audience="a"),
        providers.Auth0("x.test", audience="a"),
        providers.Okta("https://x.test/oauth2/default", audience="a"),
        providers.EntraID("tenant", audience="a"),
        providers.Cognito("eu-west-1", "pool", client_ids=["c"]),
        providers.Google("client"),
        providers.Jwtgate("https://x.test"),
        providers.OIDC("https://x.test", audience="a"),
    ]
    assert all(type(item) is Provider for item in built)
    assert len({item.name for item in built}) == len(built)
    for name in providers.__all__:
        assert getattr(providers, name) is not None
