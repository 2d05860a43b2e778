"""The catalog store: SQLite, numbered SQL migrations, one writer, immutable snapshots.

The schema lives in ``catalog/migrations/NNNN_name.sql``; opening a store applies the pending
ones, each in its own transaction together with its ``schema_migrations`` row. Every write runs
in one ``BEGIN IMMEDIATE`` transaction that also bumps ``catalog_version``: on any error the
transaction is rolled back and nothing, not even the version, changes. Readers get a
:class:`~catalog.models.CatalogSnapshot`, rebuilt only when the version has moved (another
process writing the same file is noticed too).

Secrets never enter the store: a source option that looks like a credential must be a
``*_ref`` option holding a reference, ``env:NAME`` or ``file:/path``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from catalog.errors import CatalogError, PolicyFileError
from catalog.models import (
    AggregateOnly,
    CatalogSnapshot,
    Column,
    ColumnAction,
    ColumnAnnotation,
    Department,
    Grant,
    LineKey,
    PolicyDocument,
    Principal,
    Source,
    Table,
    TableAnnotation,
)
from catalog.policy_file import validate_policy

T = TypeVar("T")

_MIGRATION_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
_BOOTSTRAP = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    number     INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    sql: str


def bundled_migrations() -> tuple[Migration, ...]:
    """The migrations shipped in ``catalog/migrations``, in order."""
    folder = _migrations_folder()
    found = [
        Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if (match := _MIGRATION_NAME.fullmatch(entry.name))
    ]
    return tuple(sorted(found, key=lambda m: m.number))


def _migrations_folder() -> Traversable:
    try:
        return resources.files("catalog").joinpath("migrations")
    except NotADirectoryError:
        # An editable install made before catalog/__init__.py existed presents ``catalog`` as a
        # namespace package whose resource reader fails; the files are beside this module.
        return Path(__file__).with_name("migrations")


class CatalogStore:
    """The catalog in one SQLite file: safe for one writer and any number of readers."""

    def __init__(self, path: Path | str, *, migrations: Sequence[Migration] | None = None) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._cached: CatalogSnapshot | None = None
        self._conn = connect(self.path)
        try:
            _migrate(self._conn, bundled_migrations() if migrations is None else migrations)
        except sqlite3.Error as err:
            self._conn.close()
            raise CatalogError(f"cannot open catalog store {self.path}: {err}") from err
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        with self._lock:
            return _read_version(self._conn)

    def snapshot(self) -> CatalogSnapshot:
        """The whole catalog as one consistent, immutable value."""
        with self._reading() as conn:
            version = _read_version(conn)
            if self._cached is None or self._cached.version != version:
                self._cached = _read_snapshot(conn, version)
            return self._cached

    def export_policy(self) -> PolicyDocument:
        """The policy currently applied, as a document ``apply_policy`` accepts back."""
        with self._reading() as conn:
            return _read_policy(conn, f"{self.path} (export)")

    # -- writing -------------------------------------------------------------------------------

    def register_source(self, source: Source) -> None:
        """Register a source, or update it (its tables are kept). Refuses literal secrets."""
        problems = source_problems(source)
        if problems:
            raise CatalogError(f"source {source.name!r} refused: {'; '.join(problems)}")
        options = json.dumps(dict(source.options), ensure_ascii=False, sort_keys=True)
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO sources (name, kind, department, options) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET"
                " kind = excluded.kind, department = excluded.department,"
                " options = excluded.options",
                (source.name, source.kind, source.department, options),
            )

    def remove_source(self, name: str) -> None:
        """Forget a source and its tables. Grants naming them stay (they then cover nothing)."""
        with self._writing() as conn:
            if conn.execute("DELETE FROM sources WHERE name = ?", (name,)).rowcount == 0:
                raise CatalogError(f"unknown source {name!r}")

    def replace_tables(self, source: str, tables: Sequence[Table]) -> None:
        """Replace a source's tables with a fresh introspection.

        A column that comes back with the default classification or no description keeps the
        annotation it had under the same table and column name.
        """
        _check_tables(source, tables)
        with self._writing() as conn:
            if conn.execute("SELECT 1 FROM sources WHERE name = ?", (source,)).fetchone() is None:
                raise CatalogError(f"unknown source {source!r}")
            previous = {t.name: t for t in _read_tables(conn, {}) if t.source == source}
            conn.execute("DELETE FROM tables WHERE source = ?", (source,))
            for table in tables:
                _insert_table(conn, _keep_annotations(table, previous.get(table.name)))

    def apply_policy(self, doc: PolicyDocument, *, replace: bool = True) -> None:
        """Make ``doc`` the policy: departments, principals, annotations and grants.

        With ``replace=False`` the document is laid over the current policy instead: entries
        with the same name or grant id are replaced, the rest kept. Either way the result is
        checked on its own (see :func:`~catalog.policy_file.validate_policy`) and applied
        whole, or refused with :class:`~catalog.errors.PolicyFileError`.
        """
        with self._writing() as conn:
            if not replace:
                doc = merge_policy(_read_policy(conn, doc.path), doc)
            problems = validate_policy(doc, None, None)
            if problems:
                raise PolicyFileError(doc.path, problems)
            _clear_policy(conn)
            _insert_policy(conn, doc)

    # -- transactions --------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction, so that several queries see the same state."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with write_transaction(self._conn, self._lock, "catalog"):
            yield self._conn
            self._conn.execute("UPDATE catalog_version SET version = version + 1")


@contextmanager
def write_transaction(conn: sqlite3.Connection, lock: AbstractContextManager[object],
                      what: str) -> Iterator[None]:
    """One write transaction under ``lock``: committed when the block ends, rolled back whole
    (nothing written) when it raises."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            _rollback(conn)
            raise CatalogError(f"{what} write failed, nothing written: {err}") from err
        except BaseException:
            _rollback(conn)
            raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# ---------------------------------------------------------------------------------------------
# Opening and migrating.


def connect(path: str) -> sqlite3.Connection:
    """A connection to a catalog file (WAL, foreign keys, a busy timeout)."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.Error as err:
        conn.close()
        raise CatalogError(f"cannot open catalog store {path}: {err}") from err
    return conn


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Migration]) -> None:
    conn.execute(_BOOTSTRAP)
    applied = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
    unknown = applied - {m.number for m in migrations}
    if unknown:
        raise CatalogError(
            f"the catalog store has migration {max(unknown):04d}, which this version of"
            " Shuqiao does not know; upgrade Shuqiao"
        )
    for migration in migrations:
        if migration.number not in applied:
            _apply_migration(conn, migration)


def _apply_migration(conn: sqlite3.Connection, migration: Migration) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have applied it since we looked.
        done = "SELECT 1 FROM schema_migrations WHERE number = ?"
        if conn.execute(done, (migration.number,)).fetchone() is None:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (number, name) VALUES (?, ?)",
                (migration.number, migration.name),
            )
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _statements(script: str) -> Iterator[str]:
    """Split a script into statements (``executescript`` would commit our transaction)."""
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""
    if pending.strip():
        yield pending


# ---------------------------------------------------------------------------------------------
# Sources: no secret values, only references to them.

_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_SECRET_KEY = re.compile(r"password|passwd|pwd|secret|token|credential|api_?key|private_?key", re.I)
_REFERENCE = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]*|file:/\S+")
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@:\s]*:[^/@\s]+@", re.I)


def source_problems(source: Source) -> list[str]:
    """Why ``source`` may not be registered; empty when it may. Never quotes option values."""
    problems = [] if _NAME.fullmatch(source.name) else ["name must be a lower-case identifier"]
    if not source.kind:
        problems.append("kind must not be empty")
    if not source.department:
        problems.append("department must not be empty")
    problems += [p for key, value in source.options.items() if (p := _option_problem(key, value))]
    return problems


def _option_problem(key: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"option {key!r} must be a string"
    if key.endswith("_ref"):
        if _REFERENCE.fullmatch(value):
            return None
        return f"option {key!r} must be a reference: env:NAME or file:/path"
    if _SECRET_KEY.search(key):
        return f"option {key!r} looks like a secret; store a reference as {key}_ref: env:NAME"
    if _URL_PASSWORD.match(value):
        return f"option {key!r} embeds a password in a URL; use password_ref: env:NAME"
    return None


# ---------------------------------------------------------------------------------------------
# Tables.

_DEFAULT_COLUMN = Column(name="", type="")


def _check_tables(source: str, tables: Sequence[Table]) -> None:
    names = [t.name for t in tables]
    for table in tables:
        if table.source != source:
            raise CatalogError(f"table {table.qualified} does not belong to source {source!r}")
        if not _NAME.fullmatch(table.name):
            raise CatalogError(f"table name {table.name!r} must be a lower-case identifier")
        if len(set(table.column_names)) < len(table.columns):
            raise CatalogError(f"table {table.qualified} lists a column twice")
    if len(set(names)) < len(names):
        raise CatalogError(f"source {source!r}: a table is listed twice")


def _keep_annotations(table: Table, previous: Table | None) -> Table:
    if previous is None:
        return table
    columns = tuple(_keep_column(c, previous.column(c.name)) for c in table.columns)
    description = table.description or previous.description
    return dataclasses.replace(table, columns=columns, description=description)


def _keep_column(column: Column, previous: Column | None) -> Column:
    if previous is None:
        return column
    classification = column.classification
    if classification == _DEFAULT_COLUMN.classification:
        classification = previous.classification
    description = column.description or previous.description
    return dataclasses.replace(column, classification=classification, description=description)


def _insert_table(conn: sqlite3.Connection, table: Table) -> None:
    cursor = conn.execute(
        "INSERT INTO tables (source, name, physical_schema, physical_name, description)"
        " VALUES (?, ?, ?, ?, ?)",
        (table.source, table.name, table.physical_schema, table.physical_name, table.description),
    )
    conn.executemany(
        "INSERT INTO columns (table_id, position, name, type, classification, description)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (cursor.lastrowid, i, c.name, c.type, c.classification, c.description)
            for i, c in enumerate(table.columns)
        ],
    )


# ---------------------------------------------------------------------------------------------
# Policy: written whole, read back in document order (rowid order is insertion order).

_POLICY_TABLES = (
    "grant_columns", "grants", "principal_roles", "principals", "departments",
    "column_annotations", "table_annotations",
)  # fmt: skip


def _clear_policy(conn: sqlite3.Connection) -> None:
    for table in _POLICY_TABLES:
        conn.execute(f"DELETE FROM {table}")


def _insert_policy(conn: sqlite3.Connection, doc: PolicyDocument) -> None:
    rows: Mapping[str, list[tuple[Any, ...]]] = {
        "departments (name, title)": [(d.name, d.title) for d in doc.departments],
        "principals (name, department, title)": [
            (p.name, p.department, p.title) for p in doc.principals
        ],
        "principal_roles (principal, role)": [(p.name, r) for p in doc.principals for r in p.roles],
        "table_annotations (table_name, description)": [
            (t.table, t.description) for t in doc.tables
        ],
        "column_annotations (table_name, column_name, classification, description)": [
            (t.table, name, c.classification, c.description)
            for t in doc.tables
            for name, c in t.columns.items()
        ],
        "grants (id, principal, table_pattern, purpose, row_filter, min_group_size,"
        " subject_column, valid_from, valid_until, approved_by)": [
            _grant_row(g) for g in doc.grants
        ],
        "grant_columns (grant_id, column_name, action)": [
            (g.id, name, str(action)) for g in doc.grants for name, action in g.columns.items()
        ],
    }
    for target, values in rows.items():
        if values:
            marks = ", ".join("?" * len(values[0]))
            conn.executemany(f"INSERT INTO {target} VALUES ({marks})", values)


def _grant_row(g: Grant) -> tuple[Any, ...]:
    aggregate = g.aggregate_only
    return (
        g.id,
        g.principal,
        g.table,
        g.purpose,
        g.row_filter,
        aggregate.min_group_size if aggregate else None,
        aggregate.subject_column if aggregate else None,
        _iso(g.valid_from),
        _iso(g.valid_until),
        g.approved_by,
    )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def merge_policy(base: PolicyDocument, overlay: PolicyDocument) -> PolicyDocument:
    """``overlay`` laid over ``base``: same-named departments, principals, tables and grant ids
    are replaced, the rest kept; ``overlay``'s line numbers stay attached to its entries."""
    merged = PolicyDocument(
        departments=_merged(base.departments, overlay.departments, lambda d: d.name),
        principals=_merged(base.principals, overlay.principals, lambda p: p.name),
        tables=_merged(base.tables, overlay.tables, lambda t: t.table),
        grants=_merged(base.grants, overlay.grants, lambda g: g.id),
        path=overlay.path,
    )
    offsets = {
        section: len(getattr(merged, section)) - len(getattr(overlay, section))
        for section in ("departments", "principals", "tables", "grants")
    }
    lines = {_shifted(key, offsets): line for key, line in overlay.lines.items()}
    return dataclasses.replace(merged, lines=lines)


def _merged(old: tuple[T, ...], new: tuple[T, ...], name: Callable[[T], str]) -> tuple[T, ...]:
    replaced = {name(item) for item in new}
    return tuple(item for item in old if name(item) not in replaced) + new


def _shifted(key: LineKey, offsets: Mapping[str, int]) -> LineKey:
    if len(key) < 2 or not isinstance(key[1], int):
        return key
    return (key[0], key[1] + offsets.get(str(key[0]), 0), *key[2:])


# ---------------------------------------------------------------------------------------------
# Reading rows back into values.


def _read_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT version FROM catalog_version WHERE id = 1").fetchone()
    return int(row[0])


def _read_snapshot(conn: sqlite3.Connection, version: int) -> CatalogSnapshot:
    annotations = {a.table: a for a in _read_annotations(conn)}
    return CatalogSnapshot(
        version=version,
        departments=_read_departments(conn),
        sources=_read_sources(conn),
        tables=_read_tables(conn, annotations),
        principals=_read_principals(conn),
        grants=_read_grants(conn),
    )


def _read_policy(conn: sqlite3.Connection, path: str) -> PolicyDocument:
    return PolicyDocument(
        departments=_read_departments(conn),
        principals=_read_principals(conn),
        tables=_read_annotations(conn),
        grants=_read_grants(conn),
        path=path,
    )


def _read_departments(conn: sqlite3.Connection) -> tuple[Department, ...]:
    rows = conn.execute("SELECT name, title FROM departments ORDER BY rowid")
    return tuple(Department(name, title) for name, title in rows)


def _read_sources(conn: sqlite3.Connection) -> tuple[Source, ...]:
    rows = conn.execute("SELECT name, kind, department, options FROM sources ORDER BY rowid")
    return tuple(Source(name, kind, dept, json.loads(opts)) for name, kind, dept, opts in rows)


def _read_tables(
    conn: sqlite3.Connection, annotations: Mapping[str, TableAnnotation]
) -> tuple[Table, ...]:
    columns = _grouped(
        conn.execute(
            "SELECT table_id, name, type, classification, description FROM columns"
            " ORDER BY table_id, position"
        ),
        lambda row: (row[0], Column(*row[1:])),
    )
    rows = conn.execute(
        "SELECT id, source, name, physical_schema, physical_name, description FROM tables"
        " ORDER BY id"
    )
    tables = (
        Table(source, name, tuple(columns.get(key, ())), schema, physical, description)
        for key, source, name, schema, physical, description in rows
    )
    return tuple(_annotated(t, annotations.get(t.qualified)) for t in tables)


def _annotated(table: Table, annotation: TableAnnotation | None) -> Table:
    """The policy's annotations win over what introspection found."""
    if annotation is None:
        return table
    columns = tuple(_annotated_column(c, annotation.columns.get(c.name)) for c in table.columns)
    description = annotation.description or table.description
    return dataclasses.replace(table, columns=columns, description=description)


def _annotated_column(column: Column, annotation: ColumnAnnotation | None) -> Column:
    if annotation is None:
        return column
    return dataclasses.replace(
        column,
        classification=annotation.classification or column.classification,
        description=annotation.description or column.description,
    )


def _read_principals(conn: sqlite3.Connection) -> tuple[Principal, ...]:
    roles = _grouped(
        conn.execute("SELECT principal, role FROM principal_roles ORDER BY rowid"),
        lambda row: (row[0], row[1]),
    )
    rows = conn.execute("SELECT name, department, title FROM principals ORDER BY rowid")
    return tuple(
        Principal(name, department, tuple(roles.get(name, ())), title)
        for name, department, title in rows
    )


def _read_annotations(conn: sqlite3.Connection) -> tuple[TableAnnotation, ...]:
    columns = _grouped(
        conn.execute(
            "SELECT table_name, column_name, classification, description"
            " FROM column_annotations ORDER BY rowid"
        ),
        lambda row: (row[0], (row[1], ColumnAnnotation(row[2], row[3]))),
    )
    rows = conn.execute("SELECT table_name, description FROM table_annotations ORDER BY rowid")
    return tuple(
        TableAnnotation(name, description, dict(columns.get(name, ())))
        for name, description in rows
    )


def _read_grants(conn: sqlite3.Connection) -> tuple[Grant, ...]:
    actions = _grouped(
        conn.execute("SELECT grant_id, column_name, action FROM grant_columns ORDER BY rowid"),
        lambda row: (row[0], (row[1], ColumnAction.parse(row[2]))),
    )
    rows = conn.execute(
        "SELECT id, principal, table_pattern, purpose, row_filter, min_group_size,"
        " subject_column, valid_from, valid_until, approved_by FROM grants ORDER BY rowid"
    )
    return tuple(_grant(row, dict(actions.get(row[0], ()))) for row in rows)


def _grant(row: tuple[Any, ...], columns: dict[str, ColumnAction]) -> Grant:
    grant_id, principal, table, purpose, row_filter, size, subject, since, until, approver = row
    return Grant(
        id=grant_id,
        principal=principal,
        table=table,
        purpose=purpose,
        columns=columns,
        row_filter=row_filter,
        aggregate_only=AggregateOnly(size, subject) if size is not None else None,
        valid_from=_day(since),
        valid_until=_day(until),
        approved_by=approver,
    )


def _grouped(
    rows: Iterator[tuple[Any, ...]], split: Callable[[tuple[Any, ...]], tuple[Any, T]]
) -> dict[Any, list[T]]:
    """Group rows by key, keeping their order: ``split`` turns a row into (key, item)."""
    groups: dict[Any, list[T]] = {}
    for row in rows:
        key, item = split(row)
        groups.setdefault(key, []).append(item)
    return groups
