"""Statement parameters (``?`` placeholders) bound as literals in the AST, never as text, so a
parameter value can only ever be a value: ``EXECUTE IMMEDIATE '...' USING ...`` and prepared
statements go through the same pipeline as any other statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlglot import exp

from gateway.errors import ParseError

Parameter = str | int | float | Decimal | bool | date | datetime | None


def bind_parameters(query: exp.Query, parameters: Sequence[Parameter]) -> exp.Query:
    placeholders = [p for p in query.find_all(exp.Placeholder) if not p.name or p.name == "?"]
    if len(placeholders) != len(parameters):
        raise ParseError(
            f"the statement has {len(placeholders)} parameter(s), {len(parameters)} given")
    ordered = sorted(placeholders, key=_position)
    for node, value in zip(ordered, parameters, strict=True):
        node.replace(literal(value))
    return query


def _position(node: exp.Placeholder) -> tuple[int, ...]:
    """Document order of a node, so parameters bind left to right."""
    path: list[int] = []
    child: exp.Expr = node
    while child.parent is not None:
        parent = child.parent
        path.append(_index_in(parent, child))
        child = parent
    return tuple(reversed(path))


def _index_in(parent: exp.Expr, child: exp.Expr) -> int:
    for index, candidate in enumerate(parent.iter_expressions()):
        if candidate is child:
            return index
    return 0


def literal(value: Parameter) -> exp.Expr:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise ParseError(f"unsupported parameter type {type(value).__name__}")
