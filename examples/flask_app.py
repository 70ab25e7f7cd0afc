"""A small notes API in Flask, protected by a running ``jwtgate serve``.

Same API as ``fastapi_app.py``: ``@jwt_required(scopes=[...])`` on each view, verified with a shared
:class:`~jwtgate.protect.Guard` (JWKS fetched and cached, revocation feed polled by a background
thread). ``/health`` is open.

Run it (auth server on port 8000, this API on 9001)::

    jwtgate serve --port 8000 &
    JWTGATE_URL=http://127.0.0.1:8000 flask --app 'examples.flask_app:create_app()' run --port 9001
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, g, request

from jwtgate.protect import Guard, jwt_required


def create_app(
    auth_url: str | None = None,
    *,
    audience: str | None = None,
    revocation_interval: float = 2.0,
) -> Flask:
    """The Flask app; the guard lives in ``app.extensions["jwtgate"]``."""
    auth_url = (auth_url or os.environ.get("JWTGATE_URL", "http://127.0.0.1:8000")).rstrip("/")
    app = Flask(__name__)
    app.extensions["jwtgate"] = Guard(
        issuer=os.environ.get("JWTGATE_ISSUER", auth_url),
        audience=audience or os.environ.get("JWTGATE_AUDIENCE", "jwtgate"),
        jwks_url=f"{auth_url}/.well-known/jwks.json",
        revocation="feed",
        revocation_url=f"{auth_url}/api/revocations",
        revocation_interval=revocation_interval,
    )
    notes: dict[str, list[str]] = {}  # per user, in memory: this is an example

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/notes")
    @jwt_required(scopes=["read"])
    def list_notes() -> dict[str, Any]:
        return {"user": g.jwt_user.display_name, "notes": notes.get(g.jwt_user.identity, [])}

    @app.post("/notes")
    @jwt_required(scopes=["write"])
    def add_note() -> tuple[dict[str, Any], int]:
        body = request.get_json(silent=True)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not 1 <= len(text) <= 1000:
            return {"error": "invalid_request", "error_description": "text: 1 to 1000 characters"}, 400
        notes.setdefault(g.jwt_user.identity, []).append(text)
        return {"user": g.jwt_user.display_name, "count": len(notes[g.jwt_user.identity])}, 201

    @app.delete("/notes")
    @jwt_required(roles=["editor"])
    def clear_all() -> dict[str, int]:
        removed = sum(len(items) for items in notes.values())
        notes.clear()
        return {"removed": removed}

    return app
