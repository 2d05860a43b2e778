"""SQLite sources: a department's database as a file. DuckDB reads it with ``sqlite_scanner``.

Trino has no SQLite connector: a SQLite source can only be queried through the embedded DuckDB
engine. To use Trino, load the department into PostgreSQL or MySQL/MariaDB (the full demo does).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from catalog.errors import SourceError
from catalog.models import Column, Source, Table
from connectors.base import Attachment, Failure, Health, NotInTrino, SourceUnavailable, register


def column_from_pragma(row: tuple[object, ...]) -> Column:
    """A ``PRAGMA table_info`` row (cid, name, type, notnull, default, pk) as a catalog column."""
    return Column(name=str(row[1]).lower(), type=str(row[2]).upper() or "VARCHAR")


def tables_from_rows(source: str, names: Iterable[str],
                     columns: dict[str, list[tuple[object, ...]]]) -> list[Table]:
    return [
        Table(source=source, name=name.lower(), physical_schema="main", physical_name=name,
              columns=tuple(column_from_pragma(r) for r in columns[name]))
        for name in sorted(names)
    ]


def path_from_dsn(dsn: str) -> Path:
    """A plain file path, or ``sqlite:///absolute/path``; made absolute either way."""
    text = dsn.strip()
    if text.startswith("sqlite:"):
        parts = urlsplit(text)
        if parts.netloc or parts.query:
            raise ValueError("a SQLite DSN is sqlite:///absolute/path or a plain file path")
        text = unquote(parts.path)
    if not text:
        raise ValueError("the SQLite source needs a database file path")
    return Path(text).expanduser().resolve()


class SQLiteConnector:
    kind: ClassVar[str] = "sqlite"
    dialect: ClassVar[str] = "sqlite"
    physical_schema_default: ClassVar[str] = "main"
    trino_connector: ClassVar[str | None] = None

    def options_from_dsn(self, dsn: str) -> dict[str, str]:
        return {"path": str(path_from_dsn(dsn))}

    def path(self, source: Source) -> Path:
        path = source.options.get("path")
        if not path:
            raise SourceError(source.name, "no path configured")
        return Path(path)

    def existing(self, source: Source) -> Path:
        path = self.path(source)
        if not path.is_file():
            raise SourceUnavailable(source.name, Failure.MISSING_DATABASE,
                                    "database file not found")
        return path

    def attachment(self, source: Source) -> Attachment:
        return Attachment(source.name, "sqlite", str(self.existing(source)), "sqlite_scanner")

    def introspect(self, source: Source) -> list[Table]:
        path = self.existing(source)
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                names = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite_%'")]
                columns = {n: list(con.execute(f'PRAGMA table_info("{n}")')) for n in names}
        except sqlite3.Error:
            raise SourceError(source.name, "database file cannot be read") from None
        return tables_from_rows(source.name, names, columns)

    def check(self, source: Source) -> Health:
        try:
            latency = self._ping(self.existing(source), source.name)
        except SourceError as error:
            return Health.failed(source, error)
        return Health(source.name, source.kind, True, latency_ms=latency)

    def freshness(self, source: Source, table: Table) -> datetime | None:
        """SQLite keeps no per-table times: the file's modification time stands for all."""
        try:
            return datetime.fromtimestamp(self.path(source).stat().st_mtime, UTC)
        except OSError:
            return None

    def trino_properties(self, source: Source) -> dict[str, str]:
        raise NotInTrino(source.name, "Trino has no SQLite connector; query this source"
                         " through the embedded DuckDB engine, or load it into PostgreSQL or"
                         " MySQL/MariaDB to use Trino")

    def _ping(self, path: Path, name: str) -> float:
        start = time.perf_counter()
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                con.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                con.close()
        except sqlite3.Error:
            raise SourceUnavailable(name, Failure.FAILED,
                                    "database file cannot be read as SQLite") from None
        return (time.perf_counter() - start) * 1000


register(SQLiteConnector())
