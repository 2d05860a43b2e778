"""The embedded engine: one in-process DuckDB that ATTACHes every departmental source.

Hardened before it sees a statement: extensions are loaded only from the ``duckdb-ext-*``
packages (never downloaded or auto-loaded), sources are attached read-only, then external access
is switched off and the configuration locked, so a statement cannot read files, attach
databases, install extensions or change settings.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from connectors.base import Attachment
from gateway.engines import ResultColumn
from gateway.errors import EngineError, SourceError


def extension_directory() -> str:
    import duckdb_ext  # type: ignore[import-untyped]  # the duckdb-ext-* namespace package

    return str(Path(next(iter(duckdb_ext.__path__))) / "extensions")


class DuckDBResult:
    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor
        description = cursor.description or []
        self.columns = tuple(ResultColumn(d[0], str(d[1])) for d in description)

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        try:
            while rows := self._cursor.fetchmany(size):
                yield rows
        except duckdb.Error as err:
            raise EngineError(_safe_message(err)) from None
        finally:
            self._cursor.close()

    def cancel(self) -> None:
        self._cursor.interrupt()


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, attachments: Sequence[Attachment], *, threads: int | None = None,
                 memory_limit: str | None = None) -> None:
        self._lock = threading.Lock()
        self._con = duckdb.connect(config=_config(threads, memory_limit))
        for extension in sorted({a.extension for a in attachments}):
            self._con.execute(f"LOAD {extension}")
        for attachment in attachments:
            self._attach(attachment)
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    def _attach(self, attachment: Attachment) -> None:
        try:
            self._con.execute(attachment.sql())
        except duckdb.Error:
            raise SourceError(attachment.source, "could not be attached") from None

    def execute(self, sql: str) -> DuckDBResult:
        with self._lock:
            cursor = self._con.cursor()
        try:
            cursor.execute(sql)
        except duckdb.Error as err:
            cursor.close()
            raise EngineError(_safe_message(err)) from None
        return DuckDBResult(cursor)

    def close(self) -> None:
        self._con.close()


ConfigValue = str | bool | int | float | list[str]


def _config(threads: int | None, memory_limit: str | None) -> dict[str, ConfigValue]:
    config: dict[str, ConfigValue] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "allow_community_extensions": False,
        "extension_directory": extension_directory(),
    }
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    return config


def _safe_message(err: duckdb.Error) -> str:
    """The error's class only: DuckDB messages can quote values (conversion errors do)."""
    kind = type(err).__name__.removesuffix("Exception").removesuffix("Error") or "Engine"
    return f"the embedded engine could not run the statement ({kind} error)"
