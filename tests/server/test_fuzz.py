"""Property: whatever arrives at the HTTP edge, the answer is never a 5xx and errors keep the one shape."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtgate.server import create_app
from jwtgate.server.runtime import service_policy
from jwtgate.service import Argon2Hasher, AuthService
from jwtgate.settings import load_settings
from jwtgate.storage import open_store

from .conftest import BASE_URL, PASSWORD, FrozenClock

ROUTES = [
    ("POST", "/api/login"),
    ("POST", "/api/token/refresh"),
    ("POST", "/api/password"),
    ("POST", "/api/logout"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/introspect"),
    ("POST", "/oauth/revoke"),
    ("POST", "/api/register"),
    ("POST", "/api/cookie/login"),
    ("POST", "/api/cookie/refresh"),
    ("GET", "/api/protected"),
    ("GET", "/api/revocations"),
    ("DELETE", "/api/sessions/x"),
]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "multipart/form-data; boundary=x",
    "application/json; charset=latin-1",
    "",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
field_objects = st.dictionaries(
    st.sampled_from(["username", "password", "refresh_token", "current_password", "new_password", "x"]),
    json_values,
    max_size=4,
)
bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | field_objects.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(
        st.sampled_from(["grant_type", "username", "password", "token", "refresh_token", "client_id", "zz"]),
        st.text(max_size=20),
        max_size=4,
    ).map(lambda form: httpx.QueryParams(form).__str__().encode())
)
authorizations = st.sampled_from(
    [None, "Bearer", "Bearer x.y.z", "bearer \u00ff", "Basic !!!", "Basic YTpi", "Token abc"]
) | st.text(max_size=40)


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.runner = asyncio.Runner()
        self.tmp = tmp
        self.runner.run(self._open())

    async def _open(self) -> None:
        settings = load_settings(data_dir=self.tmp / "data", registration="open", max_body_size=4096)
        settings.data_dir.mkdir(mode=0o700)
        store = await open_store("memory://")
        self.service = await AuthService.open(
            store=store,
            policy=service_policy(settings),
            clock=FrozenClock(),
            hasher=Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),
        )
        await self.service.add_user("alice", PASSWORD)
        app = create_app(settings, service=self.service)
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)

    def request(self, method: str, path: str, content: bytes, headers: dict[str, Any]) -> httpx.Response:
        return self.runner.run(self.client.request(method, path, content=content, headers=headers))

    def close(self) -> None:
        self.runner.run(self.client.aclose())
        self.runner.run(self.service.close())
        self.runner.close()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    opened = Harness(tmp_path)
    yield opened
    opened.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    route=st.sampled_from(ROUTES),
    content_type=st.sampled_from(CONTENT_TYPES),
    body=bodies,
    authorization=authorizations,
)
def test_no_input_makes_a_5xx(
    harness: Harness, route: tuple[str, str], content_type: str, body: bytes, authorization: str | None
) -> None:
    method, path = route
    headers: dict[str, Any] = {}
    if content_type:
        headers["Content-Type"] = content_type
    if authorization is not None:
        headers["Authorization"] = authorization.encode("utf-8")
    response = harness.request(method, path, body, headers)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        document = response.json()
        assert set(document) == {"error", "error_description"}
        assert PASSWORD not in response.text
