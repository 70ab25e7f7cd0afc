"""Prometheus metrics of one app instance (its own registry: no process-wide singleton)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MetricsMiddleware", "ServerMetrics"]


class ServerMetrics:
    """Counters and histograms for one app; :meth:`render` gives the text exposition format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "jwtgate_http_requests",
            "HTTP requests by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "jwtgate_http_request_duration_seconds",
            "HTTP request latency by route template",
            ("route",),
            registry=self.registry,
        )
        self.auth_events = Counter(
            "jwtgate_auth_events",
            "Authentication outcomes (login, refresh, ...) by result code",
            ("event", "result"),
            registry=self.registry,
        )

        self.busy_refusals = Counter(
            "jwtgate_busy_refusals",
            "Requests answered 503 because the password-hashing pool and its queue were full",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count requests by route *template* (``/api/sessions/{sid}``), so labels stay bounded."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "unmatched"))
            self.metrics.requests.labels(scope.get("method", ""), template, str(status)).inc()
            self.metrics.latency.labels(template).observe(time.perf_counter() - started)
