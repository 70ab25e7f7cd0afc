"""Pure ASGI middleware of the auth server: error boundary, security headers, body size limit.

Pure ASGI (not ``BaseHTTPMiddleware``) so that bodies stream untouched and an oversized body is
refused before any parser sees it.
"""

from __future__ import annotations

import json
import logging
import traceback

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwtgate.server.problems import ApiError

__all__ = [
    "BodySizeLimitMiddleware",
    "ErrorBoundaryMiddleware",
    "SecurityHeadersMiddleware",
    "security_headers",
]

logger = logging.getLogger("jwtgate.server")


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "invalid_request", f"request body larger than {limit} bytes")


_SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries; HSTS when the request came over TLS (uvicorn terminated it
    or a trusted proxy said so: ``scope["scheme"]``)."""
    headers = list(_SECURITY_HEADERS)
    if scope.get("scheme") == "https":
        headers.append(_HSTS)
    return headers


async def _send_json_error(
    send: Send,
    status: int,
    error: str,
    description: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                *(extra_headers or ()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimitMiddleware:
    """Refuse request bodies over ``max_body_size`` bytes with 413.

    A declared ``Content-Length`` over the limit is refused before the app runs; a body without one
    (chunked) is counted as it is received and :class:`BodyTooLarge` is raised from ``receive``,
    which the app's error handlers turn into the same 413.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_size
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _send_json_error(send, 400, "invalid_request", "bad Content-Length")
                    return
                if int(value) > limit:
                    too_large = BodyTooLarge(limit)
                    await _send_json_error(send, 413, too_large.error, too_large.description)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeadersMiddleware:
    """Add ``nosniff``, a strict ``Referrer-Policy``, frame denial and, over TLS, HSTS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = security_headers(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend(item for item in extra if item[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ErrorBoundaryMiddleware:
    """The last line: any unhandled exception becomes a JSON 500 with no stack trace.

    The log line carries the exception type and the frames, never the exception message (it may
    quote input such as a password) nor any header.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            frames = "".join(traceback.format_tb(exc.__traceback__))
            logger.error(
                "unhandled %s on %s %s\n%s",
                type(exc).__name__,
                scope.get("method"),
                scope.get("path"),
                frames,
            )
            if not started:
                # This middleware sits outside SecurityHeadersMiddleware: add the headers here.
                await _send_json_error(
                    send, 500, "server_error", "internal server error", security_headers(scope)
                )
