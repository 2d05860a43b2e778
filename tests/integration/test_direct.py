"""The direct route on a real PostgreSQL: a small result comes back whole in one execute and is
recorded in one write; a larger one streams through a cursor; sessions are read-only; timeouts
and refusals are errors that name no value, and every connection goes back to its pool."""

from __future__ import annotations

import sqlite3
import time
import tomllib
from collections.abc import Iterator
from dataclasses import replace

import pytest

from catalog.audit_store import AuditReader
from catalog.errors import SourceError
from catalog.models import Source
from connectors.base import resolve_password
from gateway.engines.direct import DirectEngine, FetchedResult
from gateway.errors import EngineError
from gateway.service import Gateway
from gateway.settings import render_settings

from .conftest import RealWorld

pytestmark = pytest.mark.services

LOOKUP = "SELECT d.death_date FROM public_security.public.deaths d WHERE d.id_no = ?"
DEATHS = "SELECT d.death_date FROM public_security.public.deaths d ORDER BY d.death_date"
PAGE = 7


@pytest.fixture(scope="module")
def small_pages(real_world: RealWorld) -> Iterator[Gateway]:
    """The real world with pages of a few rows and an audit log of its own."""
    base = real_world.real_config
    config = base.parent / "shuqiao-small-pages.toml"
    audit = base.parent / "audit-direct.sqlite"
    raw = tomllib.loads(base.read_text(encoding="utf-8"))
    flat = {f"{section}.{key}": value for section, values in raw.items()
            for key, value in values.items()}
    flat.update({"engine.page_size": PAGE, "audit.path": str(audit)})
    config.write_text(render_settings(flat), encoding="utf-8")
    service = Gateway.from_config(config)
    yield service
    service.close()


@pytest.fixture(scope="module")
def source(small_pages: Gateway) -> Source:
    found = small_pages.snapshot().source("public_security")
    assert found is not None
    return found


@pytest.fixture
def engine(source: Source) -> Iterator[DirectEngine]:
    direct = DirectEngine([source], resolve_password, pool_size=1, timeout_s=2.0)
    yield direct
    direct.close()


def reader(gateway: Gateway) -> AuditReader:
    return AuditReader(gateway.settings.path("audit.path"))


def rows(gateway: Gateway, sql: str, parameters: list[object] | None = None,
         engine: str = "direct") -> list[tuple[object, ...]]:
    execution = gateway.execute("si_analyst", sql, parameters or [], engine=engine)
    return [row for page in execution.result.pages(3) for row in page]


def dead_ids(real_world: RealWorld, n: int) -> list[str]:
    path = real_world.data_dir / "public_security.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return [r[0] for r in conn.execute("SELECT id_no FROM deaths ORDER BY id_no LIMIT ?",
                                           (n,))]


def test_a_lookup_is_one_write_of_decision_and_completion(small_pages: Gateway,
                                                           real_world: RealWorld) -> None:
    ids = dead_ids(real_world, 3)
    assert len(ids) == 3
    for id_no in ids:
        found = rows(small_pages, LOOKUP, [id_no])
        assert len(found) == 1 and found == rows(small_pages, LOOKUP, [id_no], engine="duckdb")
        decision, completion = reader(small_pages).tail(2)
        assert (completion.statement, completion.body["status"], completion.body["rows"]) == (
            decision.seq, "finished", 1)
    assert rows(small_pages, LOOKUP, ["99000000000000000X"]) == []
    decision, completion = reader(small_pages).tail(2)
    assert decision.body["engine"] == "direct" and decision.body["decision"] == "allowed"
    assert decision.body["sources"] == ["public_security"]
    assert (completion.statement, completion.body["status"], completion.body["rows"]) == (
        decision.seq, "finished", 0)
    assert reader(small_pages).verify().ok


def test_a_result_larger_than_a_page_streams_through_a_cursor(small_pages: Gateway) -> None:
    expected = rows(small_pages, DEATHS, engine="duckdb")
    assert len(expected) > PAGE
    execution = small_pages.execute("si_analyst", DEATHS, engine="direct")
    assert reader(small_pages).tail(1)[0].kind == "decision"  # written before the first row
    assert [row for page in execution.result.pages(PAGE) for row in page] == expected
    completion = reader(small_pages).tail(1)[0]
    assert (completion.body["status"], completion.body["rows"]) == ("finished", len(expected))


def test_a_refused_statement_is_recorded_with_its_plan(small_pages: Gateway) -> None:
    with pytest.raises(EngineError) as caught:
        rows(small_pages, "SELECT CAST(d.death_date AS INTEGER)"
                          " FROM public_security.public.deaths d")
    assert "rejected" in str(caught.value)
    decision, completion = reader(small_pages).tail(2)
    assert decision.body["decision"] == "allowed" and decision.body["rewritten_sql"]
    assert (completion.body["status"], completion.body["error"]) == ("failed", "EngineError")


def test_a_small_result_comes_back_whole(engine: DirectEngine, source: Source) -> None:
    whole = engine.fetch("SELECT 1 AS one, 'x'::text AS two", source.name, 1)
    assert isinstance(whole, FetchedResult) and whole.rows == [(1, "x")]
    assert [(c.name, c.type) for c in whole.columns] == [("one", "INTEGER"), ("two", "VARCHAR")]
    assert engine.fetch("SELECT generate_series(1, 2)", source.name, 1) is None
    empty = engine.fetch("SELECT 1 AS one WHERE false", source.name, 1)
    assert empty is not None and empty.rows == [] and [c.name for c in empty.columns] == ["one"]


def test_sessions_are_read_only(engine: DirectEngine, source: Source) -> None:
    shown = engine.fetch("SHOW default_transaction_read_only", source.name, 1)
    assert shown is not None and shown.rows == [("on",)]
    with pytest.raises(EngineError) as caught:
        engine.fetch("CREATE TABLE shuqiao_direct_probe (a int)", source.name, 1)
    assert "ReadOnlySQLTransactionError" in str(caught.value)


def test_connections_go_back_to_the_pool(engine: DirectEngine, source: Source) -> None:
    for n in range(50):  # a pool of one: a connection kept would block the next statement
        whole = engine.fetch(f"SELECT {n}", source.name, 1)
        assert whole is not None and whole.rows == [(n,)]
    cursor = engine.execute("SELECT generate_series(1, 10)", source.name)
    assert [r for page in cursor.pages(4) for r in page] == [(n,) for n in range(1, 11)]
    assert engine.fetch("SELECT 1", source.name, 1) is not None


def test_a_statement_past_its_timeout_fails_and_the_route_recovers(engine: DirectEngine,
                                                                    source: Source) -> None:
    started = time.monotonic()
    with pytest.raises(EngineError):
        engine.fetch("SELECT pg_sleep(30)", source.name, 1)
    assert time.monotonic() - started < 10
    assert engine.fetch("SELECT 2", source.name, 1) is not None


def test_an_unreachable_source_is_named(source: Source) -> None:
    down = replace(source, options={**source.options, "port": "9"})  # nothing listens there
    engine = DirectEngine([down], resolve_password, timeout_s=2.0)
    try:
        with pytest.raises(SourceError) as caught:
            engine.fetch("SELECT 1", down.name, 1)
        assert "public_security" in str(caught.value)
    finally:
        engine.close()
