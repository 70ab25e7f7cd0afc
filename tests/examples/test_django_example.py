"""The Django REST framework example end to end: a real ``jwtgate serve`` and the example served by
Django's own server in a subprocess (Django settings are per process)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from processes import Fleet, base_env, free_port

from .conftest import ROOT, AuthServer

pytestmark = pytest.mark.slow

pytest.importorskip("django")
pytest.importorskip("rest_framework")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def django_api(auth_server: AuthServer, local_fleet: Fleet) -> Iterator[httpx.Client]:
    port = free_port()
    env = base_env({"JWTGATE_URL": auth_server.url, "JWTGATE_REVOCATION_INTERVAL": "0.2"})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env["PYTHONPATH"]])
    command = [sys.executable, "-m", "examples.django_app.manage", "runserver", "--noreload", "--skip-checks"]
    django = local_fleet.spawn_command(
        [*command, f"127.0.0.1:{port}"], port=port, env=env, name="django", cwd=ROOT, ready_path="/health"
    )
    django.wait_ready()
    with httpx.Client(base_url=django.base_url, timeout=30) as client:
        yield client


def _until_refused(api: httpx.Client, token: str) -> httpx.Response:
    response = api.get("/notes", headers=bearer(token))
    for _ in range(100):  # a deadline of 5 s; the feed is polled every 0.2 s
        if response.status_code != 200:
            break
        time.sleep(0.05)
        response = api.get("/notes", headers=bearer(token))
    return response


def test_django_example(auth_server: AuthServer, django_api: httpx.Client) -> None:
    api = django_api
    assert api.get("/health").json() == {"status": "ok"}
    response = api.get("/notes")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert response.json() == {"error": "unauthorized", "error_description": "a bearer token is required"}

    alice = auth_server.login("alice")
    response = api.post("/notes", json={"text": "water the plants"}, headers=bearer(alice))
    assert response.status_code == 201, response.text
    assert api.get("/notes", headers=bearer(alice)).json() == {"user": "alice", "notes": ["water the plants"]}

    bob = auth_server.login("bob")
    assert api.get("/notes", headers=bearer(bob)).json()["notes"] == []
    response = api.post("/notes", json={"text": "x"}, headers=bearer(bob))
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert api.delete("/notes", headers=bearer(bob)).status_code == 403
    assert api.post("/notes", json={"nope": 1}, headers=bearer(alice)).status_code == 400
    assert api.delete("/notes", headers=bearer(alice)).json() == {"removed": 1}

    bad = api.get("/notes", headers=bearer(alice[:-3] + "AAA"))
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]

    auth_server.logout(alice)
    response = _until_refused(api, alice)
    assert response.status_code == 401
    assert response.json()["error_description"] == "the token has been revoked"
    assert api.get("/notes", headers=bearer(bob)).status_code == 200
