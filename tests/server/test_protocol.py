"""The query state machine: paging, tokens, retries, cancel, errors and bounded buffering.

The first half drives :class:`ClientQuery` directly with a fake result stream (so production and
consumption can be counted); the second half goes through the HTTP routes over the demo world.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from gateway.audit import AuditedResult
from gateway.engines import ResultColumn
from gateway.errors import EngineError, NotGranted, ParseError
from gateway.server import authenticated, create_app
from gateway.server.auth import InsecureAuthenticator
from gateway.server.protocol import ClientQuery, QueryRecord, QueryRegistry, State
from gateway.server.session import Outcome, Rows, SessionUpdate
from gateway.service import Gateway

from .conftest import MANY_ROWS, Service, final, make_service, rows_of

BASE = "http://gateway"
COLUMNS = (ResultColumn("n", "BIGINT"), ResultColumn("amount", "DECIMAL(10,2)"))


class FakeResult:
    """``total`` rows in pages, counting what was produced; may fail after ``fail_after``."""

    def __init__(self, total: int, fail_after: int | None = None) -> None:
        self.columns: tuple[ResultColumn, ...] = COLUMNS
        self.total, self.fail_after = total, fail_after
        self.produced = 0
        self.cancelled = False

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        while self.produced < self.total:
            if self.fail_after is not None and self.produced >= self.fail_after:
                raise EngineError("the embedded engine could not run the statement")
            count = min(size, self.total - self.produced)
            page: list[tuple[object, ...]] = [(self.produced + i, None) for i in range(count)]
            self.produced += count
            yield page

    def cancel(self) -> None:
        self.cancelled = True


class Driver:
    """One event loop and executor for a test's queries."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.executor = ThreadPoolExecutor(2)
        self.records: list[QueryRecord] = []
        self.registry = QueryRegistry(self.executor, [self])

    def query_completed(self, record: QueryRecord) -> None:
        self.records.append(record)

    def reported(self, count: int = 1) -> list[QueryRecord]:
        """The records heard so far, once ``count`` have arrived (listeners run on workers)."""
        deadline = time.monotonic() + 5
        while len(self.records) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.records

    def start(self, start: Callable[[], Outcome], page_size: int = 10, *,
              parametric_datetime: bool = True) -> ClientQuery:
        query = ClientQuery("si_analyst", "SELECT ...", start, page_size=page_size,
                            parametric_datetime=parametric_datetime)

        async def add() -> None:
            self.registry.add(query)

        self.loop.run_until_complete(add())
        return query

    def get(self, query: ClientQuery, token: int, wait: float = 5.0) -> dict[str, Any]:
        async def step() -> bytes:
            cached = query.cached(token)
            if cached is not None:
                return cached.body
            assert token == query.expected_token()
            await query.advance(wait)
            return query.respond(token, BASE).body

        document: dict[str, Any] = json.loads(self.loop.run_until_complete(step()))
        self.registry.report(query)
        return document

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.loop.close()


@pytest.fixture
def driver() -> Iterator[Driver]:
    made = Driver()
    yield made
    made.close()


def rows_start(result: FakeResult) -> Callable[[], Outcome]:
    return lambda: Rows(result, "query")


def test_pages_stream_with_at_most_two_pages_produced_ahead(driver: Driver) -> None:
    result = FakeResult(95)
    query = driver.start(rows_start(result))
    first = driver.get(query, 0)
    assert [c["type"] for c in first["columns"]] == ["bigint", "decimal(10, 2)"]
    assert first["data"][0] == [0, None] and len(first["data"]) == 10
    assert first["nextUri"] == f"{BASE}/v1/statement/executing/{query.id}/{query.slug}/1"
    assert result.produced <= 20  # this page and at most the one prefetched behind it
    documents = [first]
    while "nextUri" in documents[-1]:
        documents.append(driver.get(query, len(documents)))
    data = [row for d in documents for row in d.get("data", [])]
    assert [r[0] for r in data] == list(range(95))
    assert all(len(d.get("data", [])) <= 10 for d in documents)
    assert documents[-1]["stats"]["state"] == "FINISHED"
    assert "data" in documents[-1]  # the short last page ends the result: no extra request
    assert query.state is State.FINISHED and query.rows_sent == 95


def test_a_retried_token_gets_the_same_answer(driver: Driver) -> None:
    query = driver.start(rows_start(FakeResult(30)))
    first = driver.get(query, 0)
    assert driver.get(query, 0) == first
    assert query.expected_token() == 1


def test_an_empty_result_has_columns_and_no_data(driver: Driver) -> None:
    query = driver.start(rows_start(FakeResult(0)))
    document = driver.get(query, 0)
    assert document["stats"]["state"] == "FINISHED"
    assert "nextUri" not in document and "data" not in document
    assert [c["name"] for c in document["columns"]] == ["n", "amount"]


def test_cancel_stops_the_engine_and_reads_as_user_canceled(driver: Driver) -> None:
    result = FakeResult(1000)
    query = driver.start(rows_start(result))
    driver.get(query, 0)
    query.cancel()
    assert result.cancelled
    document = driver.get(query, 1)
    assert document["stats"]["state"] == "FAILED"
    assert document["error"]["errorName"] == "USER_CANCELED"
    assert document["error"]["errorCode"] == 3
    assert "nextUri" not in document
    assert driver.reported()[-1].state is State.CANCELED


@pytest.mark.parametrize(("error", "name", "code", "kind"), [
    (NotGranted("x.public.y"), "PERMISSION_DENIED", 4, "USER_ERROR"),
    (ParseError("syntax error: not a SQL statement"), "SYNTAX_ERROR", 1, "USER_ERROR"),
    (EngineError("the embedded engine could not run the statement"), "GENERIC_INTERNAL_ERROR",
     65536, "INTERNAL_ERROR"),
])
def test_errors_are_mapped_once(driver: Driver, error: Exception, name: str, code: int,
                                kind: str) -> None:
    def fail() -> Outcome:
        raise error

    document = driver.get(driver.start(fail), 0)
    assert document["stats"]["state"] == "FAILED"
    assert document["error"]["message"] == str(error)
    assert (document["error"]["errorName"], document["error"]["errorCode"],
            document["error"]["errorType"]) == (name, code, kind)
    assert document["error"]["failureInfo"]["message"] == str(error)
    assert driver.reported()[0].error_name == name


def test_unexpected_errors_say_nothing_about_their_cause(
        driver: Driver, caplog: pytest.LogCaptureFixture) -> None:
    value = "".join(("5101", "04199001011234"))  # as data would be: not in any source line

    def fail() -> Outcome:
        raise ValueError(f"a value from the data: {value}")

    with caplog.at_level("ERROR", logger="shuqiao.server"):
        document = driver.get(driver.start(fail), 0)
    assert document["error"]["errorName"] == "GENERIC_INTERNAL_ERROR"
    assert "5101" not in json.dumps(document)
    assert "ValueError" in caplog.text and "5101" not in caplog.text


def test_an_engine_failure_mid_stream_fails_the_query(driver: Driver) -> None:
    query = driver.start(rows_start(FakeResult(100, fail_after=20)))
    documents = [driver.get(query, 0)]
    while "nextUri" in documents[-1]:
        documents.append(driver.get(query, len(documents)))
    assert documents[-1]["error"]["errorName"] == "GENERIC_INTERNAL_ERROR"
    assert sum(len(d.get("data", [])) for d in documents) == 20


def test_a_slow_statement_answers_running_without_data(driver: Driver) -> None:
    release = threading.Event()

    def slow() -> Outcome:
        release.wait(5)
        return Rows(FakeResult(3), "query")

    query = driver.start(slow)
    waiting = driver.get(query, 0, wait=0.05)
    assert "data" not in waiting and "nextUri" in waiting
    assert waiting["stats"]["state"] == "QUEUED"
    release.set()
    assert driver.get(query, 1)["data"] == [[0, None], [1, None], [2, None]]


def test_session_updates_finish_with_their_update_type(driver: Driver) -> None:
    query = driver.start(lambda: SessionUpdate("USE", catalog="justice", schema="public"))
    document = driver.get(query, 0)
    assert document["updateType"] == "USE" and document["columns"] == []
    assert query.cached(0) is not None
    assert query.cached(0).headers == {  # type: ignore[union-attr]
        "X-Trino-Set-Catalog": "justice", "X-Trino-Set-Schema": "public"}


def test_abandoned_queries_are_cancelled_and_forgotten(driver: Driver) -> None:
    result = FakeResult(1000)
    query = driver.start(rows_start(result))
    driver.get(query, 0)
    driver.registry.client_timeout = driver.registry.retain = 0.0
    driver.registry.purge()
    assert result.cancelled and query.state is State.CANCELED
    assert driver.reported()[-1].error_name == "ABANDONED_QUERY"
    assert driver.registry.get(query.id, "si_analyst") is None


# --- through the routes, over the demo world ---------------------------------------------------


def test_a_quick_statement_is_answered_by_its_post(service: Service) -> None:
    response = service.request("POST", "/v1/statement", headers={"X-Trino-User": "si_analyst"},
                               content="SELECT 1 AS one")
    document = response.json()
    assert response.status_code == 200
    assert document["data"] == [[1]] and document["stats"]["state"] == "FINISHED"
    assert "nextUri" not in document
    assert document["infoUri"] == f"http://testserver/v1/query/{document['id']}"


def test_without_a_first_wait_the_post_answers_queued(gateway: Gateway) -> None:
    eager = make_service(gateway, first_wait=0.0)
    try:
        document = eager.request("POST", "/v1/statement", headers={"X-Trino-User": "si_analyst"},
                                 content="SELECT 1 AS one").json()
        assert document["stats"]["state"] == "QUEUED" and "data" not in document
        assert document["nextUri"].endswith("/0")
        later = eager.request("GET", document["nextUri"], headers={"X-Trino-User": "si_analyst"})
        assert later.json()["data"] == [[1]]
    finally:
        eager.close()


def start(service: Service, user: str = "si_analyst") -> dict[str, Any]:
    """POST a statement of several pages: its first answer, with a ``nextUri``."""
    document: dict[str, Any] = service.request(
        "POST", "/v1/statement", headers={"X-Trino-User": user}, content=MANY_ROWS).json()
    assert "nextUri" in document
    return document


def test_a_query_belongs_to_its_principal(service: Service) -> None:
    first = start(service)
    other = {"X-Trino-User": "mi_analyst"}
    assert service.request("GET", first["nextUri"], headers=other).status_code == 404
    assert service.request("DELETE", first["nextUri"], headers=other).status_code == 404
    assert service.request("GET", f"/v1/query/{first['id']}", headers=other).status_code == 404
    wrong_slug = first["nextUri"].replace("/executing/" + first["id"] + "/",
                                          "/executing/" + first["id"] + "/0")
    owner = {"X-Trino-User": "si_analyst"}
    assert service.request("GET", wrong_slug, headers=owner).status_code == 404
    assert len(service.request("GET", first["nextUri"], headers=owner).json()["data"]) == 1000


def test_tokens_must_follow_in_order(service: Service) -> None:
    first = start(service)
    skipped = first["nextUri"][:-1] + "5"
    assert service.request("GET", skipped, headers={"X-Trino-User": "si_analyst"}
                           ).status_code == 404


def test_delete_cancels(service: Service) -> None:
    headers = {"X-Trino-User": "si_analyst"}
    first = start(service)
    assert service.request("DELETE", first["nextUri"], headers=headers).status_code == 204
    info = service.request("GET", f"/v1/query/{first['id']}", headers=headers).json()
    assert info["state"] == "CANCELED"
    assert service.request("DELETE", f"/v1/query/{first['id']}", headers=headers
                           ).status_code == 204


@pytest.mark.parametrize(("body", "status"), [(b"", 400), (b"  \n", 400), (b"\xff\xfe", 400)])
def test_bad_bodies_are_rejected(service: Service, body: bytes, status: int) -> None:
    response = service.request("POST", "/v1/statement", headers={"X-Trino-User": "si_analyst"},
                               content=body)
    assert response.status_code == status


def test_info_needs_no_credentials(service: Service) -> None:
    info = service.request("GET", "/v1/info").json()
    assert info["starting"] is False and info["coordinator"] is True
    assert info["environment"] == "shuqiao" and info["nodeVersion"]["version"]


def test_a_statement_without_user_is_unauthorized(service: Service) -> None:
    response = service.request("POST", "/v1/statement", content="SELECT 1")
    assert response.status_code == 401


def test_refusals_and_syntax_errors_through_the_routes(service: Service) -> None:
    refused = final(service.statement(
        "SELECT d.cause_category FROM public_security.public.deaths d"))
    assert refused["error"]["errorName"] == "PERMISSION_DENIED"
    assert "cause_category" in refused["error"]["message"]
    broken = final(service.statement("SELEC 1"))
    assert broken["error"]["errorName"] == "SYNTAX_ERROR"
    unknown = final(service.statement("SELECT 1", user="nobody"))
    assert unknown["error"]["errorName"] == "PERMISSION_DENIED"


def test_pages_follow_the_configured_page_size(service: Service) -> None:
    responses = service.statement("SELECT p.id_no FROM social_security.public.payments p")
    sizes = [len(r.json().get("data", [])) for r in responses]
    assert max(sizes) == 1000 and sum(sizes) == len(rows_of(responses)) > 2000


def test_the_audit_router_and_metrics_route_are_mounted(gateway: Gateway) -> None:
    audit = APIRouter(prefix="/api/v1/audit")

    @audit.get("")
    def records(principal: Annotated[str, Depends(authenticated)]) -> dict[str, str]:
        return {"asked_by": principal}

    def metrics() -> PlainTextResponse:
        return PlainTextResponse("shuqiao_statements_total 0\n")

    app = create_app(gateway, InsecureAuthenticator("127.0.0.1"), audit_router=audit,
                     metrics_route=metrics)
    mounted = Service(app)
    try:
        answer = mounted.request("GET", "/api/v1/audit", headers={"X-Trino-User": "auditor"})
        assert answer.json() == {"asked_by": "auditor"}
        assert mounted.request("GET", "/api/v1/audit").status_code == 401
        assert mounted.request("GET", "/metrics").text.startswith("shuqiao_statements_total")
    finally:
        mounted.close()


# ------------------------------------------------------------------ rows as Trino sent them

WIRE_COLUMNS = (ResultColumn("amount", "decimal(10, 2)"), ResultColumn("day", "date"),
                ResultColumn("at", "timestamp(6)"), ResultColumn("name", "varchar"))


class FakeWireResult(FakeResult):
    """Rows as Trino sends them (``wire_pages``) or decoded (``pages``), noting which was read."""

    def __init__(self, total: int) -> None:
        super().__init__(total)
        self.columns = WIRE_COLUMNS
        self.read: list[str] = []

    def wire_pages(self, size: int) -> Iterator[list[list[object]]]:
        self.read.append("wire")
        for page in self._pages(size):
            yield [["1.50", "2024-01-31", f"2024-01-31 10:00:00.{n:06d}", None] for n in page]

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        self.read.append("decoded")
        for page in self._pages(size):
            yield [(Decimal("1.50"), date(2024, 1, 31), datetime(2024, 1, 31, 10, 0, 0, n), None)
                   for n in page]

    def _pages(self, size: int) -> Iterator[list[int]]:
        while self.produced < self.total:
            count = min(size, self.total - self.produced)
            yield list(range(self.produced, self.produced + count))
            self.produced += count


def drain(driver: Driver, query: ClientQuery) -> list[dict[str, Any]]:
    documents = [driver.get(query, 0)]
    while "nextUri" in documents[-1]:
        documents.append(driver.get(query, len(documents)))
    return documents


def test_rows_in_wire_form_pass_through_unchanged(driver: Driver) -> None:
    result = FakeWireResult(25)
    documents = drain(driver, driver.start(rows_start(result)))
    assert result.read == ["wire"]
    assert [c["type"] for c in documents[0]["columns"]] == [
        "decimal(10, 2)", "date", "timestamp(6)", "varchar"]
    data = [row for d in documents for row in d.get("data", [])]
    assert len(data) == 25 and max(len(d.get("data", [])) for d in documents) == 10
    assert data[7] == ["1.50", "2024-01-31", "2024-01-31 10:00:00.000007", None]


def test_a_client_without_parametric_date_times_gets_them_encoded(driver: Driver) -> None:
    result = FakeWireResult(3)
    documents = drain(driver, driver.start(rows_start(result), parametric_datetime=False))
    assert result.read == ["decoded"]  # timestamp(6) is sent to it at millisecond precision
    assert documents[0]["columns"][2]["type"] == "timestamp"
    assert documents[0]["data"][2] == ["1.50", "2024-01-31", "2024-01-31 10:00:00.000", None]


def test_audited_wire_pages_count_rows_and_end_once() -> None:
    endings: list[tuple[str, int]] = []

    def complete(status: str, rows: int, error: object, *, wait: bool) -> None:
        endings.append((status, rows))

    read = AuditedResult(FakeWireResult(25), complete)
    pages = read.wire_pages(10)
    assert pages is not None
    assert sum(len(p) for p in pages) == 25 and endings == [("finished", 25)]
    stopped = AuditedResult(FakeWireResult(25), complete).wire_pages(10)
    assert stopped is not None
    next(stopped)
    stopped.close()
    assert endings[-1] == ("cancelled", 10)
    assert AuditedResult(FakeResult(5), complete).wire_pages(10) is None
