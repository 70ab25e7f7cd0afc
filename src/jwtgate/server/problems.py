"""The one error shape of the HTTP edge: ``{"error": code, "error_description": text}``.

:class:`ApiError` is what routes and middleware raise; :func:`install_error_handlers` maps every
other failure (jwtgate errors, Starlette HTTP errors, validation errors) to the same shape. The
precise jwtgate ``code`` goes to the log; the client sees the uniform OAuth ``error`` value and a
fixed description (never the input, a token or a password).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from jwtgate import errors
from jwtgate.credentials import challenge

__all__ = [
    "ApiError",
    "bearer_challenge",
    "error_response",
    "install_error_handlers",
    "problem_for",
]

logger = logging.getLogger("jwtgate.server")

REALM = "jwtgate"
_STATUS_NAMES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "invalid_request",
    415: "invalid_request",
    422: "invalid_request",
    429: "rate_limited",
    500: "server_error",
    503: "temporarily_unavailable",
}


class ApiError(Exception):
    """An HTTP error answer: status, OAuth-style ``error`` code, fixed description, headers."""

    def __init__(
        self,
        status: int,
        error: str,
        description: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.headers = dict(headers or {})


def bearer_challenge(error: str | None = None, description: str | None = None) -> str:
    """An RFC 6750 section 3 ``WWW-Authenticate`` value; no error details when none was sent."""
    return challenge(REALM, error, description)


def error_response(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body with ``no-store`` caching (error bodies are per-request)."""
    merged = {"Cache-Control": "no-store", "Pragma": "no-cache", **(headers or {})}
    body = {"error": error, "error_description": description}
    return JSONResponse(body, status_code=status, headers=merged)


def problem_for(exc: errors.JwtgateError) -> ApiError:
    """Translate a jwtgate error into the HTTP answer (status, uniform code, fixed text)."""
    description = type(exc).description
    if isinstance(exc, errors.TokenError):
        challenge = bearer_challenge("invalid_token", description)
        return ApiError(401, "invalid_token", description, headers={"WWW-Authenticate": challenge})
    if isinstance(exc, errors.InsufficientScope):
        challenge = bearer_challenge("insufficient_scope", description)
        return ApiError(403, "insufficient_scope", description, headers={"WWW-Authenticate": challenge})
    if isinstance(exc, errors.RateLimited):
        retry_after = str(max(1, int(exc.retry_after)))
        return ApiError(429, "rate_limited", description, headers={"Retry-After": retry_after})
    if isinstance(exc, errors.InvalidClient):
        # RFC 6749 section 5.2: 401 with a challenge for the scheme the client may use.
        headers = {"WWW-Authenticate": f'Basic realm="{REALM}"'}
        return ApiError(401, "invalid_client", description, headers=headers)
    if isinstance(exc, errors.InvalidCredentials | errors.InvalidGrant):
        return ApiError(401, "invalid_grant", description)
    if isinstance(exc, errors.NotFound):
        return ApiError(404, "not_found", description)
    if isinstance(exc, errors.Conflict):
        return ApiError(409, "conflict", description)
    if exc.code == "invalid_request":
        # The service's input checks: their descriptions name the rule, never the input.
        return ApiError(400, "invalid_request", exc.description)
    if isinstance(exc, errors.AuthError):
        return ApiError(403, "access_denied", description)
    if isinstance(exc, errors.StorageError):
        return ApiError(503, "temporarily_unavailable", "the service is temporarily unavailable")
    if isinstance(exc, errors.ServiceBusy):
        retry_after = str(max(1, int(exc.retry_after)))
        return ApiError(503, "temporarily_unavailable", description, headers={"Retry-After": retry_after})
    return ApiError(500, "server_error", "internal server error")


def _log_refusal(request: Request, status: int, code: str) -> None:
    # Method, path template-free path and code only: never headers, bodies or query values.
    log = logger.warning if status >= 500 else logger.info
    log("refused %s %s -> %d %s", request.method, request.url.path, status, code)


def _count_busy(request: Request) -> None:
    # The app's own metrics (app.state.jwtgate); looked up by attribute: state.py imports this module.
    metrics = getattr(getattr(request.app.state, "jwtgate", None), "metrics", None)
    if metrics is not None:
        metrics.busy_refusals.inc()


async def _api_error(request: Request, raised: Exception) -> Response:
    exc = cast(ApiError, raised)
    _log_refusal(request, exc.status, exc.error)
    return error_response(exc.status, exc.error, exc.description, exc.headers)


async def _jwtgate_error(request: Request, raised: Exception) -> Response:
    exc = cast(errors.JwtgateError, raised)
    problem = problem_for(exc)
    if isinstance(exc, errors.ServiceBusy):
        _count_busy(request)
    _log_refusal(request, problem.status, exc.code)
    return error_response(problem.status, problem.error, problem.description, problem.headers)


async def _http_error(request: Request, raised: Exception) -> Response:
    exc = cast(StarletteHTTPException, raised)
    status = exc.status_code
    code = _STATUS_NAMES.get(status, "server_error" if status >= 500 else "invalid_request")
    # Starlette's own details ("Not Found", "Method Not Allowed") are fixed strings.
    detail = exc.detail if isinstance(exc.detail, str) else code
    _log_refusal(request, status, code)
    return error_response(status, code, detail.lower(), exc.headers)


async def _validation_error(request: Request, raised: Exception) -> Response:
    exc = cast(RequestValidationError, raised)
    # Names the fields and what is wrong with them; FastAPI's default echoes the input: not here.
    problems = []
    for item in exc.errors()[:10]:
        location = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        problems.append(f"{location or 'body'}: {item.get('msg', 'invalid')}")
    _log_refusal(request, 422, "invalid_request")
    return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")


def install_error_handlers(app: FastAPI) -> None:
    """Route every handled failure through the one error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(errors.JwtgateError, _jwtgate_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
