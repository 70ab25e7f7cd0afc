"""The browser pages and jwtgate.js: served safely, and the JS client's logic under Node's test runner."""

from __future__ import annotations

import html
import json
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


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/docs/oauth2-redirect"])
async def test_docs_pages_load_nothing_from_elsewhere(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self';" in csp  # no 'unsafe-inline', no other host
    assert "frame-ancestors 'none'" in csp
    assert re.search(r"<script(?![^>]*\bsrc=)", response.text) is None
    assert re.findall(r"""(?:src|href)="([^"]*)""", response.text)  # assets are linked ...
    for url in re.findall(r"""(?:src|href)="([^"]*)""", response.text):
        assert url.startswith("/"), url  # ... all from this server
        assert (await client.get(url)).status_code == 200, url
    assert "cdn" not in response.text.lower()


async def test_swagger_ui_gets_the_password_flow_settings(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    found = re.search(r'data-config="([^"]*)"', page)
    assert found is not None
    config = json.loads(html.unescape(found.group(1)))
    assert config["openapiUrl"] == "/openapi.json"
    assert config["oauth2RedirectUrl"] == "/docs/oauth2-redirect"  # FastAPI's path, still served
    assert config["initOAuth"] == {"usePkceWithAuthorizationCodeGrant": False}
    init = await client.get("/docs/assets/swagger-init.js")
    assert init.headers["content-type"].startswith("text/javascript")
    assert "initOAuth" in init.text


async def test_docs_assets_are_an_allow_list(client: httpx.AsyncClient) -> None:
    types = {
        "swagger-ui-bundle.js": "text/javascript",
        "swagger-ui.css": "text/css",
        "redoc.standalone.js": "text/javascript",
        "favicon.png": "image/png",
    }
    for name, media_type in types.items():
        asset = await client.get(f"/docs/assets/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(media_type)
        assert len(asset.content) > 1000
    for name in ("core.py", "..%2F__init__.py", "swagger-ui-bundle.js.map", "login.html"):
        assert_error_shape(await client.get(f"/docs/assets/{name}"), 404)
