"""The OpenAPI document says every answer a route gives and every credential it reads.

FastAPI documents a route's success answer and, for a route with parameters, a 422 in its own shape.
jwtgate answers every error in one shape (:mod:`.problems`) and reads bodies, cookies and DPoP headers
itself, so the routes declare their errors with :func:`error_responses` and their headers and cookies with
:func:`parameters`, and :func:`install` completes FastAPI's document once: the one error shape
replaces FastAPI's 422, and each operation that takes an access token also lists the other ways to
send it (``Authorization: DPoP`` with a ``DPoP`` proof, or the access cookie with ``X-CSRF-Token``).
Clients generated from the document, and the schemathesis suite, then see what the server does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI

from jwtgate.server.cookies import ACCESS_COOKIE, CSRF_HEADER
from jwtgate.server.schemas import ErrorBody

__all__ = [
    "AUTHENTICATED",
    "CLIENT_BASIC",
    "DPOP_PROOF",
    "FORM_BODY",
    "JSON_BODY",
    "UNAVAILABLE",
    "cookie",
    "error_responses",
    "header",
    "install",
    "parameters",
    "success",
]

#: What any route reading a JSON body can answer: malformed (400), too large (413), not JSON (415),
#: not the schema (422).
JSON_BODY = (400, 413, 415, 422)
#: The same for an urlencoded form (RFC 6749 endpoints): unknown parameters are ignored, so no 422.
FORM_BODY = (400, 413, 415)
#: What any route taking an access token can answer: 400 (two Authorization headers, a bad DPoP
#: proof), 401 (no or an invalid token), 403 (scope, CSRF or Origin).
AUTHENTICATED = (400, 401, 403)
#: The database does not answer, or the password-hashing queue is full.
UNAVAILABLE = (503,)

_TEXT = {
    400: "Malformed request (`invalid_request`); at the token endpoints also `invalid_grant`, "
    "`unsupported_grant_type`, `invalid_scope`, `invalid_dpop_proof` or `use_dpop_nonce` "
    "(with a fresh `DPoP-Nonce`).",
    401: "Missing or invalid credentials: `unauthorized` or `invalid_token` with a `WWW-Authenticate` "
    "challenge, `invalid_grant` (wrong username or password, a spent refresh token), `invalid_client`.",
    403: "Refused: `insufficient_scope`, `access_denied` (CSRF token or Origin), `unauthorized_client`.",
    404: "`not_found`.",
    409: "`conflict`.",
    413: "The body is larger than `JWTGATE_MAX_BODY_SIZE`.",
    415: "The body is not of the declared media type.",
    422: "The body or a parameter does not fit its schema; the fields are named, the input never echoed.",
    429: "`rate_limited`: too many attempts; `Retry-After` says when to try again.",
    503: "`temporarily_unavailable`: the database does not answer, or the server is busy (`Retry-After`).",
}
_STRING = {"type": "string"}
_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    400: {"DPoP-Nonce": {"description": "A fresh server nonce for the next DPoP proof", "schema": _STRING}},
    401: {"WWW-Authenticate": {"description": "RFC 6750 / RFC 9449 challenge", "schema": _STRING}},
    429: {"Retry-After": {"description": "Seconds to wait", "schema": _STRING}},
    503: {"Retry-After": {"description": "Seconds to wait (when busy)", "schema": _STRING}},
}
_BEARER_SCHEME = "OAuth2PasswordBearer"
_COOKIE_SCHEME = "accessCookie"
#: The security scheme of client_secret_basic at the OAuth endpoints.
CLIENT_BASIC = "clientSecretBasic"
_UNSAFE = frozenset({"post", "put", "patch", "delete"})
_ERROR_REF = f"#/components/schemas/{ErrorBody.__name__}"


def error_responses(*statuses: int, text: Mapping[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status in the one error shape, described by ``text`` or the
    common description of that status."""
    said = {**_TEXT, **(text or {})}
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        entry: dict[str, Any] = {"model": ErrorBody, "description": said[status]}
        if status in _HEADERS:
            entry["headers"] = _HEADERS[status]
        declared[status] = entry
    return declared


def success(status: int, model: type[Any], description: str = "Success") -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry for the success answer of a route that builds its own response."""
    return {status: {"model": model, "description": description}}


def header(name: str, description: str) -> dict[str, Any]:
    return {"in": "header", "name": name, "required": False, "description": description, "schema": _STRING}


def cookie(name: str, description: str) -> dict[str, Any]:
    return {"in": "cookie", "name": name, "required": False, "description": description, "schema": _STRING}


def parameters(*declared: dict[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` listing header and cookie parameters (``extra``: more of ``openapi_extra``,
    such as a request body)."""
    return {**(extra or {}), "parameters": list(declared)}


DPOP_PROOF = {
    **header("DPoP", "A DPoP proof (RFC 9449): binds the tokens to its key"),
    "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"},
}
_DPOP_RESOURCE = header("DPoP", "The DPoP proof for this request, with `Authorization: DPoP <token>`")
_CSRF = header(CSRF_HEADER, "With the access cookie on unsafe methods: the session's CSRF token")


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return FastAPI's document completed by :func:`complete` (built once)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """The one error shape for FastAPI's 422s; the cookie and DPoP ways of sending an access token."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.setdefault(ErrorBody.__name__, ErrorBody.model_json_schema())
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    error_422 = error_responses(422)[422]
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            if "422" in responses:  # FastAPI's own (a parameter's validation) or ours: the one shape
                responses["422"] = {
                    "description": error_422["description"],
                    "content": {
                        "application/json": {"schema": {"$ref": f"#/components/schemas/{ErrorBody.__name__}"}}
                    },
                }
            security = operation.get("security")
            if security and {_BEARER_SCHEME: []} in security:
                operation["security"] = [*security, {_COOKIE_SCHEME: []}]
                added = [_DPOP_RESOURCE, *([_CSRF] if method in _UNSAFE else [])]
                operation["parameters"] = [*operation.get("parameters", []), *added]
    schemes = components.setdefault("securitySchemes", {})
    schemes[_COOKIE_SCHEME] = {
        "type": "apiKey",
        "in": "cookie",
        "name": ACCESS_COOKIE,
        "description": "Cookie mode (/api/cookie/login); unsafe methods also need X-CSRF-Token",
    }
    schemes[CLIENT_BASIC] = {
        "type": "http",
        "scheme": "basic",
        "description": "client_secret_basic: the client id and secret (RFC 6749 section 2.3.1)",
    }
    return document
