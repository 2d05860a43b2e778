"""Step 3: authorize. Every column use, in every clause of every scope, against its action.

- ``allow`` and ``mask`` columns may be used anywhere (a masked column is masked before any
  clause sees it, so predicates cannot be used as an oracle on the raw value).
- ``match`` columns may only be compared for equality with a column or a string literal inside
  a WHERE or JOIN ... ON condition, tested with ``IN`` (a string-literal list or a subquery),
  projected bare by an ``IN`` subquery, or projected bare (no DISTINCT) by a derived table / CTE
  or a UNION ALL branch inside one, whose output column then carries the same restriction
  outward (matched by position through set operations).
- ``deny`` columns never reach this step: bind leaves them out of the schema.
- tables under an aggregate-only grant must be read by an aggregating SELECT (GROUP BY or
  aggregates; no window functions, grouping sets or correlation). Their columns may appear only
  as the bare argument of a summary aggregate (count, sum, avg, min, max, stddev, variance), in
  GROUP BY, or in a simple comparison with literals in WHERE / ON. Rewrite adds the
  minimum-group-size guard.

Anything the checker cannot attribute with certainty is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, ScopeType, build_scope

from catalog.models import ALLOW, ActionKind, ColumnAction, Grant
from gateway.errors import AggregateOnlyViolation, MatchMisuse, Unsupported
from gateway.policy.bind import Bound, TableUse
from gateway.policy.context import PolicyContext
from gateway.policy.scopes import clause_of, own_nodes, scope_with_source

CONDITION_GLUE = (exp.And, exp.Or, exp.Not, exp.Paren)
PROPAGATING = (ScopeType.DERIVED_TABLE, ScopeType.CTE)
# Aggregates that summarise a group; list-building and value-picking ones (array_agg,
# string_agg, max_by, arbitrary, ...) would hand out row-level values and are refused.
SUMMARY_AGGREGATES: tuple[type[exp.Expr], ...] = (
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Stddev, exp.StddevPop, exp.StddevSamp,
    exp.Variance, exp.VariancePop, exp.ApproxDistinct,
)
GROUPING_SETS = (exp.Rollup, exp.Cube, exp.GroupingSets)
LITERALS = (exp.Literal, exp.Null, exp.Boolean)


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


@dataclass(frozen=True)
class _Origin:
    """Where a column reference leads: its action, and the base-table use it comes from
    (for a derived column that passes a base ``match`` column through, that column's use)."""

    action: ColumnAction
    use: TableUse | None = None
    column: str = ""


@dataclass
class _Checker:
    bound: Bound
    uses: list[ColumnUse] = field(default_factory=list)
    guards: list[AggregateGuard] = field(default_factory=list)
    selects: dict[int, int] = field(default_factory=dict)
    outputs: dict[tuple[int, str], _Origin] = field(default_factory=dict)

    def run(self) -> Decision:
        root = self.bound.scope or build_scope(self.bound.query)
        if root is None:
            raise Unsupported("the statement's structure is not supported")
        for scope in root.traverse():
            self.check_scope(scope)
        grants = tuple({u.grant.id: u.grant for u in self.bound.uses}.values())
        return Decision(tuple(self.uses), grants, tuple(self.guards))

    def check_scope(self, scope: Scope) -> None:
        _refuse_distinct_set_operation_of_match(self, scope)
        for node in own_nodes(scope, exp.Column, exp.Star):
            if isinstance(node, exp.Column):
                self.check_column(node, scope)
            elif isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
                raise Unsupported("* could not be expanded to granted columns")
        for name, source in scope.sources.items():
            if isinstance(source, exp.Table):
                self.check_aggregate_only(scope, name, source)

    def check_column(self, column: exp.Column, scope: Scope) -> None:
        origin = self.origin(column, scope)
        clause = clause_of(column, scope)
        if origin.use is not None and column.table:
            use = origin.use
            self.uses.append(ColumnUse(clause, use.table.qualified, origin.column,
                                       origin.action, use.grant.id))
        if origin.action.kind is ActionKind.MATCH and not match_permitted(column, scope):
            raise MatchMisuse(_match_message(column, clause, origin))

    def origin(self, column: exp.Column, scope: Scope) -> _Origin:
        table = column.table
        if not table:
            return self.set_operation_output(column, scope)
        holder = scope_with_source(scope, table)
        if holder is None:
            raise Unsupported(f"column {table}.{column.name} could not be attributed to a table")
        source = holder.sources[table]
        if isinstance(source, Scope):
            return self.output_origin(source, column.name)
        use = self.bound.use_of(source)
        if use is None:
            raise Unsupported(f"table {table} could not be resolved")
        return _Origin(use.grant.action(column.name), use, column.name)

    def set_operation_output(self, column: exp.Column, scope: Scope) -> _Origin:
        """An unqualified name may only be a set operation's ORDER BY naming one of its outputs
        (bind expanded every SELECT's own alias references into their expressions)."""
        query = scope.expression
        if isinstance(query, exp.SetOperation) and clause_of(column, scope) == "order by":
            return self.output_origin(scope, column.name)
        raise Unsupported(f"column {column.name} could not be attributed to a table")

    def output_origin(self, scope: Scope, name: str) -> _Origin:
        """The restriction a derived scope's output column carries outward (worked out once
        per output: a CTE's columns are often referenced many times)."""
        key = (id(scope), name)
        found = self.outputs.get(key)
        if found is None:
            found = self.outputs[key] = self._output_origin(scope, name)
        return found

    def _output_origin(self, scope: Scope, name: str) -> _Origin:
        query = scope.expression
        names = list(query.named_selects) if isinstance(query, exp.Query) else []
        if names.count(name) != 1:
            # Missing, or ambiguous: engines differ on which duplicate a name resolves to.
            raise Unsupported(f"column {name} could not be attributed to one derived column")
        return self.output_at(scope, names.index(name))

    def output_at(self, scope: Scope, position: int) -> _Origin:
        """Set operations line their branches up by position, not by name."""
        if scope.set_operation_scopes:
            origins = [self.output_at(s, position) for s in scope.set_operation_scopes]
            return next((o for o in origins if o.action.kind is ActionKind.MATCH), origins[0])
        select = scope.expression
        if not isinstance(select, exp.Select) or position >= len(select.expressions):
            raise Unsupported("a derived column could not be attributed to a table")
        inner = select.expressions[position].unalias()
        if isinstance(inner, exp.Column):
            origin = self.origin(inner, scope)
            if origin.action.kind is ActionKind.MATCH:
                return origin
        return _Origin(ALLOW)

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
        _refuse_in_aggregate_scope(scope, select, where)
        for column in _columns_of(alias, scope):
            _check_aggregated_column(column, select, scope, where)
        if not self.selects:
            self.selects = {id(s): i for i, s in enumerate(self.bound.query.find_all(exp.Select))}
        self.guards.append(
            AggregateGuard(self.selects[id(select)], alias, rule.subject_column,
                           rule.min_group_size, use.grant.id)
        )


def authorize(bound: Bound, ctx: PolicyContext) -> Decision:
    """Check every column use; return what was used and the guards rewrite must add."""
    del ctx  # the grants were chosen at bind time, under the same context
    return _Checker(bound).run()


def match_permitted(column: exp.Column, scope: Scope) -> bool:
    parent = column.parent
    if isinstance(parent, exp.EQ):
        other = parent.expression if column.arg_key == "this" else parent.this
        comparable = isinstance(other, exp.Column) or _is_string(other)
        return comparable and in_condition(parent, scope)
    if isinstance(parent, exp.In) and column.arg_key == "this":
        listed = parent.expressions
        allowed = bool(parent.args.get("query")) or (bool(listed) and all(map(_is_string, listed)))
        return allowed and in_condition(parent, scope)
    if is_bare_projection(column, scope):
        return _passes_outward(scope)
    return False


def _is_string(node: exp.Expr) -> bool:
    """Only string literals: a number compared with a varchar makes engines cast the column,
    and the cast's failure would be an oracle on its raw value."""
    return isinstance(node, exp.Literal) and node.is_string


def in_condition(node: exp.Expr, scope: Scope) -> bool:
    """True when ``node`` sits in a WHERE or JOIN ... ON condition through AND / OR / NOT only."""
    current = node.parent
    while isinstance(current, CONDITION_GLUE):
        current = current.parent
    if isinstance(current, exp.Where):
        return current.parent is scope.expression
    if isinstance(current, exp.Join):
        on = current.args.get("on")
        return on is not None and any(n is node for n in on.walk())
    return False


def is_bare_projection(column: exp.Column, scope: Scope) -> bool:
    select = scope.expression
    if not isinstance(select, exp.Select) or select.args.get("distinct"):
        return False
    parent = column.parent
    holder = parent.parent if isinstance(parent, exp.Alias) else parent
    return holder is select and column.arg_key in ("expressions", "this") and any(
        p is column or p is parent for p in select.expressions)


def _passes_outward(scope: Scope) -> bool:
    """Derived tables and CTEs pass a match column outward under the same restriction (through
    UNION ALL branches too); an IN subquery's single column is compared by the IN itself."""
    current = scope
    while current.scope_type is ScopeType.SET_OPERATION and current.parent is not None:
        current = current.parent
    if current.scope_type in PROPAGATING:
        return True
    if current.scope_type is ScopeType.SUBQUERY and current is scope:
        holder = scope.expression.parent
        if isinstance(holder, exp.Subquery):
            holder = holder.parent
        select = scope.expression
        single = isinstance(select, exp.Select) and len(select.expressions) == 1
        return isinstance(holder, exp.In) and single and in_condition(holder, scope.parent or scope)
    return False


def _refuse_distinct_set_operation_of_match(checker: _Checker, scope: Scope) -> None:
    """UNION / INTERSECT / EXCEPT without ALL compare their rows: on a match column that is a
    DISTINCT over it, which counts or ranks raw values."""
    query = scope.expression
    if not isinstance(query, exp.SetOperation) or not scope.set_operation_scopes:
        return
    if not query.args.get("distinct") and isinstance(query, exp.Union):
        return
    for position in range(len(query.named_selects)):
        origin = checker.output_at(scope, position)
        if origin.action.kind is ActionKind.MATCH:
            raise MatchMisuse(
                f"column {origin.column} is a match column"
                f"{_grant_suffix(origin)}: set operations without ALL compare it (rule: match)")


def is_aggregating(select: exp.Select) -> bool:
    if select.args.get("group"):
        return True
    return any(p.find(exp.AggFunc) for p in select.expressions)


def _refuse_in_aggregate_scope(scope: Scope, select: exp.Select, where: str) -> None:
    if scope.external_columns:
        raise AggregateOnlyViolation(f"{where}: correlated subqueries are not allowed")
    group = select.args.get("group")
    if group and (any(isinstance(g, GROUPING_SETS) for g in group.expressions)
                  or any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets"))):
        raise AggregateOnlyViolation(f"{where}: ROLLUP, CUBE and GROUPING SETS are not allowed")
    if own_nodes(scope, exp.Window):
        raise AggregateOnlyViolation(f"{where}: window functions are not allowed")


def _columns_of(alias: str, scope: Scope) -> list[exp.Column]:
    columns = own_nodes(scope, exp.Column)
    return [n for n in columns if isinstance(n, exp.Column) and n.table == alias]


def _check_aggregated_column(column: exp.Column, select: exp.Select, scope: Scope,
                             where: str) -> None:
    aggregate = column.find_ancestor(exp.AggFunc)
    if aggregate is not None:
        _check_summary(column, aggregate, where)
        return
    clause = clause_of(column, scope)
    if clause == "group by":
        return
    if clause in ("where", "join"):
        if _simple_predicate(column, scope):
            return
        raise AggregateOnlyViolation(
            f"{where}: column {column.name} may be filtered only by simple comparisons "
            "with literals")
    grouped = list((select.args.get("group") or exp.Group()).expressions)
    node: exp.Expr | None = column
    while node is not None and node is not select:
        if any(node == g for g in grouped):
            return
        node = node.parent
    raise AggregateOnlyViolation(
        f"{where}: column {column.name} may be used only inside aggregates, GROUP BY or filters"
    )


def _check_summary(column: exp.Column, aggregate: exp.Expr, where: str) -> None:
    if not isinstance(aggregate, SUMMARY_AGGREGATES):
        name = aggregate.key.upper()
        raise AggregateOnlyViolation(f"{where}: {name} would return row-level values; only "
                                     "COUNT, SUM, AVG, MIN, MAX, STDDEV and VARIANCE are allowed")
    parent = column.parent
    if isinstance(parent, exp.Distinct):
        parent = parent.parent
    if parent is not aggregate:
        raise AggregateOnlyViolation(
            f"{where}: aggregates over column {column.name} must take the bare column")


def _simple_predicate(column: exp.Column, scope: Scope) -> bool:
    """``column <op> literal`` (or a join equality), reached through AND / OR / NOT only."""
    predicate = column.parent
    if not isinstance(predicate, exp.Predicate):
        return False
    if isinstance(predicate, exp.In) and predicate.args.get("query"):
        return column.arg_key == "this" and in_condition(predicate, scope)
    operands = [n for n in predicate.iter_expressions() if id(n) != id(column)]
    flat = [e for o in operands for e in (o.expressions if isinstance(o, exp.Tuple) else [o])]
    if not all(_is_literal(o) or isinstance(o, exp.Column) for o in flat):
        return False
    return in_condition(predicate, scope)


def _is_literal(node: exp.Expr) -> bool:
    """A literal, possibly typed (``DATE '2026-01-01'`` parses as a cast of a string)."""
    if isinstance(node, exp.Cast):
        node = node.this
    return isinstance(node, LITERALS)


def _grant_suffix(origin: _Origin) -> str:
    return f" of {origin.use.table.qualified} (grant {origin.use.grant.id})" if origin.use else ""


def _match_message(column: exp.Column, clause: str, origin: _Origin) -> str:
    name = column.name if column.name == origin.column or not origin.column else (
        f"{column.name} (from {origin.column})")
    return (
        f"column {name} is a match column{_grant_suffix(origin)}: it may only be compared for "
        f"equality with a column or a string literal in WHERE / JOIN ON, or used with "
        f"IN / EXISTS; found in {clause} (rule: match)"
    )
