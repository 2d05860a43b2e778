"""Step 4: rewrite. Each base-table reference becomes its policy view::

    (SELECT mask(c1) AS c1, c2, ... FROM source.schema.table AS _sq_base WHERE row_filter) AS alias

under the original alias, so every clause of the analyst's query sees masked, filtered rows.
Columns the grant denies are not in the view at all. Aggregate-only grants get their
minimum-group-size guard as an extra HAVING condition on the aggregating SELECT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp

from catalog.models import ActionKind, Table
from gateway.policy.authorize import AggregateGuard, Decision
from gateway.policy.bind import Bound, TableUse
from gateway.policy.masks import REDACTED_KEY, mask_expression

BASE_ALIAS = "_sq_base"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the rewritten statement will run: its dialect, the hash-mask key to embed, and
    whether tables are addressed with their source as catalog (engines that federate) or by
    schema and name only (the direct route, connected to the source's own database)."""

    dialect: str
    mask_key: str = REDACTED_KEY
    catalog_qualified: bool = True


def rewrite(bound: Bound, decision: Decision, target: Target) -> exp.Query:
    """The whole rewritten statement as one AST (for explain and the golden tests)."""
    return _rewritten(bound, decision, lambda use, alias: policy_view(use, target))


def rewrite_with_placeholders(
    bound: Bound, decision: Decision, nonce: str
) -> tuple[exp.Query, dict[str, TableUse]]:
    """The rewritten statement with each policy view left as a placeholder table named with
    ``nonce``; render splices the (cached) rendered views in. The nonce is random per
    rendering, so no text of the user's statement can collide with a placeholder."""
    views: dict[str, TableUse] = {}

    def placeholder(use: TableUse, alias: str) -> exp.Expr:
        name = f"shuqiao_view_{nonce}_{len(views)}"
        views[name] = use
        return exp.Table(this=exp.to_identifier(name, quoted=True),
                         alias=exp.TableAlias(this=exp.to_identifier(alias)))

    return _rewritten(bound, decision, placeholder), views


def _rewritten(bound: Bound, decision: Decision,
               view: Callable[[TableUse, str], exp.Expr]) -> exp.Query:
    query = bound.query.copy()
    selects = list(query.find_all(exp.Select)) if decision.guards else []
    for guard in decision.guards:
        _add_guard(selects[guard.select_index], guard)
    for node in list(query.find_all(exp.Table)):
        use = bound.use_of(node)
        if use is not None:
            node.replace(view(use, use.alias))
    return query


def policy_view(use: TableUse, target: Target) -> exp.Subquery:
    select = exp.select(*_projections(use, target)).from_(_physical(use.table, target))
    if use.grant.row_filter:
        select = select.where(_row_filter(use.grant.row_filter))
    return select.subquery(use.alias, copy=False)


def _projections(use: TableUse, target: Target) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    for column in use.table.columns:
        action = use.grant.action(column.name)
        if action.kind is ActionKind.DENY:
            continue
        raw = _typed(exp.column(column.name, table=BASE_ALIAS), column.type)
        value: exp.Expr = raw
        if action.kind is ActionKind.MASK and action.mask:
            value = mask_expression(action.mask, raw, target.dialect, target.mask_key)
        out.append(exp.alias_(value, column.name))
    # A grant may leave nothing usable but COUNT(*); a view still needs a column.
    return out or [exp.alias_(exp.Literal.number(1), "_sq_row")]


def _typed(column: exp.Column, declared: str) -> exp.Expr:
    """Decimals keep their declared precision whatever the source stores (SQLite stores REAL)."""
    if not declared.upper().startswith(("DECIMAL", "NUMERIC")):
        return column
    try:
        return exp.cast(column, exp.DataType.build(declared.split(" NOT NULL")[0]))
    except Exception:  # an unparsable declared type: leave the value as the source gives it
        return column


def _physical(table: Table, target: Target) -> exp.Table:
    catalog = table.source if target.catalog_qualified else None
    return exp.table_(table.physical, db=table.physical_schema, catalog=catalog,
                      alias=BASE_ALIAS)


def _row_filter(text: str) -> exp.Expr:
    return _parsed_filter(text).copy()


@lru_cache(maxsize=1024)
def _parsed_filter(text: str) -> exp.Expr:
    condition = sqlglot.parse_one(text, read="trino")
    for column in condition.find_all(exp.Column):
        column.set("table", exp.to_identifier(BASE_ALIAS))
    return condition


def _add_guard(select: exp.Select, guard: AggregateGuard) -> None:
    subject = exp.column(guard.subject_column, table=guard.alias)
    persons = exp.Count(this=exp.Distinct(expressions=[subject]))
    select.having(exp.GTE(this=persons, expression=exp.Literal.number(guard.minimum)),
                  append=True, copy=False)
