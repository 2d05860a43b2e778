"""What each demo principal sees of the catalog (DEMO.md's grants), and the queries that
browse it: pure functions of the snapshot, the principal and the day."""

from __future__ import annotations

from datetime import date

import pytest

from catalog.models import CatalogSnapshot
from gateway.errors import NotAuthenticated, NotGranted, PolicyError, QueryError
from gateway.server.introspection import Scope, metadata_query, run
from gateway.server.metadata import (
    COLUMNS,
    VisibleTable,
    catalogs,
    show_sql,
    virtual_rows,
    visible_tables,
)
from gateway.server.statements import Show

TODAY = date(2026, 11, 27)
SIX = ("disabled_persons", "justice", "medical_insurance", "public_security", "social_security",
       "transport")


def seen(snapshot: CatalogSnapshot, principal: str, today: date = TODAY
         ) -> dict[str, list[str]]:
    return {f"{t.catalog}.{t.schema}.{t.name}": [c.name for c in t.columns]
            for t in visible_tables(snapshot, principal, today)}


def test_si_analyst_sees_six_sources_but_only_what_is_granted(
        demo_snapshot: CatalogSnapshot) -> None:
    tables = seen(demo_snapshot, "si_analyst")
    assert catalogs(visible_tables(demo_snapshot, "si_analyst", TODAY)) == SIX
    assert [t for t in tables if t.startswith("public_security.")] == [
        "public_security.public.deaths", "public_security.public.residents"]
    assert tables["public_security.public.deaths"] == ["id_no", "death_date", "region_code"]
    assert tables["transport.public.trips"] == ["trip_id", "id_no", "mode", "departed_at"]
    assert tables["medical_insurance.public.hospitalizations"] == [
        "record_id", "id_no", "hospital_code", "admitted_on", "discharged_on"]


def test_mi_analyst_has_no_public_security_catalog(demo_snapshot: CatalogSnapshot) -> None:
    tables = seen(demo_snapshot, "mi_analyst")
    assert catalogs(visible_tables(demo_snapshot, "mi_analyst", TODAY)) == (
        "medical_insurance", "social_security")
    assert list(tables) == ["medical_insurance.public.hospitalizations",
                            "social_security.public.pensioners"]
    assert "name" not in tables["social_security.public.pensioners"]
    assert "bank_account" not in tables["social_security.public.pensioners"]


@pytest.mark.parametrize("principal", ["auditor", "admin"])
def test_principals_without_data_grants_see_nothing(demo_snapshot: CatalogSnapshot,
                                                    principal: str) -> None:
    assert visible_tables(demo_snapshot, principal, TODAY) == ()


def test_an_expired_grant_hides_its_table(demo_snapshot: CatalogSnapshot) -> None:
    assert list(seen(demo_snapshot, "lapsed_analyst")) == ["transport.public.trips"]
    before_expiry = seen(demo_snapshot, "lapsed_analyst", date(2025, 6, 1))
    assert "public_security.public.residents" in before_expiry


def test_unknown_principals_are_refused(demo_snapshot: CatalogSnapshot) -> None:
    with pytest.raises(NotAuthenticated):
        visible_tables(demo_snapshot, "nobody", TODAY)


def table(snapshot: CatalogSnapshot, principal: str, name: str) -> VisibleTable:
    return next(t for t in visible_tables(snapshot, principal, TODAY)
                if f"{t.catalog}.{t.name}" == name)


def test_masked_columns_show_the_masks_type_and_match_columns_say_so(
        demo_snapshot: CatalogSnapshot) -> None:
    trips = {c.name: c for c in table(demo_snapshot, "si_analyst", "transport.trips").columns}
    assert trips["departed_at"].type.display == "date"  # mask:date on a timestamp
    assert "[masked: date]" in trips["departed_at"].comment
    assert "[match:" in trips["id_no"].comment
    residents = table(demo_snapshot, "si_analyst", "public_security.residents")
    assert "G2" in residents.comment and "2027-12-31" in residents.comment
    pensioners = table(demo_snapshot, "mi_analyst", "social_security.pensioners")
    assert "aggregate only" in pensioners.comment


def test_every_virtual_table_has_rows_of_its_width(demo_snapshot: CatalogSnapshot) -> None:
    tables = visible_tables(demo_snapshot, "si_analyst", TODAY)
    for name, columns in COLUMNS.items():
        rows = virtual_rows(name, tables, None)
        assert all(len(r) == len(columns) for r in rows), name


def answer(snapshot: CatalogSnapshot, principal: str, sql: str, *,
           catalog: str | None = "public_security", schema: str | None = "public"
           ) -> list[tuple[object, ...]]:
    scope = Scope(principal, visible_tables(snapshot, principal, TODAY), catalog, schema)
    found = metadata_query(sql, (), scope)
    assert found is not None, sql
    return [row for page in run(found, scope).pages(100) for row in page]


@pytest.mark.parametrize(("show", "expected"), [
    (Show("catalogs"), [(c,) for c in SIX]),
    (Show("catalogs", like="%security"), [("public_security",), ("social_security",)]),
    (Show("schemas"), [("public",)]),
    (Show("tables"), [("deaths",), ("residents",)]),
    (Show("tables", ("social_security", "public"), like="p%"), [("payments",), ("pensioners",)]),
    (Show("columns", ("deaths",)), [
        ("id_no", "varchar(18)", "", "居民身份证号码 resident identity number "
                                     "[match: compare for equality only; never returned]"),
        ("death_date", "date", "", "死亡日期 date of death"),
        ("region_code", "varchar(6)", "", "登记地行政区划代码 registering region code")]),
])
def test_show_and_describe(demo_snapshot: CatalogSnapshot, show: Show,
                           expected: list[tuple[object, ...]]) -> None:
    tables = visible_tables(demo_snapshot, "si_analyst", TODAY)
    sql = show_sql(show, tables, "public_security", "public")
    assert answer(demo_snapshot, "si_analyst", sql) == expected


@pytest.mark.parametrize(("show", "error", "message"), [
    (Show("schemas", ("public_security",)), PolicyError,
     "catalog public_security does not exist or is not granted to you"),
    (Show("schemas", ("tax_bureau",)), PolicyError,
     "catalog tax_bureau does not exist or is not granted to you"),
    (Show("tables", ("medical_insurance", "main")), PolicyError,
     "schema medical_insurance.main does not exist or is not granted to you"),
    (Show("columns", ("social_security", "public", "insured")), NotGranted,
     "table social_security.public.insured does not exist or is not granted to you"),
    (Show("tables"), QueryError, "schema must be specified"),
])
def test_show_refusals_read_like_absence(demo_snapshot: CatalogSnapshot, show: Show,
                                         error: type[Exception], message: str) -> None:
    tables = visible_tables(demo_snapshot, "mi_analyst", TODAY)
    with pytest.raises(error, match=message):
        show_sql(show, tables, None, None)


def test_jdbc_get_columns_lists_granted_columns_only(demo_snapshot: CatalogSnapshot) -> None:
    rows = answer(demo_snapshot, "si_analyst",
                  "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, TYPE_NAME, COLUMN_SIZE,"
                  " DECIMAL_DIGITS FROM system.jdbc.columns WHERE TABLE_CAT = 'public_security'"
                  " AND TABLE_NAME LIKE 'd%' ESCAPE '\\' ORDER BY ORDINAL_POSITION")
    assert rows == [("deaths", "id_no", 12, "varchar(18)", 18, None),
                    ("deaths", "death_date", 91, "date", 14, None),
                    ("deaths", "region_code", 12, "varchar(6)", 6, None)]


def test_session_functions(demo_snapshot: CatalogSnapshot) -> None:
    rows = answer(demo_snapshot, "mi_analyst",
                  "SELECT current_user, current_catalog AS c, version() IS NOT NULL AS v",
                  catalog="medical_insurance")
    assert rows == [("mi_analyst", "medical_insurance", True)]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM information_schema.tables",  # no session catalog here
    "SELECT * FROM public_security.information_schema.tables",  # not visible to mi_analyst
    "SELECT * FROM system.runtime.queries",
    "SELECT * FROM system.jdbc.tables t JOIN social_security.public.pensioners p ON true",
    "SELECT getenv('HOME') FROM system.jdbc.catalogs",
    "SELECT * FROM system.jdbc.catalogs WHERE table_cat IN (SELECT 1 FROM read_csv('/x'))",
    "SELECT 1",
    "SELECT p.region_code FROM social_security.public.pensioners p",
    # a CTE name is a CTE only inside its WITH: outside, it is a table that is not metadata
    "SELECT * FROM (WITH duckdb_settings AS (SELECT 1 AS a) SELECT * FROM system.jdbc.catalogs)"
    " x, duckdb_settings",
])
def test_anything_else_is_not_a_metadata_query(demo_snapshot: CatalogSnapshot,
                                               sql: str) -> None:
    scope = Scope("mi_analyst", visible_tables(demo_snapshot, "mi_analyst", TODAY))
    assert metadata_query(sql, (), scope) is None


def test_parameters_bind_into_metadata_queries(demo_snapshot: CatalogSnapshot) -> None:
    scope = Scope("si_analyst", visible_tables(demo_snapshot, "si_analyst", TODAY),
                  "social_security")
    found = metadata_query('SELECT "table_name" FROM "information_schema"."tables"'
                           ' WHERE "table_schema" = ? AND "table_name" = ?',
                           ("public", "pensioners"), scope)
    assert found is not None
    assert [r for p in run(found, scope).pages(10) for r in p] == [("pensioners",)]


def test_ctes_over_metadata(demo_snapshot: CatalogSnapshot) -> None:
    rows = answer(demo_snapshot, "mi_analyst",
                  "WITH c AS (SELECT table_cat FROM system.jdbc.catalogs)"
                  " SELECT count(*) AS n FROM c")
    assert rows == [(2,)]
