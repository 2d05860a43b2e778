"""The connector seam: one declarative class per database kind, registered by name.

A connector knows its kind's sqlglot dialect, how an engine addresses it (DuckDB ATTACH, Trino
catalog properties), and how to introspect its tables into catalog records. Driver I/O is a
thin wrapper; turning rows into records is pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from catalog.models import Source, Table


@dataclass(frozen=True, slots=True)
class Attachment:
    """How DuckDB attaches one source, read-only, under the source's name."""

    source: str
    kind: str
    target: str
    extension: str

    def sql(self) -> str:
        quoted = self.target.replace("'", "''")
        return f"ATTACH '{quoted}' AS \"{self.source}\" (TYPE {self.kind}, READ_ONLY)"


class Connector(Protocol):
    kind: ClassVar[str]
    dialect: ClassVar[str]
    physical_schema_default: ClassVar[str]

    def attachment(self, source: Source) -> Attachment: ...

    def introspect(self, source: Source) -> list[Table]: ...


CONNECTORS: dict[str, Connector] = {}


def register(connector: Connector) -> Connector:
    CONNECTORS[connector.kind] = connector
    return connector


def connector_for(kind: str) -> Connector:
    # Importing the modules registers the built-in connectors through the same seam.
    from connectors import sqlite  # noqa: F401

    try:
        return CONNECTORS[kind]
    except KeyError:
        raise LookupError(f"no connector for source kind {kind!r}") from None
