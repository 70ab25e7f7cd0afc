"""Every class of bad input gets a 4xx in the one error shape; nothing of the input is echoed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, assert_error_shape

SECRET = "Sup3r-Secret-Passw0rd"
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"username": "alice", "password": ', JSON, 400),  # malformed JSON
        (b'{"username": "alice", "password": "' + SECRET.encode() + b'"', JSON, 400),
        (b"\xff\xfe{}", JSON, 400),  # not UTF-8
        ('{"username": "al\u00efce", "password": "x"}'.encode("latin-1"), JSON, 400),
        (b'{"username": "a", "username": "b", "password": "x"}', JSON, 400),  # duplicate member
        (b'{"username": "a", "password": NaN}', JSON, 400),
        (b"[1, 2]", JSON, 422),  # not an object
        (b'"alice"', JSON, 422),
        (b"", JSON, 400),  # empty body
        (b'{"username": "alice"}', JSON, 422),  # missing field
        (b'{"username": "alice", "password": 12345}', JSON, 422),  # wrong type
        (b'{"username": ["alice"], "password": "x"}', JSON, 422),
        (b'{"username": "alice", "password": "x", "admin": true}', JSON, 422),  # unknown field
        (b'{"username": "", "password": "x"}', JSON, 422),  # too short
        (
            b'{"username": "alice", "password": "' + SECRET.encode() + b'"}',
            {"Content-Type": "text/plain"},
            415,
        ),
        (
            b"username=alice&password=" + SECRET.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
        ),
        (b'{"username": "alice", "password": "x"}', {}, 415),  # no content type
    ],
)
async def test_login_bad_input(
    client: httpx.AsyncClient, alice: Any, content: bytes, headers: dict[str, str], status: int
) -> None:
    response = await client.post("/api/login", content=content, headers=headers)
    assert_error_shape(response, status, "invalid_request")
    assert SECRET not in response.text
    assert "Traceback" not in response.text


async def test_validation_errors_name_fields_without_values(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login", json={"username": "alice", "password": 12345, "extra": SECRET})
    body = assert_error_shape(response, 422, "invalid_request")
    assert "password" in body["error_description"]
    assert "extra" in body["error_description"]
    assert SECRET not in response.text
    assert "12345" not in response.text


async def test_refresh_bad_input(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/token/refresh", json={"refresh_token": 42})
    assert_error_shape(response, 422, "invalid_request")
    long = await client.post("/api/token/refresh", json={"refresh_token": "jgr_" + "A" * 2000})
    assert_error_shape(long, 422, "invalid_request")
    assert "AAAA" not in long.text


async def test_oversized_body_with_content_length_is_413(client: httpx.AsyncClient) -> None:
    big = {"username": "alice", "password": "x" * 10_000}
    response = await client.post("/api/login", json=big)
    body = assert_error_shape(response, 413, "invalid_request")
    assert "4096" in body["error_description"]


async def test_oversized_chunked_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"username": "alice", "password": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = await client.post("/api/login", content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error_shape(response, 413, "invalid_request")


async def test_oversized_form_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", data={"grant_type": "password", "password": "x" * 9000})
    assert_error_shape(response, 413, "invalid_request")


async def test_non_utf8_form_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth/token",
        content=b"grant_type=password&username=\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error_shape(response, 400, "invalid_request")


async def test_percent_encoded_non_utf8_form_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth/token",
        content=b"grant_type=password&username=%FF&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error_shape(response, 400, "invalid_request")


async def test_bad_content_length_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/login", content=b"{}", headers={**JSON, "Content-Length": "zz"})
    assert_error_shape(response, 400, "invalid_request")


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert_error_shape(await client.get("/nope"), 404, "not_found")
    assert_error_shape(await client.get("/api/login"), 405, "method_not_allowed")


async def test_deeply_nested_json_is_not_a_500(client: httpx.AsyncClient) -> None:
    content = b'{"username": ' + b"[" * 3000 + b"]" * 3000 + b', "password": "x"}'
    response = await client.post("/api/login", content=content, headers=JSON)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error", "error_description"}


@pytest.mark.parametrize("settings_overrides", [{"max_body_size": 65536}])
async def test_huge_json_number_is_not_a_500(client: httpx.AsyncClient) -> None:
    content = b'{"username": "alice", "password": ' + b"9" * 5000 + b"}"
    response = await client.post("/api/login", content=content, headers=JSON)
    assert_error_shape(response, 400, "invalid_request")


async def test_a_good_request_still_works_after_all_that(client: httpx.AsyncClient, alice: Any) -> None:
    response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
