"""What a principal may see of the catalog, as the tables Trino clients browse. Pure functions.

Everything here is a function of a catalog snapshot, a principal and the day: no I/O.

Visibility follows the grants exactly as the policy pipeline does: a table is visible only when
a grant covers it *and is in force today* (the most specific one, as ``bind`` picks it); of its
columns, those the grant makes ``allow``, ``mask:<fn>`` or ``match`` are listed, and ``deny``
columns (and columns the grant does not name) are not. Match columns are listed because they
may be used to join and filter; their comment says they are never returned. A masked column is
listed with the type its mask yields (``mask:date`` turns a timestamp into a date). A principal
with no grant in force on any table of a source does not see that source (catalog) at all.

Only the ``public`` schema of each catalog is listed; ``<catalog>.information_schema.*`` and
``system.jdbc.*`` answer queries but are not listed as tables themselves.

:func:`virtual_tables` builds the rows of ``information_schema.schemata / tables / columns /
views``, ``system.jdbc.catalogs / schemas / tables / columns / table_types / types`` and
``system.metadata.table_comments``; :func:`show_sql` turns ``SHOW ...`` and ``DESCRIBE`` into
queries over them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from catalog.models import LOGICAL_SCHEMA, ActionKind, CatalogSnapshot, ColumnAction, Grant, Table
from gateway.errors import NotAuthenticated, NotGranted, PolicyError, QueryError
from gateway.server.encoding import TrinoType, trino_type
from gateway.server.statements import Show

#: The type a mask's value has, where it differs from the column's own type.
MASK_TYPES = {
    "date": "DATE", "month": "DATE", "year": "DATE",
    "id_no": "VARCHAR", "name": "VARCHAR", "phone": "VARCHAR", "address_district": "VARCHAR",
    "bank_card": "VARCHAR", "hash": "VARCHAR",
}
INFORMATION_SCHEMA = "information_schema"


@dataclass(frozen=True, slots=True)
class VisibleColumn:
    name: str
    type: TrinoType
    action: ColumnAction
    comment: str


@dataclass(frozen=True, slots=True)
class VisibleTable:
    catalog: str
    name: str
    grant: Grant
    columns: tuple[VisibleColumn, ...]
    comment: str
    schema: str = LOGICAL_SCHEMA


def visible_tables(snapshot: CatalogSnapshot, principal: str, today: date
                   ) -> tuple[VisibleTable, ...]:
    """The tables (and columns) ``principal`` may use today, in catalog order."""
    if snapshot.principal(principal) is None:
        raise NotAuthenticated(f"unknown principal {principal!r}")
    found = (_visible(t, snapshot, principal, today) for t in snapshot.tables)
    return tuple(sorted((t for t in found if t is not None), key=lambda t: (t.catalog, t.name)))


def _visible(table: Table, snapshot: CatalogSnapshot, principal: str, today: date
             ) -> VisibleTable | None:
    grants = [g for g in snapshot.grants_for(principal, table.qualified)
              if g.validity_problem(today) is None]
    if not grants:
        return None
    grant = grants[0]
    columns = tuple(
        VisibleColumn(c.name, _shown_type(c.type, action), action,
                      _column_comment(c.description, action))
        for c in table.columns
        if (action := grant.action(c.name)).kind is not ActionKind.DENY
    )
    return VisibleTable(table.source, table.name, grant, columns, _table_comment(table, grant))


def _shown_type(declared: str, action: ColumnAction) -> TrinoType:
    if action.kind is ActionKind.MASK and action.mask in MASK_TYPES:
        return trino_type(MASK_TYPES[action.mask])
    return trino_type(declared)


def _column_comment(description: str, action: ColumnAction) -> str:
    notes = {
        ActionKind.MASK: f"[masked: {action.mask}]",
        ActionKind.MATCH: "[match: compare for equality only; never returned]",
    }
    note = notes.get(action.kind, "")
    return " ".join(p for p in (description, note) if p)


def _table_comment(table: Table, grant: Grant) -> str:
    scope = f"[grant {grant.id}: {grant.purpose}"
    if grant.valid_until:
        scope += f"; until {grant.valid_until.isoformat()}"
    if grant.aggregate_only:
        scope += f"; aggregate only, groups of at least {grant.aggregate_only.min_group_size}"
    return " ".join(p for p in (table.description, scope + "]") if p)


def catalogs(tables: Sequence[VisibleTable]) -> tuple[str, ...]:
    return tuple(sorted({t.catalog for t in tables}))


def find_table(tables: Sequence[VisibleTable], catalog: str, schema: str, name: str
               ) -> VisibleTable | None:
    return next((t for t in tables
                 if (t.catalog, t.schema, t.name) == (catalog, schema, name)), None)


# --- virtual tables ---------------------------------------------------------------------------

Row = tuple[object, ...]
Columns = tuple[tuple[str, str], ...]

V, B = "VARCHAR", "BIGINT"
COLUMNS: dict[str, Columns] = {
    "information_schema.schemata": (("catalog_name", V), ("schema_name", V)),
    "information_schema.tables": (("table_catalog", V), ("table_schema", V), ("table_name", V),
                                  ("table_type", V)),
    "information_schema.columns": (
        ("table_catalog", V), ("table_schema", V), ("table_name", V), ("column_name", V),
        ("ordinal_position", B), ("column_default", V), ("is_nullable", V), ("data_type", V),
        ("comment", V)),
    "information_schema.views": (("table_catalog", V), ("table_schema", V), ("table_name", V),
                                 ("view_owner", V), ("view_definition", V)),
    "system.jdbc.catalogs": (("table_cat", V),),
    "system.jdbc.schemas": (("table_schem", V), ("table_catalog", V)),
    "system.jdbc.tables": (
        ("table_cat", V), ("table_schem", V), ("table_name", V), ("table_type", V),
        ("remarks", V), ("type_cat", V), ("type_schem", V), ("type_name", V),
        ("self_referencing_col_name", V), ("ref_generation", V)),
    "system.jdbc.columns": (
        ("table_cat", V), ("table_schem", V), ("table_name", V), ("column_name", V),
        ("data_type", B), ("type_name", V), ("column_size", B), ("buffer_length", B),
        ("decimal_digits", B), ("num_prec_radix", B), ("nullable", B), ("remarks", V),
        ("column_def", V), ("sql_data_type", B), ("sql_datetime_sub", B),
        ("char_octet_length", B), ("ordinal_position", B), ("is_nullable", V),
        ("scope_catalog", V), ("scope_schema", V), ("scope_table", V),
        ("source_data_type", B), ("is_autoincrement", V), ("is_generatedcolumn", V)),
    "system.jdbc.table_types": (("table_type", V),),
    "system.jdbc.types": (
        ("type_name", V), ("data_type", B), ("precision", B), ("literal_prefix", V),
        ("literal_suffix", V), ("create_params", V), ("nullable", B), ("case_sensitive", "BOOLEAN"),
        ("searchable", B), ("unsigned_attribute", "BOOLEAN"), ("fixed_prec_scale", "BOOLEAN"),
        ("auto_increment", "BOOLEAN"), ("local_type_name", V), ("minimum_scale", B),
        ("maximum_scale", B), ("sql_data_type", B), ("sql_datetime_sub", B),
        ("num_prec_radix", B)),
    "system.metadata.table_comments": (("catalog_name", V), ("schema_name", V),
                                       ("table_name", V), ("comment", V)),
}



def _spec(text: str) -> Columns:
    """``"name other:B"`` -> ((name, VARCHAR), (other, BIGINT))."""
    kinds = {"V": V, "B": B}
    return tuple((n, kinds[k or "V"]) for n, _, k in (w.partition(":") for w in text.split()))


#: Tables JDBC's DatabaseMetaData reads that have nothing to list here: always empty.
EMPTY_JDBC_TABLES: dict[str, Columns] = {
    "system.jdbc.procedures": _spec(
        "procedure_cat procedure_schem procedure_name remarks procedure_type:B specific_name"),
    "system.jdbc.procedure_columns": _spec(
        "procedure_cat procedure_schem procedure_name column_name column_type:B data_type:B "
        "type_name precision:B length:B scale:B radix:B nullable:B remarks column_def "
        "sql_data_type:B sql_datetime_sub:B char_octet_length:B ordinal_position:B "
        "is_nullable specific_name"),
    "system.jdbc.udts": _spec(
        "type_cat type_schem type_name class_name data_type:B remarks base_type:B"),
    "system.jdbc.super_types": _spec(
        "type_cat type_schem type_name supertype_cat supertype_schem supertype_name"),
    "system.jdbc.super_tables": _spec("table_cat table_schem table_name supertable_name"),
    "system.jdbc.attributes": _spec(
        "type_cat type_schem type_name attr_name data_type:B attr_type_name attr_size:B "
        "decimal_digits:B num_prec_radix:B nullable:B remarks attr_def sql_data_type:B "
        "sql_datetime_sub:B char_octet_length:B ordinal_position:B is_nullable scope_catalog "
        "scope_schema scope_table source_data_type:B"),
    "system.jdbc.pseudo_columns": _spec(
        "table_cat table_schem table_name column_name data_type:B column_size:B "
        "decimal_digits:B num_prec_radix:B column_usage remarks char_octet_length:B "
        "is_nullable"),
}
COLUMNS.update(EMPTY_JDBC_TABLES)

#: java.sql.Types codes by Trino raw type.
JDBC_TYPES = {
    "boolean": 16, "tinyint": -6, "smallint": 5, "integer": 4, "bigint": -5, "real": 7,
    "double": 8, "decimal": 3, "varchar": 12, "char": 1, "varbinary": -3, "date": 91,
    "time": 92, "time with time zone": 2013, "timestamp": 93,
    "timestamp with time zone": 2014, "array": 2003,
}
FIXED_SIZES = {"bigint": 19, "integer": 10, "smallint": 5, "tinyint": 3, "real": 24,
               "double": 53, "date": 14, "varbinary": 2147483647}
TYPE_NAMES = ("boolean", "tinyint", "smallint", "integer", "bigint", "real", "double",
              "decimal(38,0)", "varchar", "char(1)", "varbinary", "date", "time(3)",
              "timestamp(3)", "timestamp(3) with time zone", "array(integer)")


def virtual_rows(name: str, tables: Sequence[VisibleTable], catalog: str | None) -> list[Row]:
    """The rows of virtual table ``name`` (a key of :data:`COLUMNS`); ``catalog`` narrows the
    ``information_schema`` tables to one catalog, as Trino's per-catalog schemas do."""
    scoped = [t for t in tables if catalog is None or t.catalog == catalog]
    return _ROWS[name](scoped)


def _schemata(tables: Sequence[VisibleTable]) -> list[Row]:
    return [(c, LOGICAL_SCHEMA) for c in catalogs(tables)]


def _info_tables(tables: Sequence[VisibleTable]) -> list[Row]:
    return [(t.catalog, t.schema, t.name, "BASE TABLE") for t in tables]


def _info_columns(tables: Sequence[VisibleTable]) -> list[Row]:
    return [
        (t.catalog, t.schema, t.name, c.name, position, None, "YES", c.type.sql_name, c.comment)
        for t in tables for position, c in enumerate(t.columns, start=1)
    ]


def _jdbc_catalogs(tables: Sequence[VisibleTable]) -> list[Row]:
    return [(c,) for c in catalogs(tables)]


def _jdbc_schemas(tables: Sequence[VisibleTable]) -> list[Row]:
    return [(LOGICAL_SCHEMA, c) for c in catalogs(tables)]


def _jdbc_tables(tables: Sequence[VisibleTable]) -> list[Row]:
    return [(t.catalog, t.schema, t.name, "TABLE", t.comment, None, None, None, None, None)
            for t in tables]


def _jdbc_columns(tables: Sequence[VisibleTable]) -> list[Row]:
    return [
        (t.catalog, t.schema, t.name, c.name, *_jdbc_type(c.type), 0, _decimal_digits(c.type),
         _radix(c.type), 2, c.comment or None, None, None, None, _octet_length(c.type),
         position, "", None, None, None, None, "", "")
        for t in tables for position, c in enumerate(t.columns, start=1)
    ]


def _jdbc_type(kind: TrinoType) -> tuple[int, str, int | None]:
    return JDBC_TYPES.get(kind.raw, 2000), kind.sql_name, column_size(kind)


def column_size(kind: TrinoType) -> int | None:
    """The JDBC COLUMN_SIZE: digits for numbers, characters for strings and date-times."""
    if kind.raw in FIXED_SIZES:
        return FIXED_SIZES[kind.raw]
    first = kind.arguments[0] if kind.arguments else None
    if kind.raw in ("decimal", "varchar", "char") and isinstance(first, int):
        return first
    precision = kind.precision
    if kind.raw == "time":
        return 8 + min(precision, 1) + precision
    if kind.raw == "timestamp":
        return 21 + min(precision, 1) + precision
    return None


def _decimal_digits(kind: TrinoType) -> int | None:
    if kind.raw == "decimal" and len(kind.arguments) > 1:
        scale = kind.arguments[1]
        return scale if isinstance(scale, int) else None
    if kind.raw in ("time", "timestamp", "time with time zone", "timestamp with time zone"):
        return kind.precision
    return None


def _radix(kind: TrinoType) -> int | None:
    if kind.raw in ("bigint", "integer", "smallint", "tinyint", "decimal"):
        return 10
    return 2 if kind.raw in ("real", "double") else None


def _octet_length(kind: TrinoType) -> int | None:
    if kind.raw in ("varchar", "char", "varbinary"):
        return column_size(kind)
    return None


def _table_types(tables: Sequence[VisibleTable]) -> list[Row]:
    return [("TABLE",), ("VIEW",)]


def _types(tables: Sequence[VisibleTable]) -> list[Row]:
    rows: list[Row] = []
    for name in TYPE_NAMES:
        kind = trino_type(name)
        searchable = 3 if kind.raw != "array" else 0
        rows.append((kind.raw, JDBC_TYPES.get(kind.raw, 2000), column_size(kind), None, None,
                     None, 1, False, searchable, None, False, None, None, 0, 0, None, None,
                     _radix(kind)))
    return rows


def _table_comments(tables: Sequence[VisibleTable]) -> list[Row]:
    return [(t.catalog, t.schema, t.name, t.comment) for t in tables]


def _no_rows(tables: Sequence[VisibleTable]) -> list[Row]:
    return []


_ROWS: dict[str, Callable[[Sequence[VisibleTable]], list[Row]]] = {
    "information_schema.schemata": _schemata,
    "information_schema.tables": _info_tables,
    "information_schema.columns": _info_columns,
    "information_schema.views": _no_rows,
    "system.jdbc.catalogs": _jdbc_catalogs,
    "system.jdbc.schemas": _jdbc_schemas,
    "system.jdbc.tables": _jdbc_tables,
    "system.jdbc.columns": _jdbc_columns,
    "system.jdbc.table_types": _table_types,
    "system.jdbc.types": _types,
    "system.metadata.table_comments": _table_comments,
    **{name: _no_rows for name in EMPTY_JDBC_TABLES},
}

# --- SHOW and DESCRIBE ------------------------------------------------------------------------


def show_sql(show: Show, tables: Sequence[VisibleTable], catalog: str | None,
             schema: str | None) -> str:
    """The query over the virtual tables that answers ``show`` for this session."""
    if show.kind == "catalogs":
        return _ordered('SELECT table_cat AS "Catalog" FROM system.jdbc.catalogs',
                        _like("table_cat", show), "1")
    if show.kind == "schemas":
        target = _catalog_of(show.target or (_required(catalog, "catalog"),), tables)
        return _ordered(
            f'SELECT schema_name AS "Schema" FROM {_ident(target)}.information_schema.schemata',
            _like("schema_name", show), "1")
    if show.kind == "tables":
        return _show_tables(show, tables, catalog, schema)
    return _show_columns(show, tables, catalog, schema)


def _show_tables(show: Show, tables: Sequence[VisibleTable], catalog: str | None,
                 schema: str | None) -> str:
    target = show.target or (_required(schema, "schema"),)
    if len(target) == 1:
        target = (_required(catalog, "catalog"), *target)
    in_catalog = _catalog_of(target[:1], tables)
    in_schema = _schema_of(in_catalog, target[1:], tables)
    where = f"table_schema = {_string(in_schema)}" + _like(" AND table_name", show)
    return (f'SELECT table_name AS "Table" FROM {_ident(in_catalog)}.information_schema.tables'
            f" WHERE {where} ORDER BY 1")


def _show_columns(show: Show, tables: Sequence[VisibleTable], catalog: str | None,
                  schema: str | None) -> str:
    parts = show.target
    if len(parts) < 3:
        parts = (*((_required(catalog, "catalog"),) if len(parts) == 2 else
                   (_required(catalog, "catalog"), _required(schema, "schema"))), *parts)
    if len(parts) != 3 or find_table(tables, *parts) is None:
        raise NotGranted(".".join(parts))
    where = f"table_schema = {_string(parts[1])} AND table_name = {_string(parts[2])}"
    where += _like(" AND column_name", show)
    return ('SELECT column_name AS "Column", data_type AS "Type", \'\' AS "Extra",'
            f' comment AS "Comment" FROM {_ident(parts[0])}.information_schema.columns'
            f" WHERE {where} ORDER BY ordinal_position")


def _catalog_of(target: tuple[str, ...], tables: Sequence[VisibleTable]) -> str:
    if len(target) != 1 or target[0] not in catalogs(tables):
        raise PolicyError(f"catalog {'.'.join(target)} does not exist or is not granted to you")
    return target[0]


def _schema_of(catalog: str, target: tuple[str, ...], tables: Sequence[VisibleTable]) -> str:
    if len(target) != 1 or target[0] != LOGICAL_SCHEMA:
        raise PolicyError(
            f"schema {catalog}.{'.'.join(target)} does not exist or is not granted to you")
    return target[0]


def _required(value: str | None, what: str) -> str:
    if not value:
        raise QueryError(f"{what} must be specified when session {what} is not set")
    return value


def _like(column: str, show: Show) -> str:
    if show.like is None:
        return ""
    text = f"{column} LIKE {_string(show.like)}"
    if show.escape is not None:
        text += f" ESCAPE {_string(show.escape)}"
    return text if column.startswith(" AND") else f" WHERE {text}"


def _ordered(select: str, where: str, order: str) -> str:
    return f"{select}{where} ORDER BY {order}"


def _string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
