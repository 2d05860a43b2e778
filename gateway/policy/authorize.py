"""Step 3: authorize. Every column use, in every clause of every scope, against its action.

- ``allow`` and ``mask`` columns may be used anywhere (a masked column is masked before any
  clause sees it, so predicates cannot be used as an oracle on the raw value).
- ``match`` columns may only be compared for equality with a column or a literal inside a WHERE
  or JOIN ... ON condition, tested with ``IN`` (a literal list or a subquery), projected bare by an
  ``IN`` subquery, or projected bare by a derived table / CTE, whose output column then carries
  the same ``match`` restriction outward.
- ``deny`` columns never reach this step: bind leaves them out of the schema.
- tables under an aggregate-only grant must be read by an aggregating SELECT (GROUP BY or
  aggregates, no window functions, no grouping sets, no correlation); their columns may appear
  only inside aggregates, in GROUP BY, or in filters. Rewrite adds the minimum-group-size guard.

Anything the checker cannot attribute with certainty is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope

from catalog.models import ALLOW, MATCH, ActionKind, ColumnAction, Grant
from gateway.errors import AggregateOnlyViolation, MatchMisuse, Unsupported
from gateway.policy.bind import Bound, TableUse
from gateway.policy.context import PolicyContext

CONDITION_GLUE = (exp.And, exp.Or, exp.Not, exp.Paren)
PROPAGATING = (ScopeType.DERIVED_TABLE, ScopeType.CTE)
CLAUSES = {
    "expressions": "select",
    "where": "where",
    "joins": "join",
    "group": "group by",
    "having": "having",
    "order": "order by",
    "qualify": "qualify",
    "distinct": "select distinct",
    "limit": "limit",
    "offset": "offset",
}


@dataclass(frozen=True, slots=True)
class ColumnUse:
    """One column reference to a base table, as ``explain`` reports it."""

    clause: str
    table: str
    column: str
    action: ColumnAction
    grant: str


@dataclass(frozen=True, slots=True)
class AggregateGuard:
    """Add ``HAVING COUNT(DISTINCT alias.subject) >= minimum`` to the n-th SELECT of the query."""

    select_index: int
    alias: str
    subject_column: str
    minimum: int
    grant: str


@dataclass(frozen=True)
class Decision:
    uses: tuple[ColumnUse, ...]
    grants: tuple[Grant, ...]
    guards: tuple[AggregateGuard, ...]

    @property
    def purposes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.purpose for g in self.grants))


@dataclass
class _Origin:
    """Where a column reference leads: a base table's column, or a derived scope's output."""

    action: ColumnAction
    use: TableUse | None = None
    scope: Scope | None = None


@dataclass
class _Checker:
    bound: Bound
    uses: list[ColumnUse] = field(default_factory=list)
    guards: list[AggregateGuard] = field(default_factory=list)
    selects: dict[int, int] = field(default_factory=dict)

    def run(self) -> Decision:
        root = build_scope(self.bound.query)
        if root is None:
            raise Unsupported("the statement's structure is not supported")
        self.selects = {id(s): i for i, s in enumerate(self.bound.query.find_all(exp.Select))}
        for scope in root.traverse():
            self.check_scope(scope)
        grants = tuple({u.grant.id: u.grant for u in self.bound.uses}.values())
        return Decision(tuple(self.uses), grants, tuple(self.guards))

    def check_scope(self, scope: Scope) -> None:
        for node in own_nodes(scope):
            if isinstance(node, exp.Column):
                self.check_column(node, scope)
            elif isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
                raise Unsupported("* could not be expanded to granted columns")
        for name, source in scope.sources.items():
            if isinstance(source, exp.Table):
                self.check_aggregate_only(scope, name, source)

    def check_column(self, column: exp.Column, scope: Scope) -> None:
        origin = self.origin(column, scope)
        if origin is None:
            return
        clause = clause_of(column, scope)
        if origin.use is not None:
            use = origin.use
            self.uses.append(
                ColumnUse(clause, use.table.qualified, column.name, origin.action, use.grant.id)
            )
        if origin.action.kind is ActionKind.MATCH and not match_permitted(column, scope):
            raise MatchMisuse(_match_message(column, clause, origin))

    def origin(self, column: exp.Column, scope: Scope) -> _Origin | None:
        table = column.table
        if not table:
            if is_output_alias(column, scope):
                return None
            raise Unsupported(f"column {column.name} could not be attributed to a table")
        holder = _scope_with_source(scope, table)
        if holder is None:
            raise Unsupported(f"column {table}.{column.name} could not be attributed to a table")
        source = holder.sources[table]
        if isinstance(source, Scope):
            return _Origin(self.output_action(source, column.name), scope=source)
        use = self.bound.use_of(source)
        if use is None:
            raise Unsupported(f"table {table} could not be resolved")
        return _Origin(use.grant.action(column.name), use=use)

    def output_action(self, scope: Scope, name: str) -> ColumnAction:
        """The restriction a derived scope's output column carries outward: ``match`` when any
        branch passes a ``match`` column through bare under that name, else ``allow``."""
        if scope.set_operation_scopes:
            actions = [self.output_action(s, name) for s in scope.set_operation_scopes]
            return MATCH if MATCH in actions else ALLOW
        select = scope.expression
        if not isinstance(select, exp.Select):
            return ALLOW
        for projection in select.expressions:
            inner = projection.unalias()
            if projection.alias_or_name == name and isinstance(inner, exp.Column):
                origin = self.origin(inner, scope)
                return origin.action if origin and origin.action == MATCH else ALLOW
        return ALLOW

    def check_aggregate_only(self, scope: Scope, alias: str, node: exp.Table) -> None:
        use = self.bound.use_of(node)
        if use is None or use.grant.aggregate_only is None:
            return
        rule = use.grant.aggregate_only
        where = f"{use.table.qualified} is aggregate-only under grant {use.grant.id}"
        select = scope.expression
        if not isinstance(select, exp.Select) or not is_aggregating(select):
            raise AggregateOnlyViolation(
                f"{where}: the query must aggregate it (GROUP BY or aggregates)")
        _refuse_in_aggregate_scope(scope, where)
        for column in _columns_of(alias, scope):
            _check_aggregated_column(column, select, where)
        self.guards.append(
            AggregateGuard(self.selects[id(select)], alias, rule.subject_column,
                           rule.min_group_size, use.grant.id)
        )


def authorize(bound: Bound, ctx: PolicyContext) -> Decision:
    """Check every column use; return what was used and the guards rewrite must add."""
    del ctx  # the grants were chosen at bind time, under the same context
    return _Checker(bound).run()


def own_nodes(scope: Scope) -> Iterator[exp.Expr]:
    """The nodes of ``scope`` itself, not of the scopes nested in it."""
    nested = {id(s.expression) for s in _children(scope)}
    stack: list[exp.Expr] = [scope.expression]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(c for c in node.iter_expressions() if id(c) not in nested)


def _children(scope: Scope) -> list[Scope]:
    return [
        *scope.subquery_scopes, *scope.derived_table_scopes, *scope.cte_scopes,
        *scope.set_operation_scopes, *scope.udtf_scopes,
    ]


def _scope_with_source(scope: Scope, name: str) -> Scope | None:
    current: Scope | None = scope
    while current is not None:
        if name in current.sources:
            return current
        current = current.parent
    return None


def clause_of(node: exp.Expr, scope: Scope) -> str:
    child: exp.Expr = node
    parent = node.parent
    label = "expression"
    while parent is not None and child is not scope.expression:
        if isinstance(parent, exp.Window):
            label = "window"
        if parent is scope.expression:
            key = child.arg_key or "expression"
            return label if label == "window" else CLAUSES.get(key, key)
        child, parent = parent, parent.parent
    return label


def is_output_alias(column: exp.Column, scope: Scope) -> bool:
    """An unqualified ORDER BY / HAVING reference to a projection alias of the same SELECT."""
    if clause_of(column, scope) not in ("order by", "having"):
        return False
    query = scope.expression
    if isinstance(query, exp.SetOperation | exp.Select):
        # A set operation's ORDER BY names the outputs, which its branches checked already.
        return column.name in set(query.named_selects)
    return False


def match_permitted(column: exp.Column, scope: Scope) -> bool:
    parent = column.parent
    if isinstance(parent, exp.EQ):
        other = parent.expression if column.arg_key == "this" else parent.this
        return isinstance(other, exp.Column | exp.Literal) and in_condition(parent, scope)
    if isinstance(parent, exp.In) and column.arg_key == "this":
        listed = parent.expressions
        return (bool(parent.args.get("query")) or all(isinstance(e, exp.Literal) for e in listed)
                ) and in_condition(parent, scope)
    if is_bare_projection(column, scope):
        return _passes_outward(scope)
    return False


def in_condition(node: exp.Expr, scope: Scope) -> bool:
    """True when ``node`` sits in a WHERE or JOIN ... ON condition through AND / OR / NOT only."""
    current = node.parent
    while isinstance(current, CONDITION_GLUE):
        current = current.parent
    if isinstance(current, exp.Where):
        return current.parent is scope.expression
    return isinstance(current, exp.Join) and node_arg_is_on(node, current)


def node_arg_is_on(node: exp.Expr, join: exp.Join) -> bool:
    on = join.args.get("on")
    return on is not None and (on is node or any(n is node for n in on.walk()))


def is_bare_projection(column: exp.Column, scope: Scope) -> bool:
    parent = column.parent
    if isinstance(parent, exp.Alias):
        parent = parent.parent
    return parent is scope.expression and isinstance(parent, exp.Select) and (
        column.parent is parent or column.parent in parent.expressions
    )


def _passes_outward(scope: Scope) -> bool:
    """Derived tables and CTEs pass a match column outward under the same restriction; an IN
    subquery's single column is compared for equality by the IN itself."""
    current = scope
    while current.scope_type is ScopeType.SET_OPERATION and current.parent is not None:
        current = current.parent
    if current.scope_type in PROPAGATING:
        return True
    if current.scope_type is ScopeType.SUBQUERY:
        holder = current.expression.parent
        if isinstance(holder, exp.Subquery):
            holder = holder.parent
        select = current.expression
        single = isinstance(select, exp.Select) and len(select.expressions) == 1
        outer = current.parent or current
        return isinstance(holder, exp.In) and single and in_condition(holder, outer)
    return False


def is_aggregating(select: exp.Select) -> bool:
    if select.args.get("group"):
        return True
    return any(p.find(exp.AggFunc) for p in select.expressions)


def _refuse_in_aggregate_scope(scope: Scope, where: str) -> None:
    if scope.external_columns:
        raise AggregateOnlyViolation(f"{where}: correlated subqueries are not allowed")
    group = scope.expression.args.get("group")
    if group and (group.args.get("rollup") or group.args.get("cube")
                  or group.args.get("grouping_sets")):
        raise AggregateOnlyViolation(f"{where}: ROLLUP, CUBE and GROUPING SETS are not allowed")
    if any(isinstance(n, exp.Window) for n in own_nodes(scope)):
        raise AggregateOnlyViolation(f"{where}: window functions are not allowed")


def _columns_of(alias: str, scope: Scope) -> list[exp.Column]:
    return [n for n in own_nodes(scope) if isinstance(n, exp.Column) and n.table == alias]


def _check_aggregated_column(column: exp.Column, select: exp.Select, where: str) -> None:
    if column.find_ancestor(exp.AggFunc) is not None:
        return
    if column.find_ancestor(exp.Where, exp.Join, exp.Group) is not None:
        return
    grouped = [g for g in (select.args.get("group") or exp.Group()).expressions]
    node: exp.Expr | None = column
    while node is not None and node is not select:
        if any(node == g for g in grouped):
            return
        node = node.parent
    raise AggregateOnlyViolation(
        f"{where}: column {column.name} may be used only inside aggregates, GROUP BY or filters"
    )


def _match_message(column: exp.Column, clause: str, origin: _Origin) -> str:
    grant = f" (grant {origin.use.grant.id})" if origin.use else ""
    return (
        f"column {column.name} is a match column{grant}: it may only be compared for equality "
        f"with a column or a literal in WHERE / JOIN ON, or used with IN / EXISTS; "
        f"found in {clause} (rule: match)"
    )
