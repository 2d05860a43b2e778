"""SQLite sources: a department's database as a file. DuckDB reads it with ``sqlite_scanner``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from catalog.errors import SourceError
from catalog.models import Column, Source, Table
from connectors.base import Attachment, register


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


class SQLiteConnector:
    kind: ClassVar[str] = "sqlite"
    dialect: ClassVar[str] = "sqlite"
    physical_schema_default: ClassVar[str] = "main"

    def path(self, source: Source) -> Path:
        path = source.options.get("path")
        if not path:
            raise SourceError(source.name, "no path configured")
        return Path(path)

    def attachment(self, source: Source) -> Attachment:
        path = self.path(source)
        if not path.is_file():
            raise SourceError(source.name, "database file not found")
        return Attachment(source.name, "sqlite", str(path), "sqlite_scanner")

    def introspect(self, source: Source) -> list[Table]:
        path = self.path(source)
        if not path.is_file():
            raise SourceError(source.name, "database file not found")
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
                names = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                    "AND name NOT LIKE 'sqlite_%'")]
                columns = {n: list(con.execute(f'PRAGMA table_info("{n}")')) for n in names}
        except sqlite3.Error:
            raise SourceError(source.name, "database file cannot be read") from None
        return tables_from_rows(source.name, names, columns)


register(SQLiteConnector())
