"""Issue 12: the listener's settings (bounds, defaults) and its log helpers. The limits themselves are
tested with real sockets against a real `jwtgate serve` in tests/smoke/test_limits.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from jwtgate.errors import ConfigError
from jwtgate.server.listener import (
    JsonLogFormatter,
    ListenerLimits,
    RedactQueryFilter,
    http_protocol,
    redact_query,
)
from jwtgate.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("JWTGATE_"):
            monkeypatch.delenv(name)


def test_safe_defaults(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    limits = ListenerLimits.from_settings(settings)
    assert limits == ListenerLimits(
        max_header_size=16384,
        max_request_line=8192,
        header_timeout=10.0,
        keepalive_timeout=5,
        max_connections=1000,
    )
    assert (settings.log_format, settings.password_min_length) == ("text", 8)
    assert (settings.password_hash_workers, settings.password_hash_queue) == (0, 32)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWTGATE_MAX_HEADER_SIZE", "100"),
        ("JWTGATE_MAX_HEADER_SIZE", "99999999"),
        ("JWTGATE_MAX_REQUEST_LINE", "10"),
        ("JWTGATE_HEADER_TIMEOUT", "0"),
        ("JWTGATE_KEEPALIVE_TIMEOUT", "100000"),
        ("JWTGATE_MAX_CONNECTIONS", "0"),
        ("JWTGATE_LOG_FORMAT", "xml"),
        ("JWTGATE_HTTP_IMPLEMENTATION", "curl"),
        ("JWTGATE_PASSWORD_MIN_LENGTH", "6"),
        ("JWTGATE_PASSWORD_MIN_LENGTH", "65"),
        ("JWTGATE_PASSWORD_HASH_WORKERS", "-1"),
        ("JWTGATE_PASSWORD_HASH_QUEUE", "-1"),
    ],
)
def test_out_of_bounds_values_are_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings(data_dir=tmp_path)
    assert name in raised.value.description
    assert value not in raised.value.description.split(name)[0]


@pytest.mark.parametrize("implementation", ["auto", "httptools", "h11"])
def test_the_guarded_protocol_wraps_uvicorns_own(implementation: str) -> None:
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    limits = ListenerLimits(max_header_size=2048)
    protocol = http_protocol(limits, implementation)
    expected = H11Protocol if implementation == "h11" else HttpToolsProtocol
    assert issubclass(protocol, expected)
    assert protocol.limits is limits  # type: ignore[attr-defined]
    assert http_protocol(ListenerLimits()).limits is not limits  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("target", "logged"),
    [
        ("/api/protected", "/api/protected"),
        ("/cb?code=abc&state=xyz", "/cb?code=[redacted]&state=[redacted]"),
        ("/x?access_token=eyJhbGciOi.eyJzdWIi.sig", "/x?access_token=[redacted]"),
        ("/x?eyJhbGciOi.eyJzdWIi.sig", "/x?[redacted]"),  # a bare value is redacted whole
        ("/x?flag&a=", "/x?[redacted]&a=[redacted]"),
        ("/x?abc123", "/x?[redacted]"),  # a short key alone is a value too
        ("/x?" + "n" * 100 + "=1", "/x?[redacted]"),  # a "name" too long to be one
    ],
)
def test_query_values_never_reach_the_access_log(target: str, logged: str) -> None:
    assert redact_query(target) == logged
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", target, "1.1", 200),
        None,
    )
    assert RedactQueryFilter().filter(record)
    line = json.loads(JsonLogFormatter().format(record))
    assert line["path"] == logged
    assert line["message"] == f'1.2.3.4:5 - "GET {logged} HTTP/1.1" 200'
    assert (line["logger"], line["level"], line["status"]) == ("uvicorn.access", "info", 200)
    assert line["time"].endswith("Z")
