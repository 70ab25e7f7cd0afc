"""The socket side of ``jwtgate serve``: uvicorn with connection limits, and the server's log lines.

uvicorn bounds concurrency (``limit_concurrency``) and idle keep-alive connections
(``timeout_keep_alive``) itself, but neither of its HTTP/1.1 implementations bounds the size of a
request head nor the time a client may take to send it: a 64 MB header was read and answered 200, and a
header sent one byte every 2 s kept its connection forever. :class:`_HeadGuard` adds exactly that to
uvicorn's own protocol class (httptools or h11, whichever uvicorn would pick):

- the request line is at most ``max_request_line`` bytes (else 414), the header block at most
  ``max_header_size`` bytes (else 431). Bytes are counted as they arrive, before the parser buffers
  them, so an oversized head costs at most one socket read of memory;
- a request head must arrive within ``header_timeout`` seconds of its first byte (of the connection,
  for the first request): else 408 and the connection is closed; a connection that sent nothing is
  closed silently;
- more than ``max_connections`` open connections: the newcomer gets 503 with ``Retry-After``.

Refusals use the server's one error shape and close the connection after a short linger (the rest of
an oversized head is read and dropped, so the client sees the answer instead of a reset).

:func:`configure_logging` sets up jwtgate's and uvicorn's loggers, as text or one JSON object per line;
the access log never prints a query string value (a token sent as ``?access_token=`` stays out of it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from jwtgate.settings import Settings

__all__ = [
    "JsonLogFormatter",
    "ListenerLimits",
    "RedactQueryFilter",
    "configure_logging",
    "http_protocol",
    "redact_query",
    "run_server",
]

_LINGER_SECONDS = 1.0  # how long a refused connection is drained before it is closed
_CRLF_SLACK = 4  # the CRLF ending the request line and the empty line ending the head
_QUERY_NAME = re.compile(r"[A-Za-z0-9_\-\[\]]{1,40}")
_REASONS = {408: b"Request Timeout", 414: b"URI Too Long", 431: b"Request Header Fields Too Large"}
_REASONS[503] = b"Service Unavailable"


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """Connection-level limits; sizes in bytes, times in seconds."""

    max_header_size: int = 16 * 1024
    max_request_line: int = 8 * 1024
    header_timeout: float = 10.0
    keepalive_timeout: int = 5
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> ListenerLimits:
        return cls(
            max_header_size=settings.max_header_size,
            max_request_line=settings.max_request_line,
            header_timeout=float(settings.header_timeout),
            keepalive_timeout=settings.keepalive_timeout,
            max_connections=settings.max_connections,
        )


def _error_response(status: int, description: str, extra: Mapping[str, str] | None = None) -> bytes:
    body = json.dumps({"error": "invalid_request" if status < 500 else "temporarily_unavailable",
                       "error_description": description}).encode()  # fmt: skip
    lines = [
        b"HTTP/1.1 %d %s" % (status, _REASONS[status]),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"cache-control: no-store",
        b"x-content-type-options: nosniff",
        b"connection: close",
        *(f"{name}: {value}".encode("latin-1") for name, value in (extra or {}).items()),
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _HeadGuard(asyncio.Protocol):
    """Mixed in before uvicorn's HTTP protocol class (see :func:`http_protocol`).

    uvicorn creates a new ``cycle`` for each request whose head it parsed, and a cycle's ``more_body``
    turns False once its body is in: between the two, bytes are body; otherwise they belong to the
    next request's head, and are counted here before the parser sees them.
    """

    limits: ClassVar[ListenerLimits]
    # Set by uvicorn's protocol classes.
    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop
    connections: set[Any]
    # Per connection: the head being received.
    _head_bytes: int
    _line_bytes: int
    _line_done: bool
    _head_timer: asyncio.TimerHandle | None
    _refused: bool
    _counted_cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._head_timer = None
        self._refused = False
        self._counted_cycle = None
        self._reset_head()
        if len(self.connections) > self.limits.max_connections:
            retry = {"retry-after": "1"}
            self._refuse(503, "too many connections, try again shortly", retry)
            return
        # A new connection must send its first head in time, like every later one.
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # draining a refused connection: drop what the client still sends
        if self.cycle is not self._counted_cycle:
            self._end_head()  # uvicorn finished that head outside data_received (pipelining)
        if not self._reading_head():
            super().data_received(data)
            return
        if self._head_timer is None:
            self._arm_head_timer()  # the first byte of a new head on a kept-alive connection
        limits = self.limits
        if not self._line_done:
            newline = data.find(b"\n")
            self._line_bytes += len(data) if newline < 0 else newline + 1
            self._line_done = newline >= 0
            if self._line_bytes > limits.max_request_line + 2:
                self._refuse(414, f"the request line is longer than {limits.max_request_line} bytes")
                return
        limit = self._line_bytes + limits.max_header_size + _CRLF_SLACK
        piece = data[: limit - self._head_bytes]
        self._head_bytes += len(piece)
        before = self.cycle
        super().data_received(piece)
        if self.transport.is_closing():
            return
        if self.cycle is not before:  # the head ended inside ``piece``
            self._end_head()
            rest = data[len(piece) :]
            if rest:
                self.data_received(rest)
        elif self._head_bytes >= limit:  # as long as allowed, and still no end in sight
            self._refuse(431, f"the request headers are larger than {limits.max_header_size} bytes")

    # ------------------------------------------------------------------ helpers
    def _reading_head(self) -> bool:
        cycle = self.cycle
        return cycle is None or not cycle.more_body

    def _reset_head(self) -> None:
        self._head_bytes = 0
        self._line_bytes = 0
        self._line_done = False

    def _end_head(self) -> None:
        self._counted_cycle = self.cycle
        self._cancel_head_timer()
        self._reset_head()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        in_flight = self.cycle is not None and not self.cycle.response_complete
        if in_flight or self._head_bytes == 0:
            self.transport.close()  # nothing to answer (idle), or an answer is being written
            return
        self._refuse(408, f"the request head did not arrive within {self.limits.header_timeout:g} s")

    def _refuse(self, status: int, description: str, headers: Mapping[str, str] | None = None) -> None:
        self._refused = True
        self._cancel_head_timer()
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an answer is being written: no second one on this connection
            return
        self.transport.write(_error_response(status, description, headers))
        # Closing with unread input would reset the connection and could destroy the answer before the
        # client reads it: stop sending, drop the client's bytes for a moment, then close.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)


def http_protocol(limits: ListenerLimits, implementation: str = "auto") -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol class (httptools when installed, else h11, unless named) with
    ``limits`` enforced. A new class per call: the limits are a class attribute, nothing global."""
    base: type[asyncio.Protocol]
    if implementation == "h11":
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    else:
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:  # httptools is optional in uvicorn
            if implementation == "httptools":
                raise
            from uvicorn.protocols.http.h11_impl import H11Protocol

            base = H11Protocol
        else:
            base = HttpToolsProtocol
    return type(f"Guarded{base.__name__}", (_HeadGuard, base), {"limits": limits})


# ---------------------------------------------------------------------------------------------- logs
def redact_query(target: str) -> str:
    """``/path?a=1&token=xyz`` -> ``/path?a=[redacted]&token=[redacted]``: names kept when they look
    like names, values never; an item without ``=`` (``?eyJ...``) may be a value: redacted whole."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for item in query.split("&"):
        name, equals, _ = item.partition("=")
        parts.append(f"{name}=[redacted]" if equals and _QUERY_NAME.fullmatch(name) else "[redacted]")
    return f"{path}?{'&'.join(parts)}"


class RedactQueryFilter(logging.Filter):
    """On ``uvicorn.access``: its record args are (client, method, path with query, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], redact_query(args[2]), args[3], args[4])
        return True


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, exception frames.
    Access lines also carry ``client``, ``method``, ``path``, ``status`` as fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            entry.update(client=args[0], method=args[1], path=args[2], status=args[4])
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def logging_config(log_level: str, log_format: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of ``jwtgate serve``: everything to stderr."""
    level = log_level.upper()
    formatter = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact_query": {"()": RedactQueryFilter}},
        "formatters": {
            "text": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "json": {"()": JsonLogFormatter},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": formatter,
            },
        },
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.access": {
                "handlers": ["stderr"],
                "level": level,
                "propagate": False,
                "filters": ["redact_query"],
            },
            # Migration chatter on every start, unless debugging.
            "alembic": {"level": "DEBUG" if level == "DEBUG" else "WARNING"},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def configure_logging(settings: Settings) -> None:
    """jwtgate's log lines (refusals with their precise codes) and uvicorn's, on stderr."""
    logging.config.dictConfig(logging_config(settings.log_level, settings.log_format))


# -------------------------------------------------------------------------------------------- server
def run_server(app: Any, settings: Settings) -> None:
    """Serve ``app`` with uvicorn until interrupted, with the limits of ``settings``."""
    import uvicorn

    limits = ListenerLimits.from_settings(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=http_protocol(limits, settings.http_implementation),
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        proxy_headers=bool(settings.trusted_proxy),
        forwarded_allow_ips=list(settings.trusted_proxy) or None,
        log_config=None,  # configure_logging did it; uvicorn's default would print query strings
        log_level=settings.log_level,
        server_header=False,
        lifespan="on",
        # uvicorn's own limits: requests in flight beyond the cap get its 503 (one more than the cap:
        # uvicorn counts the connection asking), idle kept-alive connections are closed.
        limit_concurrency=limits.max_connections + 1,
        timeout_keep_alive=limits.keepalive_timeout,
        # h11 refuses a head larger than this itself (with a 400): leave room for our 414/431 first.
        h11_max_incomplete_event_size=limits.max_request_line + limits.max_header_size + 1024,
    )
    uvicorn.Server(config).run()
