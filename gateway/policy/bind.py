"""Step 2: bind. Resolve every table against the catalog and the principal's grants, qualify
every column, and expand ``*`` to the columns the principal may see.

A table that does not exist and one that is not granted get the same answer, so a refusal is no
oracle for what exists. Columns a grant denies are left out of the schema handed to sqlglot, so
a denied column and a missing one also read the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

from catalog.models import LOGICAL_SCHEMA, ActionKind, Grant, Table
from gateway.errors import ColumnDenied, GrantExpired, NotGranted, Unsupported
from gateway.policy.context import PolicyContext
from gateway.policy.scopes import own_nodes

# Nodes whose semantics the pipeline does not model; refusing them keeps it fail-closed.
REFUSED_NODES: dict[type[exp.Expr], str] = {
    exp.Lateral: "LATERAL",
    exp.Unnest: "UNNEST",
    exp.Explode: "UNNEST / EXPLODE",
    exp.TableSample: "TABLESAMPLE",
    exp.Pivot: "PIVOT",
    exp.MatchRecognize: "MATCH_RECOGNIZE",
    exp.Into: "SELECT INTO",
    exp.Lock: "FOR UPDATE / SHARE",
    exp.Placeholder: "unbound parameters",
    exp.Parameter: "parameters",
    exp.ReadCSV: "file-reading functions",
    exp.ReadParquet: "file-reading functions",
    exp.Anonymous: "functions Shuqiao does not know",
    exp.AnonymousAggFunc: "functions Shuqiao does not know",
    exp.UserDefinedFunction: "user-defined functions",
}
PLAIN_TABLE_ARGS = frozenset({"this", "db", "catalog", "alias"})
META_KEY = "shuqiao"


@dataclass(frozen=True, slots=True)
class TableUse:
    """One base-table reference in the statement, with the grant that covers it."""

    alias: str
    table: Table
    grant: Grant


@dataclass(frozen=True)
class Bound:
    """A qualified copy of the query; every base table carries its :class:`TableUse`."""

    query: exp.Query
    uses: tuple[TableUse, ...]

    def use_of(self, node: exp.Table) -> TableUse | None:
        """The use a base-table node stands for; ``None`` for CTE references."""
        index = node.meta.get(META_KEY)
        return self.uses[index] if isinstance(index, int) else None


def bind(query: exp.Query, ctx: PolicyContext, *, copy: bool = True) -> Bound:
    """Bind ``query`` (copied first unless ``copy=False`` hands the tree over, as the pipeline
    does with the fresh tree parse returns)."""
    query = query.copy() if copy else query
    _refuse_unknown_constructs(query)
    normalized = normalize_identifiers(query, dialect="trino")
    assert isinstance(normalized, exp.Query)
    tables = base_tables(normalized)
    uses = [_bind_table(node, index, ctx) for index, node in enumerate(tables)]
    qualified = _qualify(normalized, uses)
    expand_alias_references(qualified)
    return Bound(qualified, tuple(uses))


def base_tables(query: exp.Query) -> list[exp.Table]:
    """The table references that name stored tables, resolved scope by scope like the engine
    would; every other table reference must be a CTE visible where it stands."""
    root = build_scope(query)
    if root is None:
        raise Unsupported("the statement's structure is not supported")
    found: dict[int, exp.Table] = {}
    for scope in root.traverse():
        for source in scope.sources.values():
            if isinstance(source, exp.Table):
                found[id(source)] = source
        for node in own_nodes(scope):
            unresolved = isinstance(node, exp.Table) and id(node) not in found and (
                not isinstance(scope.sources.get(node.alias_or_name), Scope))
            if unresolved:
                raise Unsupported(f"table reference {node.name} could not be resolved")
    return list(found.values())


def expand_alias_references(query: exp.Query) -> None:
    """Replace each reference to a projection alias in ORDER BY / HAVING / QUALIFY by the
    projection itself, so the checker sees what is really ordered or filtered, and no engine can
    resolve the name to a different column than the checker did."""
    for select in query.find_all(exp.Select):
        aliases = {p.alias: p.this for p in select.expressions if isinstance(p, exp.Alias)}
        for key in ("order", "having", "qualify"):
            clause = select.args.get(key)
            for column in list(clause.find_all(exp.Column)) if clause else []:
                if not column.table and column.name in aliases and _owned_by(column, select):
                    column.replace(aliases[column.name].copy())


def _owned_by(node: exp.Expr, select: exp.Select) -> bool:
    return node.find_ancestor(exp.Select) is select


def _refuse_unknown_constructs(query: exp.Query) -> None:
    for node in query.walk():
        label = REFUSED_NODES.get(type(node))
        if label:
            raise Unsupported(f"{label} is not supported")
        if isinstance(node, exp.DML | exp.DDL | exp.Command) or (
                isinstance(node, exp.Query) and node.args.get("returning")):
            raise Unsupported(f"{node.key.upper()} inside a query is not supported")
    for source in _from_sources(query):
        if not isinstance(source, exp.Table | exp.Subquery | exp.Values):
            raise Unsupported(f"{source.key.upper()} in FROM is not supported")


def _from_sources(query: exp.Query) -> list[exp.Expr]:
    sources: list[exp.Expr] = [f.this for f in query.find_all(exp.From)]
    for join in query.find_all(exp.Join):
        if join.args.get("using") or join.args.get("method") or join.kind == "NATURAL":
            raise Unsupported("JOIN ... USING and NATURAL JOIN are not supported; use ON")
        sources.append(join.this)
    return sources


def _bind_table(node: exp.Table, index: int, ctx: PolicyContext) -> TableUse:
    extra = {k for k, v in node.args.items() if v and k not in PLAIN_TABLE_ARGS}
    alias = node.args.get("alias")
    if alias is not None and alias.columns:
        extra.add("column aliases")
    if extra or not isinstance(node.this, exp.Identifier):
        written = node.sql(dialect="trino")
        raise Unsupported(f"table reference {written} uses syntax that is not supported")
    name = _qualified_name(node, ctx)
    table = ctx.snapshot.table(name) if name else None
    if table is None:
        raise NotGranted(name or node.sql(dialect="trino"))
    grant = _grant_for(table, ctx)
    alias = node.alias_or_name.lower()
    use = TableUse(alias, table, grant)
    _normalise(node, table, alias)
    # An index, not the use itself: sqlglot deep-copies ``meta`` with every node copy.
    node.meta[META_KEY] = index
    return use


def _qualified_name(node: exp.Table, ctx: PolicyContext) -> str | None:
    catalog = node.catalog or ctx.default_catalog
    schema = node.db or ctx.default_schema
    if not catalog or not schema:
        return None
    # Trino folds every identifier, quoted or not, to lower case.
    return ".".join(part.lower() for part in (catalog, schema, node.name))


def _grant_for(table: Table, ctx: PolicyContext) -> Grant:
    grants = ctx.snapshot.grants_for(ctx.principal.name, table.qualified)
    if not grants:
        raise NotGranted(table.qualified)
    in_force = [g for g in grants if g.validity_problem(ctx.today) is None]
    if not in_force:
        reasons = "; ".join(p for g in grants if (p := g.validity_problem(ctx.today)))
        raise GrantExpired(f"table {table.qualified}: {reasons}")
    return in_force[0]


def _normalise(node: exp.Table, table: Table, alias: str) -> None:
    node.set("catalog", exp.to_identifier(table.source))
    node.set("db", exp.to_identifier(LOGICAL_SCHEMA))
    node.set("this", exp.to_identifier(table.name))
    node.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))


def _qualify(query: exp.Query, uses: list[TableUse]) -> exp.Query:
    schema = _schema(tuple(uses))
    try:
        result = qualify(
            query,
            schema=schema,
            dialect="trino",
            validate_qualify_columns=True,
            quote_identifiers=False,
            identify=False,
        )
    except OptimizeError as err:
        raise ColumnDenied(_column_message(str(err), uses)) from None
    assert isinstance(result, exp.Query)
    return result


@lru_cache(maxsize=1024)
def _schema(uses: tuple[TableUse, ...]) -> MappingSchema:
    """The tables' usable columns; memoised, as a statement's tables recur far more often than
    they change (grants and tables are immutable values, so the key is exact)."""
    mapping: dict[str, object] = {}
    visible: dict[str, object] = {}
    for use in uses:
        columns = _usable_columns(use)
        shown = {c for c, kind in columns.items() if kind in (ActionKind.ALLOW, ActionKind.MASK)}
        _nest(mapping, use.table.source, use.table.name)[use.table.name] = {
            c: "UNKNOWN" for c in columns
        }
        _nest(visible, use.table.source, use.table.name)[use.table.name] = shown
    return MappingSchema(mapping, visible=visible, dialect="trino")


def _nest(tree: dict[str, object], catalog: str, table: str) -> dict[str, object]:
    """The ``{catalog: {schema: {...}}}`` level of ``tree`` holding ``table``."""
    schemas = tree.setdefault(catalog, {})
    assert isinstance(schemas, dict)
    tables = schemas.setdefault(LOGICAL_SCHEMA, {})
    assert isinstance(tables, dict)
    return tables


def _usable_columns(use: TableUse) -> Mapping[str, ActionKind]:
    actions = {c.name: use.grant.action(c.name).kind for c in use.table.columns}
    return {name: kind for name, kind in actions.items() if kind is not ActionKind.DENY}


def _column_message(detail: str, uses: list[TableUse]) -> str:
    # sqlglot names the identifier the user wrote ("Unknown column: x" or "Column 'x' could
    # not be resolved"); keep only that part.
    found = re.search(r"Unknown column: (\S+)|Column '([^']*)'", detail)
    name = next((g for g in found.groups() if g), "?") if found else "?"
    if len({u.grant.id for u in uses}) == 1:
        grant = uses[0].grant
        return (
            f"column {name} does not exist or is denied to you "
            f"(grant {grant.id} on {uses[0].table.qualified}, rule: deny)"
        )
    return f"column {name} does not exist, is ambiguous, or is denied to you (rule: deny)"
