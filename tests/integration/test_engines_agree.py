"""One policy, every engine: the DEMO.md scenarios and the adversarial corpus give the same
outcome on DuckDB over SQLite, DuckDB over PostgreSQL/MariaDB, Trino, and — for statements on
one PostgreSQL source — the direct route."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

import pytest

import gateway.errors as errors
from gateway.demo.walkthrough import SCENARIOS, scenario_sql
from gateway.service import Gateway
from integration.conftest import RealWorld

pytestmark = pytest.mark.services

Outcome = tuple[str, object]
# Where the engines' own SQL semantics differ on an allowed statement. The policy decision is
# the same (allowed), only the engine's answer differs; nothing more is compared for these.
ENGINE_SEMANTICS = {
    "side-01": "1/0: DuckDB divides in floating point (Infinity); Trino raises an error",
}


def normal(value: object) -> object:
    """Engines agree on values, not on Python types: DuckDB over SQLite reads decimals as
    doubles, MariaDB's DATETIME comes back as a timestamp, Trino's varchar(n) as str."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return f"{Decimal(str(value)):.2f}"
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def rows_of(gateway: Gateway, principal: str, sql: str, engine: str) -> list[tuple[object, ...]]:
    execution = gateway.execute(principal, sql, engine=engine)
    rows = [tuple(normal(v) for v in r) for page in execution.result.pages(2000) for r in page]
    return sorted(rows, key=repr)


def outcome(gateway: Gateway, principal: str, sql: str, engine: str) -> Outcome:
    try:
        return ("rows", rows_of(gateway, principal, sql, engine))
    except errors.PolicyError as error:
        return ("refused", type(error).__name__)
    except errors.QueryError as error:
        return ("invalid", type(error).__name__)
    except errors.ShuqiaoError as error:
        return ("failed", type(error).__name__)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenarios_agree_on_every_engine(scenario: str, sqlite_gateway: Gateway,
                                         real_gateway: Gateway) -> None:
    sql = scenario_sql(scenario)
    expected = rows_of(sqlite_gateway, "si_analyst", sql, "duckdb")
    assert expected
    assert rows_of(real_gateway, "si_analyst", sql, "duckdb") == expected
    assert rows_of(real_gateway, "si_analyst", sql, "trino") == expected


def test_scenario_three_finds_exactly_the_planted_cases_on_trino(real_world: RealWorld,
                                                                 real_gateway: Gateway) -> None:
    rows = rows_of(real_gateway, "si_analyst", scenario_sql("scenario3_fund_risk"), "trino")
    deceased = {r[0] for r in rows if r[2] == "deceased"}
    jailed = {r[0] for r in rows if r[2] == "incarcerated"}
    assert deceased == set(real_world.truth.deceased_paid)
    assert jailed == set(real_world.truth.incarcerated_paid)


def corpus_entries() -> Iterable[object]:
    from security.test_adversarial import load_corpus

    return load_corpus()


CORPUS = list(corpus_entries())


@pytest.fixture(scope="module")
def fill(real_world: RealWorld) -> object:
    import sqlite3

    from security.test_adversarial import Facts

    def raw(source: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{real_world.data_dir / source}.sqlite?mode=ro", uri=True)

    return Facts(real_world.data_dir, raw).fill


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])  # type: ignore[attr-defined]
def test_security_corpus_agrees_on_every_engine(entry: object, fill: object,
                                                sqlite_gateway: Gateway,
                                                real_gateway: Gateway) -> None:
    sql = fill(entry.sql)  # type: ignore[attr-defined,operator]
    principal = entry.principal  # type: ignore[attr-defined]
    expected = outcome(sqlite_gateway, principal, sql, "duckdb")
    engines = ["duckdb", "trino"]
    if expected[0] == "rows" and _single_postgres_source(real_gateway, principal, sql):
        engines.append("direct")
    for engine in engines:
        got = outcome(real_gateway, principal, sql, engine)
        if entry.id in ENGINE_SEMANTICS:  # type: ignore[attr-defined]
            assert "refused" not in (got[0], expected[0])
            continue
        assert got == expected, f"{engine}: {got!r:.300} != {expected!r:.300}"


def _single_postgres_source(gateway: Gateway, principal: str, sql: str) -> bool:
    try:
        plan = gateway.plan(principal, sql)
    except errors.ShuqiaoError:
        return False
    return gateway.route(plan, "auto") == "direct"
