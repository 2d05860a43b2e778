"""Shuqiao's error hierarchy, mapped once to exit codes (CLI) and protocol error names.

::

    ShuqiaoError                       (catalog.errors)
    ├── CatalogError                   (catalog.errors)
    │   └── PolicyFileError            a policy file rejected whole, with line numbers
    ├── QueryError                     the statement itself is unusable
    │   └── ParseError                 not valid SQL                      -> SYNTAX_ERROR
    ├── PolicyError                    refused by policy                  -> PERMISSION_DENIED
    │   ├── UnsupportedStatement       valid SQL, but not exactly one read-only query
    │   ├── NotGranted                 table absent or not granted (same answer for both)
    │   ├── GrantExpired               the only covering grant is outside its validity
    │   ├── ColumnDenied               a denied (or unnamed) column is used
    │   ├── MatchMisuse                a match column used other than in equality / IN / EXISTS
    │   ├── AggregateOnlyViolation     an aggregate-only grant read without aggregation
    │   ├── Unsupported                a construct the pipeline does not fully understand
    │   └── NotAuthenticated           unknown principal
    │   └── AuditError                 the audit log cannot be written: fail closed, no rows
    ├── SourceError                    a departmental database failed     -> EXTERNAL
    │   │                              (catalog.errors, so connectors can raise it)
    │   ├── SourceUnavailable          unreachable, bad credentials, missing database
    │   └── NotInTrino                 a source kind Trino cannot read (SQLite files)
    └── EngineError                    the engine failed running a statement
"""

from __future__ import annotations

from catalog.errors import CatalogError, PolicyFileError, ShuqiaoError, SourceError

__all__ = [
    "AggregateOnlyViolation",
    "CatalogError",
    "ColumnDenied",
    "EngineError",
    "GrantExpired",
    "MatchMisuse",
    "NotAuthenticated",
    "NotGranted",
    "ParseError",
    "PolicyError",
    "PolicyFileError",
    "QueryError",
    "ShuqiaoError",
    "SourceError",
    "Unsupported",
    "UnsupportedStatement",
]


class QueryError(ShuqiaoError):
    """The statement cannot be processed at all."""

    error_name = "SYNTAX_ERROR"


class ParseError(QueryError):
    """The statement is not valid SQL in the Trino dialect."""


class PolicyError(ShuqiaoError):
    """The statement was refused by policy before reaching any database."""

    error_name = "PERMISSION_DENIED"
    rule = "policy"


class UnsupportedStatement(PolicyError):
    """Valid SQL, but not exactly one read-only query."""

    rule = "read-only"


class NotGranted(PolicyError):
    rule = "not-granted"

    def __init__(self, table: str) -> None:
        self.table = table
        super().__init__(f"table {table} does not exist or is not granted to you")


class GrantExpired(PolicyError):
    rule = "grant-validity"


class ColumnDenied(PolicyError):
    rule = "deny"


class MatchMisuse(PolicyError):
    rule = "match"


class AggregateOnlyViolation(PolicyError):
    rule = "aggregate-only"


class Unsupported(PolicyError):
    rule = "unsupported"


class NotAuthenticated(PolicyError):
    rule = "principal"


class EngineError(ShuqiaoError):
    """The engine failed while running an authorized statement."""

    error_name = "GENERIC_INTERNAL_ERROR"
