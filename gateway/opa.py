"""Decisions for Trino's OPA access-control plugin: the gateway's grants, enforced by Trino itself
for clients that connect to Trino directly.

Pure functions over a :class:`~catalog.models.CatalogSnapshot` and ``today``; HTTP lives in
``gateway.server.opa_routes``. The plugin (Trino 476) posts ``{"input": {"context": {"identity":
{"user": ...}}, "action": {"operation": ..., "resource" | "filterResources": ...}}}`` and reads::

    allow        {"result": true | false}
    batch        {"result": [indexes of filterResources allowed]}   (FilterColumns: indexes
                 into the single table resource's ``columns``)
    row filters  {"result": [{"expression": "<Trino boolean>"}]}
    column masks {"result": [{"index": i, "viewExpression": {"expression": "<Trino SQL>"}}]}

Trino names tables by their physical schema and name (``transport.shuqiao_transport.trips``
for a MariaDB source); grants name them logically (``transport.public.trips``). The catalog
maps one to the other.

Rules, for a principal (the Trino user of the same name):

- a table is *readable* when the grant the gateway would use for it (the most specific one in
  force) exists and is not aggregate-only: Trino cannot hold a query to aggregates with a
  minimum group size, so such tables are denied entirely;
- of a readable table, ``allow`` columns are visible as stored, ``mask:<fn>`` columns through
  the mask rendered in Trino's dialect (cast back to the column's type, as Trino requires);
  ``match`` columns are denied, since Trino cannot restrict a column to equality comparisons,
  and so are ``deny`` columns and unnamed ones;
- columns under a keyed mask (``hash``) are denied too: Trino shows a query's column masks to
  the user who runs it (``EXPLAIN``, the query's plan in the web UI), so the key would reach the
  very principal it keeps pseudonyms from, who could then hash every identity number;
- the grant's row filter is the table's row filter;
- catalogs, schemas, tables and columns are listed (``Filter*``, ``Show*``) only when they lead
  to something readable; a catalog's ``information_schema`` is readable when the catalog is,
  and Trino filters its rows by the same rules;
- the principal runs queries and sees or kills only its own; only the statement time limit may
  be set as a session property; only ``system.builtin`` functions run.

The gateway's service user reads every registered table of the departmental catalogs, unmasked
and unfiltered (it queries through policy views the gateway wrote), like the file-based rules of
``gateway.trino_config``. Nobody reads the ``system`` catalog or runs connector table functions
and procedures. An unknown user, operation or request shape is denied: fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

import sqlglot
from sqlglot import exp

from catalog.models import ActionKind, CatalogSnapshot, ColumnAction, Grant, Table
from gateway.policy.masks import mask_expression
from gateway.trino_config import SYSTEM_CATALOG, TIME_LIMIT_PROPERTY

INFORMATION_SCHEMA = "information_schema"
BUILTIN_FUNCTIONS = ("system", "builtin")
#: What a row filter is for a table the user may not read (it is denied anyway).
NO_ROWS = "FALSE"
#: Masks whose expression holds a secret: never handed to Trino (see the module docstring).
KEYED_MASKS = frozenset({"hash"})
_TRINO_TYPE = re.compile(r"[a-z][a-z0-9 ]*(\([0-9, ]+\))?( with(out)? time zone)?")


class OpaRequestError(ValueError):
    """The plugin's request does not have the shape this module understands."""


# ---------------------------------------------------------------------------------------------
# Requests


@dataclass(frozen=True, slots=True)
class Resource:
    """One ``resource`` (or ``filterResources`` item) of a request, flattened."""

    catalog: str | None = None
    schema: str | None = None
    table: str | None = None
    columns: tuple[str, ...] = ()
    column_type: str | None = None
    function: str | None = None
    user: str | None = None
    property: str | None = None


@dataclass(frozen=True, slots=True)
class OpaRequest:
    user: str
    operation: str
    resource: Resource | None = None
    filter_resources: tuple[Resource, ...] = ()


def parse_request(body: object) -> OpaRequest:
    """The request the plugin posted; raises :class:`OpaRequestError` on any other shape."""
    query = _object(_object(body, "body").get("input"), "input")
    action = _object(query.get("action"), "action")
    identity = _object(_object(query.get("context"), "context").get("identity"), "identity")
    resource = action.get("resource")
    filtered = action.get("filterResources") or []
    if not isinstance(filtered, list):
        raise OpaRequestError("filterResources must be a list")
    return OpaRequest(
        user=_text(identity.get("user"), "identity.user"),
        operation=_text(action.get("operation"), "action.operation"),
        resource=None if resource is None else parse_resource(resource),
        filter_resources=tuple(parse_resource(item) for item in filtered),
    )


def parse_resource(node: object) -> Resource:
    found = _object(node, "resource")
    for key, read in _RESOURCE_READERS.items():
        if found.get(key) is not None:
            return read(_object(found[key], key))
    raise OpaRequestError("a resource names nothing this endpoint knows")


def _table_resource(node: Mapping[str, Any]) -> Resource:
    columns = node.get("columns") or []
    if not isinstance(columns, list):
        raise OpaRequestError("table.columns must be a list")
    return Resource(catalog=_name(node, "catalogName"), schema=_name(node, "schemaName"),
                    table=_name(node, "tableName"),
                    columns=tuple(_text(c, "column name") for c in columns))


def _column_resource(node: Mapping[str, Any]) -> Resource:
    return Resource(catalog=_name(node, "catalogName"), schema=_name(node, "schemaName"),
                    table=_name(node, "tableName"), columns=(_text(node.get("columnName"),
                                                                   "columnName"),),
                    column_type=_text(node.get("columnType"), "columnType"))


def _schema_resource(node: Mapping[str, Any]) -> Resource:
    return Resource(catalog=_name(node, "catalogName"), schema=_name(node, "schemaName"))


def _catalog_resource(node: Mapping[str, Any]) -> Resource:
    return Resource(catalog=_name(node, "name"))


def _function_resource(node: Mapping[str, Any]) -> Resource:
    return Resource(catalog=_optional(node, "catalogName"), schema=_optional(node, "schemaName"),
                    function=_text(node.get("functionName"), "functionName"))


def _user_resource(node: Mapping[str, Any]) -> Resource:
    return Resource(user=_text(node.get("user"), "user"))


def _system_property(node: Mapping[str, Any]) -> Resource:
    return Resource(property=_text(node.get("name"), "name"))


def _catalog_property(node: Mapping[str, Any]) -> Resource:
    return Resource(catalog=_name(node, "catalogName"),
                    property=_text(node.get("propertyName"), "propertyName"))


_RESOURCE_READERS: Mapping[str, Callable[[Mapping[str, Any]], Resource]] = {
    "column": _column_resource,
    "table": _table_resource,
    "schema": _schema_resource,
    "catalog": _catalog_resource,
    "function": _function_resource,
    "user": _user_resource,
    "systemSessionProperty": _system_property,
    "catalogSessionProperty": _catalog_property,
}


def _object(node: object, what: str) -> Mapping[str, Any]:
    if not isinstance(node, dict):
        raise OpaRequestError(f"{what} must be an object")
    return node


def _text(node: object, what: str) -> str:
    if not isinstance(node, str):
        raise OpaRequestError(f"{what} must be a string")
    return node


def _name(node: Mapping[str, Any], key: str) -> str:
    """Trino sends object names lower-cased already; lower them again to be sure."""
    return _text(node.get(key), key).lower()


def _optional(node: Mapping[str, Any], key: str) -> str | None:
    return None if node.get(key) is None else _name(node, key)


# ---------------------------------------------------------------------------------------------
# What one user may read


@dataclass(frozen=True, slots=True)
class TrinoName:
    """A table as Trino names it: catalog (the source), physical schema and table, lower case."""

    catalog: str
    schema: str
    table: str

    @classmethod
    def of(cls, table: Table) -> TrinoName:
        return cls(table.source, table.physical_schema.lower(), table.physical.lower())


@dataclass(frozen=True, slots=True)
class Readable:
    """A table the user may read, under ``grant`` (``None``: the service user, unrestricted)."""

    table: Table
    grant: Grant | None = None

    def action(self, column: str) -> ColumnAction | None:
        """``None`` for an unrestricted read; otherwise the grant's action for ``column``."""
        return None if self.grant is None else self.grant.action(column)

    def visible(self, column: str) -> bool:
        action = self.action(column)
        return action is None or action.kind is ActionKind.ALLOW or (
            action.kind is ActionKind.MASK and action.mask not in KEYED_MASKS)


@dataclass(frozen=True)
class Scope:
    """Everything one Trino user may read; empty for an unknown user."""

    user: str
    known: bool
    service: bool = False
    tables: Mapping[TrinoName, Readable] = field(default_factory=dict)

    @property
    def catalogs(self) -> frozenset[str]:
        return frozenset(name.catalog for name in self.tables)

    def schema_visible(self, catalog: str, schema: str) -> bool:
        if schema == INFORMATION_SCHEMA:
            return catalog in self.catalogs
        return any(n.catalog == catalog and n.schema == schema for n in self.tables)

    def readable(self, catalog: str, schema: str, table: str) -> Readable | None:
        """The table's read, also for the ``information_schema`` of a readable catalog."""
        found = self.tables.get(TrinoName(catalog, schema, table))
        if found is None and schema == INFORMATION_SCHEMA and catalog in self.catalogs:
            return _UNRESTRICTED
        return found


_UNRESTRICTED = Readable(Table("", "", ()))


@dataclass(frozen=True)
class OpaPolicy:
    """The inputs of every decision: the catalog, the day, and who the gateway itself is."""

    snapshot: CatalogSnapshot
    today: date
    service_user: str

    def scope(self, user: str) -> Scope:
        if user == self.service_user:
            tables = {TrinoName.of(t): Readable(t) for t in self.snapshot.tables}
            return Scope(user, True, True, _departmental(tables))
        if self.snapshot.principal(user) is None:
            return Scope(user, False)
        granted = ((t, grant_in_force(self.snapshot, user, t, self.today))
                   for t in self.snapshot.tables)
        tables = {TrinoName.of(t): Readable(t, g) for t, g in granted
                  if g is not None and g.aggregate_only is None}
        return Scope(user, True, False, _departmental(tables))


def grant_in_force(snapshot: CatalogSnapshot, principal: str, table: Table,
                   today: date) -> Grant | None:
    """The grant the gateway would read ``table`` under (the most specific one in force)."""
    grants = snapshot.grants_for(principal, table.qualified)
    return next((g for g in grants if g.validity_problem(today) is None), None)


def _departmental(tables: Mapping[TrinoName, Readable]) -> dict[TrinoName, Readable]:
    return {name: read for name, read in tables.items() if name.catalog != SYSTEM_CATALOG}


# ---------------------------------------------------------------------------------------------
# Allow / deny, one rule per operation the plugin sends; any other operation is denied.

Rule = Callable[[Scope, Resource | None], bool]


def _execute_query(scope: Scope, resource: Resource | None) -> bool:
    return scope.known


def _own_query(scope: Scope, resource: Resource | None) -> bool:
    return scope.known and resource is not None and resource.user == scope.user


def _catalog(scope: Scope, resource: Resource | None) -> bool:
    return resource is not None and resource.catalog in scope.catalogs


def _schema(scope: Scope, resource: Resource | None) -> bool:
    if resource is None or resource.catalog is None or resource.schema is None:
        return False
    return scope.schema_visible(resource.catalog, resource.schema)


def _table(scope: Scope, resource: Resource | None) -> bool:
    return _read_of(scope, resource) is not None


def _columns(scope: Scope, resource: Resource | None) -> bool:
    """Every column named is visible (none named: the table itself, as for ``count(*)``)."""
    read = _read_of(scope, resource)
    return read is not None and resource is not None and all(
        read.visible(c) for c in resource.columns)


def _time_limit(scope: Scope, resource: Resource | None) -> bool:
    return scope.known and resource is not None and resource.property == TIME_LIMIT_PROPERTY


def _builtin_function(scope: Scope, resource: Resource | None) -> bool:
    return scope.known and resource is not None and (
        (resource.catalog, resource.schema) == BUILTIN_FUNCTIONS)


def _read_of(scope: Scope, resource: Resource | None) -> Readable | None:
    if resource is None:
        return None
    catalog, schema, table = resource.catalog, resource.schema, resource.table
    if catalog is None or schema is None or table is None:
        return None
    return scope.readable(catalog, schema, table)


RULES: Mapping[str, Rule] = {
    "ExecuteQuery": _execute_query,
    "ViewQueryOwnedBy": _own_query,
    "KillQueryOwnedBy": _own_query,
    "FilterViewQueryOwnedBy": _own_query,
    "AccessCatalog": _catalog,
    "FilterCatalogs": _catalog,
    "ShowSchemas": _catalog,
    "FilterSchemas": _schema,
    "ShowTables": _schema,
    "FilterTables": _table,
    "ShowColumns": _table,
    "FilterColumns": _columns,
    "SelectFromColumns": _columns,
    "SetSystemSessionProperty": _time_limit,
    "ExecuteFunction": _builtin_function,
    "FilterFunctions": _builtin_function,
}


def allow(policy: OpaPolicy, request: OpaRequest) -> bool:
    """The answer to a single request (``opa.policy.uri``)."""
    rule = RULES.get(request.operation)
    return rule is not None and rule(policy.scope(request.user), request.resource)


def batch(policy: OpaPolicy, request: OpaRequest) -> list[int]:
    """The indexes allowed of a batched request (``opa.policy.batched-uri``)."""
    rule = RULES.get(request.operation)
    if rule is None:
        return []
    scope = policy.scope(request.user)
    if request.operation == "FilterColumns":
        return _visible_columns(scope, request.filter_resources)
    return [i for i, item in enumerate(request.filter_resources) if rule(scope, item)]


def _visible_columns(scope: Scope, resources: Sequence[Resource]) -> list[int]:
    """Batched FilterColumns sends one table whose ``columns`` the indexes point into."""
    if len(resources) != 1:
        return []
    read = _read_of(scope, resources[0])
    if read is None:
        return []
    return [i for i, column in enumerate(resources[0].columns) if read.visible(column)]


# ---------------------------------------------------------------------------------------------
# Row filters and column masks


def row_filters(policy: OpaPolicy, request: OpaRequest) -> list[str]:
    """The row filter expressions of ``GetRowFilters`` on one table."""
    if request.operation != "GetRowFilters":
        raise OpaRequestError(f"expected GetRowFilters, got {request.operation}")
    read = _read_of(policy.scope(request.user), request.resource)
    if read is None:
        return [NO_ROWS]
    text = read.grant.row_filter if read.grant is not None else None
    return [trino_filter(text)] if text else []


def column_masks(policy: OpaPolicy, request: OpaRequest) -> list[tuple[int, str]]:
    """``(index, expression)`` for each masked column of a batched ``GetColumnMask``."""
    if request.operation != "GetColumnMask":
        raise OpaRequestError(f"expected GetColumnMask, got {request.operation}")
    scope = policy.scope(request.user)
    return [(i, mask) for i, item in enumerate(request.filter_resources)
            if (mask := _mask_of(scope, item)) is not None]


def _mask_of(scope: Scope, resource: Resource) -> str | None:
    """``None`` for a column seen as stored. A column the user may not read is nulled, should
    Trino ever evaluate it (its access is denied before that)."""
    if len(resource.columns) != 1:
        raise OpaRequestError("a column mask request names one column per resource")
    column = resource.columns[0]
    read = _read_of(scope, resource)
    action = read.action(column) if read is not None else None
    if read is not None and (action is None or action.kind is ActionKind.ALLOW):
        return None
    if read is not None and read.visible(column) and action is not None and action.mask:
        return trino_mask(action.mask, column, resource.column_type)
    return _typed(exp.Null(), resource.column_type)


@lru_cache(maxsize=4096)
def trino_mask(mask: str, column: str, column_type: str | None) -> str:
    """The mask over ``column`` in Trino's dialect, cast to the column's own type. Keyed masks
    are never rendered here, so no key is needed."""
    if mask in KEYED_MASKS:
        raise ValueError(f"mask {mask} holds a key and is not handed to Trino")
    masked = mask_expression(mask, exp.column(column), "trino", "")
    return _typed(masked, column_type)


def _typed(expression: exp.Expr, column_type: str | None) -> str:
    sql = expression.sql(dialect="trino", identify=True)
    if column_type is None or not _TRINO_TYPE.fullmatch(column_type):
        return sql
    return f"CAST({sql} AS {column_type})"


@lru_cache(maxsize=1024)
def trino_filter(text: str) -> str:
    """A grant's row filter as the gateway renders it for Trino (identifiers quoted)."""
    return sqlglot.parse_one(text, read="trino").sql(dialect="trino", identify=True)
