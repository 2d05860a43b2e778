"""Statement parameters (``?`` placeholders) bound as literals in the AST, never as text, so a
parameter value can only ever be a value: ``EXECUTE IMMEDIATE '...' USING ...`` and prepared
statements go through the same pipeline as any other statement.

A statement whose parameters all stand where only a value can stand (one side of a comparison,
an ``IN`` list, ``BETWEEN`` bounds, a ``LIKE`` pattern) is analysed once per parameter *kind*:
each parameter is bound as a :class:`Slots` sentinel, a literal of the same shape as the value's
(string, positive or negative number, typed date), so bind and authorize see what they would see
with the value itself. Rendering fills each slot with the value's literal as sqlglot renders it
in the target dialect. Anywhere else (``ORDER BY ?`` is a position, ``DATE_TRUNC(?, ...)`` a
unit) the value itself shapes the statement, so it is bound early, as a literal in the AST.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlglot import exp

from gateway.errors import ParseError
from gateway.policy.dialects import dialect as dialect_named

Parameter = str | int | float | Decimal | bool | date | datetime | None

# Where a parameter can only be a value, whatever the value: its parent, and the argument of
# the parent it may fill.
VALUE_POSITIONS: dict[type[exp.Expr], frozenset[str]] = {
    exp.EQ: frozenset({"this", "expression"}),
    exp.NEQ: frozenset({"this", "expression"}),
    exp.GT: frozenset({"this", "expression"}),
    exp.GTE: frozenset({"this", "expression"}),
    exp.LT: frozenset({"this", "expression"}),
    exp.LTE: frozenset({"this", "expression"}),
    exp.In: frozenset({"expressions"}),
    exp.Between: frozenset({"low", "high"}),
    exp.Like: frozenset({"expression"}),
    exp.ILike: frozenset({"expression"}),
}
# Kinds whose literal has text to fill in; NULL and booleans are their own (only) value.
SLOT_TYPES = (str, int, float, Decimal, date)
MAX_SLOTS = 9999  # a number sentinel ends in the slot's index as exactly four digits


def bind_parameters(query: exp.Query, parameters: Sequence[Parameter]) -> exp.Query:
    for node, value in zip(placeholders(query, len(parameters)), parameters, strict=True):
        node.replace(literal(value))
    return query


def placeholders(query: exp.Query, count: int) -> list[exp.Placeholder]:
    """The statement's ``?`` placeholders in document order; there must be ``count``."""
    found = [p for p in query.find_all(exp.Placeholder) if not p.name or p.name == "?"]
    if len(found) != count:
        raise ParseError(f"the statement has {len(found)} parameter(s), {count} given")
    return sorted(found, key=_position)


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
        return exp.Literal.number(_finite(value))
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise ParseError(f"unsupported parameter type {type(value).__name__}")


def _finite(value: int | float | Decimal) -> str:
    """NaN and infinities have no numeric literal: their text (``nan``, ``inf``) would reach
    the engine as a column name the checker never saw."""
    if (isinstance(value, Decimal) and not value.is_finite()) or (
            isinstance(value, float) and not math.isfinite(value)):
        raise ParseError(f"parameter value {value} is not a finite number")
    return str(value)


def kind(value: Parameter) -> str:
    """All that analysis may depend on of a late-bound value: the shape of its literal (a
    number's sign makes it a negation). Values without a slot are their own kind."""
    if not isinstance(value, SLOT_TYPES) or isinstance(value, bool):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, int | float | Decimal):
        negative = isinstance(literal(value), exp.Neg)
        return f"{type(value).__name__}{'-' if negative else '+'}"
    return type(value).__name__


def late_bindable(nodes: Sequence[exp.Placeholder], parameters: Sequence[Parameter]) -> bool:
    """Whether every parameter has a slot and stands where only a value can stand."""
    return len(parameters) <= MAX_SLOTS and all(
        isinstance(value, SLOT_TYPES) and not isinstance(value, bool)
        and node.parent is not None
        and node.arg_key in VALUE_POSITIONS.get(type(node.parent), ())
        for node, value in zip(nodes, parameters, strict=True)
    )


def slot_literal(value: Parameter) -> exp.Literal:
    """The literal inside ``literal(value)`` that carries the value's text."""
    node = literal(value)
    inner = node if isinstance(node, exp.Literal) else node.this
    assert isinstance(inner, exp.Literal)
    return inner


@dataclass(frozen=True)
class Slots:
    """Sentinel literals standing for parameters during analysis. They carry a random nonce, so
    no text of the statement (fixed before the nonce is drawn) can be mistaken for one."""

    nonce: str
    kinds: tuple[str, ...]

    @classmethod
    def drawn(cls, parameters: Sequence[Parameter]) -> Slots:
        return cls(secrets.token_hex(16), tuple(kind(p) for p in parameters))

    @property
    def number_marker(self) -> str:
        # Digits only, so the sentinel is a plain number literal; the leading 9 keeps every
        # digit significant.
        return "9" + str(int(self.nonce, 16)).rjust(39, "0")

    def sentinel_text(self, index: int, value: Parameter) -> str:
        if slot_literal(value).is_string:
            return f"shuqiao_parameter_{self.nonce}_{index}"
        return f"{self.number_marker}{index:04d}"

    def sentinel(self, index: int, value: Parameter) -> exp.Expr:
        """``literal(value)`` with its text replaced by the slot's sentinel."""
        node = literal(value)
        inner = node if isinstance(node, exp.Literal) else node.this
        inner.set("this", self.sentinel_text(index, value))
        return node

    def bind(self, query: exp.Query, nodes: Sequence[exp.Placeholder],
             parameters: Sequence[Parameter]) -> exp.Query:
        for index, (node, value) in enumerate(zip(nodes, parameters, strict=True)):
            node.replace(self.sentinel(index, value))
        return query

    def filled_tree(self, query: exp.Query, parameters: Sequence[Parameter]) -> exp.Query:
        """A copy of an analysed ``query`` with each sentinel replaced by its value."""
        copied = query.copy()
        for node in list(copied.find_all(exp.Literal)):
            index = self._slot_index(node.this)
            if index is not None:
                node.replace(slot_literal(parameters[index]))
        return copied

    def _slot_index(self, text: str) -> int | None:
        for marker in (f"shuqiao_parameter_{self.nonce}_", self.number_marker):
            if text.startswith(marker) and text[len(marker):].isdigit():
                return int(text[len(marker):])
        return None

    def template(self, sql: str, dialect: str, parameters: Sequence[Parameter]) -> Template | None:
        """``sql`` (rendered from the analysed tree) cut at its sentinels; ``None`` when the
        generator rendered a sentinel in any other form than its literal, as then the value's
        literal cannot simply stand in its place."""
        tokens = {
            _render(self.sentinel_slot(index, value), dialect): index
            for index, value in enumerate(parameters)
        }
        pieces = re.split("(" + "|".join(map(re.escape, tokens)) + ")", sql)
        found = pieces[1::2]
        markers = sql.count(self.nonce) + sql.count(self.number_marker)
        if markers != len(found) or set(found) != set(tokens):
            return None
        return Template(tuple(pieces[0::2]), tuple(tokens[t] for t in found), dialect)

    def sentinel_slot(self, index: int, value: Parameter) -> exp.Literal:
        inner = slot_literal(value)
        inner.set("this", self.sentinel_text(index, value))
        return inner


@dataclass(frozen=True)
class Template:
    """Rendered SQL around its parameter slots: ``texts[0] slot texts[1] slot ... texts[-1]``."""

    texts: tuple[str, ...]
    slots: tuple[int, ...]
    dialect: str

    def fill(self, parameters: Sequence[Parameter]) -> str:
        values = [_render(slot_literal(p), self.dialect) for p in parameters]
        out = [self.texts[0]]
        for slot, text in zip(self.slots, self.texts[1:], strict=True):
            out += (values[slot], text)
        return "".join(out)


def _render(node: exp.Literal, dialect: str) -> str:
    return dialect_named(dialect).generate(node, copy=False)
