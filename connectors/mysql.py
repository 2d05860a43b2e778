"""MySQL and MariaDB sources, through asyncmy. DuckDB reads both with ``mysql_scanner``.

Two kinds share one body: ``mysql`` uses Trino's ``mysql`` connector, ``mariadb`` Trino's
``mariadb`` connector (MariaDB Connector/J). With Trino 476 both plugins read a MariaDB 10.11
server correctly; ``mariadb`` is the one Trino documents for MariaDB, ``mysql`` the one that
also reads MySQL 8 servers.

Options: ``host``, ``port`` (3306), ``database``, ``user``, ``password_ref``. A MySQL database
is what other systems call a schema, so the catalog's physical schema is the database name.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import asyncmy
import asyncmy.connection
from asyncmy.errors import MySQLError

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

DEFAULT_PORT = 3306

COLUMNS_QUERY = """
SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.CHARACTER_MAXIMUM_LENGTH,
       c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.COLUMN_TYPE
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t
  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = %s AND t.TABLE_TYPE IN ('BASE TABLE', 'VIEW', 'SYSTEM VERSIONED')
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION
"""

FRESHNESS_QUERY = """
SELECT UNIX_TIMESTAMP(COALESCE(UPDATE_TIME, CREATE_TIME))
FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
"""

# Client error codes (CR_*) and server error codes (ER_*) an operator can act on.
_UNREACHABLE_CODES = frozenset({2002, 2003, 2005, 2006, 2013})
_CREDENTIAL_CODES = frozenset({1045, 1698})
# 1044: the password was right but the database is not there for this user; the server does
# not say whether it exists (so that its existence does not leak).
_MISSING_DATABASE_CODES = frozenset({1044, 1049})

_SIMPLE_TYPES = {
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "timestamp": "TIMESTAMP",
    "time": "TIME",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "double": "DOUBLE",
    "float": "REAL",
    "json": "JSON",
}
_TEXT_TYPES = frozenset({"tinytext", "text", "mediumtext", "longtext", "enum", "set"})
_BINARY_TYPES = frozenset({"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"})
# An unsigned integer needs the next wider signed type.
_INTEGER_TYPES = {
    "bigint": ("BIGINT", "DECIMAL(20,0)"),
    "int": ("INTEGER", "BIGINT"),
    "mediumint": ("INTEGER", "INTEGER"),
}


def column_type(data_type: str, length: int | None, precision: int | None,
                scale: int | None, column_type_text: str = "") -> str:
    """An ``information_schema.COLUMNS`` type as the catalog spells it."""
    kind = data_type.lower()
    if kind in ("varchar", "char"):
        return sized(kind.upper(), length)
    if kind == "decimal":
        return sized("DECIMAL", precision, scale if precision is not None else None)
    if kind in _INTEGER_TYPES:
        signed, unsigned = _INTEGER_TYPES[kind]
        return unsigned if "unsigned" in column_type_text.lower() else signed
    if kind in _TEXT_TYPES:
        return "VARCHAR"
    if kind in _BINARY_TYPES:
        return "VARBINARY"
    if kind == "bit":
        return "BOOLEAN" if length in (None, 1) and precision in (None, 1) else "BIGINT"
    return _SIMPLE_TYPES.get(kind, kind.upper())


def column_rows(records: Iterable[Sequence[Any]]) -> list[ColumnRow]:
    """Rows of :data:`COLUMNS_QUERY` as (table, column, catalog type)."""
    return [
        (str(r[0]), str(r[1]), column_type(str(r[2]), r[3], r[4], r[5], str(r[6] or "")))
        for r in records
    ]


def from_epoch(value: int | float | Decimal | None) -> datetime | None:
    """``UNIX_TIMESTAMP(...)`` as an aware UTC datetime (the server's time zone cancels out)."""
    return None if value is None else datetime.fromtimestamp(float(value), UTC)


def error_code(error: BaseException) -> int | None:
    code = error.args[0] if error.args else None
    return code if isinstance(code, int) else None


def failure_of(error: BaseException) -> Failure:
    """What a connection error means to an operator."""
    code = error_code(error)
    if isinstance(error, OSError | TimeoutError) or code in _UNREACHABLE_CODES:
        return Failure.UNREACHABLE
    if code in _CREDENTIAL_CODES:
        return Failure.BAD_CREDENTIALS
    if code in _MISSING_DATABASE_CODES:
        return Failure.MISSING_DATABASE
    return Failure.FAILED


def failure_detail(failure: Failure, where: Endpoint, error: BaseException) -> str:
    if failure is Failure.UNREACHABLE:
        reason = "timed out" if isinstance(error, TimeoutError) else "connection refused or lost"
        return f"no MySQL/MariaDB server answers at {where.address} ({reason})"
    if failure is Failure.BAD_CREDENTIALS:
        return (f"MySQL/MariaDB at {where.address} refused user {where.user!r}"
                " (check password_ref)")
    if failure is Failure.MISSING_DATABASE and error_code(error) == 1044:
        return (f"database {where.database!r} on {where.address} does not exist or user"
                f" {where.user!r} has no access to it")
    if failure is Failure.MISSING_DATABASE:
        return f"database {where.database!r} does not exist on {where.address}"
    code = error_code(error)
    return f"MySQL/MariaDB at {where.address} failed (error {code or type(error).__name__})"


class MySQLConnector:
    kind: ClassVar[str] = "mysql"
    dialect: ClassVar[str] = "mysql"
    physical_schema_default: ClassVar[str] = ""  # the database's own name
    trino_connector: ClassVar[str | None] = "mysql"
    jdbc_scheme: ClassVar[str] = "mysql"
    schemes: ClassVar[tuple[str, ...]] = ("mysql",)

    def options_from_dsn(self, dsn: str) -> dict[str, str]:
        parsed = parse_dsn(dsn, self.schemes, DEFAULT_PORT)
        if parsed.params:
            raise ValueError(f"unknown DSN parameter(s): {', '.join(sorted(parsed.params))}")
        return network_options(parsed)

    def attachment(self, source: Source) -> Attachment:
        where = Endpoint.of(source, DEFAULT_PORT)
        target = conninfo({
            "host": where.host, "port": str(where.port), "database": where.database,
            "user": where.user, "password": resolve_password(source),
        }, quote='"')
        return Attachment(source.name, "mysql", target, "mysql_scanner")

    def introspect(self, source: Source) -> list[Table]:
        database = Endpoint.of(source, DEFAULT_PORT).database
        rows = run_sync(self._fetch(source, COLUMNS_QUERY, database))
        return tables_from_columns(source.name, database, column_rows(rows))

    def check(self, source: Source) -> Health:
        try:
            latency = run_sync(self._ping(source))
        except SourceError as error:
            return Health.failed(source, error)
        return Health(source.name, source.kind, True, latency_ms=latency)

    def freshness(self, source: Source, table: Table) -> datetime | None:
        rows = run_sync(self._fetch(source, FRESHNESS_QUERY, table.physical_schema,
                                    table.physical))
        return from_epoch(rows[0][0]) if rows else None

    def trino_properties(self, source: Source) -> dict[str, str]:
        where = Endpoint.of(source, DEFAULT_PORT)
        properties = {
            "connector.name": str(self.trino_connector),
            "connection-url": f"jdbc:{self.jdbc_scheme}://{where.address}",
            "connection-user": where.user,
        }
        if source.options.get("password_ref"):
            properties["connection-password"] = trino_secret(source)
        return properties

    async def _ping(self, source: Source) -> float:
        async with connect(source) as connection, connection.cursor() as cursor:
            start = time.perf_counter()
            await cursor.execute("SELECT 1")
            await cursor.fetchall()
            return (time.perf_counter() - start) * 1000

    async def _fetch(self, source: Source, query: str, *args: object) -> list[tuple[Any, ...]]:
        async with connect(source) as connection, connection.cursor() as cursor:
            try:
                await cursor.execute(query, args)
                return list(await cursor.fetchall())
            except (MySQLError, OSError) as error:
                code = error_code(error) or type(error).__name__
                raise SourceError(source.name, f"query failed (error {code})") from None


class MariaDBConnector(MySQLConnector):
    kind: ClassVar[str] = "mariadb"
    trino_connector: ClassVar[str | None] = "mariadb"
    jdbc_scheme: ClassVar[str] = "mariadb"
    schemes: ClassVar[tuple[str, ...]] = ("mariadb", "mysql")


@asynccontextmanager
async def connect(source: Source, *, database: str | None = None, local_infile: bool = False,
                  timeout: float = CONNECT_TIMEOUT) -> AsyncIterator[Any]:
    """A connection to ``source`` (``database=""`` for none), errors explained."""
    where = Endpoint.of(source, DEFAULT_PORT)
    if database is not None:
        where = dataclasses.replace(where, database=database)
    password = resolve_password(source)
    try:
        connection = await asyncmy.connect(
            host=where.host, port=where.port, user=where.user, password=password or "",
            db=where.database or None, connect_timeout=timeout, charset="utf8mb4",
            local_infile=local_infile, autocommit=True,
            init_command="SET SESSION sql_notes = 0",  # no "table does not exist" log noise
        )
    except Exception as error:  # any failure to connect is reported the same explained way
        failure = failure_of(error)
        detail = without_secret(failure_detail(failure, where, error), password)
        raise SourceUnavailable(source.name, failure, detail) from None
    try:
        yield connection
    finally:
        connection.close()


async def load_local_file(cursor: Any, statement: str, path: Path) -> None:
    """Run ``LOAD DATA LOCAL INFILE`` for ``path`` (the connection needs ``local_infile``).

    ``path`` is the only file the server may read during the statement: a server can ask the
    client for any file, whatever the statement named.
    """
    token = _OFFERED_FILE.set(str(path))
    try:
        await cursor.execute(statement)
    finally:
        _OFFERED_FILE.reset(token)


_OFFERED_FILE: ContextVar[str | None] = ContextVar("mysql_offered_file", default=None)


class _OfferedFileOnly(asyncmy.connection.LoadLocalFile):
    """asyncmy's file sender, sending only the offered file. It also decodes the file name:
    asyncmy 0.2.18 passes it as bytes, which the typed base constructor refuses."""

    def __init__(self, filename: bytes | str, connection: Any) -> None:
        asked = os.fsdecode(filename)
        # An empty name makes the sender fail cleanly ("can't find file") and end the exchange.
        super().__init__(asked if asked == _OFFERED_FILE.get() else "", connection)


asyncmy.connection.LoadLocalFile = _OfferedFileOnly  # type: ignore[misc]

register(MySQLConnector())
register(MariaDBConnector())
