"""What a client statement asks for, recognised before anything runs. Pure functions.

The protocol answers a few statement kinds itself — ``USE``, ``PREPARE`` / ``EXECUTE`` /
``DEALLOCATE PREPARE``, ``SHOW CATALOGS | SCHEMAS | TABLES | COLUMNS`` and ``DESCRIBE`` —
because clients send them as part of ordinary work. ``EXECUTE IMMEDIATE '...' USING ...``
becomes the inner query with its parameters. Everything else is a :class:`Query` for the policy
pipeline, which refuses what it does not accept (``SET SESSION``, ``START TRANSACTION``,
``SHOW GRANTS``, DML, ...).

Parameters (``USING`` lists) must be literals; they become Python values that
:mod:`gateway.policy.parameters` binds into the AST, never into SQL text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError as SqlglotParseError
from sqlglot.errors import TokenError

from gateway.errors import ParseError
from gateway.policy.parameters import Parameter


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # word | ident | string | number | punct
    text: str  # unquoted and unescaped for ident and string
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


@dataclass(frozen=True, slots=True)
class Query:
    sql: str
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True, slots=True)
class Use:
    catalog: str | None
    schema: str


@dataclass(frozen=True, slots=True)
class Prepare:
    name: str
    sql: str


@dataclass(frozen=True, slots=True)
class Execute:
    name: str
    parameters: tuple[Parameter, ...] = ()


@dataclass(frozen=True, slots=True)
class Deallocate:
    name: str


@dataclass(frozen=True, slots=True)
class Show:
    """``SHOW CATALOGS | SCHEMAS | TABLES | COLUMNS`` and ``DESCRIBE``: ``target`` is the
    (possibly partial) name after FROM / IN, lower-cased."""

    kind: str  # catalogs | schemas | tables | columns
    target: tuple[str, ...] = ()
    like: str | None = None
    escape: str | None = None


Statement = Query | Use | Prepare | Execute | Deallocate | Show

# --- tokens -----------------------------------------------------------------------------------

_PUNCT = set("(),.;=*+-/<>[]?|:!%")


def tokenize(sql: str) -> list[Token]:
    """Words, quoted identifiers, strings, numbers and punctuation; comments dropped."""
    tokens: list[Token] = []
    index = 0
    while index < len(sql):
        char = sql[index]
        if char.isspace():
            index += 1
        elif sql.startswith("--", index):
            newline = sql.find("\n", index)
            index = len(sql) if newline < 0 else newline + 1
        elif sql.startswith("/*", index):
            close = sql.find("*/", index + 2)
            if close < 0:
                raise ParseError("syntax error: unterminated comment")
            index = close + 2
        else:
            token = _token_at(sql, index)
            tokens.append(token)
            index = token.end
    return tokens


def _token_at(sql: str, index: int) -> Token:
    char = sql[index]
    if char in "'\"":
        return _quoted(sql, index, char)
    if char.isalpha() or char == "_":
        end = _scan(sql, index, lambda c: c.isalnum() or c in "_$@")
        return Token("word", sql[index:end], index, end)
    if char.isdigit():
        end = _scan(sql, index, lambda c: c.isalnum() or c == ".")
        return Token("number", sql[index:end], index, end)
    if char in _PUNCT:
        return Token("punct", char, index, index + 1)
    raise ParseError("syntax error: unexpected character")


def _scan(sql: str, index: int, keep: Callable[[str], bool]) -> int:
    end = index
    while end < len(sql) and keep(sql[end]):
        end += 1
    return end


def _quoted(sql: str, index: int, quote: str) -> Token:
    """A quoted string or identifier; a doubled quote stands for itself."""
    parts: list[str] = []
    cursor = index + 1
    while True:
        close = sql.find(quote, cursor)
        if close < 0:
            raise ParseError("syntax error: unterminated quoted text")
        parts.append(sql[cursor:close])
        if sql.startswith(quote * 2, close):
            parts.append(quote)
            cursor = close + 2
            continue
        kind = "string" if quote == "'" else "ident"
        return Token(kind, "".join(parts), index, close + 1)


# --- recognition ------------------------------------------------------------------------------


class _Reader:
    """A cursor over the tokens of one statement."""

    def __init__(self, sql: str, tokens: list[Token]) -> None:
        self.sql = sql
        self.tokens = tokens[:-1] if tokens and tokens[-1].text == ";" and \
            tokens[-1].kind == "punct" else tokens
        self.at = 0

    def peek(self, *words: str) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at].is_word(*words)

    def accept(self, *words: str) -> bool:
        if self.peek(*words):
            self.at += 1
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise ParseError(f"syntax error: expected {' or '.join(words)}")

    def done(self) -> bool:
        return self.at >= len(self.tokens)

    def end(self) -> None:
        if not self.done():
            raise ParseError("syntax error: unexpected text after the statement")

    def name(self) -> str:
        token = self._next("a name")
        if token.kind not in ("word", "ident"):
            raise ParseError("syntax error: expected a name")
        return token.text.lower()

    def qualified(self) -> tuple[str, ...]:
        parts = [self.name()]
        while self.at < len(self.tokens) and self.tokens[self.at].text == "." and \
                self.tokens[self.at].kind == "punct":
            self.at += 1
            parts.append(self.name())
        return tuple(parts)

    def string(self) -> str:
        token = self._next("a string")
        if token.kind != "string":
            raise ParseError("syntax error: expected a string literal")
        return token.text

    def rest(self) -> str:
        """The statement text from the current token on (without a final ``;``)."""
        if self.done():
            return ""
        end = self.tokens[-1].end
        return self.sql[self.tokens[self.at].start:end]

    def _next(self, what: str) -> Token:
        if self.done():
            raise ParseError(f"syntax error: expected {what}")
        token = self.tokens[self.at]
        self.at += 1
        return token


def recognise(sql: str) -> Statement:
    """The kind of ``sql``: one the protocol answers itself, or a query for the pipeline
    (which also reports text that does not even tokenize)."""
    try:
        reader = _Reader(sql, tokenize(sql))
    except ParseError:
        return Query(sql)
    if reader.done():
        return Query(sql)
    for word, read in _READERS.items():
        if reader.peek(word):
            found = read(reader)
            if found is not None:
                return found
    return Query(sql)


def _use(reader: _Reader) -> Statement:
    reader.expect("USE")
    parts = reader.qualified()
    reader.end()
    if len(parts) > 2:
        raise ParseError("syntax error: USE takes a schema or catalog.schema")
    return Use(parts[0], parts[1]) if len(parts) == 2 else Use(None, parts[0])


def _prepare(reader: _Reader) -> Statement:
    reader.expect("PREPARE")
    name = reader.name()
    reader.expect("FROM")
    body = reader.rest()
    if not body.strip():
        raise ParseError("syntax error: PREPARE needs a statement after FROM")
    return Prepare(name, body)


def _execute(reader: _Reader) -> Statement:
    reader.expect("EXECUTE")
    if reader.accept("IMMEDIATE"):
        body = reader.string()
        return Query(body, _using(reader))
    name = reader.name()
    return Execute(name, _using(reader))


def _using(reader: _Reader) -> tuple[Parameter, ...]:
    if reader.done():
        return ()
    reader.expect("USING")
    return parameters(reader.rest())


def _deallocate(reader: _Reader) -> Statement:
    reader.expect("DEALLOCATE")
    reader.expect("PREPARE")
    name = reader.name()
    reader.end()
    return Deallocate(name)


def _show(reader: _Reader) -> Statement | None:
    reader.expect("SHOW")
    kinds = {"CATALOGS": 0, "SCHEMAS": 1, "TABLES": 2, "COLUMNS": 3}
    token = reader.tokens[reader.at] if not reader.done() else None
    if token is None or token.kind != "word" or token.text.upper() not in kinds:
        return None
    kind = token.text.upper()
    reader.at += 1
    target: tuple[str, ...] = ()
    if kind != "CATALOGS" and reader.accept("FROM", "IN"):
        target = reader.qualified()
    elif kind == "COLUMNS":
        raise ParseError("syntax error: SHOW COLUMNS needs FROM <table>")
    return _with_like(reader, Show(kind.lower(), target))


def _with_like(reader: _Reader, show: Show) -> Show:
    like = escape = None
    if reader.accept("LIKE"):
        like = reader.string()
        if reader.accept("ESCAPE"):
            escape = reader.string()
    reader.end()
    return Show(show.kind, show.target, like, escape)


def _describe(reader: _Reader) -> Statement | None:
    reader.at += 1
    if reader.peek("INPUT", "OUTPUT"):
        return None
    target = reader.qualified()
    reader.end()
    return Show("columns", target)


_READERS = {
    "USE": _use, "PREPARE": _prepare, "EXECUTE": _execute, "DEALLOCATE": _deallocate,
    "SHOW": _show, "DESCRIBE": _describe, "DESC": _describe,
}

# --- parameters -------------------------------------------------------------------------------


def parameters(text: str) -> tuple[Parameter, ...]:
    """The literals of a ``USING`` list as Python values; anything but a literal is refused."""
    try:
        select = sqlglot.parse_one(f"SELECT {text}", read="trino")
    except (SqlglotParseError, TokenError):
        raise ParseError("syntax error in the USING list") from None
    if not isinstance(select, exp.Select) or any(
            value for key, value in select.args.items() if key != "expressions"):
        raise ParseError("syntax error in the USING list")
    return tuple(_value(e, i + 1) for i, e in enumerate(select.expressions))


def _value(node: exp.Expr, position: int) -> Parameter:
    try:
        return _literal(node)
    except (ValueError, InvalidOperation, TypeError):
        raise ParseError(f"parameter {position} must be a literal value") from None


def _literal(node: exp.Expr) -> Parameter:
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Neg):
        inner = _literal(node.this)
        if isinstance(inner, int | float | Decimal) and not isinstance(inner, bool):
            return -inner
        raise ValueError("not a number")
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else _number(node.this)
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return _typed(node.to, node.this.this)
    raise ValueError("not a literal")


def _number(text: str) -> Parameter:
    if text.isdigit():
        return int(text)
    if "e" in text.lower():
        return float(text)
    return Decimal(text)


def _typed(to: exp.DataType, text: str) -> Parameter:
    kind = to.this
    types = exp.DataType.Type
    if kind == types.DATE:
        return date.fromisoformat(text.strip())
    if kind in (types.TIMESTAMP, types.DATETIME):
        return datetime.fromisoformat(text.strip())
    if kind in (types.DOUBLE, types.FLOAT):
        return float(text)
    if kind == types.DECIMAL:
        return Decimal(text)
    if kind in (types.BIGINT, types.INT, types.SMALLINT, types.TINYINT):
        return int(text)
    if kind in (types.VARCHAR, types.CHAR, types.TEXT):
        return text
    raise ValueError("unsupported literal type")
