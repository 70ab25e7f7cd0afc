"""How SQL work reaches the database: one call per port method, whatever the driver.

Queries are written once, as plain functions of a synchronous SQLAlchemy ``Connection``.

- SQLite (:class:`ThreadRunner`): a synchronous pysqlite engine driven from ONE dedicated thread. A port
  method costs one hop between the event loop and that thread, where aiosqlite would cost several per
  statement (cursor, execute, fetch, close, begin, commit), which capped refresh rotations near 80/s.
  SQLite serialises writers anyway, so one thread loses nothing. Other processes wait on busy_timeout.
- PostgreSQL (:class:`AsyncRunner`): the asyncpg engine; the same functions run through ``run_sync``.

Both wrap driver errors into StorageError; a transaction that raises is rolled back.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from jwtgate.errors import ConfigError, JwtgateError, StorageError

__all__ = ["AsyncRunner", "Runner", "ThreadRunner", "create_runner"]

T = TypeVar("T")
Work = Callable[[sa.Connection], T]

SQLITE_BUSY_TIMEOUT_MS = 5000
# PostgreSQL that stops answering without refusing (a network partition, a hung server) must not hang
# requests: a connection attempt gives up after this many seconds, a statement after the next (both
# end as StorageError: 503). Every statement here is short; the longest wait is the migration lock.
PG_CONNECT_TIMEOUT = 5.0
PG_STATEMENT_TIMEOUT = 10.0


class Runner(Protocol):
    dialect: str

    async def read(self, work: Work[T]) -> T: ...

    async def write(self, work: Work[T]) -> T:
        """Run ``work`` in one transaction: committed when it returns, rolled back when it raises."""

    async def close(self) -> None: ...


def _wrap(err: Exception, where: str = "the database") -> StorageError:
    if isinstance(err, sa.exc.IntegrityError):
        return StorageError("a uniqueness or reference constraint failed")
    return StorageError(_describe(err, where))


def _causes(err: BaseException) -> list[BaseException]:
    """The error, the driver's error SQLAlchemy wraps, and what they were raised from."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [err]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is known for known in seen) or len(seen) > 10:
            continue
        seen.append(current)
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return seen


def _describe(err: BaseException, where: str) -> str | None:
    """What failed and how to fix it, from the driver's error. Names the database by ``where`` (a file
    path, or host, port and name: never a password) and never quotes the driver's message (it may
    quote SQL or values)."""
    for cause in _causes(err):
        name = type(cause).__name__
        text = str(cause).lower()
        if name == "InvalidPasswordError":
            return (
                f"PostgreSQL at {where} refused the password: fix the password in JWTGATE_DATABASE_URL "
                "(or --database-url)"
            )
        if name == "InvalidAuthorizationSpecificationError":
            return (
                f"PostgreSQL at {where} refused the user (no such role, or not allowed by pg_hba.conf): "
                "fix the user in JWTGATE_DATABASE_URL or the server's access rules"
            )
        if name == "InvalidCatalogNameError":
            return (
                f"the PostgreSQL database {where} does not exist: create it (e.g. `createdb`), "
                "then run `jwtgate init`"
            )
        if isinstance(cause, ConnectionRefusedError):
            return (
                f"cannot connect to the database at {where}: connection refused; is the server running, "
                "and are the host and port of JWTGATE_DATABASE_URL right?"
            )
        if isinstance(cause, TimeoutError):
            return f"the database at {where} did not answer in time: is it reachable from here?"
        if isinstance(cause, OSError) and ("name or service" in text or "address" in text):
            return f"cannot reach the database at {where}: {cause.strerror or 'network error'}"
        if name == "OperationalError" and "readonly" in text:
            return (
                f"cannot write the SQLite database {where}: the file or its folder is read-only; give the "
                "user running jwtgate write access to both, or choose another --data-dir"
            )
        if name == "OperationalError" and "unable to open database file" in text:
            return (
                f"cannot open the SQLite database {where}: the file or its folder is read-only for this "
                "user (SQLite writes next to the file, even to read), or the folder is missing; fix the "
                "permissions or choose another --data-dir"
            )
        if name == "OperationalError" and "database is locked" in text:
            return (
                f"the SQLite database {where} stayed locked by another process for "
                f"{SQLITE_BUSY_TIMEOUT_MS // 1000} s: is a command stuck on it?"
            )
        if name == "OperationalError" and "disk" in text:
            return f"the SQLite database {where} hit a disk error (full, or an I/O failure)"
    return f"the database at {where} failed ({type(err).__name__})"


class ThreadRunner:
    """A sync engine used from a single worker thread (SQLite)."""

    dialect = "sqlite"

    def __init__(self, engine: sa.Engine, where: str = "the database") -> None:
        self._engine = engine
        self._where = where
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="jwtgate-sqlite"
        )
        self._conn: sa.Connection | None = None
        self._closed = False

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._executor, fn)
        except RuntimeError as err:  # the executor was shut down by close()
            raise StorageError("the store is closed") from err
        return await future

    def _connection(self) -> sa.Connection:
        # Only ever called on the worker thread: one long-lived connection, no pool round trip.
        if self._conn is None or self._conn.closed:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def read(self, work: Work[T]) -> T:
        def unit() -> T:
            try:
                return work(self._connection())
            except JwtgateError:
                raise
            except (sa.exc.SQLAlchemyError, OSError) as err:
                raise _wrap(err, self._where) from err

        return await self._run(unit)

    async def write(self, work: Work[T]) -> T:
        def unit() -> T:
            try:
                conn = self._connection()
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
                return result
            except JwtgateError:
                raise
            except (sa.exc.SQLAlchemyError, OSError) as err:
                raise _wrap(err, self._where) from err

        return await self._run(unit)

    async def close(self) -> None:
        if self._closed:  # idempotent, like the async runner and the memory store
            return
        self._closed = True

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._engine.dispose()

        await self._run(shut)
        self._executor.shutdown(wait=True)


class AsyncRunner:
    """An async engine (PostgreSQL via asyncpg).

    No pre-ping (a round trip per checkout). A connection the server dropped while it sat in the pool
    (a database restart, a network blip) fails its first statement as a disconnect: SQLAlchemy then
    invalidates it and every pooled connection older than it, and the runner retries ONCE on a fresh
    connection, when that is safe: a read, or a write whose work had not finished (nothing was
    committed; a drop during the COMMIT is not retried, its outcome is unknown). So the first requests
    after a blip succeed instead of answering 503 (tests/integration/test_faults.py).
    """

    def __init__(self, engine: AsyncEngine, dsn: str | None = None, where: str = "the database") -> None:
        self._engine = engine
        self._where = where
        # A plain asyncpg pool for single-statement hot paths (refresh rotation): no SQLAlchemy layer,
        # no greenlet switch, asyncpg's own prepared-statement cache. Opened on first use.
        self._dsn = dsn
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        # Reads are single statements: in autocommit they cost one round trip instead of three
        # (BEGIN, the query, ROLLBACK). Same pool.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.dialect = engine.dialect.name
        self._closed = False

    def _check_open(self) -> None:
        # A disposed engine would silently open new connections; a closed store must not.
        if self._closed:
            raise StorageError("the store is closed")

    async def read(self, work: Work[T]) -> T:
        self._check_open()
        for attempt in range(2):
            try:
                async with self._autocommit.connect() as conn:
                    return await conn.run_sync(work)
            except JwtgateError:
                raise
            except sa.exc.DBAPIError as err:
                if attempt == 0 and err.connection_invalidated:
                    continue  # see the class docstring: a read is always safe to run again
                raise _wrap(err, self._where) from err
            except (sa.exc.SQLAlchemyError, OSError) as err:
                raise _wrap(err, self._where) from err
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetch(self, sql: str, *args: object) -> list[Any]:
        """Run ONE statement (``$1``-style parameters) in autocommit on the asyncpg pool: atomic on its
        own, one round trip, no BEGIN/COMMIT. For hot paths written as a single statement."""
        self._check_open()
        import asyncpg

        try:
            pool = self._pool if self._pool is not None else await self._open_pool()
            return list(await pool.fetch(sql, *args))
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as err:
            raise StorageError(_describe(err, self._where)) from err

    async def _open_pool(self) -> Any:
        import asyncpg

        async with self._pool_lock:
            if self._pool is None:
                if self._dsn is None:
                    raise StorageError("no DSN for the asyncpg pool")
                # No reset round trip on release: these connections only ever run single autocommit
                # statements, which leave no session state behind. No connection floor (min_size 0):
                # asyncpg restores a floor in the background and logs a traceback for every failed
                # attempt while the database is out of reach; idle connections are kept anyway.
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,
                    max_size=10,
                    timeout=PG_CONNECT_TIMEOUT,
                    command_timeout=PG_STATEMENT_TIMEOUT,
                    reset=_no_reset,
                )
            return self._pool

    async def write(self, work: Work[T]) -> T:
        self._check_open()
        for attempt in range(2):
            finished = False

            def tracked(conn: sa.Connection) -> T:
                nonlocal finished
                result = work(conn)
                finished = True  # from here on only the COMMIT is left, whose outcome a drop hides
                return result

            try:
                async with self._engine.begin() as conn:
                    return await conn.run_sync(tracked)
            except JwtgateError:
                raise
            except sa.exc.DBAPIError as err:
                if attempt == 0 and err.connection_invalidated and not finished:
                    continue  # see the class docstring: nothing was committed, the transaction runs again
                raise _wrap(err, self._where) from err
            except (sa.exc.SQLAlchemyError, OSError) as err:
                raise _wrap(err, self._where) from err
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._engine.dispose()


async def _no_reset(connection: Any) -> None:
    return None


def create_runner(url: str) -> Runner:
    """A runner for a ``sqlite+aiosqlite`` (or ``sqlite``) or ``postgresql+asyncpg`` URL."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as err:
        raise ConfigError("invalid database URL") from err
    driver = parsed.drivername
    if driver in ("sqlite+aiosqlite", "sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError("SQLite needs a file path (use memory:// for an in-memory store)")
        engine = sa.create_engine(
            parsed.set(drivername="sqlite+pysqlite"),
            poolclass=sa.pool.SingletonThreadPool,
            # isolation_level=None: the driver never opens transactions itself. Reads run in
            # autocommit (each is one SELECT); writes open with BEGIN IMMEDIATE (ThreadRunner.write).
            connect_args={"check_same_thread": False, "isolation_level": None},
        )
        _configure_sqlite(engine, parsed.database)
        return ThreadRunner(engine, parsed.database)
    if driver == "postgresql+asyncpg":
        # No pre-ping (a round trip per checkout): a connection the server dropped fails that one call
        # with StorageError (503) and is discarded; connections are recycled after 30 minutes.
        dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        async_engine = create_async_engine(
            parsed,
            pool_size=10,
            max_overflow=10,
            pool_recycle=1800,
            connect_args={"timeout": PG_CONNECT_TIMEOUT, "command_timeout": PG_STATEMENT_TIMEOUT},
        )
        return AsyncRunner(async_engine, dsn, _server_location(parsed))
    raise ConfigError(f"unsupported database driver {driver!r}: use sqlite+aiosqlite or postgresql+asyncpg")


def _server_location(url: sa.URL) -> str:
    """user@host:port/database, for messages: never the password."""
    user = f"{url.username}@" if url.username else ""
    return f"{user}{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"


def _configure_sqlite(engine: sa.Engine, path: str) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # Password hashes and token digests live here: owner-only, whatever the umask (the WAL and
        # shared-memory files exist once WAL mode is on).
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(path + suffix, 0o600)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL is durable across application crashes in WAL mode; only an OS crash may lose the
        # last transactions, never corrupt the database.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
