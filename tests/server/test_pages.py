"""The browser pages and jwtgate.js: served safely, and the JS client's logic under Node's test runner."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import httpx
import pytest

from .conftest import assert_error_shape


@pytest.mark.parametrize("path", ["/login", "/account"])
async def test_pages_are_served_with_a_strict_csp(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    # No inline script or style: everything the CSP allows comes from /static.
    assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None
    assert "style=" not in response.text
    assert "on" + "click=" not in response.text


async def test_static_files(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/jwtgate.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "export class JwtgateClient" in script.text
    assert (await client.get("/static/jwtgate.css")).headers["content-type"].startswith("text/css")
    for name in ("nope.js", "..%2Fapp.py", "login.html"):
        assert_error_shape(await client.get(f"/static/{name}"), 404)


def test_jwtgate_js_under_node() -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to test jwtgate.js"
    script = Path(str(files("jwtgate.server").joinpath("static", "jwtgate.js")))
    suite = Path(__file__).parent / "js" / "jwtgate.test.mjs"
    env = {**os.environ, "JWTGATE_JS": script.resolve().as_uri()}
    result = subprocess.run(
        [node, "--test", str(suite)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout
