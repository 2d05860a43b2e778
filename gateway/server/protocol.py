"""The query state machine of the Trino client protocol, and the documents it answers with.

::

    POST /v1/statement ─▶ QUEUED ─▶ RUNNING ─▶ FINISHED
                            │          │  ╲
                            └──────────┴───▶ FAILED      (refused, syntax, engine error)
                                       DELETE ▶ CANCELED (sent to clients as FAILED,
                                                          USER_CANCELED, as Trino does)

``POST`` registers the statement and starts it on a worker thread. It waits briefly for the
first page, so a quick statement is answered in one round trip; a slower one answers ``QUEUED``
with a ``nextUri``. Each ``GET`` of the ``nextUri`` waits (up to ``max_wait``) for the next step
and answers with at most one page of ``page_size`` rows; the page after it is pulled from the
engine in the background while the client reads this one. So a result streams with at most
three pages held (the one being read, the one prefetched, and the last answer kept for a retry)
and the first page leaves before the engine has produced the last row. A page shorter than
``page_size`` ends the result in the same answer.

Rows an engine holds in this protocol's own JSON form (a :class:`~gateway.engines.WireStream`:
Trino's rows for the statement Trino ran, already rewritten by the policy) go out as Trino sent
them when the client sees every column in that form; only other rows are decoded by the engine
and encoded here.

``nextUri`` carries the query id, a per-query random slug and a token that grows by one per
response; the same token again returns the same response (a client retrying a lost answer), any
other token is not found. Only the principal that started a query can see or cancel it; to
anyone else it does not exist.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

import orjson

from catalog.errors import ShuqiaoError
from gateway.engines import ResultStream, WireStream
from gateway.server import constants as h
from gateway.server.encoding import (
    TrinoType,
    column_document,
    encode_rows,
    encoders,
    for_client,
    passes_through,
    trino_type,
    value_type,
)
from gateway.server.session import Outcome, Rows, SessionUpdate

log = logging.getLogger("shuqiao.server")

MAX_WAIT = 1.0  # seconds a GET waits for the next page before answering without one
CLIENT_TIMEOUT = 300.0  # seconds without a request before a running query is abandoned
RETAIN = 10.0  # seconds a finished query stays to answer retried requests
PURGE_INTERVAL = 5.0  # seconds between two sweeps of finished and abandoned queries


class State(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"

    @property
    def terminal(self) -> bool:
        return self in (State.FINISHED, State.FAILED, State.CANCELED)


@dataclass(frozen=True, slots=True)
class Failure:
    name: str
    message: str
    kind: str = "io.trino.spi.TrinoException"

    @classmethod
    def of(cls, error: BaseException) -> Failure:
        if isinstance(error, ShuqiaoError):
            name = str(getattr(error, "error_name", "GENERIC_INTERNAL_ERROR"))
            return cls(name, str(error), f"{type(error).__module__}.{type(error).__name__}")
        return cls("GENERIC_INTERNAL_ERROR", "internal error while running the statement")

    def document(self) -> dict[str, Any]:
        code, kind = h.ERROR_CODES.get(self.name, h.ERROR_CODES["GENERIC_INTERNAL_ERROR"])
        info = {"code": code, "name": self.name, "type": kind}
        return {
            "message": self.message, "errorCode": code, "errorName": self.name,
            "errorType": kind,
            "failureInfo": {"type": self.kind, "message": self.message, "suppressed": [],
                            "stack": [], "errorInfo": info},
        }


CANCELED = Failure("USER_CANCELED", "the query was canceled")
ABANDONED = Failure("ABANDONED_QUERY", "the query was abandoned by its client")


PageRows = Sequence[Sequence[object]]


@dataclass(frozen=True, slots=True)
class Page:
    rows: PageRows
    produced: int
    last: bool = False  # a short page ends the result: no further request is needed


@dataclass(frozen=True, slots=True)
class End:
    """The result has no more rows."""


Step = SessionUpdate | Page | End


@dataclass(frozen=True)
class QueryRecord:
    """What happened to one statement, for listeners (audit, metrics) once it is over."""

    id: str
    principal: str
    sql: str
    kind: str
    state: State
    rows: int
    elapsed: float
    error_name: str | None = None
    error_message: str | None = None
    source: str | None = None
    client_tags: tuple[str, ...] = ()


class QueryListener(Protocol):
    def query_completed(self, record: QueryRecord) -> None: ...


@dataclass(frozen=True)
class Response:
    """A rendered protocol response: its JSON body and extra headers."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def new_query_id(now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    return f"{moment:%Y%m%d_%H%M%S}_{secrets.randbelow(100000):05d}_{secrets.token_hex(3)}"


class ClientQuery:
    """One statement's life: started on a worker thread, paged out on each client GET."""

    def __init__(self, principal: str, sql: str, start: Callable[[], Outcome], *,
                 page_size: int, parametric_datetime: bool = True,
                 source: str | None = None, client_tags: tuple[str, ...] = (),
                 query_id: str | None = None) -> None:
        self.id = query_id or new_query_id()
        self.slug = secrets.token_hex(16)
        self.principal, self.sql = principal, sql
        self.source, self.client_tags = source, client_tags
        self.page_size = page_size
        self.parametric_datetime = parametric_datetime
        self.state = State.QUEUED
        self.kind = "query"
        self.created = self.last_access = time.monotonic()
        self.rows_produced = self.rows_sent = 0
        self.columns: tuple[tuple[str, TrinoType], ...] | None = None
        self.failure: Failure | None = None
        self.update: SessionUpdate | None = None
        self.lock = asyncio.Lock()
        self._start = start
        self._encode: Callable[[PageRows], PageRows] = _unchanged
        self._pages: Iterator[PageRows] | None = None
        self._cancel: Callable[[], None] | None = None
        self._pending: asyncio.Future[Step] | None = None
        self._page: Page | None = None
        self._last: tuple[int, Response] | None = None
        self._executor: Executor | None = None

    # -- running -------------------------------------------------------------------------------

    def begin(self, executor: Executor) -> None:
        self._executor = executor
        self._pending = asyncio.get_running_loop().run_in_executor(executor, self._first)

    def _first(self) -> Step:
        """On a worker thread: run the statement and, when it returns rows, pull the first
        page in the same hop."""
        outcome = self._start()
        if isinstance(outcome, SessionUpdate):
            return outcome
        self._open(outcome)
        return self._next()

    def _open(self, rows: Rows) -> None:
        self.kind = rows.kind
        kinds = [trino_type(c.type) for c in rows.columns]
        self.columns = tuple((c.name, k) for c, k in zip(rows.columns, kinds, strict=True))
        self._pages = self._as_received(rows.result)
        if self._pages is None:
            values = encoders([value_type(k, self.parametric_datetime) for k in kinds])
            self._encode = partial(encode_rows, values)
            self._pages = rows.pages(self.page_size)
        self._cancel = rows.result.cancel

    def _as_received(self, result: ResultStream) -> Iterator[list[list[object]]] | None:
        """The result's pages with values in this protocol's form, when it has them and the
        client gets every column in that form."""
        if not isinstance(result, WireStream) or not all(
                passes_through(c.type, self.parametric_datetime) for c in result.columns):
            return None
        return result.wire_pages(self.page_size)

    def _next(self) -> Step:
        """On a worker thread: pull and encode the next page."""
        assert self._pages is not None
        page = next(self._pages, None)
        if page is None:
            return End()
        last = len(page) < self.page_size and next(self._pages, None) is None
        return Page(self._encode(page), len(page), last)

    async def advance(self, wait: float) -> None:
        """Wait up to ``wait`` seconds for a page to send or for the query to end."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while self._page is None and not self.state.terminal and self._pending is not None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            done, _ = await asyncio.wait({self._pending}, timeout=remaining)
            if not done:
                return
            pending, self._pending = self._pending, None
            self._settle(pending)

    def _settle(self, future: asyncio.Future[Step]) -> None:
        try:
            step = future.result()
        except Exception as error:  # every failure becomes the query's error document
            if not isinstance(error, ShuqiaoError):
                log_unexpected(self.id, error)
            self._end(State.FAILED, Failure.of(error))
            return
        if isinstance(step, SessionUpdate):
            self.kind, self.update = "session", step
            self._end(State.FINISHED)
        elif isinstance(step, Page):
            self.state = State.RUNNING
            self._page = step
            self.rows_produced += step.produced
            if step.last:
                self._end(State.FINISHED)
            else:
                self._fetch()
        else:
            self._end(State.FINISHED)

    def _fetch(self) -> None:
        assert self._executor is not None
        self._pending = asyncio.get_running_loop().run_in_executor(self._executor, self._next)

    def _end(self, state: State, failure: Failure | None = None) -> None:
        self.state, self.failure = state, failure

    def cancel(self, failure: Failure = CANCELED) -> None:
        if self.state.terminal:
            return
        self._end(State.CANCELED, failure)
        self._page = None
        if self._cancel is not None:
            try:
                self._cancel()
            except Exception as error:  # the engine may have closed the result already
                log.debug("query %s: engine cancel ignored (%s)", self.id, type(error).__name__)
        self._close_pages()

    def _close_pages(self) -> None:
        """Close the page generator (and so the engine's cursor) once no thread is in it."""
        executor, pending = self._executor, self._pending
        if executor is None:
            return

        def close(_: object = None) -> None:
            pages = self._pages
            if pages is not None:
                _off_loop(executor, pages.close)  # type: ignore[attr-defined]

        if pending is None or pending.done():
            close()
        else:
            pending.add_done_callback(close)

    # -- responding ----------------------------------------------------------------------------

    def expected_token(self) -> int:
        return self._last[0] + 1 if self._last else 0

    def cached(self, token: int) -> Response | None:
        return self._last[1] if self._last and self._last[0] == token else None

    def respond(self, token: int, base_url: str) -> Response:
        """The document for ``token`` (the next one), remembered for a retried request."""
        page, self._page = self._page, None
        document = self.document(base_url, next_token=token + 1)
        if page is not None:
            document["data"] = page.rows
            self.rows_sent += len(page.rows)
        headers = self.update.headers() if self.update and self.state.terminal else {}
        response = Response(dumps(document), headers)
        self._last = (token, response)
        return response

    def document(self, base_url: str, *, next_token: int) -> dict[str, Any]:
        document: dict[str, Any] = {"id": self.id,
                                    "infoUri": f"{base_url}{h.QUERY_PATH}/{self.id}"}
        if not self.state.terminal:
            document["nextUri"] = self.next_uri(base_url, next_token)
        if self.columns is not None:
            document["columns"] = [
                column_document(name, for_client(kind, self.parametric_datetime))
                for name, kind in self.columns]
        elif self.update is not None:
            document["columns"] = []
        document["stats"] = self.stats()
        if self.failure is not None:
            document["error"] = self.failure.document()
        document["warnings"] = []
        if self.update is not None:
            document["updateType"] = self.update.update_type
        return document

    def next_uri(self, base_url: str, token: int) -> str:
        return f"{base_url}{h.EXECUTING_PATH}/{self.id}/{self.slug}/{token}"

    def stats(self) -> dict[str, Any]:
        shown = State.FAILED if self.state is State.CANCELED else self.state
        elapsed = int((time.monotonic() - self.created) * 1000)
        stats: dict[str, Any] = {
            "state": shown.value, "queued": shown is State.QUEUED,
            "scheduled": shown is not State.QUEUED, "nodes": 1, "totalSplits": 0,
            "queuedSplits": 0, "runningSplits": 0, "completedSplits": 0,
            "planningTimeMillis": 0, "analysisTimeMillis": 0, "cpuTimeMillis": 0,
            "wallTimeMillis": elapsed, "queuedTimeMillis": 0, "elapsedTimeMillis": elapsed,
            "finishingTimeMillis": 0, "physicalInputTimeMillis": 0,
            "processedRows": self.rows_produced, "processedBytes": 0,
            "physicalInputBytes": 0, "physicalWrittenBytes": 0,
            "internalNetworkInputBytes": 0, "peakMemoryBytes": 0, "spilledBytes": 0,
        }
        if shown is State.FINISHED:
            stats["progressPercentage"] = 100.0
            stats["runningPercentage"] = 0.0
        return stats

    def info(self) -> dict[str, Any]:
        """``GET /v1/query/{id}``: the query's state and row counters."""
        return {"queryId": self.id, "state": self.state.value, "query": self.sql,
                "user": self.principal, "kind": self.kind,
                "rowsProduced": self.rows_produced, "rowsSent": self.rows_sent,
                "error": self.failure.document() if self.failure else None}

    def record(self) -> QueryRecord:
        failure = self.failure
        return QueryRecord(
            self.id, self.principal, self.sql, self.kind, self.state, self.rows_sent,
            time.monotonic() - self.created, failure.name if failure else None,
            failure.message if failure else None, self.source, self.client_tags)


def _unchanged(rows: PageRows) -> PageRows:
    return rows


def log_unexpected(query_id: str, error: BaseException) -> None:
    """An unexpected error's class and where it happened, never its message: a library's
    message may quote a data value."""
    where = "".join(traceback.format_tb(error.__traceback__))
    log.error("query %s failed unexpectedly (%s)\n%s", query_id, type(error).__name__, where)


def _off_loop(executor: Executor, work: Callable[[], object]) -> None:
    """Run ``work`` on a worker, or right here once the workers are shutting down."""
    try:
        executor.submit(work)
    except RuntimeError:
        work()


def dumps(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. orjson writes a page many times faster than ``json``; what it does
    not take (integers beyond 64 bits) goes through ``json``."""
    try:
        return orjson.dumps(document)
    except orjson.JSONEncodeError:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")


class QueryRegistry:
    """The statements in flight, purged when finished long enough or abandoned by clients."""

    def __init__(self, executor: Executor, listeners: Sequence[QueryListener] = (), *,
                 client_timeout: float = CLIENT_TIMEOUT, retain: float = RETAIN) -> None:
        self.executor = executor
        self.listeners = tuple(listeners)
        self.client_timeout, self.retain = client_timeout, retain
        self._queries: dict[str, ClientQuery] = {}
        self._reported: set[str] = set()
        self._purged = time.monotonic()

    def add(self, query: ClientQuery) -> None:
        if time.monotonic() - self._purged > PURGE_INTERVAL:
            self.purge()
        self._queries[query.id] = query
        query.begin(self.executor)

    def get(self, query_id: str, principal: str, slug: str | None = None) -> ClientQuery | None:
        """The query, if it exists, belongs to ``principal`` and (when given) has ``slug``."""
        query = self._queries.get(query_id)
        if query is None or query.principal != principal:
            return None
        if slug is not None and not secrets.compare_digest(query.slug, slug):
            return None
        query.last_access = time.monotonic()
        return query

    def __iter__(self) -> Iterator[ClientQuery]:
        return iter(list(self._queries.values()))

    def report(self, query: ClientQuery) -> None:
        """Tell the listeners about a query once it has ended (once per query)."""
        if not query.state.terminal or query.id in self._reported or not self.listeners:
            return
        self._reported.add(query.id)
        record = query.record()
        for listener in self.listeners:
            _off_loop(self.executor, partial(_notify, listener, record))

    def purge(self) -> None:
        now = self._purged = time.monotonic()
        for query in list(self._queries.values()):
            idle = now - query.last_access
            if not query.state.terminal and idle > self.client_timeout:
                query.cancel(ABANDONED)
                self.report(query)
            if query.state.terminal and idle > self.retain:
                del self._queries[query.id]
                self._reported.discard(query.id)

    def cancel_all(self) -> None:
        for query in self:
            query.cancel()
            self.report(query)

    def close(self) -> None:
        """Cancel what still runs and wait until every engine cursor is closed (and its audit
        completion written): for shutting down."""
        self.cancel_all()
        self.executor.shutdown(wait=True)


def _notify(listener: QueryListener, record: QueryRecord) -> None:
    try:
        listener.query_completed(record)
    except Exception as error:  # a listener's failure must not reach the client
        log_unexpected(record.id, error)
