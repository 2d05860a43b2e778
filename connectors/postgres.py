"""PostgreSQL sources, through asyncpg. DuckDB reads them with ``postgres_scanner``, Trino with
its ``postgresql`` connector.

Options: ``host``, ``port`` (5432), ``database``, ``user``, ``password_ref`` and ``schema``
(``public``): the one schema whose tables and views the catalog lists.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import asyncpg

from catalog.errors import SourceError
from catalog.models import Source, Table
from connectors.base import (
    CONNECT_TIMEOUT,
    Attachment,
    ColumnRow,
    Endpoint,
    Failure,
    Health,
    SourceUnavailable,
    conninfo,
    network_options,
    parse_dsn,
    register,
    resolve_password,
    run_sync,
    sized,
    tables_from_columns,
    trino_secret,
    without_secret,
)

DEFAULT_PORT = 5432
DEFAULT_SCHEMA = "public"

COLUMNS_QUERY = """
SELECT c.table_name, c.column_name, c.data_type, c.character_maximum_length,
       c.numeric_precision, c.numeric_scale
FROM information_schema.columns c
JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
WHERE c.table_schema = $1 AND t.table_type IN ('BASE TABLE', 'VIEW')
ORDER BY c.table_name, c.ordinal_position
"""

SCHEMA_QUERY = "SELECT 1 FROM pg_namespace WHERE nspname = $1"

FRESHNESS_QUERY = """
SELECT last_analyze, last_autoanalyze, last_vacuum, last_autovacuum
FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = $2
"""

_SIMPLE_TYPES = {
    "text": "VARCHAR",
    "date": "DATE",
    "timestamp without time zone": "TIMESTAMP",
    "timestamp with time zone": "TIMESTAMP WITH TIME ZONE",
    "time without time zone": "TIME",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "double precision": "DOUBLE",
    "real": "REAL",
    "boolean": "BOOLEAN",
    "bytea": "VARBINARY",
    "jsonb": "JSON",
}


def column_type(data_type: str, length: int | None, precision: int | None,
                scale: int | None) -> str:
    """An ``information_schema.columns`` type as the catalog spells it: ``VARCHAR(18)``,
    ``CHAR(1)``, ``DECIMAL(10,2)``, ``TIMESTAMP``..."""
    if data_type == "character varying":
        return sized("VARCHAR", length)
    if data_type == "character":
        return sized("CHAR", length)
    if data_type == "numeric":
        return sized("DECIMAL", precision, scale if precision is not None else None)
    return _SIMPLE_TYPES.get(data_type, data_type.upper())


def column_rows(records: Iterable[Sequence[Any]]) -> list[ColumnRow]:
    """Rows of :data:`COLUMNS_QUERY` as (table, column, catalog type)."""
    return [(str(r[0]), str(r[1]), column_type(str(r[2]), r[3], r[4], r[5])) for r in records]


def latest(stamps: Iterable[datetime | None]) -> datetime | None:
    """The most recent of the statistics' timestamps, in UTC; ``None`` when there are none."""
    known = [s.astimezone(UTC) for s in stamps if s is not None]
    return max(known, default=None)


def failure_of(error: BaseException) -> Failure:
    """What a connection error means to an operator."""
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError):
        return Failure.BAD_CREDENTIALS
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        return Failure.MISSING_DATABASE
    if isinstance(error, OSError | TimeoutError):
        return Failure.UNREACHABLE
    return Failure.FAILED


def failure_detail(failure: Failure, where: Endpoint, error: BaseException) -> str:
    if failure is Failure.UNREACHABLE:
        reason = "timed out" if isinstance(error, TimeoutError) else _os_reason(error)
        return f"no PostgreSQL server answers at {where.address} ({reason})"
    if failure is Failure.BAD_CREDENTIALS:
        return f"PostgreSQL at {where.address} refused user {where.user!r} (check password_ref)"
    if failure is Failure.MISSING_DATABASE:
        return f"database {where.database!r} does not exist on {where.address}"
    return f"PostgreSQL at {where.address} failed ({type(error).__name__})"


def _os_reason(error: BaseException) -> str:
    return (error.strerror if isinstance(error, OSError) else None) or "connection failed"


class PostgresConnector:
    kind: ClassVar[str] = "postgres"
    dialect: ClassVar[str] = "postgres"
    physical_schema_default: ClassVar[str] = DEFAULT_SCHEMA
    trino_connector: ClassVar[str | None] = "postgresql"
    schemes: ClassVar[tuple[str, ...]] = ("postgresql", "postgres")

    def options_from_dsn(self, dsn: str) -> dict[str, str]:
        parsed = parse_dsn(dsn, self.schemes, DEFAULT_PORT)
        unknown = sorted(set(parsed.params) - {"schema"})
        if unknown:
            raise ValueError(f"unknown DSN parameter(s): {', '.join(unknown)}; known: schema")
        return network_options(parsed, schema=parsed.params.get("schema", DEFAULT_SCHEMA))

    def schema(self, source: Source) -> str:
        return source.options.get("schema") or DEFAULT_SCHEMA

    def attachment(self, source: Source) -> Attachment:
        where = Endpoint.of(source, DEFAULT_PORT)
        target = conninfo({
            "host": where.host, "port": str(where.port), "dbname": where.database,
            "user": where.user, "password": resolve_password(source),
        })
        return Attachment(source.name, "postgres", target, "postgres_scanner")

    def introspect(self, source: Source) -> list[Table]:
        rows = run_sync(self._fetch(source, COLUMNS_QUERY, self.schema(source)))
        return tables_from_columns(source.name, self.schema(source), column_rows(rows))

    def check(self, source: Source) -> Health:
        try:
            latency = run_sync(self._ping(source))
        except SourceError as error:
            return Health.failed(source, error)
        return Health(source.name, source.kind, True, latency_ms=latency)

    def freshness(self, source: Source, table: Table) -> datetime | None:
        rows = run_sync(self._fetch(source, FRESHNESS_QUERY, table.physical_schema,
                                    table.physical))
        return latest(rows[0]) if rows else None

    def trino_properties(self, source: Source) -> dict[str, str]:
        where = Endpoint.of(source, DEFAULT_PORT)
        properties = {
            "connector.name": "postgresql",
            "connection-url": f"jdbc:postgresql://{where.address}/{where.database}",
            "connection-user": where.user,
        }
        if source.options.get("password_ref"):
            properties["connection-password"] = trino_secret(source)
        return properties

    async def _ping(self, source: Source) -> float:
        async with connect(source) as connection:
            start = time.perf_counter()
            await connection.fetchval("SELECT 1")
            latency = (time.perf_counter() - start) * 1000
            schema = self.schema(source)
            if not await connection.fetchval(SCHEMA_QUERY, schema):
                where = Endpoint.of(source, DEFAULT_PORT)
                raise SourceUnavailable(source.name, Failure.MISSING_DATABASE,
                                        f"schema {schema!r} does not exist in database"
                                        f" {where.database!r} on {where.address}")
            return latency

    async def _fetch(self, source: Source, query: str, *args: object) -> list[tuple[Any, ...]]:
        async with connect(source) as connection:
            try:
                return [tuple(r) for r in await connection.fetch(query, *args)]
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                raise SourceError(source.name, f"query failed ({type(error).__name__})") from None


@asynccontextmanager
async def connect(source: Source, *, database: str | None = None,
                  timeout: float = CONNECT_TIMEOUT) -> AsyncIterator[asyncpg.Connection]:
    """A connection to ``source`` (or another database on its server), errors explained."""
    where = Endpoint.of(source, DEFAULT_PORT)
    if database is not None:
        where = dataclasses.replace(where, database=database)
    password = resolve_password(source)
    try:
        connection = await asyncpg.connect(
            host=where.host, port=where.port, user=where.user, password=password,
            database=where.database, timeout=timeout,
        )
    except Exception as error:  # any failure to connect is reported the same explained way
        failure = failure_of(error)
        detail = without_secret(failure_detail(failure, where, error), password)
        raise SourceUnavailable(source.name, failure, detail) from None
    try:
        yield connection
    finally:
        await connection.close()


register(PostgresConnector())
