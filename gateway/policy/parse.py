"""Step 1: parse. Exactly one read-only query in the Trino dialect, or a refusal."""

from __future__ import annotations

import logging

from sqlglot import exp
from sqlglot.errors import ErrorLevel, TokenError
from sqlglot.errors import ParseError as SqlglotParseError

from gateway.errors import ParseError, UnsupportedStatement
from gateway.policy.dialects import TRINO

# sqlglot logs (and falls back to an opaque Command) for syntax it does not model; we refuse
# those statements anyway, so its warnings only add noise with user SQL in them.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

# What a typo parses to: ``selec x`` is an aliased column, not a statement of another kind.
BARE_EXPRESSIONS: tuple[type[exp.Expr], ...] = (
    exp.Condition, exp.Alias, exp.Identifier, exp.Star, exp.Tuple, exp.Paren,
)
READ_ONLY_KINDS: tuple[type[exp.Expr], ...] = (exp.Select, exp.SetOperation)


def parse(sql: str) -> exp.Query:
    """Parse ``sql`` into one query AST; refuse anything else with a named error."""
    statements = _parse_all(sql)
    if len(statements) != 1:
        raise UnsupportedStatement(
            f"expected exactly one statement, found {len(statements)}"
        )
    statement = statements[0]
    if not isinstance(statement, READ_ONLY_KINDS):
        if not _is_statement(statement):
            raise ParseError("syntax error: not a SQL statement")
        raise UnsupportedStatement(
            f"only read-only queries are accepted; {_kind(statement)} statements are refused"
        )
    assert isinstance(statement, exp.Query)
    return statement  # bind drops the token positions sqlglot keeps in ``meta``


def _parse_all(sql: str) -> list[exp.Expr]:
    if not sql or not sql.strip():
        raise ParseError("empty statement")
    try:
        parsed = TRINO.parse(_blank_leading_comments(sql), error_level=ErrorLevel.RAISE)
    except (SqlglotParseError, TokenError) as err:
        raise ParseError(f"syntax error: {_first_line(err)}") from None
    return [s for s in parsed if s is not None]


def _blank_leading_comments(sql: str) -> str:
    """``sql`` with the ``--`` comment lines before its first token emptied (line numbers
    stay): a documented statement's header is never rendered, so the parser need not carry it
    through every step."""
    if not sql.lstrip().startswith("--"):
        return sql
    lines = sql.split("\n")
    for index, line in enumerate(lines):
        stripped = line.lstrip()
        if stripped and not stripped.startswith("--"):
            return "\n" * index + "\n".join(lines[index:])
    return sql  # nothing but comments: parsed as it is, and refused as no statement


def _is_statement(node: exp.Expr) -> bool:
    """A bare expression (``selec x`` parses as an alias) is a typo, not a statement."""
    return not isinstance(node, BARE_EXPRESSIONS)


def _kind(statement: exp.Expr) -> str:
    if isinstance(statement, exp.Command):
        return str(statement.this).upper()
    return statement.key.upper()


def _first_line(err: Exception) -> str:
    # sqlglot's messages end with an excerpt of the statement; the caller already has that.
    return str(err).splitlines()[0][:200]
