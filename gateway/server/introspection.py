"""Metadata queries: SQL over ``information_schema``, ``system.jdbc`` and
``system.metadata`` answered from the principal's visible catalog (see :mod:`.metadata`).

A statement is a metadata query when every table it reads is one of those virtual tables (or it
reads no table and asks for ``version()``, ``current_user``, ``current_catalog`` or
``current_schema``) *and* it uses only plain relational syntax: projections, filters with
comparisons, ``LIKE ... ESCAPE``, ``IN``, ``IS NULL``, boolean logic, casts, ``upper`` /
``lower`` / ``coalesce``, counts, ordering and limits. Anything else is not a metadata query and
goes to the policy pipeline, which refuses it (the virtual tables are not granted), so this path
can never widen what a statement may do.

The accepted query is rewritten over in-memory tables holding only the visible metadata rows and
run on a private, empty DuckDB connection with external access off.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import duckdb
from sqlglot import exp

from gateway import __version__
from gateway.engines import ResultColumn
from gateway.errors import QueryError, ShuqiaoError
from gateway.policy.parameters import Parameter, bind_parameters
from gateway.policy.parse import parse
from gateway.server.metadata import (
    COLUMNS,
    INFORMATION_SCHEMA,
    VisibleTable,
    catalogs,
    virtual_rows,
)

#: Words one of which a metadata query must contain; anything else skips the parse here.
HINTS = ("information_schema", "system", "jdbc", "version", "current_", "metadata")
SESSION_FUNCTIONS: tuple[type[exp.Expr], ...] = (
    exp.CurrentVersion, exp.CurrentUser, exp.CurrentCatalog, exp.CurrentSchema,
)
ALLOWED: frozenset[type[exp.Expr]] = frozenset({
    exp.Select, exp.From, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered, exp.Limit,
    exp.Offset, exp.Distinct, exp.Column, exp.Identifier, exp.Table, exp.TableAlias, exp.Alias,
    exp.Star, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.And, exp.Or, exp.Not, exp.EQ,
    exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Escape, exp.In, exp.Is,
    exp.Between, exp.Cast, exp.DataType, exp.DataTypeParam, exp.Upper, exp.Lower,
    exp.Coalesce, exp.Count, exp.Max, exp.Min, exp.Case, exp.If, exp.Tuple, exp.Union,
    exp.With, exp.CTE, exp.Subquery, exp.Join, exp.Var, *SESSION_FUNCTIONS,
})


@dataclass(frozen=True)
class Scope:
    """What one metadata query may see: the principal's visible tables and its session."""

    principal: str
    tables: tuple[VisibleTable, ...]
    catalog: str | None = None
    schema: str | None = None
    version: str = __version__


@dataclass(frozen=True)
class MetadataQuery:
    """A metadata query rewritten for DuckDB over ``v0``, ``v1``, ...: each maps to a virtual
    table and the catalog its rows are narrowed to (``None`` for ``system`` tables)."""

    sql: str
    tables: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def metadata_query(sql: str, parameters: Sequence[Parameter], scope: Scope
                   ) -> MetadataQuery | None:
    """``sql`` as a metadata query, or ``None`` when it is anything else."""
    if not might_be_metadata(sql):
        return None
    try:
        query = parse(sql)
        if parameters or any(True for _ in query.find_all(exp.Placeholder)):
            query = bind_parameters(query, parameters)
    except ShuqiaoError:
        return None
    return rewrite(query, scope)


def might_be_metadata(sql: str) -> bool:
    """A cheap test that lets ordinary queries skip the parse done here."""
    lowered = sql.lower()
    return any(hint in lowered for hint in HINTS)


def rewrite(query: exp.Query, scope: Scope) -> MetadataQuery | None:
    if any(type(node) not in ALLOWED for node in query.walk()):
        return None
    tables = _base_tables(query)
    if not tables and not any(query.find_all(*SESSION_FUNCTIONS)):
        return None
    resolved = [_virtual(t, scope) for t in tables]
    if any(r is None for r in resolved):
        return None
    mapping: dict[str, tuple[str, str | None]] = {}
    for index, (node, target) in enumerate(zip(tables, resolved, strict=True)):
        assert target is not None
        mapping[f"v{index}"] = target
        node.replace(_local_table(f"v{index}", node))
    _replace_session_functions(query, scope)
    _name_outputs(query)
    return MetadataQuery(query.sql(dialect="duckdb", identify=True), mapping)


def _base_tables(query: exp.Query) -> list[exp.Table]:
    return [t for t in query.find_all(exp.Table) if not _is_cte_reference(t)]


def _is_cte_reference(table: exp.Table) -> bool:
    """Whether ``table`` names a CTE of a WITH clause that encloses it."""
    if table.db or table.catalog:
        return False
    name = table.name.lower()
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") or node.args.get("with")
        if isinstance(with_, exp.With) and any(
                c.alias_or_name.lower() == name for c in with_.expressions):
            return True
        node = node.parent
    return False


def _virtual(node: exp.Table, scope: Scope) -> tuple[str, str | None] | None:
    catalog = (node.catalog or scope.catalog or "").lower()
    schema = (node.db or scope.schema or "").lower()
    name = node.name.lower()
    if schema == INFORMATION_SCHEMA and catalog in catalogs(scope.tables):
        key = f"{INFORMATION_SCHEMA}.{name}"
        return (key, catalog) if key in COLUMNS else None
    key = f"{catalog}.{schema}.{name}"
    return (key, None) if catalog == "system" and key in COLUMNS else None


def _local_table(name: str, node: exp.Table) -> exp.Table:
    alias = node.alias or node.name
    return exp.Table(this=exp.to_identifier(name),
                     alias=exp.TableAlias(this=exp.to_identifier(alias.lower())))


def _replace_session_functions(query: exp.Query, scope: Scope) -> None:
    values: dict[type[exp.Expr], str | None] = {
        exp.CurrentVersion: scope.version, exp.CurrentUser: scope.principal,
        exp.CurrentCatalog: scope.catalog, exp.CurrentSchema: scope.schema,
    }
    for node in list(query.find_all(*SESSION_FUNCTIONS)):
        value = values[type(node)]
        node.replace(exp.Literal.string(value) if value is not None else exp.Null())


def _name_outputs(query: exp.Query) -> None:
    """Trino's output names: a column's own (lower-case) name, ``_colN`` for expressions."""
    for select in query.find_all(exp.Select):
        named = []
        for index, projection in enumerate(select.expressions):
            named.append(_named(projection, index))
        select.set("expressions", named)


def _named(projection: exp.Expr, index: int) -> exp.Expr:
    if isinstance(projection, exp.Alias | exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)):
        return projection
    name = projection.name.lower() if isinstance(projection, exp.Column) else f"_col{index}"
    return exp.alias_(projection, name, quoted=True)


# --- running ----------------------------------------------------------------------------------


class MetadataResult:
    """A metadata query's rows, in the shape of an engine's result stream."""

    def __init__(self, columns: tuple[ResultColumn, ...], rows: list[tuple[object, ...]]) -> None:
        self.columns = columns
        self._rows = rows

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        for start in range(0, len(self._rows), size):
            yield self._rows[start:start + size]

    def cancel(self) -> None:
        """Nothing to stop: the rows are computed before the first page."""


def run(query: MetadataQuery, scope: Scope) -> MetadataResult:
    """Evaluate ``query`` over the visible metadata only, on a private empty DuckDB."""
    con = duckdb.connect(config={"enable_external_access": False,
                                 "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        for name, (virtual, catalog) in query.tables.items():
            _load(con, name, virtual, virtual_rows(virtual, scope.tables, catalog))
        cursor = con.execute(query.sql)
        columns = tuple(ResultColumn(d[0], str(d[1])) for d in cursor.description or ())
        return MetadataResult(columns, cursor.fetchall())
    except duckdb.Error:
        raise QueryError("the metadata query could not be evaluated") from None
    finally:
        con.close()


def _load(con: duckdb.DuckDBPyConnection, name: str, virtual: str,
          rows: list[tuple[object, ...]]) -> None:
    columns = COLUMNS[virtual]
    definition = ", ".join(f'"{column}" {kind}' for column, kind in columns)
    con.execute(f'CREATE TABLE "{name}" ({definition})')
    if rows:
        marks = ", ".join("?" for _ in columns)
        con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)
