"""Real server processes (``jwtgate serve``, the Django example) for every test that needs one,
through one fixture.

:class:`Fleet` starts servers and CLI commands as subprocesses with a clean ``JWTGATE_*`` environment:
ports come from the OS, each process's stdout and stderr go to files that are printed at teardown (pytest
shows them when the test failed), every process is stopped in a ``finally``, and the PostgreSQL databases
and Redis channels it hands out are unique to the test and dropped afterwards. Fixtures: ``fleet``
(PostgreSQL and Redis), ``local_fleet`` (neither), ``module_fleet`` (servers shared by a module's tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import httpx
import pytest

import jwtgate

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.12

SRC = str(Path(jwtgate.__file__).resolve().parents[1])
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: no ``JWTGATE_*`` from the caller, this source tree first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGATE_")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def cli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``jwtgate ARGS`` run to its end (``env``: ``JWTGATE_*`` settings on top of :func:`base_env`)."""
    return subprocess.run(
        [sys.executable, "-m", "jwtgate", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=base_env(env),
        timeout=120,
        check=False,
    )


BANNER_END = "jwtgate serving on "


@dataclass
class Instance:
    """One running server process: a ``jwtgate serve``, or another server started the same way (the
    Django example). Its stdout (the terminal: banner, demo password) and its stderr (the log) go to
    files of their own."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    output_path: Path
    data_dir: Path | None = None
    tls: ssl.SSLContext | None = None  # trusts the server's certificate: the instance serves HTTPS
    ready_path: str = "/readyz"
    base_url: str = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What an httpx client needs to reach this instance."""
        return self.tls or True

    def log(self) -> str:
        """What the process wrote to stderr: the log."""
        return _read(self.log_path)

    def output(self) -> str:
        """What the process wrote to stdout: what a terminal would show."""
        return _read(self.output_path)

    def read_banner(self, timeout: float = 60.0) -> str:
        """The start-up lines of ``jwtgate serve`` on stdout, up to and including the "serving on" line
        (printed before uvicorn starts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = self.process.poll() is not None  # read after: the last lines may still be unread
            output = self.output()
            for line in output.splitlines(keepends=True):
                if line.startswith(BANNER_END) and line.endswith("\n"):
                    return output[: output.index(line) + len(line)]
            if exited:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            time.sleep(0.05)  # polling for start-up, not waiting for an expiry
        raise AssertionError(f"{self.name} printed no banner:\n{self.tail()}")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``ready_path`` answers 200 (fails at once if the process exits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n{self.tail()}")
            try:
                url = f"{self.base_url}{self.ready_path}"
                if httpx.get(url, timeout=1.0, verify=self.verify).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)  # polling for start-up, not waiting for an expiry
        raise AssertionError(f"{self.name} did not become ready:\n{self.tail()}")

    def stop(self) -> str:
        """SIGINT (Ctrl-C), then ``kill -9`` if it has not exited 20 s later; returns the log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log()

    def kill(self) -> None:
        """``kill -9``: no shutdown of any kind."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def tail(self, characters: int = 3000) -> str:
        """The end of stdout and of the log, for a failure message."""
        return f"{self.output()[-characters:]}\n--- log ---\n{self.log()[-characters:]}"


def _read(path: Path, offset: int = 0) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace")


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


class ServeOptions(TypedDict, total=False):
    """The keyword arguments of :meth:`Fleet.spawn`."""

    name: str | None
    data_dir: Path | None
    args: Sequence[str]
    tls: ssl.SSLContext | None


class Fleet:
    """The processes of a test (or of a module, for servers its tests share), and the services they
    were handed. Use it as a context manager, or through the :func:`fleet`, :func:`local_fleet` and
    :func:`module_fleet` fixtures: :meth:`close` stops every process, prints their output and drops
    the databases and Redis keys; it needs PostgreSQL or Redis only when one was asked for."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.instances: list[Instance] = []
        self._forwarders: list[TcpForwarder] = []
        self._databases: list[str] = []
        self._channels: list[str] = []

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        self,
        env: dict[str, str] | None = None,
        *,
        name: str | None = None,
        data_dir: Path | None = None,
        args: Sequence[str] = (),
        tls: ssl.SSLContext | None = None,
    ) -> Instance:
        """Start ``jwtgate serve`` on a free port (not waiting for it). ``env``: ``JWTGATE_*`` settings
        on top of :func:`base_env`; ``args``: more ``serve`` options (``--tls-cert``, ...); ``tls``: the
        context that trusts its certificate, when it serves HTTPS."""
        name = name or f"instance-{len(self.instances) + 1}"
        port = free_port()
        folder = data_dir or self.tmp_path / f"{name}-data"
        where = ["--host", "127.0.0.1", "--port", str(port), "--data-dir", str(folder)]
        command = [sys.executable, "-m", "jwtgate", "serve", *where, *args]
        return self.spawn_command(command, port=port, env=base_env(env), name=name, tls=tls, data_dir=folder)

    def start(self, env: dict[str, str] | None = None, **options: Unpack[ServeOptions]) -> Instance:
        """:meth:`spawn`, then wait until it is ready."""
        instance = self.spawn(env, **options)
        instance.wait_ready()
        return instance

    def spawn_command(
        self,
        command: Sequence[str],
        *,
        port: int,
        env: dict[str, str],
        name: str | None = None,
        cwd: Path | None = None,
        ready_path: str = "/readyz",
        tls: ssl.SSLContext | None = None,
        data_dir: Path | None = None,
    ) -> Instance:
        """Start any server (``command`` listens on ``port``; ``env`` is its whole environment, see
        :func:`base_env`) with the same logs and stop as a ``jwtgate serve``; not waiting for it."""
        name = name or f"instance-{len(self.instances) + 1}"
        log_path, output_path = self.tmp_path / f"{name}.log", self.tmp_path / f"{name}.out"
        with log_path.open("ab") as log, output_path.open("ab") as output:
            process = subprocess.Popen(command, stdout=output, stderr=log, env=env, cwd=cwd)
        instance = Instance(name, port, process, log_path, output_path, data_dir, tls, ready_path)
        self.instances.append(instance)
        return instance

    def cli(
        self, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return cli(*args, env=env, stdin=stdin)

    # -- logs ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def printing_new_logs(self) -> Iterator[None]:
        """Prints what the processes wrote during the block, after it: around each test of a fleet
        shared by a module, so that pytest shows a failed test the lines of its own time."""
        seen = {id(i): (_size(i.output_path), _size(i.log_path)) for i in self.instances}
        try:
            yield
        finally:
            for instance in self.instances:
                output_from, log_from = seen.get(id(instance), (0, 0))
                output, log = _read(instance.output_path, output_from), _read(instance.log_path, log_from)
                self._print(instance, output, log, "during the test")

    def close(self) -> None:
        try:
            for instance in self.instances:
                instance.stop()
        finally:
            for forwarder in self._forwarders:
                forwarder.stop()
            for instance in self.instances:
                state = f"exit {instance.process.returncode}"
                self._print(instance, instance.output()[-8000:], instance.log()[-8000:], state)
            for name in self._databases:
                try:
                    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                except Exception as err:  # pragma: no cover - cleanup must not hide the test's outcome
                    print(f"could not drop {name}: {err}")
            if self._channels:
                asyncio.run(_drop_redis_keys(self._channels))

    @staticmethod
    def _print(instance: Instance, output: str, log: str, when: str) -> None:
        for what, text in (("output", output), ("log", log)):
            if text:
                print(f"----- {what} of {instance.name} ({when}) -----")
                print(text)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


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


_SERVICES = {"PostgreSQL": 5432, "Redis": 6379}


def require_services(*services: str) -> None:
    """Skip (or fail with JWTGATE_REQUIRE_SERVICES=1) when one of ``services`` (default: PostgreSQL and
    Redis) is not running on 127.0.0.1."""
    missing = []
    for what in services or tuple(_SERVICES):
        port = _SERVICES[what]
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
    """A fleet for tests that run on PostgreSQL and Redis (skipped when they are not running)."""
    require_services()
    with Fleet(tmp_path) as started:
        yield started


@pytest.fixture
def local_fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A fleet for tests that need neither PostgreSQL nor Redis (servers on SQLite)."""
    with Fleet(tmp_path) as started:
        yield started


@pytest.fixture(scope="module")
def module_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A fleet whose servers the tests of a module share (each start costs seconds); no PostgreSQL or
    Redis needed. With :func:`new_logs_of_each_test`, each test prints what was written in its time."""
    with Fleet(tmp_path_factory.mktemp("fleet")) as started:
        yield started


@pytest.fixture(autouse=True)
def new_logs_of_each_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """For the tests that use :func:`module_fleet` (import this next to it in a conftest.py)."""
    if "module_fleet" not in request.fixturenames:
        yield
        return
    shared: Fleet = request.getfixturevalue("module_fleet")
    with shared.printing_new_logs():
        yield
