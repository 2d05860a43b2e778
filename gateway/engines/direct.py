"""The direct route: a statement whose rewritten form touches one PostgreSQL source runs straight
on that database over an asyncpg pool, skipping the federating engine — the same policy views,
rendered in the PostgreSQL dialect, at a fraction of the latency for per-person lookups.

The pools live on one private event loop thread, so synchronous callers (the CLI, the HTTP
service's worker threads) can use them; rows are fetched page by page through a server-side
cursor inside a read-only transaction, so memory is bounded by the page size.
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
        self._lock = threading.Lock()
        self._loop = _Loop()

    def serves(self, source: str) -> bool:
        return source in self._sources

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        try:
            return self._loop.run(coro, self._timeout)
        except FutureTimeout:
            raise EngineError("the direct route timed out") from None

    def execute(self, sql: str, source: str) -> DirectResult:
        pool = self._pool(source)
        try:
            return self._open(pool, sql)
        except CONNECTION_ERRORS:
            # Pooled connections may predate a restart of the database: drop them, try once.
            self.call(pool.expire_connections())
        try:
            return self._open(pool, sql)
        except CONNECTION_ERRORS:
            raise SourceError(source, "is unreachable") from None

    def _open(self, pool: Any, sql: str) -> DirectResult:
        try:
            return self.call(self._open_cursor(pool, sql))
        except asyncpg.PostgresError as err:
            if isinstance(err, asyncpg.PostgresConnectionError):
                raise
            raise EngineError(f"the source rejected the statement ({type(err).__name__})") from None

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
                timeout=self._timeout, command_timeout=self._timeout)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            raise SourceError(source.name, "is unreachable or refused the connection") from None

    def close(self) -> None:
        for pool in list(self._pools.values()):
            with contextlib.suppress(EngineError, OSError, asyncpg.PostgresError):
                self.call(pool.close())
        self._pools.clear()
        self._loop.stop()
