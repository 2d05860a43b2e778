"""Connectors without a database: rows to records, DSNs, secrets, engine entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from asyncmy.errors import OperationalError

from catalog.errors import CatalogError, SourceError
from catalog.models import Source, Table
from connectors import mysql, postgres
from connectors.base import (
    Attachment,
    Failure,
    Health,
    NotInTrino,
    SourceUnavailable,
    connector_for,
    conninfo,
    parse_dsn,
    resolve_password,
    tables_from_columns,
    trino_environment,
    trino_secret,
)
from gateway import sources
from gateway.demo import databases
from gateway.demo.schema import COLUMNS

SECRET = "s3cr3t-Pa55 w'o\"rd"


def network_source(kind: str, password_ref: str = "env:SHUQIAO_TEST_PASSWORD") -> Source:
    return Source("justice", kind, "justice", {
        "host": "db.example", "port": "5433", "database": "justice_db", "user": "reader",
        "password_ref": password_ref,
    })


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SHUQIAO_TEST_PASSWORD", SECRET)
    return SECRET


# -- rows to records -----------------------------------------------------------------------------


@pytest.mark.parametrize(("row", "expected"), [
    (("character varying", 18, None, None), "VARCHAR(18)"),
    (("character varying", None, None, None), "VARCHAR"),
    (("character", 1, None, None), "CHAR(1)"),
    (("text", None, None, None), "VARCHAR"),
    (("date", None, None, None), "DATE"),
    (("timestamp without time zone", None, None, None), "TIMESTAMP"),
    (("timestamp with time zone", None, None, None), "TIMESTAMP WITH TIME ZONE"),
    (("numeric", None, 10, 2), "DECIMAL(10,2)"),
    (("numeric", None, None, None), "DECIMAL"),
    (("bigint", None, 64, 0), "BIGINT"),
    (("integer", None, 32, 0), "INTEGER"),
    (("double precision", None, 53, None), "DOUBLE"),
    (("boolean", None, None, None), "BOOLEAN"),
    (("uuid", None, None, None), "UUID"),
])
def test_postgres_types(row: tuple[str, int | None, int | None, int | None],
                        expected: str) -> None:
    assert postgres.column_type(*row) == expected


@pytest.mark.parametrize(("row", "expected"), [
    (("varchar", 18, None, None, "varchar(18)"), "VARCHAR(18)"),
    (("char", 1, None, None, "char(1)"), "CHAR(1)"),
    (("text", 65535, None, None, "text"), "VARCHAR"),
    (("date", None, None, None, "date"), "DATE"),
    (("datetime", None, None, None, "datetime"), "TIMESTAMP"),
    (("timestamp", None, None, None, "timestamp"), "TIMESTAMP"),
    (("decimal", None, 12, 2, "decimal(12,2)"), "DECIMAL(12,2)"),
    (("bigint", None, 19, 0, "bigint(20)"), "BIGINT"),
    (("bigint", None, 20, 0, "bigint(20) unsigned"), "DECIMAL(20,0)"),
    (("int", None, 10, 0, "int(11)"), "INTEGER"),
    (("int", None, 10, 0, "int(10) unsigned"), "BIGINT"),
    (("double", None, 22, None, "double"), "DOUBLE"),
    (("enum", 5, None, None, "enum('a','b')"), "VARCHAR"),
    (("longblob", None, None, None, "longblob"), "VARBINARY"),
])
def test_mysql_types(row: tuple[str, int | None, int | None, int | None, str],
                     expected: str) -> None:
    assert mysql.column_type(*row) == expected


def test_rows_become_tables_with_physical_names() -> None:
    rows = [("Residents", "ID_NO", "character varying", 18, None, None),
            ("Residents", "birth_date", "date", None, None, None),
            ("deaths", "id_no", "character varying", 18, None, None)]
    tables = tables_from_columns("public_security", "public", postgres.column_rows(rows))
    assert [t.name for t in tables] == ["deaths", "residents"]
    residents = tables[1]
    assert residents.physical == "Residents"
    assert residents.physical_schema == "public"
    assert [(c.name, c.type) for c in residents.columns] == [
        ("id_no", "VARCHAR(18)"), ("birth_date", "DATE")]


def test_mysql_rows_keep_the_database_as_schema() -> None:
    rows = [("trips", "trip_id", "bigint", None, 19, 0, "bigint(20)"),
            ("trips", "departed_at", "datetime", None, None, None, "datetime")]
    (trips,) = tables_from_columns("transport", "transport_db", mysql.column_rows(rows))
    assert trips.qualified == "transport.public.trips"
    assert trips.physical_schema == "transport_db"
    assert trips.column("departed_at") is not None
    assert [c.type for c in trips.columns] == ["BIGINT", "TIMESTAMP"]


def test_freshness_values() -> None:
    plus8 = timezone(timedelta(hours=8))
    stamps = [None, datetime(2026, 3, 4, 8, 0, tzinfo=plus8),
              datetime(2026, 3, 4, 1, 0, tzinfo=UTC)]
    assert postgres.latest(stamps) == datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
    assert postgres.latest([None, None]) is None
    assert mysql.from_epoch(Decimal(0)) == datetime(1970, 1, 1, tzinfo=UTC)
    assert mysql.from_epoch(None) is None


def test_driver_errors_are_classified() -> None:
    assert postgres.failure_of(asyncpg.InvalidPasswordError("x")) is Failure.BAD_CREDENTIALS
    assert postgres.failure_of(asyncpg.InvalidCatalogNameError("x")) is Failure.MISSING_DATABASE
    assert postgres.failure_of(ConnectionRefusedError(111, "x")) is Failure.UNREACHABLE
    assert postgres.failure_of(TimeoutError()) is Failure.UNREACHABLE
    assert mysql.failure_of(OperationalError(1045, "x")) is Failure.BAD_CREDENTIALS
    assert mysql.failure_of(OperationalError(1049, "x")) is Failure.MISSING_DATABASE
    assert mysql.failure_of(OperationalError(2003, "x")) is Failure.UNREACHABLE
    assert mysql.failure_of(OperationalError(1105, "x")) is Failure.FAILED


# -- DSNs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "dsn"), [
    ("postgres", "postgresql://reader:hunter2@db.example:5432/justice"),
    ("mysql", "mysql://reader:hunter2@db.example/transport"),
    ("mariadb", "mariadb://reader:hunter2@db.example:3307/transport"),
])
def test_a_dsn_with_a_password_is_refused_without_quoting_it(kind: str, dsn: str) -> None:
    with pytest.raises(ValueError, match="must not contain a password") as caught:
        connector_for(kind).options_from_dsn(dsn)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(CatalogError) as refused:
        sources.source_from_dsn("justice", kind, dsn, "justice", "env:PW")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("dsn", [
    "postgresql://db.example/justice",            # no user
    "postgresql://reader@db.example",             # no database
    "postgresql://reader@db.example:99999/x",     # bad port
    "mysql://reader@db.example/justice",          # wrong scheme
    "postgresql://reader@db.example/x?sslmode=1",  # unknown parameter
])
def test_incomplete_dsns_are_refused(dsn: str) -> None:
    with pytest.raises(ValueError):
        connector_for("postgres").options_from_dsn(dsn)


def test_dsn_options() -> None:
    assert connector_for("postgres").options_from_dsn(
        "postgresql://reader@db.example/justice?schema=records") == {
        "host": "db.example", "port": "5432", "database": "justice", "user": "reader",
        "schema": "records"}
    assert connector_for("mysql").options_from_dsn("mysql://reader@db.example/transport") == {
        "host": "db.example", "port": "3306", "database": "transport", "user": "reader"}
    parsed = parse_dsn("postgres://r%40x@h:1/d%20b", ("postgres",), 5432)
    assert (parsed.user, parsed.database, parsed.port) == ("r@x", "d b", 1)


def test_sqlite_dsn_is_a_path(tmp_path: Path) -> None:
    file = tmp_path / "justice.sqlite"
    assert connector_for("sqlite").options_from_dsn(str(file)) == {"path": str(file)}
    assert connector_for("sqlite").options_from_dsn(f"sqlite://{file}") == {"path": str(file)}


def test_password_argument_must_be_a_reference(tmp_path: Path) -> None:
    dsn = "postgresql://reader@db.example/justice"
    with pytest.raises(CatalogError, match="must be a reference") as caught:
        sources.source_from_dsn("justice", "postgres", dsn, "justice", "hunter2")
    assert "hunter2" not in str(caught.value)
    made = sources.source_from_dsn("justice", "postgres", dsn, "justice", "file:pw",
                                   cwd=tmp_path)
    assert made.options["password_ref"] == f"file:{tmp_path / 'pw'}"
    with pytest.raises(CatalogError, match="takes no password"):
        sources.source_from_dsn("justice", "sqlite", str(tmp_path / "j.sqlite"), "justice",
                                "env:PW")
    with pytest.raises(CatalogError, match="no connector"):
        sources.source_from_dsn("justice", "oracle", dsn, "justice")


# -- secrets -------------------------------------------------------------------------------------


def test_resolve_password(secret_env: str, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_password(network_source("postgres")) == secret_env
    file = tmp_path / "pw"
    file.write_text(secret_env + "\n", encoding="utf-8")
    assert resolve_password(network_source("postgres", f"file:{file}")) == secret_env
    monkeypatch.delenv("SHUQIAO_TEST_PASSWORD")
    with pytest.raises(SourceUnavailable, match="SHUQIAO_TEST_PASSWORD") as caught:
        resolve_password(network_source("postgres"))
    assert caught.value.failure is Failure.MISSING_SECRET
    with pytest.raises(SourceUnavailable, match="cannot be read"):
        resolve_password(network_source("postgres", f"file:{tmp_path / 'absent'}"))
    assert resolve_password(Source("x", "postgres", "d", {})) is None


@pytest.mark.parametrize("kind", ["postgres", "mysql", "mariadb"])
def test_trino_properties_name_the_secret_never_its_value(kind: str, secret_env: str) -> None:
    properties = connector_for(kind).trino_properties(network_source(kind))
    assert properties["connection-password"] == "${ENV:SHUQIAO_TEST_PASSWORD}"
    assert properties["connection-user"] == "reader"
    assert properties["connector.name"] == connector_for(kind).trino_connector
    assert not any(secret_env in value for value in properties.values())


def test_trino_urls() -> None:
    source = network_source("postgres")
    assert connector_for("postgres").trino_properties(source)["connection-url"] == (
        "jdbc:postgresql://db.example:5433/justice_db")
    assert connector_for("mysql").trino_properties(source)["connection-url"] == (
        "jdbc:mysql://db.example:5433")
    assert connector_for("mariadb").trino_properties(source)["connection-url"] == (
        "jdbc:mariadb://db.example:5433")


def test_file_secrets_reach_trino_through_a_variable(tmp_path: Path) -> None:
    source = network_source("postgres", f"file:{tmp_path / 'pw'}")
    assert trino_secret(source) == "${ENV:SHUQIAO_JUSTICE_PASSWORD}"
    assert trino_environment([source, network_source("mysql")]) == {
        "SHUQIAO_JUSTICE_PASSWORD": f"file:{tmp_path / 'pw'}"}


def test_sqlite_has_no_trino_catalog(tmp_path: Path) -> None:
    source = Source("justice", "sqlite", "justice", {"path": str(tmp_path / "j.sqlite")})
    assert connector_for("sqlite").trino_connector is None
    with pytest.raises(NotInTrino, match="Trino has no SQLite connector"):
        connector_for("sqlite").trino_properties(source)
    pg = network_source("postgres")
    written = sources.write_trino_catalogs([source, pg], tmp_path / "catalog")
    assert [p.name for p in written] == ["justice.properties"]
    # Rendered with the connection timeouts that bound a dead source (gateway.trino_config).
    assert written[0].read_text(encoding="utf-8") == (
        "connector.name=postgresql\n"
        "connection-password=${ENV:SHUQIAO_TEST_PASSWORD}\n"
        "connection-url=jdbc:postgresql://db.example:5433/justice_db"
        "?connectTimeout=5&loginTimeout=5&socketTimeout=300\n"
        "connection-user=reader\n")


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_attachment_repr_hides_the_password(kind: str, secret_env: str) -> None:
    attachment = connector_for(kind).attachment(network_source(kind))
    assert secret_env not in repr(attachment)
    assert secret_env not in str(attachment)
    assert attachment.sql().startswith("ATTACH '")
    assert attachment.kind == kind


def test_conninfo_quoting() -> None:
    pairs = {"user": "reader", "password": "a b'c\\d\"e", "dbname": "", "skip": None}
    assert conninfo(pairs) == "user=reader password='a b\\'c\\\\d\"e' dbname=''"
    assert conninfo(pairs, quote='"') == 'user=reader password="a b\'c\\\\d\\"e" dbname=""'
    attach = Attachment("s", "postgres", "password='it\\'s'", "postgres_scanner").sql()
    assert attach == "ATTACH 'password=''it\\''s''' AS \"s\" (TYPE postgres, READ_ONLY)"


def test_local_infile_sends_only_the_offered_file() -> None:
    class FakeConnection:
        loop: Any = None

    def asked(name: bytes) -> object:
        return vars(mysql._OfferedFileOnly(name, FakeConnection()))["filename"]

    assert asked(b"/etc/passwd") == ""
    token = mysql._OFFERED_FILE.set("/tmp/load/trips.csv")
    try:
        assert asked(b"/tmp/load/trips.csv") == "/tmp/load/trips.csv"
        assert asked(b"/etc/passwd") == ""
    finally:
        mysql._OFFERED_FILE.reset(token)


# -- health and the catalog side ------------------------------------------------------------------


def test_sqlite_check(tmp_path: Path) -> None:
    missing = Source("justice", "sqlite", "justice", {"path": str(tmp_path / "gone.sqlite")})
    health = connector_for("sqlite").check(missing)
    assert (health.reachable, health.failure) == (False, Failure.MISSING_DATABASE)
    assert health.error is not None and "justice" in health.error
    not_sqlite = tmp_path / "x.sqlite"
    not_sqlite.write_text("plain text, not a database " * 100, encoding="utf-8")
    broken = Source("justice", "sqlite", "justice", {"path": str(not_sqlite)})
    assert connector_for("sqlite").check(broken).failure is Failure.FAILED
    assert connector_for("sqlite").freshness(broken, Table("justice", "t", ())) is not None


def test_health_from_errors() -> None:
    source = network_source("postgres")
    unreachable = Health.failed(source, SourceUnavailable("justice", Failure.UNREACHABLE, "x"))
    assert (unreachable.failure, unreachable.error) == (
        Failure.UNREACHABLE, "source justice: unreachable: x")
    assert Health.failed(source, SourceError("justice", "odd")).failure is Failure.FAILED
    with pytest.raises(SourceUnavailable, match="unreachable"):
        unreachable.require()
    Health("justice", "postgres", True, latency_ms=1.0).require()


def test_sync_report_and_location() -> None:
    report = sources.sync_report("s", ["a", "b"], ["b", "c"])
    assert (report.added, report.removed, report.kept, report.tables) == (
        ("c",), ("a",), ("b",), 2)
    assert sources.location(network_source("postgres")) == "db.example:5433/justice_db"
    assert sources.location(Source("x", "sqlite", "d", {"path": "/d/x.sqlite"})) == (
        "/d/x.sqlite")
    assert "password" not in sources.location(network_source("mysql"))


# -- the demo loader's pure parts ----------------------------------------------------------------


def test_mariadb_demo_types() -> None:
    assert databases.mariadb_type("VARCHAR NOT NULL") == "VARCHAR(255) NOT NULL"
    assert databases.mariadb_type("VARCHAR(6) NOT NULL") == "VARCHAR(6) NOT NULL"
    assert databases.mariadb_type("TIMESTAMP NOT NULL") == "DATETIME NOT NULL"
    ddl = databases.mariadb_create_table("trips", COLUMNS["transport"]["trips"])
    assert "departed_at DATETIME NOT NULL" in ddl and ddl.endswith("CHARSET=utf8mb4")


def test_demo_sources_keep_passwords_as_references() -> None:
    made = databases.demo_sources(databases.PgTarget(prefix="t_"),
                                  databases.MariaTarget(prefix="t_"))
    assert [s.name for s in made] == list(COLUMNS)
    assert {s.name: s.kind for s in made}["transport"] == "mariadb"
    assert all(s.options["database"] == f"t_{s.name}" for s in made)
    assert all(s.options["password_ref"].startswith("env:") for s in made)


def test_export_and_load_statements(tmp_path: Path) -> None:
    select = databases.export_select(tmp_path / "s.sqlite", "payments",
                                     COLUMNS["social_security"]["payments"])
    assert 'CAST("amount" AS DECIMAL(10,2)) AS "amount"' in select
    job = databases.Job(databases.MariaTarget().source("transport"), "trips",
                        COLUMNS["transport"]["trips"], tmp_path / "it's.csv")
    sql = databases.load_data_sql(job)
    assert f"LOCAL INFILE '{tmp_path}/it''s.csv' INTO TABLE trips" in sql
    assert sql.endswith("(trip_id, id_no, mode, departed_at, origin_code, destination_code)")


def test_password_file_is_private(tmp_path: Path) -> None:
    reference = databases.write_password_file(tmp_path / "secrets" / "pg", "pw")
    assert reference == f"file:{tmp_path / 'secrets' / 'pg'}"
    assert (tmp_path / "secrets" / "pg").stat().st_mode & 0o777 == 0o600
