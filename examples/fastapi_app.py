"""A small notes API in FastAPI, protected by a running ``jwtgate serve``.

Every route but ``/health`` and the docs needs a jwtgate access token; reading needs the ``read`` scope,
writing the ``write`` scope, and deleting every note the ``editor`` role. Revoked sessions (logout at the
auth server) are rejected within the feed interval. ``/docs`` has an "Authorize" button that logs in at
the auth server's ``/oauth/token``.

Run it (auth server on port 8000, this API on 9000)::

    jwtgate serve --port 8000 &
    JWTGATE_URL=http://127.0.0.1:8000 uvicorn --factory examples.fastapi_app:create_app --port 9000

    TOKEN=$(curl -s -XPOST localhost:8000/api/login -H 'content-type: application/json' \\
            -d '{"username": "demo", "password": "..."}' | jq -r .access_token)
    curl -H "Authorization: Bearer $TOKEN" localhost:9000/notes
"""

# No ``from __future__ import annotations``: FastAPI reads route annotations that refer to local names.
import os
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel, Field

from jwtgate.protect import Guard, JWTAuthMiddleware, TokenUser
from jwtgate.protect.fastapi import add_error_handler, require


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


def create_app(
    auth_url: str | None = None,
    *,
    audience: str | None = None,
    revocation_interval: float = 2.0,
) -> Any:
    """The ASGI app: the FastAPI API behind :class:`JWTAuthMiddleware`.

    ``auth_url`` is the jwtgate server (default ``$JWTGATE_URL`` or ``http://127.0.0.1:8000``); it is
    also the issuer unless ``$JWTGATE_ISSUER`` says otherwise.
    """
    auth_url = (auth_url or os.environ.get("JWTGATE_URL", "http://127.0.0.1:8000")).rstrip("/")
    guard = Guard(
        issuer=os.environ.get("JWTGATE_ISSUER", auth_url),
        audience=audience or os.environ.get("JWTGATE_AUDIENCE", "jwtgate"),
        jwks_url=f"{auth_url}/.well-known/jwks.json",
        revocation="feed",
        revocation_url=f"{auth_url}/api/revocations",
        revocation_interval=revocation_interval,
    )
    notes: dict[str, list[str]] = {}  # per user, in memory: this is an example
    reader = require(scopes=["read"], guard=guard, token_url=f"{auth_url}/oauth/token")
    writer = require(scopes=["write"], guard=guard, token_url=f"{auth_url}/oauth/token")
    editor = require(roles=["editor"], guard=guard, token_url=f"{auth_url}/oauth/token")

    api = FastAPI(title="Notes (protected by jwtgate)")
    add_error_handler(api)

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/notes")
    async def list_notes(user: Annotated[TokenUser, Depends(reader)]) -> dict[str, Any]:
        return {"user": user.display_name, "notes": notes.get(user.identity, [])}

    @api.post("/notes", status_code=201)
    async def add_note(note: NoteIn, user: Annotated[TokenUser, Depends(writer)]) -> dict[str, Any]:
        notes.setdefault(user.identity, []).append(note.text)
        return {"user": user.display_name, "count": len(notes[user.identity])}

    @api.delete("/notes")
    async def clear_all(user: Annotated[TokenUser, Depends(editor)]) -> dict[str, int]:
        removed = sum(len(items) for items in notes.values())
        notes.clear()
        return {"removed": removed}

    return JWTAuthMiddleware(api, guard=guard, exclude_paths=["/health", "/docs", "/openapi.json"])
