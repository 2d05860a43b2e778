"""Scope helpers shared by bind and authorize: which nodes belong to a scope itself, where a
name resolves, and which clause a node sits in. Pure functions over sqlglot scopes."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

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


def children(scope: Scope) -> list[Scope]:
    return [
        *scope.subquery_scopes, *scope.derived_table_scopes, *scope.cte_scopes,
        *scope.set_operation_scopes, *scope.udtf_scopes,
    ]


def own_nodes(scope: Scope, *kinds: type[exp.Expr]) -> list[exp.Expr]:
    """The nodes of ``scope`` itself, not of the scopes nested in it (only those of ``kinds``,
    when given)."""
    nested = {id(s.expression) for s in children(scope)}
    wanted = kinds or (exp.Expr,)
    found: list[exp.Expr] = []
    stack: list[exp.Expr] = [scope.expression]
    while stack:
        node = stack.pop()
        if isinstance(node, wanted):
            found.append(node)
        for child in node.iter_expressions():
            if id(child) not in nested:
                stack.append(child)
    return found


def scope_with_source(scope: Scope, name: str) -> Scope | None:
    """The nearest enclosing scope (this one first) that has a source called ``name``."""
    current: Scope | None = scope
    while current is not None:
        if name in current.sources:
            return current
        current = current.parent
    return None


def clause_of(node: exp.Expr, scope: Scope) -> str:
    """The clause of ``scope`` that ``node`` sits in (``window`` inside an OVER clause)."""
    child: exp.Expr = node
    parent = node.parent
    in_window = False
    while parent is not None and child is not scope.expression:
        in_window = in_window or isinstance(parent, exp.Window)
        if parent is scope.expression:
            key = child.arg_key or "expression"
            return "window" if in_window else CLAUSES.get(key, key)
        child, parent = parent, parent.parent
    return "window" if in_window else "expression"
