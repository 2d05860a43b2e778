"""The Trino engine against a real Trino 476 configured by ``gateway.trino_config``: rows stream in
pages, cancel and the time limit stop queries in Trino, the service user is confined, and errors
name sources without quoting values.

The module restarts the shared local Trino with its own catalogs and access rules (a live
PostgreSQL database, a closed port, a server that accepts and never answers) and restores the
previous configuration afterwards.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg
import pytest
import requests
import services

from catalog.models import CatalogSnapshot, Column, Source, Table
from gateway.engines import ResultColumn
from gateway.engines.trino import (
    PROBE_TIMEOUT_S,
    TrinoEngine,
    TrinoResult,
    mentioned,
    referenced_catalogs,
    transport_failure,
)
from gateway.errors import EngineError, SourceError
from gateway.trino_config import SourceTimeouts, write_trino_etc

needs_services = pytest.mark.services

DATABASE = "t_trino_engine"
PASSWORD_VARIABLE = "SHUQIAO_T_TRINO_ENGINE_PASSWORD"
SERVICE_USER = services.USER  # services.sh checks readiness as this user
LIVE, DEAD, HUNG = "t_people", "t_dead", "t_hung"
ROWS = 10_000
SURNAMES = ("王芳", "李娜", "张伟", "刘洋", "陈静")
TIMEOUTS = SourceTimeouts(connect_s=2, login_s=3, read_s=60)
#: 10^10 rows to count: runs for minutes unless cancelled.
LONG_COUNT = ("SELECT count(*) FROM UNNEST(sequence(1, 10000)) a(x) "
              "CROSS JOIN UNNEST(sequence(1, 10000)) b(y) CROSS JOIN UNNEST(sequence(1, 100)) c(z)")
#: 10^8 rows streamed back.
LONG_STREAM = ("SELECT x, y FROM UNNEST(sequence(1, 10000)) a(x) "
               "CROSS JOIN UNNEST(sequence(1, 10000)) b(y)")


def name_of(i: int) -> str:
    return f"{SURNAMES[i % len(SURNAMES)]}{i}"


class SilentServer:
    """Accepts TCP connections and never answers: a database that hangs after ``accept``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._held.append(self._listener.accept()[0])
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        for connection in [*self._held, self._listener]:
            connection.close()


async def _create_database() -> None:
    admin = await asyncpg.connect(services.pg_dsn("postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    db = await asyncpg.connect(services.pg_dsn(DATABASE))
    try:
        await db.execute("CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL)")
        await db.copy_records_to_table("people", records=[(i, name_of(i))
                                                          for i in range(1, ROWS + 1)])
        await db.execute("CREATE TABLE secret_notes (id integer, note text)")
    finally:
        await db.close()


async def _drop_database() -> None:
    admin = await asyncpg.connect(services.pg_dsn("postgres"))
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        await admin.close()


def _source(name: str, port: int, database: str = DATABASE) -> Source:
    return Source(name, "postgres", "test", {
        "host": services.HOST, "port": str(port), "database": database,
        "user": services.USER, "password_ref": f"env:{PASSWORD_VARIABLE}", "schema": "public"})


def _snapshot(hung_port: int) -> CatalogSnapshot:
    columns = (Column("id", "INTEGER"), Column("name", "VARCHAR"))
    sources = (_source(LIVE, services.pg_port()), _source(DEAD, 1), _source(HUNG, hung_port))
    tables = tuple(Table(s.name, "people", columns, physical_schema="public") for s in sources)
    return CatalogSnapshot(1, sources=sources, tables=tables)


@dataclass(frozen=True)
class TrinoWorld:
    catalogs: tuple[str, ...]

    def engine(self, user: str = SERVICE_USER, query_timeout_s: float = 120.0) -> TrinoEngine:
        return TrinoEngine(services.HOST, services.trino_port(), user,
                           catalog_sources=self.catalogs, query_timeout_s=query_timeout_s)


@pytest.fixture(scope="module")
def trino_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrinoWorld]:
    services.ensure_up("postgres")
    asyncio.run(_create_database())
    silent = SilentServer()
    try:
        etc = tmp_path_factory.mktemp("trino-etc")
        snapshot = _snapshot(silent.port)
        write_trino_etc(snapshot, etc / "catalog", etc / "extra", service_user=SERVICE_USER,
                        timeouts=TIMEOUTS)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("SHUQIAO_TRINO_CATALOGS", str(etc / "catalog"))
            env.setenv("SHUQIAO_TRINO_ETC_EXTRA", str(etc / "extra"))
            env.setenv(PASSWORD_VARIABLE, services.PASSWORD)
            services.trino_reload()
            yield TrinoWorld(tuple(s.name for s in snapshot.sources))
    finally:
        services.trino_reload()  # back to the configuration the environment had before
        silent.close()
        asyncio.run(_drop_database())


@pytest.fixture(scope="module")
def engine(trino_world: TrinoWorld) -> Iterator[TrinoEngine]:
    made = trino_world.engine()
    yield made
    made.close()


def rows(engine: TrinoEngine, sql: str) -> list[tuple[object, ...]]:
    return [r for page in engine.execute(sql).pages(1000) for r in page]


def query_info(query_id: str) -> dict[str, object]:
    """Trino's own record of a query; the service user may view its own queries."""
    response = requests.get(f"{services.trino_url()}/v1/query/{query_id}",
                            headers={"X-Trino-User": SERVICE_USER}, timeout=10)
    response.raise_for_status()
    info: dict[str, object] = response.json()
    return info


def settled_error(query_id: str, within_s: float = 5.0) -> str | None:
    """The error name Trino records once the query has ended."""
    deadline = time.monotonic() + within_s
    while True:
        info = query_info(query_id)
        error = info.get("errorCode")
        if info.get("state") == "FAILED" or time.monotonic() > deadline:
            return str(error["name"]) if isinstance(error, dict) else None
        time.sleep(0.1)


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


# ----------------------------------------------------------------------------- streaming


@needs_services
def test_rows_stream_in_pages(engine: TrinoEngine) -> None:
    result = engine.execute(f"SELECT id, name, rpad(name, 300, '.') AS padded "
                            f"FROM {LIVE}.public.people ORDER BY id")
    pages = result.pages(1000)
    first = next(pages)
    assert len(first) == 1000
    assert result.rows_received < ROWS and not result.finished
    rest = list(pages)
    assert [len(p) for p in rest] == [1000] * 9
    assert [r[0] for p in [first, *rest] for r in p] == list(range(1, ROWS + 1))
    assert result.finished


@needs_services
def test_columns_carry_trino_types(engine: TrinoEngine) -> None:
    result = engine.execute(
        f"SELECT id, name, CAST(id AS decimal(10, 2)) AS amount, DATE '2024-01-31' AS day, "
        f"id % 2 = 0 AS even FROM {LIVE}.public.people WHERE id <= 2 ORDER BY id")
    assert result.columns == (
        ResultColumn("id", "integer"), ResultColumn("name", "varchar"),
        ResultColumn("amount", "decimal(10, 2)"), ResultColumn("day", "date"),
        ResultColumn("even", "boolean"))
    assert [r for p in result.pages(10) for r in p] == [
        (1, name_of(1), Decimal("1.00"), date(2024, 1, 31), False),
        (2, name_of(2), Decimal("2.00"), date(2024, 1, 31), True)]


@needs_services
def test_a_trivial_statement_is_quick(engine: TrinoEngine) -> None:
    rows(engine, "SELECT 1")  # warm
    started = time.monotonic()
    assert rows(engine, "SELECT 1") == [(1,)]
    assert time.monotonic() - started < 2.0


# ----------------------------------------------------------------- cancel and time limit


def drain_in_background(result: TrinoResult) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def drain() -> None:
        try:
            for _ in result.pages(100):
                pass
        except EngineError as error:
            outcome["error"] = error
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=drain)
    thread.start()
    return thread, outcome


@needs_services
def test_cancel_stops_a_long_statement(engine: TrinoEngine) -> None:
    result = engine.execute(LONG_COUNT)
    thread, outcome = drain_in_background(result)
    time.sleep(1.0)
    asked = time.monotonic()
    result.cancel()
    thread.join(10)
    assert "cancelled" in str(outcome["error"])
    assert float(str(outcome["at"])) - asked < 2.0
    assert settled_error(result.query_id) == "USER_CANCELED"


@needs_services
def test_a_reader_that_stops_early_stops_the_query(engine: TrinoEngine) -> None:
    result = engine.execute(LONG_STREAM)
    pages = result.pages(100)
    assert len(next(pages)) == 100
    pages.close()
    assert settled_error(result.query_id) == "USER_CANCELED"


@needs_services
def test_the_time_limit_cancels(trino_world: TrinoWorld) -> None:
    engine = trino_world.engine(query_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(EngineError, match="time limit of 2s"):
        rows(engine, LONG_COUNT)
    assert time.monotonic() - started < 6.0
    engine.close()


# ------------------------------------------------------------ what the service user may do


@needs_services
@pytest.mark.parametrize("sql", [
    "SELECT * FROM system.runtime.queries",
    "SELECT * FROM system.runtime.nodes",
    "SELECT * FROM system.jdbc.tables",
    "SELECT * FROM system.metadata.catalogs",
    f"SELECT * FROM TABLE({LIVE}.system.query(query => 'SELECT 1'))",
    f"CALL {LIVE}.system.execute(query => 'SELECT 1')",
    f"SELECT * FROM {LIVE}.public.secret_notes",
    f"SELECT * FROM TABLE(exclude_columns(input => TABLE({LIVE}.public.secret_notes), "
    f"columns => DESCRIPTOR(note)))",
    f"INSERT INTO {LIVE}.public.people VALUES (0, 'x')",
    f"DELETE FROM {LIVE}.public.people",
    f"CREATE TABLE {LIVE}.public.copied AS SELECT 1 AS a",
    "SET SESSION query_max_memory = '1TB'",
    f"SET SESSION {LIVE}.join_pushdown_enabled = true",
])
def test_the_service_user_is_refused(engine: TrinoEngine, sql: str) -> None:
    with pytest.raises(EngineError, match=r"trino refused the statement \(PERMISSION_DENIED\)"):
        rows(engine, sql)


@needs_services
def test_show_catalogs_lists_only_departments(engine: TrinoEngine) -> None:
    assert sorted(str(r[0]) for r in rows(engine, "SHOW CATALOGS")) == [DEAD, HUNG, LIVE]


@needs_services
def test_information_schema_shows_only_registered_tables(engine: TrinoEngine) -> None:
    listed = rows(engine, f"SELECT table_schema, table_name FROM {LIVE}.information_schema.tables "
                          f"WHERE table_schema <> 'information_schema'")
    assert listed == [("public", "people")]


@needs_services
def test_other_users_may_not_run_queries(trino_world: TrinoWorld) -> None:
    intruder = trino_world.engine(user="analyst")
    with pytest.raises(EngineError, match="PERMISSION_DENIED"):
        rows(intruder, "SELECT 1")
    intruder.close()


# ------------------------------------------------------------------------------- errors


@needs_services
def test_errors_carry_no_values(engine: TrinoEngine) -> None:
    with pytest.raises(EngineError) as caught:
        rows(engine, f"SELECT CAST(name AS INTEGER) FROM {LIVE}.public.people")
    message = str(caught.value)
    assert "INVALID_CAST_ARGUMENT" in message
    assert not any(s in message for s in SURNAMES)
    assert "Cannot cast" not in message


def test_trino_down_is_an_engine_error_at_once() -> None:
    port = free_port()
    engine = TrinoEngine("127.0.0.1", port, SERVICE_USER, catalog_sources=[LIVE])
    started = time.monotonic()
    with pytest.raises(EngineError, match=f"trino is unreachable at 127.0.0.1:{port}"):
        engine.execute("SELECT 1")
    assert time.monotonic() - started < 3.0
    engine.close()


@needs_services
def test_a_dead_source_is_named(engine: TrinoEngine) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        rows(engine, f"SELECT * FROM {DEAD}.public.people")
    assert caught.value.source == DEAD
    assert "JDBC_ERROR" in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert time.monotonic() - started < 5.0


@needs_services
def test_a_hung_source_fails_in_bounded_time(engine: TrinoEngine) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        rows(engine, f"SELECT * FROM {HUNG}.public.people")
    assert caught.value.source == HUNG
    # Trino's JDBC layer retries a failed connection once: about twice the login timeout.
    assert time.monotonic() - started < 2 * TIMEOUTS.login_s + 5


@needs_services
def test_the_failing_source_of_a_join_is_named(engine: TrinoEngine) -> None:
    with pytest.raises(SourceError) as caught:
        rows(engine, f"SELECT count(*) FROM {LIVE}.public.people p "
                     f"JOIN {DEAD}.public.people d ON p.id = d.id")
    assert caught.value.source == DEAD


@needs_services
def test_a_hung_source_in_a_join_is_named_in_bounded_time(engine: TrinoEngine) -> None:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        rows(engine, f"SELECT count(*) FROM {LIVE}.public.people p "
                     f"JOIN {HUNG}.public.people h ON p.id = h.id")
    assert caught.value.source == HUNG
    # The statement's own failure, then probes of both catalogs, each bounded.
    assert time.monotonic() - started < 2 * TIMEOUTS.login_s + PROBE_TIMEOUT_S + 5


@needs_services
def test_reachable_probes_the_source(engine: TrinoEngine) -> None:
    assert engine.reachable(LIVE)
    assert not engine.reachable(DEAD)
    assert not engine.reachable(HUNG)


# ------------------------------------------------------------------ pure parts of the engine


def test_referenced_catalogs_are_the_known_ones_a_statement_reads() -> None:
    sql = (f'SELECT * FROM "{LIVE}".public.people p JOIN {DEAD}.public.people d ON p.id = d.id '
           f"JOIN other.s.t o ON o.id = p.id")
    assert referenced_catalogs(sql, {LIVE, DEAD, HUNG}) == (DEAD, LIVE)
    assert referenced_catalogs("SELECT FROM WHERE", {LIVE}) == ()


def test_mentioned_matches_whole_names_only() -> None:
    assert mentioned("Error listing schemas for catalog t_people", [LIVE, DEAD]) == (LIVE,)
    assert mentioned("catalog t_people2 failed", [LIVE]) == ()


def test_transport_failures_do_not_repeat_the_exception() -> None:
    error = requests.ConnectionError("Max retries exceeded with url: /v1/statement?secret")
    assert str(transport_failure(error, "h:1")) == "trino is unreachable at h:1"
    assert "secret" not in str(transport_failure(ValueError("secret"), "h:1"))
