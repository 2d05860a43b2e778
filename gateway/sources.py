"""Registering departmental databases: ``shuqiao source add|sync|list|check|remove``.

A source enters the catalog only after it answered and was introspected; if anything fails
on the way, the catalog is left as it was. Passwords are references (``env:NAME``,
``file:/path``) from the command line to the store, and nothing here prints a secret: a DSN
that embeds a password is refused without being quoted back.

Trino catalog files are rendered here too, one ``<source>.properties`` per source, from the
connectors' :meth:`~connectors.base.Connector.trino_properties`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from catalog.errors import CatalogError, SourceError
from catalog.models import CatalogSnapshot, Source, Table
from catalog.store import CatalogStore, source_problems
from connectors.base import Connector, Health, NotInTrino, connector_for
from gateway.trino_config import catalog_text

# ---------------------------------------------------------------------------------------------
# From command-line words to a Source (pure).


def source_from_dsn(name: str, kind: str, dsn: str, department: str,
                    password: str | None = None, *, cwd: Path | None = None) -> Source:
    """The source ``source add`` describes, validated; raises :class:`CatalogError` saying
    what is wrong, never quoting the DSN or the password argument."""
    connector = _connector(kind)
    try:
        options = connector.options_from_dsn(dsn)
    except ValueError as error:
        raise CatalogError(f"source {name!r} refused: {error}") from None
    if password:
        if "path" in options:
            raise CatalogError(f"source {name!r} refused: a database file takes no password")
        options["password_ref"] = password_reference(name, password, cwd or Path.cwd())
    source = Source(name, kind, department, options)
    problems = source_problems(source)
    if problems:
        raise CatalogError(f"source {name!r} refused: {'; '.join(problems)}")
    return source


def password_reference(name: str, text: str, cwd: Path) -> str:
    """``env:NAME`` as given, ``file:PATH`` made absolute; anything else is refused (it may
    be the password itself, so it is not repeated)."""
    kind, _, target = text.partition(":")
    if kind == "env" and target:
        return text
    if kind == "file" and target:
        return f"file:{(cwd / Path(target).expanduser()).resolve()}"
    raise CatalogError(f"source {name!r} refused: --password must be a reference,"
                       " env:NAME or file:PATH, never the password itself")


def _connector(kind: str) -> Connector:
    try:
        return connector_for(kind)
    except LookupError as error:
        raise CatalogError(str(error)) from None


def location(source: Source) -> str:
    """Where the source lives, for people: ``host:port/database`` or the file path."""
    options = source.options
    if "path" in options:
        return options["path"]
    where = f"{options.get('host', '?')}:{options.get('port', '?')}/{options.get('database', '?')}"
    schema = options.get("schema")
    return f"{where}?schema={schema}" if schema and schema != "public" else where


# ---------------------------------------------------------------------------------------------
# Catalog operations (I/O through the connectors and the store).


def add_source(store: CatalogStore, source: Source) -> list[Table]:
    """Check, introspect and register ``source`` with its tables; all or nothing."""
    if store.snapshot().source(source.name) is not None:
        raise CatalogError(f"source {source.name!r} is already registered;"
                           " `source sync` refreshes its tables")
    connector = _connector(source.kind)
    connector.check(source).require()
    tables = connector.introspect(source)
    store.register_source(source)
    try:
        store.replace_tables(source.name, tables)
    except BaseException:
        store.remove_source(source.name)
        raise
    return tables


@dataclass(frozen=True, slots=True)
class SyncReport:
    source: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def tables(self) -> int:
        return len(self.added) + len(self.kept)


def sync_source(store: CatalogStore, name: str) -> SyncReport:
    """Introspect a registered source again; annotations on kept columns survive."""
    snapshot = store.snapshot()
    source = registered(snapshot, name)
    tables = _connector(source.kind).introspect(source)
    store.replace_tables(name, tables)
    return sync_report(name, [t.name for t in snapshot.tables_of(name)], [t.name for t in tables])


def sync_report(source: str, before: Iterable[str], after: Iterable[str]) -> SyncReport:
    old, new = set(before), set(after)
    return SyncReport(source, tuple(sorted(new - old)), tuple(sorted(old - new)),
                      tuple(sorted(new & old)))


def remove_source(store: CatalogStore, name: str) -> None:
    registered(store.snapshot(), name)
    store.remove_source(name)


def registered(snapshot: CatalogSnapshot, name: str) -> Source:
    source = snapshot.source(name)
    if source is None:
        raise CatalogError(f"unknown source {name!r}")
    return source


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One line of ``source list``: no options beyond the location, so no secrets."""

    name: str
    kind: str
    department: str
    location: str
    tables: int


def source_rows(snapshot: CatalogSnapshot) -> list[SourceRow]:
    return [
        SourceRow(s.name, s.kind, s.department, location(s), len(list(snapshot.tables_of(s.name))))
        for s in snapshot.sources
    ]


@dataclass(frozen=True, slots=True)
class SourceStatus:
    health: Health
    freshness: tuple[tuple[str, datetime | None], ...] = ()


def check_source(store: CatalogStore, name: str) -> SourceStatus:
    """Health, and each registered table's freshness when the source answers."""
    snapshot = store.snapshot()
    source = registered(snapshot, name)
    connector = _connector(source.kind)
    health = connector.check(source)
    if not health.reachable:
        return SourceStatus(health)
    return SourceStatus(health, freshness(connector, source, list(snapshot.tables_of(name))))


def freshness(connector: Connector, source: Source,
              tables: Sequence[Table]) -> tuple[tuple[str, datetime | None], ...]:
    found: list[tuple[str, datetime | None]] = []
    for table in tables:
        try:
            found.append((table.name, connector.freshness(source, table)))
        except SourceError:  # freshness is best effort; health already said the source answers
            found.append((table.name, None))
    return tuple(found)


# ---------------------------------------------------------------------------------------------
# Trino catalogs.


def trino_catalog_text(source: Source) -> str:
    """``etc/catalog/<source>.properties`` for ``source``, with the connection timeouts that
    bound a dead source; raises :class:`NotInTrino` for a kind Trino cannot read."""
    return catalog_text(source, connector_for)


def write_trino_catalogs(sources: Iterable[Source], directory: Path) -> list[Path]:
    """Write one properties file per source Trino can read (mode 0644: no secrets inside);
    sources Trino cannot read (SQLite files) are skipped."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source in sources:
        try:
            text = trino_catalog_text(source)
        except NotInTrino:
            continue
        path = directory / f"{source.name}.properties"
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o644)
        written.append(path)
    return written

