"""Connectors against the real local PostgreSQL and MariaDB: connection tests with clear errors,
introspection, freshness, and ``shuqiao source`` round trips that leave nothing behind on
failure."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncmy
import asyncpg
import pytest
import services
from typer.testing import CliRunner, Result

from catalog.models import CatalogSnapshot, Source
from catalog.store import CatalogStore
from connectors.base import Failure, connector_for
from gateway.cli_sources import source_app

pytestmark = pytest.mark.services

DATABASE = "t_connectors"
PASSWORD_VAR = "SHUQIAO_TEST_DB_PASSWORD"
# A reader of its own, so that "the password is never printed" is a meaningful check.
READER = "t_conn_reader"
READER_PASSWORD = "Tr0ub4dor-conn-91c2"
WRONG_PASSWORD = "not-the-password-7f3a"
KINDS = ("postgres", "mariadb")

PG_DDL = """
CREATE TABLE people (
    id_no VARCHAR(18) NOT NULL, gender CHAR(1), birth_date DATE, seen_at TIMESTAMP,
    amount DECIMAL(10,2), visits BIGINT, grade INTEGER, note TEXT
)
"""
PG_TYPES = ["VARCHAR(18)", "CHAR(1)", "DATE", "TIMESTAMP", "DECIMAL(10,2)", "BIGINT", "INTEGER",
            "VARCHAR"]
MARIADB_DDL = PG_DDL.replace("TIMESTAMP", "DATETIME").replace("TEXT", "VARCHAR(40)")
MARIADB_TYPES = [*PG_TYPES[:-1], "VARCHAR(40)"]
ROW = "('510104199001011234', 'M', '1990-01-01', '2026-03-04 08:15:00', 12.50, 3, 2, 'x')"


async def _prepare_postgres() -> None:
    admin = await asyncpg.connect(services.pg_dsn())
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()
    con = await asyncpg.connect(services.pg_dsn(DATABASE))
    try:
        await con.execute("DROP TABLE IF EXISTS people")
        await con.execute(PG_DDL)
        await con.execute(f"INSERT INTO people VALUES {ROW}")
        await con.execute("ANALYZE people")
        if not await con.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", READER):
            await con.execute(f"CREATE ROLE {READER} LOGIN")
        await con.execute(f"ALTER ROLE {READER} PASSWORD '{READER_PASSWORD}'")
        await con.execute(f"GRANT SELECT ON people TO {READER}")
    finally:
        await con.close()


async def _prepare_mariadb() -> None:
    con = await asyncmy.connect(**services.mariadb_params(), autocommit=True,
                                init_command="SET SESSION sql_notes = 0")
    try:
        async with con.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            await cursor.execute(f"DROP TABLE IF EXISTS {DATABASE}.people")
            await cursor.execute(MARIADB_DDL.replace("TABLE people", f"TABLE {DATABASE}.people"))
            await cursor.execute(f"INSERT INTO {DATABASE}.people VALUES {ROW}")
            await cursor.execute(f"CREATE USER IF NOT EXISTS {READER}")
            await cursor.execute(f"ALTER USER {READER} IDENTIFIED BY '{READER_PASSWORD}'")
            await cursor.execute(f"GRANT SELECT ON {DATABASE}.* TO {READER}")
    finally:
        con.close()


@pytest.fixture(scope="module", autouse=True)
def databases() -> Iterator[None]:
    services.ensure_up("postgres", "mariadb")
    asyncio.run(_prepare_postgres())
    asyncio.run(_prepare_mariadb())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PASSWORD_VAR, READER_PASSWORD)
        yield


def port_of(kind: str) -> int:
    return services.pg_port() if kind == "postgres" else services.mariadb_port()


def source(kind: str, **options: str) -> Source:
    return Source("hr_records", kind, "human_resources", {
        "host": services.HOST, "port": str(port_of(kind)), "database": DATABASE,
        "user": READER, "password_ref": f"env:{PASSWORD_VAR}", **options,
    })


def dsn(kind: str, port: int | None = None, database: str = DATABASE) -> str:
    scheme = "postgresql" if kind == "postgres" else "mariadb"
    return f"{scheme}://{READER}@{services.HOST}:{port or port_of(kind)}/{database}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((services.HOST, 0))
        return int(probe.getsockname()[1])


def assert_no_password(text: str) -> None:
    assert READER_PASSWORD not in text
    assert WRONG_PASSWORD not in text


# -- check -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_check_ok(kind: str) -> None:
    health = connector_for(kind).check(source(kind))
    assert health.reachable, health.error
    assert health.failure is None
    assert health.latency_ms is not None and 0 < health.latency_ms < 5000


@pytest.mark.parametrize("kind", KINDS)
def test_check_unreachable(kind: str) -> None:
    health = connector_for(kind).check(source(kind, port=str(free_port())))
    assert (health.reachable, health.failure) == (False, Failure.UNREACHABLE)
    assert health.error is not None
    assert health.error.startswith("source hr_records: unreachable: ")
    assert_no_password(health.error)


@pytest.mark.parametrize("kind", KINDS)
def test_check_bad_password(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_VAR, WRONG_PASSWORD)
    health = connector_for(kind).check(source(kind))
    assert (health.reachable, health.failure) == (False, Failure.BAD_CREDENTIALS)
    assert health.error is not None
    assert health.error.startswith("source hr_records: bad credentials: ")
    assert_no_password(health.error)


@pytest.mark.parametrize("kind", KINDS)
def test_check_missing_database(kind: str) -> None:
    health = connector_for(kind).check(source(kind, database="t_no_such_database"))
    assert (health.reachable, health.failure) == (False, Failure.MISSING_DATABASE)
    assert health.error is not None
    assert health.error.startswith("source hr_records: missing database: ")
    assert "t_no_such_database" in health.error
    assert_no_password(health.error)


def test_check_missing_schema() -> None:
    health = connector_for("postgres").check(source("postgres", schema="no_such_schema"))
    assert health.failure is Failure.MISSING_DATABASE
    assert health.error is not None and "schema 'no_such_schema' does not exist" in health.error


@pytest.mark.parametrize("kind", KINDS)
def test_check_unset_password_variable(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_VAR)
    health = connector_for(kind).check(source(kind))
    assert health.failure is Failure.MISSING_SECRET
    assert health.error is not None and PASSWORD_VAR in health.error


# -- introspection and freshness ----------------------------------------------------------------


@pytest.mark.parametrize(("kind", "schema", "types"), [
    ("postgres", "public", PG_TYPES),
    ("mariadb", DATABASE, MARIADB_TYPES),
])
def test_introspection(kind: str, schema: str, types: list[str]) -> None:
    (people,) = [t for t in connector_for(kind).introspect(source(kind)) if t.name == "people"]
    assert people.qualified == "hr_records.public.people"
    assert people.physical_schema == schema
    assert people.column_names == ("id_no", "gender", "birth_date", "seen_at", "amount",
                                   "visits", "grade", "note")
    assert [c.type for c in people.columns] == types


@pytest.mark.parametrize("kind", KINDS)
def test_freshness_is_recent(kind: str) -> None:
    connector = connector_for(kind)
    (people,) = [t for t in connector.introspect(source(kind)) if t.name == "people"]
    fresh = connector.freshness(source(kind), people)
    assert fresh is not None and fresh.tzinfo is not None
    now = datetime.now(UTC)
    assert now - timedelta(hours=1) < fresh < now + timedelta(minutes=5)


def test_duckdb_reads_through_the_attachments() -> None:
    from gateway.engines.duckdb import DuckDBEngine

    pg = Source("hr_pg", "postgres", "hr", dict(source("postgres").options))
    maria = Source("hr_maria", "mariadb", "hr", dict(source("mariadb").options))
    engine = DuckDBEngine([connector_for(s.kind).attachment(s) for s in (pg, maria)])
    try:
        sql = ("SELECT p.id_no, m.amount FROM hr_pg.public.people p"
               f" JOIN hr_maria.{DATABASE}.people m ON m.id_no = p.id_no")
        rows = [r for page in engine.execute(sql).pages(10) for r in page]
    finally:
        engine.close()
    assert [(r[0], str(r[1])) for r in rows] == [("510104199001011234", "12.50")]


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "shuqiao.toml"
    path.write_text('[catalog]\npath = "catalog.sqlite"\n', encoding="utf-8")
    return path


def cli(config: Path, *args: str) -> Result:
    return CliRunner().invoke(source_app, [*args, "--config", str(config)])


def snapshot(config: Path) -> CatalogSnapshot:
    with CatalogStore(config.parent / "catalog.sqlite") as store:
        return store.snapshot()


def add_args(kind: str, name: str = "hr_records", **overrides: str) -> list[str]:
    return ["add", name, "--kind", kind, "--dsn", overrides.get("dsn", dsn(kind)),
            "--department", "human_resources", "--password", f"env:{PASSWORD_VAR}"]


@pytest.mark.parametrize("kind", KINDS)
def test_adding_an_unreachable_source_leaves_the_catalog_unchanged(kind: str,
                                                                   config: Path) -> None:
    assert cli(config, *add_args(kind, "existing")).exit_code == 0
    before = snapshot(config)
    result = cli(config, *add_args(kind, dsn=dsn(kind, port=free_port())))
    assert result.exit_code == 1
    assert "source hr_records: unreachable" in result.stderr
    assert_no_password(result.output)
    after = snapshot(config)
    assert after == before
    assert after.version == before.version


@pytest.mark.parametrize("kind", KINDS)
def test_adding_with_a_bad_password_or_database_is_refused(
        kind: str, config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(config)
    missing = cli(config, *add_args(kind, dsn=dsn(kind, database="t_no_such_database")))
    assert missing.exit_code == 1 and "missing database" in missing.stderr
    monkeypatch.setenv(PASSWORD_VAR, WRONG_PASSWORD)
    refused = cli(config, *add_args(kind))
    assert refused.exit_code == 1 and "bad credentials" in refused.stderr
    assert_no_password(missing.output + refused.output)
    assert snapshot(config) == before


def test_a_dsn_with_a_password_is_refused(config: Path) -> None:
    leaky = dsn("postgres").replace(f"{READER}@", f"{READER}:{WRONG_PASSWORD}@")
    result = cli(config, *add_args("postgres", dsn=leaky))
    assert result.exit_code == 1
    assert "must not contain a password" in result.stderr
    assert_no_password(result.output)
    assert snapshot(config).sources == ()


@pytest.mark.parametrize("kind", KINDS)
def test_add_list_sync_check_round_trip(kind: str, config: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    added = cli(config, *add_args(kind))
    assert added.exit_code == 0, added.output
    assert "source hr_records added" in added.stdout
    table = snapshot(config).table("hr_records.public.people")
    assert table is not None and table.column("amount") is not None

    again = cli(config, *add_args(kind))
    assert again.exit_code == 1 and "already registered" in again.stderr

    listed = cli(config, "list")
    assert listed.exit_code == 0
    assert "hr_records" in listed.stdout and kind in listed.stdout
    assert "human_resources" in listed.stdout
    assert f"{services.HOST}:{port_of(kind)}/{DATABASE}" in listed.stdout

    synced = cli(config, "sync", "hr_records")
    assert synced.exit_code == 0, synced.output
    assert "tables" in synced.stdout

    checked = cli(config, "check", "hr_records")
    assert checked.exit_code == 0, checked.output
    assert "healthy" in checked.stdout and "people" in checked.stdout
    assert "unknown" not in checked.stdout  # freshness found for the analysed table

    monkeypatch.setenv(PASSWORD_VAR, WRONG_PASSWORD)
    unhealthy = cli(config, "check", "hr_records")
    assert unhealthy.exit_code == 1
    assert "bad credentials" in unhealthy.stderr
    stored = snapshot(config).source("hr_records")
    assert stored is not None and stored.options["password_ref"] == f"env:{PASSWORD_VAR}"
    for result in (added, listed, synced, checked, unhealthy):
        assert_no_password(result.output)


def test_sync_and_check_of_an_unknown_source(config: Path) -> None:
    for command in ("sync", "check", "remove"):
        result = cli(config, command, "nowhere")
        assert result.exit_code == 1
        assert "unknown source 'nowhere'" in result.stderr
