"""Real ``jwtgate serve`` processes for multi-instance and fault tests, through one fixture.

:class:`Fleet` starts servers and CLI commands as subprocesses with a clean ``JWTGATE_*`` environment:
ports come from the OS, each process's output goes to a log file that is printed at teardown (pytest
shows it when the test failed), every process is stopped in a ``finally``, and the PostgreSQL databases
and Redis channels it hands out are unique to the test and dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import jwtgate

SRC = str(Path(jwtgate.__file__).resolve().parents[1])
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


@dataclass
class Instance:
    """One running ``jwtgate serve``."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling for start-up, not waiting for an expiry
        raise AssertionError(f"{self.name} did not become ready:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class TcpForwarder:
    """A TCP forwarder on 127.0.0.1 that a test switches on and off, to put a service (PostgreSQL,
    Redis) out of an instance's reach without touching the service itself.

    :meth:`stop` closes the listening socket and every forwarded connection (the instance's pooled
    connections see their peer hang up; new ones are refused, as when the server is down);
    :meth:`start` forwards again on the same port. Threads, not a process: nothing outlives the test.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.accepted = 0
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._stalled = False

    def start(self) -> None:
        self._stalled = False
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        with self._lock:
            if self._listener is not None:
                listener.close()
                raise RuntimeError("already forwarding")
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    @property
    def forwarding(self) -> bool:
        return self._listener is not None and not self._stalled

    def stall(self) -> None:
        """Keep accepting and keep every connection open, but forward nothing (a network partition:
        the instance is not refused, it waits). Heal with :meth:`stop` then :meth:`start` (the bytes
        dropped meanwhile left every connection out of step)."""
        self._stalled = True

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets, set()
        if listener is not None:
            _hang_up(listener)  # wakes the accept() of the listener's thread
        for sock in sockets:
            _hang_up(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _hang_up(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # stopped while connecting
                    _hang_up(client)
                    _hang_up(upstream)
                    return
                self._sockets.update((client, upstream))
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._stalled:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _hang_up(source)
            _hang_up(sink)


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected, or already shut
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class Fleet:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.instances: list[Instance] = []
        self._forwarders: list[TcpForwarder] = []
        self._databases: list[str] = []
        self._channels: list[str] = []
        self._logs: list[Path] = []

    # -- services ------------------------------------------------------------------------------------
    def database(self) -> str:
        """A new, empty PostgreSQL database for this test (dropped at teardown)."""
        name = f"jwtgate_fleet_{uuid.uuid4().hex[:12]}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        self._databases.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    def channel(self) -> str:
        """A Redis channel (and key prefix) of this test's own."""
        channel = f"jwtgate-fleet-{uuid.uuid4().hex[:12]}:revocations"
        self._channels.append(channel)
        return channel

    def forwarder(self, target_port: int) -> TcpForwarder:
        """A started :class:`TcpForwarder` to ``127.0.0.1:target_port`` (stopped at teardown)."""
        forwarder = TcpForwarder(target_port)
        forwarder.start()
        self._forwarders.append(forwarder)
        return forwarder

    # -- processes -----------------------------------------------------------------------------------
    def spawn(
        self, env: dict[str, str], *, name: str | None = None, data_dir: Path | None = None
    ) -> Instance:
        """Start ``jwtgate serve`` (not waiting for it)."""
        name = name or f"instance-{len(self.instances) + 1}"
        port = free_port()
        folder = data_dir or self.tmp_path / f"{name}-data"
        log_path = self.tmp_path / f"{name}.log"
        log = log_path.open("ab")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jwtgate",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=base_env(env),
        )
        log.close()
        instance = Instance(name, port, process, log_path)
        self.instances.append(instance)
        return instance

    def start(self, env: dict[str, str], **options: object) -> Instance:
        instance = self.spawn(env, **options)  # type: ignore[arg-type]
        instance.wait_ready()
        return instance

    def cli(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "jwtgate", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=base_env(env),
            timeout=120,
            check=False,
        )

    def close(self) -> None:
        try:
            for instance in self.instances:
                instance.stop()
        finally:
            for forwarder in self._forwarders:
                forwarder.stop()
            for instance in self.instances:
                print(f"----- log of {instance.name} (exit {instance.process.returncode}) -----")
                print(instance.log()[-8000:])
            for name in self._databases:
                try:
                    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception as err:  # pragma: no cover - cleanup must not hide the test's outcome
                    print(f"could not drop {name}: {err}")
            if self._channels:
                asyncio.run(_drop_redis_keys(self._channels))


def _pg_admin(sql: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(**PG_ADMIN, timeout=3)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


async def _drop_redis_keys(channels: list[str]) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL)
    try:
        for channel in channels:
            keys = [key async for key in client.scan_iter(f"{channel}*")]
            if keys:
                await client.delete(*keys)
    finally:
        await client.aclose()


def require_services() -> None:
    """Skip (or fail with JWTGATE_REQUIRE_SERVICES=1) when PostgreSQL or Redis is not running."""
    missing = []
    for port, what in ((5432, "PostgreSQL"), (6379, "Redis")):
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                missing.append(what)
    if missing:
        if os.environ.get("JWTGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"required but not running: {', '.join(missing)}")
        pytest.skip(f"not running: {', '.join(missing)}")


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    require_services()
    started = Fleet(tmp_path)
    try:
        yield started
    finally:
        started.close()
