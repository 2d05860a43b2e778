"""The demo world loaded into real PostgreSQL and MariaDB databases answers like the SQLite files.

A small world is generated, loaded into ``t_demo_*`` databases (never the demo's own), the
sources registered through the same path as ``shuqiao source add``, and scenario 3 run through
the policy pipeline on DuckDB over both the real databases and the SQLite files.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import services

from catalog.models import CatalogSnapshot, Source
from catalog.store import CatalogStore
from connectors.base import connector_for
from gateway.demo import world
from gateway.demo.build import demo_policy_path, register_demo_sources
from gateway.demo.databases import MariaTarget, PgTarget, load_demo_databases
from gateway.demo.schema import COLUMNS
from gateway.demo.walkthrough import scenario_sql
from gateway.engines.duckdb import DuckDBEngine
from gateway.policy.context import PolicyContext
from gateway.policy.pipeline import plan
from gateway.policy.rewrite import Target
from gateway.policyfiles import apply_policy_file
from gateway.sources import add_source

pytestmark = pytest.mark.services

SCALE = 3000
SEED = 11
PREFIX = "t_demo_"
PG_VAR = "SHUQIAO_TEST_DEMO_PG_PASSWORD"
MARIADB_VAR = "SHUQIAO_TEST_DEMO_MARIADB_PASSWORD"

Rows = list[tuple[object, ...]]


@dataclass(frozen=True)
class Loaded:
    data_dir: Path
    sources: list[Source]
    real: CatalogSnapshot
    files: CatalogSnapshot


def catalog(path: Path, register: Callable[[CatalogStore], None]) -> CatalogSnapshot:
    with CatalogStore(path) as store:
        register(store)
        apply_policy_file(store, demo_policy_path())
        return store.snapshot()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    services.ensure_up("postgres", "mariadb")
    data_dir = tmp_path_factory.mktemp("demo-databases")
    world.generate(data_dir, SCALE, SEED)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PG_VAR, services.PASSWORD)
        patch.setenv(MARIADB_VAR, services.PASSWORD)
        made = load_demo_databases(
            data_dir,
            pg=PgTarget(port=services.pg_port(), password_ref=f"env:{PG_VAR}", prefix=PREFIX),
            mariadb=MariaTarget(port=services.mariadb_port(), password_ref=f"env:{MARIADB_VAR}",
                                prefix=PREFIX),
        )

        def register_real(store: CatalogStore) -> None:
            for source in made:
                add_source(store, source)

        real = catalog(data_dir / "real.sqlite", register_real)
        files = catalog(data_dir / "files.sqlite",
                        lambda store: register_demo_sources(store, data_dir))
        yield Loaded(data_dir, made, real, files)


def run(snapshot: CatalogSnapshot, sql: str) -> Rows:
    """``sql`` as si_analyst through the policy pipeline, on DuckDB over the catalog's sources."""
    context = PolicyContext.for_principal(snapshot, "si_analyst", world.AS_OF)
    statement = plan(sql, context).statement(Target("duckdb"))
    engine = DuckDBEngine([connector_for(s.kind).attachment(s) for s in snapshot.sources])
    try:
        return [row for page in engine.execute(statement).pages(10_000) for row in page]
    finally:
        engine.close()


def sqlite_count(data_dir: Path, source: str, table: str) -> int:
    with sqlite3.connect(f"file:{data_dir / source}.sqlite?mode=ro", uri=True) as con:
        count = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    con.close()
    return int(count)


def test_each_department_has_its_own_database(loaded: Loaded) -> None:
    kinds = {s.name: (s.kind, s.options["database"]) for s in loaded.sources}
    assert kinds == {
        name: ("mariadb" if name == "transport" else "postgres", f"{PREFIX}{name}")
        for name in COLUMNS
    }
    assert all(s.options["password_ref"].startswith("env:") for s in loaded.sources)
    trips = loaded.real.table("transport.public.trips")
    assert trips is not None and trips.physical_schema == f"{PREFIX}transport"


def test_row_counts_match_the_sqlite_files(loaded: Loaded) -> None:
    engine = DuckDBEngine([connector_for(s.kind).attachment(s) for s in loaded.sources])
    try:
        for table in loaded.real.tables:
            sql = f'SELECT count(*) FROM "{table.source}"."{table.physical_schema}".{table.name}'
            (count,) = next(engine.execute(sql).pages(1))[0]
            assert count == sqlite_count(loaded.data_dir, table.source, table.name), table.qualified
    finally:
        engine.close()
    assert len(loaded.real.tables) == sum(len(t) for t in COLUMNS.values())


def test_tables_keep_their_declared_types(loaded: Loaded) -> None:
    for source, tables in COLUMNS.items():
        for name, columns in tables.items():
            table = loaded.real.table(f"{source}.public.{name}")
            assert table is not None
            declared = {c: kind.split(" NOT NULL")[0] for c, kind in columns}
            found = {c.name: c.type for c in table.columns}
            assert found.keys() == declared.keys()
            for column, kind in declared.items():
                assert found[column] == kind or (kind == "VARCHAR" and source == "transport"
                                                 and found[column] == "VARCHAR(255)")


def test_loaded_tables_are_fresh(loaded: Loaded) -> None:
    for source in loaded.sources:
        connector = connector_for(source.kind)
        for table in loaded.real.tables_of(source.name):
            assert connector.freshness(source, table) is not None, table.qualified


def test_scenario3_gives_the_same_rows_as_the_sqlite_files(loaded: Loaded) -> None:
    sql = scenario_sql("scenario3_fund_risk")
    over_databases = run(loaded.real, sql)
    over_files = run(loaded.files, sql)
    assert over_databases, "the planted fraud cases were not found"
    assert over_databases == over_files


def test_loading_again_replaces_the_tables(loaded: Loaded) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PG_VAR, services.PASSWORD)
        patch.setenv(MARIADB_VAR, services.PASSWORD)
        load_demo_databases(
            loaded.data_dir,
            pg=PgTarget(port=services.pg_port(), password_ref=f"env:{PG_VAR}", prefix=PREFIX),
            mariadb=MariaTarget(port=services.mariadb_port(), password_ref=f"env:{MARIADB_VAR}",
                                prefix=PREFIX),
        )
    test_row_counts_match_the_sqlite_files(loaded)
    assert not list(loaded.data_dir.glob(".load-*")), "the CSV files were not cleaned up"
