"""Step 5: render. The rewritten AST as SQL text in the engine's dialect."""

from __future__ import annotations

from sqlglot import exp

ENGINE_DIALECTS = {"duckdb": "duckdb", "trino": "trino", "postgres": "postgres", "mysql": "mysql"}


def render(query: exp.Query, dialect: str, *, pretty: bool = False) -> str:
    # Quote every identifier: catalog names are lower case, and a quoted name can never be
    # mistaken for a keyword or folded differently by the engine.
    return query.sql(dialect=dialect, identify=True, pretty=pretty)
