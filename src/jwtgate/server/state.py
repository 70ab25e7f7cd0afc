"""What the routes share: settings, the service, the clock, metrics. One instance per app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request

from jwtgate.server.cookies import CsrfSigner
from jwtgate.server.dpop import DPoPGate
from jwtgate.server.metrics import ServerMetrics
from jwtgate.server.problems import ApiError
from jwtgate.settings import Settings

if TYPE_CHECKING:
    from jwtgate.service import AuthService

__all__ = ["AppState", "app_state", "csrf_signer", "dpop_gate", "service_of"]


@dataclass(slots=True)
class AppState:
    """Held in ``app.state.jwtgate``; ``service`` is set by the lifespan (or injected)."""

    settings: Settings
    clock: Callable[[], float]
    metrics: ServerMetrics = field(default_factory=ServerMetrics)
    service: AuthService | None = None
    csrf: CsrfSigner | None = None
    dpop: DPoPGate | None = None


def app_state(request: Request) -> AppState:
    state = request.app.state.jwtgate
    if not isinstance(state, AppState):
        raise TypeError("app.state.jwtgate is not an AppState")
    return state


def service_of(request: Request) -> AuthService:
    """The running service; 503 while the app is not started (no lifespan yet, or shut down)."""
    service = app_state(request).service
    if service is None:
        raise ApiError(503, "temporarily_unavailable", "the service is starting or stopping")
    return service


def csrf_signer(request: Request) -> CsrfSigner:
    """The CSRF signer of cookie mode, keyed by the server secret every instance shares."""
    state = app_state(request)
    if state.csrf is None:
        state.csrf = CsrfSigner(service_of(request).server_secret("csrf"))
    return state.csrf


def dpop_gate(request: Request) -> DPoPGate:
    """The DPoP checks (the lifespan builds them with a Redis replay cache when Redis is configured;
    otherwise they are built here on first use, with a replay cache in this process)."""
    state = app_state(request)
    if state.dpop is None:
        state.dpop = DPoPGate.open(state.settings.dpop, service_of(request), clock=state.clock)
    return state.dpop
