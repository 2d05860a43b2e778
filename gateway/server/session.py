"""The client session: what a request's ``X-Trino-*`` headers say, what a statement changes,
and how each statement kind is answered.

A Trino client keeps its session itself and sends it with every statement: user, catalog,
schema, source, client tags, session properties and its prepared statements. The service keeps
none of it between statements; a statement that changes the session (``USE``, ``PREPARE``,
``DEALLOCATE PREPARE``) answers with ``X-Trino-Set-*`` / ``Added-Prepare`` /
``Deallocated-Prepare`` headers and the client sends the new state next time.

Prepared statements come back from the client in ``X-Trino-Prepared-Statement``, so their SQL is
whatever the client says it is: ``EXECUTE`` runs it through the policy pipeline (or the metadata
path) exactly like a statement sent directly, with the ``USING`` literals bound as parameters.
``PREPARE`` only checks that the statement is one read-only query.

Session properties (``X-Trino-Session``) are accepted and ignored: none changes what the gateway
does. ``SET SESSION``, transactions and everything else the pipeline does not accept are
refused by it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus, unquote_plus

from catalog.audit_store import Client
from catalog.models import LOGICAL_SCHEMA
from gateway.audit import NO_CLIENT
from gateway.engines import ResultColumn, ResultStream
from gateway.errors import PolicyError, QueryError, UnsupportedStatement
from gateway.policy.parameters import Parameter
from gateway.policy.parse import parse
from gateway.server import constants as h
from gateway.server.introspection import Scope, metadata_query, might_be_metadata, run
from gateway.server.metadata import catalogs, show_sql, visible_tables
from gateway.server.statements import (
    Deallocate,
    Execute,
    Prepare,
    Query,
    Show,
    Statement,
    Use,
    recognise,
)
from gateway.service import Gateway


class PreparedStatementNotFound(QueryError):
    """``EXECUTE`` or ``DEALLOCATE PREPARE`` named a statement the session does not hold."""

    error_name = "NOT_FOUND"

    def __init__(self, name: str) -> None:
        super().__init__(f"Prepared statement not found: {name}")


@dataclass(frozen=True)
class ClientSession:
    """The session a client sent with one request."""

    user: str | None = None
    catalog: str | None = None
    schema: str | None = None
    source: str | None = None
    client_tags: tuple[str, ...] = ()
    properties: Mapping[str, str] = field(default_factory=dict)
    prepared: Mapping[str, str] = field(default_factory=dict)
    parametric_datetime: bool = False

    @classmethod
    def from_headers(cls, headers: Callable[[str], list[str]]) -> ClientSession:
        """``headers(name)`` gives every value sent for a header (empty when absent)."""
        def one(name: str) -> str | None:
            values = [v.strip() for v in headers(name) if v.strip()]
            return values[0] if values else None

        capabilities = _items(headers(h.CLIENT_CAPABILITIES))
        return cls(
            user=one(h.USER),
            catalog=_lower(one(h.CATALOG)),
            schema=_lower(one(h.SCHEMA)),
            source=one(h.SOURCE),
            client_tags=tuple(_items(headers(h.CLIENT_TAGS))),
            properties=_pairs(headers(h.SESSION)),
            prepared=_pairs(headers(h.PREPARED_STATEMENT)),
            parametric_datetime=h.CAPABILITY_PARAMETRIC_DATETIME in capabilities,
        )


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _items(values: Sequence[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _pairs(values: Sequence[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in _items(values):
        name, sep, value = item.partition("=")
        if sep:
            pairs[name.strip()] = unquote_plus(value.strip())
    return pairs


@dataclass(frozen=True)
class SessionUpdate:
    """What a statement changed in the client's session, sent back as response headers."""

    update_type: str
    catalog: str | None = None
    schema: str | None = None
    added: tuple[tuple[str, str], ...] = ()
    deallocated: tuple[str, ...] = ()

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.catalog:
            headers[h.SET_CATALOG] = self.catalog
        if self.schema:
            headers[h.SET_SCHEMA] = self.schema
        if self.added:
            headers[h.ADDED_PREPARE] = ",".join(f"{n}={quote_plus(s)}" for n, s in self.added)
        if self.deallocated:
            headers[h.DEALLOCATED_PREPARE] = ",".join(self.deallocated)
        return headers


@dataclass(frozen=True)
class Rows:
    """A statement that returns rows: its columns and pages, pulled one at a time."""

    result: ResultStream
    kind: str  # query | metadata

    @property
    def columns(self) -> tuple[ResultColumn, ...]:
        return self.result.columns

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        return self.result.pages(size)


Outcome = Rows | SessionUpdate


@dataclass(frozen=True)
class StatementContext:
    """Who runs a statement, in which session, from which client, under which query id (the
    audit log's id for it too)."""

    gateway: Gateway
    principal: str
    session: ClientSession
    client: Client = NO_CLIENT
    query_id: str | None = None

    def scope(self) -> Scope:
        tables = visible_tables(self.gateway.snapshot(), self.principal, self.gateway.clock())
        return Scope(self.principal, tables, self.session.catalog, self.session.schema)


def answer(sql: str, context: StatementContext) -> Outcome:
    """Run one client statement: the session's own kinds here, queries on their path."""
    return _answer(recognise(sql), context)


def _answer(statement: Statement, context: StatementContext) -> Outcome:
    if isinstance(statement, Query):
        return _query(statement.sql, statement.parameters, context)
    if isinstance(statement, Show):
        return _show(statement, context)
    if isinstance(statement, Use):
        return _use(statement, context)
    if isinstance(statement, Prepare):
        return _prepare(statement)
    if isinstance(statement, Execute):
        return _execute(statement, context)
    return _deallocate(statement, context)


def _query(sql: str, parameters: Sequence[Parameter], context: StatementContext) -> Outcome:
    if might_be_metadata(sql):
        scope = context.scope()
        found = metadata_query(sql, parameters, scope)
        if found is not None:
            return Rows(run(found, scope), "metadata")
    session = context.session
    execution = context.gateway.execute(context.principal, sql, parameters,
                                        catalog=session.catalog, schema=session.schema,
                                        client=context.client, query_id=context.query_id)
    return Rows(execution.result, "query")


def _show(show: Show, context: StatementContext) -> Outcome:
    scope = context.scope()
    sql = show_sql(show, scope.tables, scope.catalog, scope.schema)
    found = metadata_query(sql, (), scope)
    assert found is not None, "SHOW is always answered from the metadata"
    return Rows(run(found, scope), "metadata")


def _use(use: Use, context: StatementContext) -> Outcome:
    catalog = use.catalog or context.session.catalog
    if not catalog:
        raise QueryError("catalog must be specified when session catalog is not set")
    if catalog not in catalogs(context.scope().tables):
        raise PolicyError(f"catalog {catalog} does not exist or is not granted to you")
    if use.schema != LOGICAL_SCHEMA:
        raise PolicyError(
            f"schema {catalog}.{use.schema} does not exist or is not granted to you")
    return SessionUpdate("USE", catalog=catalog, schema=use.schema)


def _prepare(prepare: Prepare) -> Outcome:
    inner = recognise(prepare.sql)
    if isinstance(inner, Query) and not inner.parameters:
        parse(inner.sql)
    elif not isinstance(inner, Show):
        raise UnsupportedStatement("only read-only queries can be prepared")
    return SessionUpdate("PREPARE", added=((prepare.name, prepare.sql),))


def _execute(execute: Execute, context: StatementContext) -> Outcome:
    sql = context.session.prepared.get(execute.name)
    if sql is None:
        raise PreparedStatementNotFound(execute.name)
    inner = recognise(sql)
    if isinstance(inner, Show) and not execute.parameters:
        return _show(inner, context)
    if not isinstance(inner, Query) or inner.parameters:
        raise UnsupportedStatement("only read-only queries can be prepared")
    return _query(inner.sql, execute.parameters, context)


def _deallocate(deallocate: Deallocate, context: StatementContext) -> Outcome:
    if deallocate.name not in context.session.prepared:
        raise PreparedStatementNotFound(deallocate.name)
    return SessionUpdate("DEALLOCATE", deallocated=(deallocate.name,))
