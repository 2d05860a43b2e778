"""The connector seam: one declarative class per database kind, registered by name.

A connector knows its kind's sqlglot dialect, how an engine addresses it (DuckDB ATTACH, Trino
catalog properties), how to test a connection, and how to introspect its tables into catalog
records. Driver I/O is a thin wrapper; turning rows into records is pure.

Errors::

    SourceError                  (catalog.errors) names the source, never a secret
    ├── SourceUnavailable        a connection failed: unreachable, bad credentials, missing
    │                            database or secret; ``failure`` says which
    └── NotInTrino               the kind has no Trino connector (SQLite files)

Secrets: a source holds its password only as ``password_ref`` (``env:NAME`` or
``file:/path``). :func:`resolve_password` reads it when a connection is made; engine entries
that must carry it (DuckDB's ATTACH string) hide it from ``repr``, and Trino's properties name
the environment variable instead (:func:`trino_secret`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import os
import re
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from catalog.errors import SourceError
from catalog.models import Column, Source, Table

T = TypeVar("T")

#: Seconds to wait for a departmental database to accept a connection.
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Attachment:
    """How DuckDB attaches one source, read-only, under the source's name.

    ``target`` may carry the password (libpq-style strings do), so it stays out of ``repr``.
    """

    source: str
    kind: str
    target: str = field(repr=False)
    extension: str

    def sql(self) -> str:
        quoted = self.target.replace("'", "''")
        return f"ATTACH '{quoted}' AS \"{self.source}\" (TYPE {self.kind}, READ_ONLY)"


class Failure(StrEnum):
    """Why a connection to a source failed, in the words an operator acts on."""

    UNREACHABLE = "unreachable"
    BAD_CREDENTIALS = "bad credentials"
    MISSING_DATABASE = "missing database"
    MISSING_SECRET = "missing secret"
    FAILED = "failed"


class SourceUnavailable(SourceError):
    """A source could not be connected to; the message names the source and the failure."""

    def __init__(self, source: str, failure: Failure, detail: str) -> None:
        self.failure = failure
        super().__init__(source, f"{failure.value}: {detail}")


class NotInTrino(SourceError):
    """The source's kind has no Trino connector; only the embedded engine can read it."""


@dataclass(frozen=True, slots=True)
class Health:
    """The outcome of one connection test.

    ``reachable`` means a session was opened and answered a query (``latency_ms`` is that
    query's round trip); otherwise ``failure`` and ``error`` (the message, naming the source,
    never a secret) say why not.
    """

    source: str
    kind: str
    reachable: bool
    latency_ms: float | None = None
    failure: Failure | None = None
    error: str | None = None
    cause: SourceError | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, source: Source, error: SourceError) -> Health:
        failure = error.failure if isinstance(error, SourceUnavailable) else Failure.FAILED
        return cls(source.name, source.kind, False, failure=failure, error=str(error),
                   cause=error)

    def require(self) -> None:
        """Raise the failure as a :class:`SourceError` unless the source answered."""
        if not self.reachable:
            raise self.cause or SourceError(self.source, self.error or "does not answer")


class Connector(Protocol):
    kind: ClassVar[str]
    dialect: ClassVar[str]
    physical_schema_default: ClassVar[str]
    #: Trino's ``connector.name`` for this kind; ``None`` when Trino cannot read it.
    trino_connector: ClassVar[str | None]

    def options_from_dsn(self, dsn: str) -> dict[str, str]:
        """Source options from a DSN without a password; raises ``ValueError`` naming why."""
        ...

    def attachment(self, source: Source) -> Attachment: ...

    def introspect(self, source: Source) -> list[Table]: ...

    def check(self, source: Source) -> Health: ...

    def freshness(self, source: Source, table: Table) -> datetime | None:
        """When the table last changed (or was last analysed), best effort; aware UTC."""
        ...

    def trino_properties(self, source: Source) -> dict[str, str]:
        """Trino's ``etc/catalog/<source>.properties``; secrets as ``${ENV:NAME}``."""
        ...


CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> Connector:
    CONNECTORS[connector.kind] = connector
    return connector


#: The modules of the built-in connectors; importing one registers it through the same seam.
BUILT_IN = ("connectors.sqlite", "connectors.postgres", "connectors.mysql")


def connector_for(kind: str) -> Connector:
    for module in BUILT_IN:
        importlib.import_module(module)
    try:
        return CONNECTORS[kind]
    except KeyError:
        known = ", ".join(sorted(CONNECTORS))
        raise LookupError(f"no connector for source kind {kind!r}; known kinds: {known}") from None


# ---------------------------------------------------------------------------------------------
# Secrets: references resolved at connection time, never stored or printed.

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def resolve_password(source: Source) -> str | None:
    """The password ``password_ref`` points at; ``None`` when the source has no reference."""
    reference = source.options.get("password_ref")
    return resolve_reference(source.name, reference) if reference else None


def resolve_reference(source: str, reference: str) -> str:
    kind, _, target = reference.partition(":")
    if kind == "env" and _ENV_NAME.fullmatch(target):
        value = os.environ.get(target)
        if value is None:
            raise SourceUnavailable(source, Failure.MISSING_SECRET,
                                    f"environment variable {target} (password_ref) is not set")
        return value
    if kind == "file" and target.startswith("/"):
        return _read_secret_file(source, Path(target))
    raise SourceError(source, "password_ref must be env:NAME or file:/absolute/path")


def _read_secret_file(source: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError:
        raise SourceUnavailable(source, Failure.MISSING_SECRET,
                                f"secret file {path} (password_ref) cannot be read") from None


def trino_secret(source: Source, option: str = "password_ref") -> str:
    """A Trino property value that names where the secret is, never the secret itself.

    Trino 476 resolves only ``${ENV:NAME}`` (its ``FILE`` provider does not exist), so a
    ``file:`` reference becomes the variable :func:`trino_secret_variable` names: whoever
    starts Trino exports it from the file (see :func:`trino_environment`).
    """
    reference = source.options.get(option, "")
    kind, _, target = reference.partition(":")
    if kind == "env" and _ENV_NAME.fullmatch(target):
        return f"${{ENV:{target}}}"
    if kind == "file" and target.startswith("/"):
        return f"${{ENV:{trino_secret_variable(source, option)}}}"
    raise SourceError(source.name, f"{option} must be env:NAME or file:/absolute/path")


def trino_secret_variable(source: Source, option: str = "password_ref") -> str:
    """The environment variable Trino reads a ``file:`` secret of ``source`` from."""
    secret = option.removesuffix("_ref").upper()
    return f"SHUQIAO_{source.name.upper()}_{secret}"


def trino_environment(sources: Iterable[Source]) -> dict[str, str]:
    """Variables Trino needs set from files: variable name -> ``file:/path`` reference."""
    return {
        trino_secret_variable(s): ref
        for s in sources
        if (ref := s.options.get("password_ref", "")).startswith("file:")
    }


def without_secret(message: str, secret: str | None) -> str:
    """``message`` with every occurrence of ``secret`` blanked: drivers may echo it."""
    return message.replace(secret, "******") if secret else message


# ---------------------------------------------------------------------------------------------
# DSNs: where a source is, never its password.


@dataclass(frozen=True, slots=True)
class Dsn:
    host: str
    port: int
    database: str
    user: str
    params: Mapping[str, str]


def parse_dsn(dsn: str, schemes: tuple[str, ...], default_port: int) -> Dsn:
    """Split ``scheme://user@host:port/database?params``. Refuses an embedded password, and
    never quotes the DSN back (it might hold one)."""
    parts = urlsplit(dsn.strip())
    if parts.scheme not in schemes:
        raise ValueError(f"the DSN must start with {schemes[0]}://")
    if parts.password is not None:
        raise ValueError("the DSN must not contain a password; give a reference instead"
                         " (--password env:NAME or file:/path)")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not parts.username or not database:
        raise ValueError(f"the DSN must name user, host and database:"
                         f" {schemes[0]}://user@host:port/database")
    return Dsn(parts.hostname, _port(parts, default_port), database,
               unquote(parts.username), dict(parse_qsl(parts.query)))


def _port(parts: SplitResult, default: int) -> int:
    try:
        return parts.port or default
    except ValueError:
        raise ValueError("the DSN's port must be a number from 1 to 65535") from None


def conninfo(pairs: Mapping[str, str | None], quote: str = "'") -> str:
    """A ``key=value`` string as DuckDB's ATTACH reads it: libpq's rules for postgres (values
    in single quotes), the mysql extension's for mysql (double quotes); backslash escapes the
    quote and itself in both."""
    return " ".join(f"{k}={_conninfo_value(v, quote)}" for k, v in pairs.items() if v is not None)


def _conninfo_value(value: str, quote: str) -> str:
    if value and not re.search(r"[\s'\"\\=]", value):
        return value
    escaped = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return f"{quote}{escaped}{quote}"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a networked source lives, read from its options."""

    host: str
    port: int
    database: str
    user: str

    @classmethod
    def of(cls, source: Source, default_port: int) -> Endpoint:
        options = source.options
        missing = [k for k in ("host", "database", "user") if not options.get(k)]
        if missing:
            raise SourceError(source.name, f"option(s) {', '.join(missing)} not configured")
        try:
            port = int(options.get("port") or default_port)
        except ValueError:
            raise SourceError(source.name, "option port must be a number") from None
        return cls(options["host"], port, options["database"], options["user"])

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def network_options(dsn: Dsn, **extra: str) -> dict[str, str]:
    options = {"host": dsn.host, "port": str(dsn.port), "database": dsn.database,
               "user": dsn.user}
    return options | extra


# ---------------------------------------------------------------------------------------------
# Rows to records.

ColumnRow = tuple[str, str, str]  # (table name, column name, catalog type)


def tables_from_columns(source: str, schema: str, rows: Iterable[ColumnRow]) -> list[Table]:
    """Catalog tables from (table, column, type) rows in ordinal order; names lower-cased,
    the physical name kept as the database spells it."""
    grouped: dict[str, list[Column]] = {}
    for table, column, kind in rows:
        grouped.setdefault(table, []).append(Column(name=column.lower(), type=kind))
    return [
        Table(source=source, name=name.lower(), columns=tuple(columns), physical_schema=schema,
              physical_name=name)
        for name, columns in sorted(grouped.items(), key=lambda item: item[0].lower())
    ]


def sized(name: str, *sizes: int | None) -> str:
    """``VARCHAR(18)``, ``DECIMAL(10,2)``; the bare name when the size is unknown."""
    if not sizes or sizes[0] is None:
        return name
    return f"{name}({','.join(str(s) for s in sizes if s is not None)})"


# ---------------------------------------------------------------------------------------------
# Running async driver code from synchronous callers.


def run_sync(coroutine: Coroutine[object, object, T]) -> T:
    """Run ``coroutine`` to completion; from inside a running event loop (the HTTP service),
    on a worker thread with its own loop, so the caller's loop is never nested."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
