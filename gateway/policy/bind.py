"""Step 2: bind. Resolve every table against the catalog and the principal's grants, qualify
every column, and expand ``*`` to the columns the principal may see.

A table that does not exist and one that is not granted get the same answer, so a refusal is no
oracle for what exists. Columns a grant denies are left out of the schema handed to sqlglot, so
a denied column and a missing one also read the same.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, auto
from functools import lru_cache

from sqlglot import exp
from sqlglot.dialects.dialect import NormalizationStrategy
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify_columns import qualify_columns
from sqlglot.optimizer.qualify_tables import qualify_tables
from sqlglot.optimizer.scope import Scope, build_scope
from sqlglot.schema import MappingSchema

from catalog.models import LOGICAL_SCHEMA, ActionKind, Grant, Table
from gateway.errors import ColumnDenied, GrantExpired, NotGranted, Unsupported
from gateway.policy.context import PolicyContext
from gateway.policy.dialects import TRINO
from gateway.policy.scopes import children

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
    """A qualified copy of the query; every base table carries its :class:`TableUse`.

    ``scope`` is the scope tree bind built over the final query to validate it; authorize
    reuses it rather than building the same tree again (``None`` once the pipeline is done).
    """

    query: exp.Query
    uses: tuple[TableUse, ...]
    scope: Scope | None = field(default=None, compare=False, repr=False)

    def use_of(self, node: exp.Table) -> TableUse | None:
        """The use a base-table node stands for; ``None`` for CTE references."""
        index = node.meta.get(META_KEY)
        return self.uses[index] if isinstance(index, int) else None


def bind(query: exp.Query, ctx: PolicyContext, *, copy: bool = True) -> Bound:
    """Bind ``query`` (copied first unless ``copy=False`` hands the tree over, as the pipeline
    does with the fresh tree parse returns)."""
    query = query.copy() if copy else query
    walked = _refuse_unknown_constructs(query)
    normalized = _normalised(query, walked.identifiers)
    tables = base_tables(normalized, walked.tables)
    uses = [_bind_table(node, index, ctx) for index, node in enumerate(tables)]
    qualified, scope = _qualify(normalized, uses, walked)
    return Bound(qualified, tuple(uses), scope)


def base_tables(query: exp.Query,
                references: list[exp.Table] | None = None) -> list[exp.Table]:
    """The table references that name stored tables, resolved scope by scope like the engine
    would; every other table reference must be a CTE visible where it stands. Scopes are
    checked inner first: a reference must resolve in its own scope or one checked before.
    ``references`` are all the query's table nodes, when the caller has them already."""
    root = build_scope(query)
    if root is None:
        raise Unsupported("the statement's structure is not supported")
    scopes = list(root.traverse())
    found: dict[int, tuple[int, exp.Table]] = {}
    for index, scope in enumerate(scopes):
        for source in scope.sources.values():
            if isinstance(source, exp.Table) and id(source) not in found:
                found[id(source)] = (index, source)
    for node in query.find_all(exp.Table) if references is None else references:
        first = found[id(node)][0] if id(node) in found else len(scopes)
        for index in _owners(node, scopes[:first]):
            if not isinstance(
                    scopes[index].sources.get(node.alias_or_name), Scope):
                raise Unsupported(f"table reference {node.name} could not be resolved")
    return [table for _, table in found.values()]


def _owners(node: exp.Expr, scopes: list[Scope]) -> list[int]:
    """The positions of the scopes whose ``own_nodes`` include ``node``, found from its
    ancestors rather than by walking every scope."""
    path: list[int] = []
    current: exp.Expr | None = node
    while current is not None:
        path.append(id(current))
        current = current.parent
    where = {key: index for index, key in enumerate(path)}
    owners = []
    for index, scope in enumerate(scopes):
        top = where.get(id(scope.expression))
        if top is not None and not {id(s.expression) for s in children(scope)}.intersection(
                path[:top]):
            owners.append(index)
    return owners


def expand_alias_references(query: exp.Query) -> None:
    """Replace each reference to a projection alias in ORDER BY / HAVING / QUALIFY by the
    projection itself, so the checker sees what is really ordered or filtered, and no engine can
    resolve the name to a different column than the checker did."""
    for select in query.find_all(exp.Select):
        clauses = [c for k in ("order", "having", "qualify") if (c := select.args.get(k))]
        if not clauses:
            continue
        aliases = {p.alias: p.this for p in select.expressions if isinstance(p, exp.Alias)}
        for clause in clauses:
            for column in list(clause.find_all(exp.Column)):
                if not column.table and column.name in aliases and _owned_by(column, select):
                    column.replace(aliases[column.name].copy())


def _owned_by(node: exp.Expr, select: exp.Select) -> bool:
    return node.find_ancestor(exp.Select) is select


@dataclass(frozen=True, slots=True)
class _Walked:
    """What the refusal walk learnt on the way: the identifiers, and whether the statement is
    *plain*: no VALUES, no unaliased derived table, no subquery wrapping another or a join, and
    no column naming its table's schema, so that sqlglot's ``qualify_tables`` would only alias
    the CTE references written without one."""

    identifiers: list[exp.Identifier]
    tables: list[exp.Table]
    plain: bool


def _refuse_unknown_constructs(query: exp.Query) -> _Walked:
    """Refuse what the pipeline does not model. On the way, drop the token positions parse
    leaves in each node's ``meta`` (nothing downstream uses them, every copy of the tree would
    deep-copy them, and a comment must not mark a name case-sensitive)."""
    found: dict[Role, list[exp.Expr]] = {role: [] for role in Role}
    roles, other = ROLES, Role.OTHER
    for node in query.walk():
        node._meta = None
        role = roles.get(type(node)) or _role(type(node))
        if role is not other:
            found[role].append(node)
    for node in found[Role.CHECKED]:
        _refuse(node)
    joins = [j for j in found[Role.JOIN] if isinstance(j, exp.Join)]
    for source in _from_sources([f.this for f in found[Role.FROM]], joins):
        if not isinstance(source, exp.Table | exp.Subquery | exp.Values):
            raise Unsupported(f"{source.key.upper()} in FROM is not supported")
    identifiers = [i for i in found[Role.IDENTIFIER] if isinstance(i, exp.Identifier)]
    tables = [t for t in found[Role.TABLE] if isinstance(t, exp.Table)]
    return _Walked(identifiers, tables, _plain(found))


def _refuse(node: exp.Expr) -> None:
    label = REFUSED_NODES.get(type(node))
    if label:
        raise Unsupported(f"{label} is not supported")
    if isinstance(node, exp.DML | exp.DDL | exp.Command) or (
            isinstance(node, exp.Query) and node.args.get("returning")):
        raise Unsupported(f"{node.key.upper()} inside a query is not supported")


def _plain(found: dict[Role, list[exp.Expr]]) -> bool:
    """Whether ``qualify_tables`` would only alias CTE references (see :class:`_Walked`)."""
    if found[Role.VALUES]:
        return False
    if any(c.args.get("db") or c.args.get("catalog") for c in found[Role.COLUMN]):
        return False
    return all(_plain_subquery(q) for q in found[Role.CHECKED] if isinstance(q, exp.Subquery))


def _plain_subquery(node: exp.Subquery) -> bool:
    derived = isinstance(node.parent, exp.From | exp.Join)
    return (isinstance(node.this, exp.Query) and not isinstance(node.parent, exp.Subquery)
            and (not derived or bool(node.alias)))


class Role(Enum):
    """What the refusal walk needs to know of a node, decided once per node class. CHECKED
    nodes are checked in the order the walk met them, so the first offence is the one named."""

    CHECKED = auto()
    FROM = auto()
    JOIN = auto()
    IDENTIFIER = auto()
    TABLE = auto()
    COLUMN = auto()
    VALUES = auto()
    OTHER = auto()


ROLES: dict[type[exp.Expr], Role] = {}


def _role(kind: type[exp.Expr]) -> Role:
    refused = kind in REFUSED_NODES or issubclass(kind, exp.DML | exp.DDL | exp.Command)
    roles = ((exp.Query, Role.CHECKED), (exp.From, Role.FROM), (exp.Join, Role.JOIN),
             (exp.Identifier, Role.IDENTIFIER), (exp.Table, Role.TABLE),
             (exp.Column, Role.COLUMN),
             (exp.Values, Role.VALUES))
    role = Role.CHECKED if refused else next(
        (r for base, r in roles if issubclass(kind, base)), Role.OTHER)
    ROLES[kind] = role
    return role


#: Trino folds every identifier, quoted or not, with ``str.lower``: the same as sqlglot's
#: ``normalize_identifier`` for it, without a dialect dispatch per name.
FOLDS_BY_LOWER = (TRINO.normalization_strategy is NormalizationStrategy.CASE_INSENSITIVE
                  and not TRINO.ASCII_ONLY_NORMALIZATION)


def _normalised(query: exp.Query, identifiers: list[exp.Identifier]) -> exp.Query:
    """Names folded the way Trino folds them (every identifier, quoted or not), as sqlglot's
    ``normalize_identifiers`` would, without walking the tree again."""
    if not FOLDS_BY_LOWER:
        for identifier in identifiers:
            TRINO.normalize_identifier(identifier)
        return query
    for identifier in identifiers:
        name = identifier.this
        if isinstance(name, str):
            folded = name.lower()
            if folded != name:
                identifier.set("this", folded)
    return query


def _from_sources(froms: list[exp.Expr], joins: list[exp.Join]) -> list[exp.Expr]:
    sources = list(froms)
    for join in joins:
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
        written = node.sql(dialect=TRINO)
        raise Unsupported(f"table reference {written} uses syntax that is not supported")
    name = _qualified_name(node, ctx)
    table = ctx.snapshot.table(name) if name else None
    if table is None:
        raise NotGranted(name or node.sql(dialect=TRINO))
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


def _qualify(query: exp.Query, uses: list[TableUse],
             walked: _Walked) -> tuple[exp.Query, Scope]:
    """sqlglot's ``qualify`` without its steps bind has already done (identifiers are
    normalised, base tables named in full) or does not want (quoting), then the scope tree of
    the result, validated: every column resolved, none unqualified. For a plain statement
    (see :class:`_Walked`), ``qualify_tables`` reduces to aliasing CTE references."""
    schema = _schema(tuple(uses))
    try:
        tables = (_alias_references(query, walked.tables) if walked.plain
                  else qualify_tables(query, dialect=TRINO))
        query = qualify_columns(tables, schema)
        expand_alias_references(query)
        scope = build_scope(query)
        if scope is None:
            raise Unsupported("the statement's structure is not supported")
        _validate_columns(scope)
    except OptimizeError as err:
        raise ColumnDenied(_column_message(str(err), uses)) from None
    return query, scope


def _alias_references(query: exp.Query, references: list[exp.Table]) -> exp.Query:
    """What ``qualify_tables`` does to a plain statement: a table reference in FROM / JOIN
    without an alias (bind aliased every base table, so a CTE reference) is aliased by name."""
    for node in references:
        alias = node.args.get("alias") or exp.TableAlias()
        if not alias.name and isinstance(node.parent, exp.From | exp.Join):
            alias.set("this", exp.to_identifier(node.name))
            node.set("alias", alias)
    return query


def _validate_columns(root: Scope) -> None:
    """sqlglot's ``validate_qualify_columns`` over a scope tree already built: a column no
    source provides, or one left unqualified (ambiguous), is an error."""
    unqualified: list[exp.Column] = []
    for scope in root.traverse():
        if not isinstance(scope.expression, exp.Select):
            continue
        if scope.external_columns and not scope.is_correlated_subquery and not scope.pivots:
            column = scope.external_columns[0]
            for_table = f" for table: '{column.table}'" if column.table else ""
            raise OptimizeError(f"Column '{column.name}' could not be resolved{for_table}.")
        unqualified.extend(scope.unqualified_columns)
    if unqualified:
        raise OptimizeError(f"Ambiguous column '{unqualified[0].name}'")


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
    return MappingSchema(mapping, visible=visible, dialect=TRINO)


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
