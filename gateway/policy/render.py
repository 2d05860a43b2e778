"""Step 5: render. The rewritten statement as SQL text in the engine's dialect.

Policy views depend only on (table, grant, target), so each is rendered once and spliced into
the rendered statement at a placeholder; the analyst's part is rendered per statement. Both
paths produce the same text as rendering :func:`rewrite`'s single AST (a test holds them equal).
"""

from __future__ import annotations

import secrets
from functools import lru_cache

from sqlglot import exp

from gateway.policy.authorize import Decision
from gateway.policy.bind import Bound, TableUse
from gateway.policy.dialects import dialect as dialect_named
from gateway.policy.rewrite import Target, policy_view, rewrite, rewrite_with_placeholders

PROBE = "shuqiao_view"


def render(query: exp.Expr, dialect: str, *, pretty: bool = False, copy: bool = True) -> str:
    # Quote every identifier: catalog names are lower case, and a quoted name can never be
    # mistaken for a keyword or folded differently by the engine. ``copy=False`` lets the
    # generator transform a tree nobody else holds instead of copying it first. Comments are
    # left out: no text of the analyst's reaches an engine except what the pipeline checked.
    return query.sql(dialect=dialect_named(dialect), identify=True, pretty=pretty, copy=copy,
                     comments=False)


def render_statement(bound: Bound, decision: Decision, target: Target, *,
                     pretty: bool = False) -> str:
    if pretty:
        return render(rewrite(bound, decision, target), target.dialect, pretty=True)
    query, views = rewrite_with_placeholders(bound, decision, secrets.token_hex(16))
    sql = render(query, target.dialect, copy=False)  # a fresh tree of its own
    quoted = _quoted_name(target.dialect)
    for name, use in views.items():
        sql = sql.replace(quoted.replace(PROBE, name), f"({view_sql(use, target)})", 1)
    return sql


@lru_cache(maxsize=64)
def _quoted_name(dialect: str) -> str:
    """How ``dialect`` quotes a name: placeholder names are ``[a-z0-9_]`` like ``PROBE``, so
    each one is quoted by putting it in ``PROBE``'s place."""
    return exp.to_identifier(PROBE, quoted=True).sql(dialect=dialect_named(dialect))


@lru_cache(maxsize=4096)
def view_sql(use: TableUse, target: Target) -> str:
    return render(policy_view(use, target).unnest(), target.dialect)
