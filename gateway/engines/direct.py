"""The direct route: a statement whose rewritten form touches one PostgreSQL source runs straight
on that database over an asyncpg pool, skipping the federating engine — the same policy views,
rendered in the PostgreSQL dialect, at a fraction of the latency for per-person lookups.

The pools live on one private event loop thread, so synchronous callers (the CLI, the HTTP
service's worker threads) can use them. Every pooled session is read-only by default
(``default_transaction_read_only``; the pool's reset on release restores it). A statement first
runs in one hop to the loop (:meth:`DirectEngine.fetch`): one execute that stops after a page
and one row, so a small result — a per-person lookup — comes back whole, the connection already
returned to the pool. A larger one runs again through a server-side cursor inside a read-only
transaction (:meth:`DirectEngine.execute`), page by page, so memory stays bounded by the page
size.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import asyncpg

from catalog.errors import SourceError
from catalog.models import Source
from gateway.engines import ResultColumn
from gateway.errors import EngineError

T = TypeVar("T")

CONNECTION_ERRORS = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                     ConnectionError)
PG_TYPES = {
    "int8": "BIGINT", "int4": "INTEGER", "int2": "SMALLINT", "numeric": "DECIMAL",
    "varchar": "VARCHAR", "text": "VARCHAR", "bpchar": "VARCHAR", "date": "DATE",
    "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP WITH TIME ZONE", "bool": "BOOLEAN",
    "float8": "DOUBLE", "float4": "REAL", "time": "TIME",
}


def column_type(attribute: Any) -> str:
    """A result attribute's PostgreSQL type as the gateway's type name."""
    name = str(attribute.type.name)
    return PG_TYPES.get(name, name.upper())


class _Loop:
    """One event loop on a daemon thread, shared by every pool of the direct route."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                       name="shuqiao-direct")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class FetchedResult:
    """A whole result, fetched before it is handed over: no cursor, no connection held."""

    def __init__(self, columns: tuple[ResultColumn, ...], rows: list[tuple[object, ...]]) -> None:
        self.columns = columns
        self.rows = rows

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        start = 0
        while start < len(self.rows):  # until the end, or until cancelled
            yield self.rows[start:start + size]
            start += max(1, size)

    def cancel(self) -> None:
        self.rows = []


async def fetch_at_most(connection: Any, sql: str, limit: int,
                        timeout: float) -> tuple[tuple[ResultColumn, ...], list[Any]]:
    """The columns of ``sql`` and at most ``limit`` of its rows, in one execute: asyncpg's
    ``fetchrow`` path (a portal row limit) with a larger limit, which its public API does not
    offer. The statement is unnamed, so nothing stays prepared on the server for a text that
    holds its values."""
    state = await connection._get_statement(sql, timeout, named="", use_cache=False)
    rows = await connection._protocol.bind_execute(
        state=state, args=(), portal_name="", limit=limit, return_extra=False, timeout=timeout)
    columns = tuple(ResultColumn(a.name, column_type(a)) for a in state._get_attributes())
    return columns, rows


class DirectResult:
    def __init__(self, engine: DirectEngine, pool: Any, connection: Any, transaction: Any,
                 cursor: Any, columns: tuple[ResultColumn, ...]) -> None:
        self._engine = engine
        self._pool = pool
        self._connection = connection
        self._transaction = transaction
        self._cursor = cursor
        self._open = True
        self.columns = columns

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        try:
            while self._open:
                records = self._engine.call(self._cursor.fetch(size))
                if not records:
                    break
                yield [tuple(r) for r in records]
        finally:
            self.close()

    def cancel(self) -> None:
        self.close()

    def close(self) -> None:
        if self._open:
            self._open = False
            self._engine.release(self._pool, self._connection, self._transaction)


def _released(task: asyncio.Task[None]) -> None:
    """A connection that fails its reset is closed by the pool, which opens another."""
    if not task.cancelled():
        task.exception()


@contextlib.contextmanager
def _rejections() -> Iterator[None]:
    """A statement the source refuses, reduced to its class (the message may quote values)."""
    try:
        yield
    except asyncpg.PostgresError as err:
        if isinstance(err, asyncpg.PostgresConnectionError):
            raise
        raise EngineError(f"the source rejected the statement ({type(err).__name__})") from None


class DirectEngine:
    """asyncpg pools per PostgreSQL source; ``execute(sql, source)`` runs on that source."""

    name = "direct"
    dialect = "postgres"

    def __init__(self, sources: list[Source], password: Callable[[Source], str | None], *,
                 pool_size: int = 4, timeout_s: float = 10.0) -> None:
        self._sources = {s.name: s for s in sources}
        self._password = password
        self._pool_size = pool_size
        self._timeout = timeout_s
        self._pools: dict[str, Any] = {}
        self._releasing: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._loop = _Loop()

    def serves(self, source: str) -> bool:
        return source in self._sources

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._loop.run(coro, self._timeout)
        except FutureTimeout:
            raise EngineError("the direct route timed out") from None

    def fetch(self, sql: str, source: str, limit: int) -> FetchedResult | None:
        """Run ``sql`` on ``source`` in one hop and return its whole result when it has at most
        ``limit`` rows; ``None`` when it has more (then run it with :meth:`execute`)."""
        return self._on(source, lambda pool: self._fetch(pool, sql, limit))

    def execute(self, sql: str, source: str) -> DirectResult:
        """Run ``sql`` on ``source`` through a cursor, to read page by page."""
        return self._on(source, lambda pool: self._open(pool, sql))

    def _on(self, source: str, run: Callable[[Any], T]) -> T:
        pool = self._pool(source)
        try:
            return run(pool)
        except CONNECTION_ERRORS:
            # Pooled connections may predate a restart of the database: drop them, try once.
            self.call(pool.expire_connections())
        try:
            return run(pool)
        except CONNECTION_ERRORS:
            raise SourceError(source, "is unreachable") from None

    def _fetch(self, pool: Any, sql: str, limit: int) -> FetchedResult | None:
        with _rejections():
            return self.call(self._fetch_rows(pool, sql, limit))

    async def _fetch_rows(self, pool: Any, sql: str, limit: int) -> FetchedResult | None:
        connection = await pool.acquire()
        try:
            columns, records = await fetch_at_most(connection, sql, limit + 1, self._timeout)
        finally:
            self._give_back(pool, connection)
        if len(records) > limit:
            return None
        return FetchedResult(columns, [tuple(r) for r in records])

    async def _settle(self) -> None:
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    def _give_back(self, pool: Any, connection: Any) -> None:
        """Return a connection to its pool without waiting: the pool resets its session (a
        round trip) before anyone acquires it again, while the caller goes on with the rows."""
        task = asyncio.get_running_loop().create_task(pool.release(connection))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)
        task.add_done_callback(_released)

    def _open(self, pool: Any, sql: str) -> DirectResult:
        with _rejections():
            return self.call(self._open_cursor(pool, sql))

    async def _open_cursor(self, pool: Any, sql: str) -> DirectResult:
        connection = await pool.acquire()
        try:
            transaction = connection.transaction(readonly=True)
            await transaction.start()
            statement = await connection.prepare(sql)
            cursor = await statement.cursor()
        except BaseException:
            await pool.release(connection)
            raise
        columns = tuple(ResultColumn(a.name, column_type(a)) for a in statement.get_attributes())
        return DirectResult(self, pool, connection, transaction, cursor, columns)

    def release(self, pool: Any, connection: Any, transaction: Any) -> None:
        async def finish() -> None:
            try:
                await transaction.rollback()
            finally:
                await pool.release(connection)

        # A failure here means the connection is gone; the pool replaces it.
        with contextlib.suppress(EngineError, asyncpg.PostgresError, OSError):
            self.call(finish())

    def _pool(self, source: str) -> Any:
        with self._lock:
            pool = self._pools.get(source)
            if pool is None:
                pool = self.call(self._create_pool(self._sources[source]))
                self._pools[source] = pool
            return pool

    async def _create_pool(self, source: Source) -> Any:
        options = source.options
        try:
            return await asyncpg.create_pool(
                host=options.get("host", "127.0.0.1"), port=int(options.get("port", "5432")),
                database=options.get("database", source.name), user=options.get("user"),
                password=self._password(source), min_size=1, max_size=self._pool_size,
                timeout=self._timeout, command_timeout=self._timeout,
                server_settings={"default_transaction_read_only": "on"})
        except (OSError, asyncpg.PostgresError, TimeoutError):
            raise SourceError(source.name, "is unreachable or refused the connection") from None

    def close(self) -> None:
        with contextlib.suppress(EngineError):
            self.call(self._settle())  # connections still being given back, before the pools go
        for pool in list(self._pools.values()):
            with contextlib.suppress(EngineError, OSError, asyncpg.PostgresError):
                self.call(pool.close())
        self._pools.clear()
        self._loop.stop()
