"""The scale-out engine: a Trino coordinator, spoken to over Trino's client protocol.

Statements run as the gateway's service user, whom Trino itself confines (see
``gateway.trino_config``): read-only on the registered departmental tables, no ``system``
catalog, no connector table functions or procedures.

``execute`` returns as soon as Trino knows the result's columns. Rows then arrive one protocol
response at a time, fetched only when the reader wants more, and are cut into pages: memory holds
one response and one page, never the result. Pages hold Python values (``pages``), or the values as
Trino sent them (``wire_pages``) for the protocol server to pass on. A reader that stops early, a
``cancel`` (the client's cancel) and the statement's time limit all cancel the query in Trino; the
time limit is Trino's ``query_max_run_time`` session property and the same deadline kept here,
whichever fires first.

Errors are rebuilt, never passed through, since Trino's messages can quote values ("Cannot cast
'abc' to INT"): only the error's name, and catalog names the gateway already knows, reach the
message. A failure inside a connector (error type ``EXTERNAL``, e.g. ``JDBC_ERROR``) is the
source's, raised as :class:`SourceError` naming it (catalog name = source name). Trino does not
say which catalog failed, so the statement's catalogs are the candidates; when there are several,
a metadata probe of each tells which ones are failing.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Collection, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import TypeVar

import requests
import sqlglot
from sqlglot import exp
from trino.auth import Authentication
from trino.client import ClientSession, TrinoRequest, TrinoStatus
from trino.exceptions import Error as TrinoClientError
from trino.exceptions import HttpError, TrinoQueryError
from trino.mapper import RowMapperFactory

from catalog.errors import ShuqiaoError
from gateway.engines import ResultColumn
from gateway.errors import EngineError, SourceError
from gateway.trino_config import TIME_LIMIT_PROPERTY

Row = tuple[object, ...]
WireRow = list[object]  # as Trino sent it
R = TypeVar("R", Row, WireRow)
Failure = Callable[[Exception], ShuqiaoError]

#: ``X-Trino-Source``: how the gateway's queries show up in Trino's query list.
CLIENT_SOURCE = "shuqiao"
CANCELLED = "the statement was cancelled"
PROBE_TIMEOUT_S = 3.0
PROBE_WORKERS = 8

_TRANSPORT_ERRORS = (requests.RequestException, HttpError, TrinoClientError, ValueError)


class _Exchange:
    """One statement's conversation with the coordinator: submit, follow ``nextUri``, cancel.

    ``cancel`` may come from another thread while a fetch is in flight; the fetch then ends in
    the cancellation whatever Trino answered.
    """

    def __init__(self, request: TrinoRequest, deadline: float, limit_s: float,
                 failure: Failure) -> None:
        self._request = request
        self._deadline = deadline
        self._limit_s = limit_s
        self._failure = failure
        self.next_uri: str | None = None
        self.cancelled = False

    def submit(self, sql: str) -> TrinoStatus:
        return self._answer(lambda: self._request.post(sql))

    def advance(self) -> TrinoStatus:
        uri = self.next_uri
        if uri is None:
            raise EngineError("trino has no more results for this statement")
        return self._answer(lambda: self._request.get(uri))

    def _answer(self, send: Callable[[], requests.Response]) -> TrinoStatus:
        self._check_running()
        try:
            status = self._request.process(send())
        except _TRANSPORT_ERRORS as err:
            if isinstance(err, TrinoQueryError):
                self.next_uri = None  # the query is over in Trino
            self._check_running()
            raise self._failure(err) from None
        self._check_running()
        self.next_uri = status.next_uri
        return status

    def _check_running(self) -> None:
        if self.cancelled:
            raise EngineError(CANCELLED)
        if time.monotonic() > self._deadline:
            self.cancel()
            raise EngineError(time_limit_message(self._limit_s))

    def cancel(self) -> None:
        """Cancel the query; a fetch in flight ends in the cancellation."""
        self.cancelled = True
        self.release()

    def release(self) -> None:
        """Cancel the query in Trino unless it has already delivered everything."""
        uri, self.next_uri = self.next_uri, None
        # If Trino is gone there is nothing to cancel; it abandons unpolled queries anyway.
        if uri is not None:
            with suppress(*_TRANSPORT_ERRORS):
                self._request.delete(uri)

    @property
    def finished(self) -> bool:
        return self.next_uri is None


class TrinoResult:
    """A running statement's result: columns at once, rows page by page as they are read."""

    def __init__(self, exchange: _Exchange, status: TrinoStatus) -> None:
        self._exchange = exchange
        self.query_id: str = status.id
        self._pending = _data(status)
        while not status.columns and not exchange.finished:
            status = exchange.advance()
            self._pending += _data(status)
        described = status.columns or []
        self.columns = tuple(ResultColumn(c["name"], c["type"]) for c in described)
        self._mapper = RowMapperFactory().create(described, False) if described else None
        #: Rows received from Trino so far: at most one response ahead of what was read.
        self.rows_received = len(self._pending)

    def pages(self, size: int) -> Generator[list[Row], None, None]:
        """Rows as Python values, each decoded by the trino client's row mapper."""
        return self._paged((self._map(batch) for batch in self._received()), size)

    def wire_pages(self, size: int) -> Generator[list[WireRow], None, None]:
        """Rows as Trino sent them, values in its client protocol's JSON form for ``columns``'
        types (for this client: parametric date-times at full precision)."""
        return self._paged(self._received(), size)

    def _paged(self, batches: Iterator[list[R]], size: int) -> Generator[list[R], None, None]:
        """``batches`` (one per response) cut into pages of ``size`` rows, the last shorter."""
        page: list[R] = []
        try:
            for batch in batches:
                start = 0
                while start < len(batch):
                    taken = batch[start:start + size - len(page)]
                    page += taken
                    start += len(taken)
                    if len(page) == size:
                        yield self._unless_cancelled(page)
                        page = []
            if page:
                yield self._unless_cancelled(page)
        finally:
            self._exchange.release()

    def _received(self) -> Iterator[list[WireRow]]:
        """Each response's rows, fetching the next response only when asked for it."""
        batch, self._pending = self._pending, []
        while True:
            yield batch
            if self._exchange.finished:
                return
            batch = _data(self._exchange.advance())
            self.rows_received += len(batch)

    def _map(self, rows: list[WireRow]) -> list[Row]:
        try:
            mapped = self._mapper.map(rows) if self._mapper is not None else rows
        except TrinoClientError:  # its message quotes the value
            raise EngineError("trino returned a value the gateway could not convert") from None
        return [tuple(r) for r in mapped]

    def _unless_cancelled(self, page: list[R]) -> list[R]:
        if self._exchange.cancelled:
            raise EngineError(CANCELLED)
        return page

    def cancel(self) -> None:
        self._exchange.cancel()

    @property
    def finished(self) -> bool:
        """Everything was received from Trino (the query is done there)."""
        return self._exchange.finished


def _data(status: TrinoStatus) -> list[WireRow]:
    if isinstance(status.rows, dict):
        raise EngineError("trino answered with spooled segments; the gateway reads results "
                          "inline (leave the spooling protocol off for the service user)")
    return list(status.rows)


class TrinoEngine:
    """Runs statements on a Trino coordinator as the service user ``user``.

    ``catalog_sources`` are the catalogs that are departmental sources: a connector failure is
    attributed to one of them.
    """

    name = "trino"
    dialect = "trino"

    def __init__(self, host: str, port: int, user: str, *, catalog_sources: Collection[str],
                 http_scheme: str = "http", request_timeout: float = 30.0,
                 query_timeout_s: float = 300.0, max_attempts: int = 3,
                 auth: Authentication | None = None) -> None:
        self._host, self._port, self._user = host, port, user
        self._catalogs = frozenset(catalog_sources)
        self._scheme = http_scheme
        self._request_timeout = request_timeout
        self._limit_s = query_timeout_s
        self._max_attempts = max_attempts
        self._auth = auth
        self._http = requests.Session()

    @property
    def address(self) -> str:
        return f"{self._host}:{self._port}"

    def execute(self, sql: str) -> TrinoResult:
        return self._start(sql, self._limit_s, lambda err: self._failure(err, sql))

    def _start(self, sql: str, limit_s: float, failure: Failure) -> TrinoResult:
        exchange = _Exchange(self._request(limit_s), time.monotonic() + limit_s, limit_s, failure)
        try:
            return TrinoResult(exchange, exchange.submit(sql))
        except BaseException:
            exchange.release()
            raise

    def _request(self, limit_s: float) -> TrinoRequest:
        session = ClientSession(user=self._user, source=CLIENT_SOURCE,
                                properties={TIME_LIMIT_PROPERTY: _duration(limit_s)})
        return TrinoRequest(self._host, self._port, session, self._http, self._scheme,
                            self._auth, self._max_attempts, self._request_timeout)

    def _failure(self, err: Exception, sql: str) -> ShuqiaoError:
        if not isinstance(err, TrinoQueryError):
            return transport_failure(err, self.address)
        name = err.error_name or "UNKNOWN"
        if name == "EXCEEDED_TIME_LIMIT":
            return EngineError(time_limit_message(self._limit_s))
        if name == "USER_CANCELED":
            return EngineError(CANCELLED)
        sources = self._failed_sources(err, sql)
        if sources:
            return SourceError(", ".join(sources), f"failed while trino ran the statement ({name})")
        if err.error_type == "USER_ERROR":
            return EngineError(f"trino refused the statement ({name})")
        return EngineError(f"trino could not run the statement ({name})")

    def _failed_sources(self, err: TrinoQueryError, sql: str) -> tuple[str, ...]:
        candidates = referenced_catalogs(sql, self._catalogs)
        if err.error_type == "EXTERNAL":
            return self._failing(candidates or tuple(sorted(self._catalogs)))
        if err.error_name == "GENERIC_INTERNAL_ERROR":
            return mentioned(err.message, candidates)
        return ()

    def _failing(self, candidates: tuple[str, ...]) -> tuple[str, ...]:
        if len(candidates) <= 1:
            return candidates
        with ThreadPoolExecutor(min(PROBE_WORKERS, len(candidates))) as pool:
            healthy = list(pool.map(self.reachable, candidates))
        return tuple(c for c, ok in zip(candidates, healthy, strict=True) if not ok) or candidates

    def reachable(self, catalog: str, within_s: float = PROBE_TIMEOUT_S) -> bool:
        """Whether Trino's connector reaches the catalog's database: it lists the schemas
        within ``within_s``. A healthy database answers in milliseconds; a hung one would
        otherwise hold the probe for the whole login timeout."""
        failures: list[Exception] = []

        def note(err: Exception) -> ShuqiaoError:
            failures.append(err)
            return EngineError("probe failed")

        deadline = time.monotonic() + within_s
        try:
            for _ in self._start(f'SHOW SCHEMAS FROM "{catalog}"', within_s, note).pages(1000):
                pass
        except EngineError:
            external = any(isinstance(e, TrinoQueryError) and e.error_type == "EXTERNAL"
                           for e in failures)
            return not external and time.monotonic() < deadline
        return True

    def close(self) -> None:
        self._http.close()


def referenced_catalogs(sql: str, known: Collection[str]) -> tuple[str, ...]:
    """The known catalogs a statement reads from, sorted; none if it does not parse."""
    try:
        tree = sqlglot.parse_one(sql, read="trino")
    except sqlglot.errors.SqlglotError:
        return ()
    return tuple(sorted({t.catalog for t in tree.find_all(exp.Table)} & set(known)))


def mentioned(message: str, catalogs: Collection[str]) -> tuple[str, ...]:
    """Which of ``catalogs`` a message names as a word. The message itself goes no further."""
    return tuple(c for c in catalogs if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", message))


def transport_failure(err: Exception, address: str) -> EngineError:
    """An error reaching Trino at all, named without the exception's own text."""
    if isinstance(err, requests.ConnectionError):
        return EngineError(f"trino is unreachable at {address}")
    if isinstance(err, requests.Timeout):
        return EngineError(f"trino at {address} did not answer in time")
    if isinstance(err, HttpError):
        return EngineError(f"trino at {address} answered with an HTTP error")
    return EngineError(f"trino at {address} gave an answer the gateway could not read")


def time_limit_message(limit_s: float) -> str:
    return f"the statement ran longer than its time limit of {_duration(limit_s)}"


def _duration(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds))}s"

