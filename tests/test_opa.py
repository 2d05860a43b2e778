"""The decisions Trino's OPA plugin gets from the gateway (``gateway.opa``), for each DEMO.md
principal and table, and the four routes that serve them (``gateway.server.opa_routes``).

Requests are written in the shapes Trino 476 sends (captured from a real coordinator); tables
are named as Trino names them: PostgreSQL sources under ``public``, the MariaDB source under its
database's name.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlglot import exp

from catalog.models import CatalogSnapshot, ColumnAction, Table
from gateway.opa import (
    NO_ROWS,
    OpaPolicy,
    OpaRequestError,
    TrinoName,
    allow,
    batch,
    column_masks,
    parse_request,
    row_filters,
    trino_mask,
)
from gateway.policy.masks import mask_expression
from gateway.server.opa_routes import opa_router
from gateway.trino_config import render_opa_access_control

TODAY = date(2026, 6, 1)
SERVICE = "shuqiao"
MARIADB_SCHEMA = "shuqiao_transport"

RESIDENTS = ("public_security", "public", "residents")
DEATHS = ("public_security", "public", "deaths")
INSURED = ("social_security", "public", "insured")
PENSIONERS = ("social_security", "public", "pensioners")
PAYMENTS = ("social_security", "public", "payments")
HOSPITALIZATIONS = ("medical_insurance", "public", "hospitalizations")
TRIPS = ("transport", MARIADB_SCHEMA, "trips")
INCARCERATIONS = ("justice", "public", "incarcerations")
CERTIFICATES = ("disabled_persons", "public", "certificates")
ALL_TABLES = {RESIDENTS, DEATHS, INSURED, PENSIONERS, PAYMENTS, HOSPITALIZATIONS, TRIPS,
              INCARCERATIONS, CERTIFICATES}

Name = tuple[str, str, str]

# ------------------------------------------------------------------------------------------------
# The demo catalog as Trino sees it, and requests as Trino writes them
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def snapshot(demo_snapshot: CatalogSnapshot) -> CatalogSnapshot:
    """The demo catalog with the physical names of the full demo (PostgreSQL and MariaDB)."""
    tables = tuple(dataclasses.replace(
        t, physical_schema=MARIADB_SCHEMA if t.source == "transport" else "public")
        for t in demo_snapshot.tables)
    return dataclasses.replace(demo_snapshot, tables=tables)


@pytest.fixture(scope="module")
def policy(snapshot: CatalogSnapshot) -> OpaPolicy:
    return OpaPolicy(snapshot, TODAY, SERVICE)


def body(user: str, operation: str, resource: dict[str, Any] | None = None,
         filter_resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"operation": operation}
    if resource is not None:
        action["resource"] = resource
    if filter_resources is not None:
        action["filterResources"] = filter_resources
    return {"input": {"context": {"identity": {"user": user, "groups": []},
                                  "softwareStack": {"trinoVersion": "476"}},
                      "action": action}}


def table(name: Name, columns: list[str] | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"catalogName": name[0], "schemaName": name[1], "tableName": name[2]}
    if columns is not None:
        found["columns"] = columns
    return {"table": found}


def column(name: Name, column_name: str, column_type: str) -> dict[str, Any]:
    return {"column": {"catalogName": name[0], "schemaName": name[1], "tableName": name[2],
                       "columnName": column_name, "columnType": column_type}}


def allowed(policy: OpaPolicy, user: str, operation: str,
            resource: dict[str, Any] | None = None) -> bool:
    return allow(policy, parse_request(body(user, operation, resource)))


def selects(policy: OpaPolicy, user: str, name: Name, *columns: str) -> bool:
    return allowed(policy, user, "SelectFromColumns", table(name, list(columns)))


def readable(policy: OpaPolicy, user: str) -> set[Name]:
    return {(n.catalog, n.schema, n.table) for n in policy.scope(user).tables}


def visible_columns(policy: OpaPolicy, user: str, name: Name) -> list[str]:
    found = policy.snapshot.table(f"{name[0]}.public.{name[2]}")
    assert found is not None
    names = list(found.column_names)
    indexes = batch(policy, parse_request(body(user, "FilterColumns",
                                               filter_resources=[table(name, names)])))
    return [names[i] for i in indexes]


def masks(policy: OpaPolicy, user: str, name: Name) -> dict[str, str]:
    found = policy.snapshot.table(f"{name[0]}.public.{name[2]}")
    assert found is not None
    resources = [column(name, c.name, trino_type(c.type)) for c in found.columns]
    answer = column_masks(policy, parse_request(body(user, "GetColumnMask",
                                                     filter_resources=resources)))
    return {found.columns[i].name: expression for i, expression in answer}


def trino_type(declared: str) -> str:
    return declared.lower() if declared.upper() != "TEXT" else "varchar"


# ------------------------------------------------------------------------------------------------
# Who reads which table
# ------------------------------------------------------------------------------------------------

SI_TABLES = ALL_TABLES


@pytest.mark.parametrize(("user", "tables"), [
    ("si_analyst", SI_TABLES),                          # G1-G7
    ("chengdu_si_analyst", SI_TABLES),                  # G8
    ("mi_analyst", {HOSPITALIZATIONS}),                 # G9; G10 is aggregate-only
    ("lapsed_analyst", {TRIPS}),                        # G11; G12 expired
    ("auditor", set()),
    ("admin", set()),
    ("nobody", set()),
    (SERVICE, ALL_TABLES),
])
def test_readable_tables(policy: OpaPolicy, user: str, tables: set[Name]) -> None:
    assert readable(policy, user) == tables
    for name in ALL_TABLES:
        assert allowed(policy, user, "FilterTables", table(name)) == (name in tables)
        assert selects(policy, user, name) == (name in tables)


@pytest.mark.parametrize(("user", "catalogs"), [
    ("si_analyst", {"public_security", "social_security", "medical_insurance", "transport",
                    "justice", "disabled_persons"}),
    ("mi_analyst", {"medical_insurance"}),
    ("lapsed_analyst", {"transport"}),
    ("auditor", set()),
])
def test_catalogs_listed_and_entered(policy: OpaPolicy, user: str, catalogs: set[str]) -> None:
    every = ["public_security", "social_security", "medical_insurance", "transport", "justice",
             "disabled_persons", "system"]
    request = body(user, "FilterCatalogs", filter_resources=[{"catalog": {"name": c}}
                                                             for c in every])
    assert {every[i] for i in batch(policy, parse_request(request))} == catalogs
    for name in every:
        entered = allowed(policy, user, "AccessCatalog", {"catalog": {"name": name}})
        assert entered == (name in catalogs)


def test_schemas_listed(policy: OpaPolicy) -> None:
    schemas = ["information_schema", "shuqiao", "sys", "mysql", MARIADB_SCHEMA]
    request = body("lapsed_analyst", "FilterSchemas", filter_resources=[
        {"schema": {"catalogName": "transport", "schemaName": s}} for s in schemas])
    assert batch(policy, parse_request(request)) == [0, 4]
    assert not allowed(policy, "mi_analyst", "ShowTables",
                       {"schema": {"catalogName": "transport", "schemaName": MARIADB_SCHEMA}})
    assert allowed(policy, "lapsed_analyst", "ShowSchemas", {"catalog": {"name": "transport"}})


def test_information_schema_of_a_readable_catalog(policy: OpaPolicy) -> None:
    tables = ("medical_insurance", "information_schema", "tables")
    assert selects(policy, "mi_analyst", tables, "table_name")
    assert not selects(policy, "mi_analyst", ("justice", "information_schema", "tables"))
    assert row_filters(policy, parse_request(body("mi_analyst", "GetRowFilters",
                                                  table(tables)))) == []


def test_unregistered_tables_are_denied_to_everyone(policy: OpaPolicy) -> None:
    for user in ("si_analyst", SERVICE):
        assert not selects(policy, user, ("public_security", "pg_catalog", "pg_class"))
        assert not selects(policy, user, ("public_security", "public", "secrets"))
        assert not selects(policy, user, ("system", "runtime", "nodes"))


def test_grants_in_force_on_the_day(snapshot: CatalogSnapshot) -> None:
    before_expiry = OpaPolicy(snapshot, date(2025, 6, 1), SERVICE)
    assert readable(before_expiry, "lapsed_analyst") == {TRIPS, RESIDENTS}
    after_g2 = OpaPolicy(snapshot, date(2028, 1, 1), SERVICE)
    assert readable(after_g2, "si_analyst") == {INSURED, PENSIONERS, PAYMENTS}


# ------------------------------------------------------------------------------------------------
# Columns: allow and mask visible, match and deny denied
# ------------------------------------------------------------------------------------------------

SI_COLUMNS: dict[Name, list[str]] = {
    RESIDENTS: ["id_no", "name", "gender", "birth_date", "hukou_region_code", "address",
                "phone", "status"],
    DEATHS: ["death_date", "region_code"],
    HOSPITALIZATIONS: ["record_id", "hospital_code", "admitted_on", "discharged_on"],
    TRIPS: ["trip_id", "mode", "departed_at"],
    INCARCERATIONS: ["start_date", "end_date"],
    CERTIFICATES: ["category", "grade", "issued_on"],
    INSURED: ["id_no", "name", "insurance_type", "region_code", "enrolled_on", "status"],
}


@pytest.mark.parametrize("name", list(SI_COLUMNS), ids=lambda n: n[2])
@pytest.mark.parametrize("user", ["si_analyst", "chengdu_si_analyst"])
def test_visible_columns(policy: OpaPolicy, user: str, name: Name) -> None:
    assert visible_columns(policy, user, name) == SI_COLUMNS[name]


@pytest.mark.parametrize(("user", "name", "columns"), [
    ("si_analyst", DEATHS, ["id_no"]),                            # match (G3)
    ("si_analyst", DEATHS, ["region_code", "cause_category"]),    # deny (G3)
    ("si_analyst", HOSPITALIZATIONS, ["diagnosis_code"]),         # deny (G4)
    ("si_analyst", TRIPS, ["id_no", "mode"]),                     # match (G5)
    ("si_analyst", TRIPS, ["origin_code"]),                       # deny (G5)
    ("si_analyst", INCARCERATIONS, ["facility_code"]),            # deny (G6)
    ("si_analyst", CERTIFICATES, ["id_no"]),                      # match (G7)
    ("mi_analyst", PENSIONERS, ["region_code"]),                  # aggregate-only (G10)
    ("mi_analyst", PENSIONERS, []),                               # not even count(*)
    ("lapsed_analyst", RESIDENTS, ["hukou_region_code"]),         # expired (G12)
    ("chengdu_si_analyst", DEATHS, ["id_no"]),                    # match (G8.3)
])
def test_denied_columns(policy: OpaPolicy, user: str, name: Name, columns: list[str]) -> None:
    assert not selects(policy, user, name, *columns)


@pytest.mark.parametrize(("user", "name", "columns"), [
    ("si_analyst", RESIDENTS, ["name", "phone", "address"]),
    ("si_analyst", DEATHS, ["death_date", "region_code"]),
    ("si_analyst", DEATHS, []),
    ("si_analyst", PENSIONERS, ["id_no", "bank_account"]),
    ("mi_analyst", HOSPITALIZATIONS, ["id_no", "diagnosis_code", "total_cost"]),
    ("lapsed_analyst", TRIPS, ["id_no", "origin_code", "departed_at"]),
    (SERVICE, DEATHS, ["id_no", "cause_category"]),
    (SERVICE, PENSIONERS, ["bank_account"]),
])
def test_allowed_columns(policy: OpaPolicy, user: str, name: Name, columns: list[str]) -> None:
    assert selects(policy, user, name, *columns)


def test_filter_columns_one_at_a_time(policy: OpaPolicy) -> None:
    """Without a batched URI, Trino asks once per column, through the single-decision route."""
    assert allowed(policy, "si_analyst", "FilterColumns", table(DEATHS, ["death_date"]))
    assert not allowed(policy, "si_analyst", "FilterColumns", table(DEATHS, ["id_no"]))


# ------------------------------------------------------------------------------------------------
# Masks and row filters
# ------------------------------------------------------------------------------------------------


def rendered(mask: str, column_name: str, column_type: str) -> str:
    sql = mask_expression(mask, exp.column(column_name), "trino", "").sql(
        dialect="trino", identify=True)
    return f"CAST({sql} AS {column_type})"


def test_masks_of_residents(policy: OpaPolicy) -> None:
    found = masks(policy, "si_analyst", RESIDENTS)
    assert found == {"address": rendered("address_district", "address", "varchar"),
                     "phone": rendered("phone", "phone", "varchar(11)")}
    assert "REGEXP_EXTRACT(\"address\"" in found["address"]
    assert found["phone"].startswith("CAST(CASE WHEN \"phone\" IS NULL THEN NULL ELSE")


def test_masks_keep_the_column_type(policy: OpaPolicy) -> None:
    assert masks(policy, "si_analyst", TRIPS)["departed_at"] == rendered(
        "date", "departed_at", "timestamp")
    assert masks(policy, "si_analyst", CERTIFICATES)["issued_on"] == rendered(
        "year", "issued_on", "date")


def test_columns_that_cannot_be_read_are_nulled(policy: OpaPolicy) -> None:
    found = masks(policy, "si_analyst", DEATHS)
    assert found == {"id_no": "CAST(NULL AS varchar(18))",
                     "cause_category": "CAST(NULL AS varchar)"}
    assert set(masks(policy, "auditor", DEATHS)) == {"id_no", "death_date", "region_code",
                                                    "cause_category"}


@pytest.mark.parametrize("user", [SERVICE, "mi_analyst", "lapsed_analyst"])
def test_no_masks_where_the_grant_allows_everything(policy: OpaPolicy, user: str) -> None:
    name = HOSPITALIZATIONS if user == "mi_analyst" else TRIPS
    assert masks(policy, user, name) == {}


def test_the_hash_mask_is_not_handed_to_trino(snapshot: CatalogSnapshot) -> None:
    """Trino shows column masks to the user in the query's plan: a keyed mask would hand over
    its key, so a hash-masked column is denied on this path."""
    grants = tuple(dataclasses.replace(g, columns={**g.columns, "phone": ColumnAction.parse(
        "mask:hash")}) if g.id == "G2" else g for g in snapshot.grants)
    hashed = OpaPolicy(dataclasses.replace(snapshot, grants=grants), TODAY, SERVICE)
    assert not selects(hashed, "si_analyst", RESIDENTS, "phone")
    assert "phone" not in visible_columns(hashed, "si_analyst", RESIDENTS)
    assert masks(hashed, "si_analyst", RESIDENTS)["phone"] == "CAST(NULL AS varchar(11))"
    with pytest.raises(ValueError, match="holds a key"):
        trino_mask("hash", "phone", "varchar(11)")


def filters(policy: OpaPolicy, user: str, name: Name) -> list[str]:
    return row_filters(policy, parse_request(body(user, "GetRowFilters", table(name))))


@pytest.mark.parametrize(("user", "name", "expected"), [
    ("si_analyst", RESIDENTS, ["\"hukou_region_code\" LIKE '51%' AND \"status\" = 'active'"]),
    ("chengdu_si_analyst", RESIDENTS,
     ["\"hukou_region_code\" LIKE '5101%' AND \"status\" = 'active'"]),
    ("chengdu_si_analyst", INSURED, ["\"region_code\" LIKE '5101%'"]),
    ("chengdu_si_analyst", PAYMENTS, ["\"region_code\" LIKE '5101%'"]),
    ("si_analyst", INSURED, []),
    ("si_analyst", DEATHS, []),
    (SERVICE, RESIDENTS, []),
    ("mi_analyst", PENSIONERS, [NO_ROWS]),
    ("auditor", RESIDENTS, [NO_ROWS]),
    ("nobody", RESIDENTS, [NO_ROWS]),
])
def test_row_filters(policy: OpaPolicy, user: str, name: Name, expected: list[str]) -> None:
    assert filters(policy, user, name) == expected


# ------------------------------------------------------------------------------------------------
# Everything else: queries, sessions, functions, and what is never allowed
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user", ["si_analyst", "auditor", "admin", SERVICE])
def test_known_users_run_queries(policy: OpaPolicy, user: str) -> None:
    assert allowed(policy, user, "ExecuteQuery")


def test_unknown_users_get_nothing(policy: OpaPolicy) -> None:
    assert not allowed(policy, "nobody", "ExecuteQuery")
    assert not allowed(policy, "nobody", "AccessCatalog", {"catalog": {"name": "transport"}})
    assert not allowed(policy, "", "ExecuteQuery")


def test_own_queries_only(policy: OpaPolicy) -> None:
    own = {"user": {"user": "si_analyst", "identity": {"user": "si_analyst", "groups": []}}}
    other = {"user": {"user": "mi_analyst", "identity": {"user": "mi_analyst", "groups": []}}}
    for operation in ("ViewQueryOwnedBy", "KillQueryOwnedBy"):
        assert allowed(policy, "si_analyst", operation, own)
        assert not allowed(policy, "si_analyst", operation, other)
    request = body("si_analyst", "FilterViewQueryOwnedBy", filter_resources=[other, own])
    assert batch(policy, parse_request(request)) == [1]


def test_session_properties(policy: OpaPolicy) -> None:
    time_limit = {"systemSessionProperty": {"name": "query_max_run_time"}}
    for user in ("si_analyst", SERVICE):
        assert allowed(policy, user, "SetSystemSessionProperty", time_limit)
        assert not allowed(policy, user, "SetSystemSessionProperty",
                           {"systemSessionProperty": {"name": "query_max_memory"}})
        assert not allowed(policy, user, "SetCatalogSessionProperty", {
            "catalogSessionProperty": {"catalogName": "public_security", "propertyName": "x"}})


@pytest.mark.parametrize("user", ["si_analyst", SERVICE])
def test_functions(policy: OpaPolicy, user: str) -> None:
    query = {"function": {"catalogName": "public_security", "schemaName": "system",
                          "functionName": "query"}}
    builtin = {"function": {"catalogName": "system", "schemaName": "builtin",
                            "functionName": "abs"}}
    assert not allowed(policy, user, "ExecuteFunction", query)
    assert allowed(policy, user, "ExecuteFunction", builtin)
    assert batch(policy, parse_request(body(user, "FilterFunctions",
                                            filter_resources=[query, builtin]))) == [1]


@pytest.mark.parametrize("operation", [
    "CreateTable", "DropTable", "InsertIntoTable", "DeleteFromTable", "TruncateTable",
    "UpdateTableColumns", "ShowCreateTable", "CreateView", "CreateViewWithSelectFromColumns",
    "ExecuteTableProcedure", "ExecuteProcedure", "ImpersonateUser", "ReadSystemInformation",
    "WriteSystemInformation", "CreateSchema", "RenameTable", "SetTableAuthorization",
    "ShowFunctions", "SomethingNewInTrino480",
])
@pytest.mark.parametrize("user", ["si_analyst", SERVICE])
def test_every_other_operation_is_denied(policy: OpaPolicy, user: str, operation: str) -> None:
    assert not allowed(policy, user, operation, table(RESIDENTS))
    assert not allowed(policy, user, operation)
    assert batch(policy, parse_request(body(user, operation,
                                            filter_resources=[table(RESIDENTS)]))) == []


def test_batched_filter_columns_takes_one_table(policy: OpaPolicy) -> None:
    two = body("si_analyst", "FilterColumns",
               filter_resources=[table(DEATHS, ["death_date"]), table(RESIDENTS, ["name"])])
    assert batch(policy, parse_request(two)) == []


def test_service_user_scope(policy: OpaPolicy) -> None:
    scope = policy.scope(SERVICE)
    assert scope.service and not policy.scope("si_analyst").service
    assert {n.catalog for n in scope.tables} == {t[0] for t in ALL_TABLES}
    assert not allowed(policy, SERVICE, "AccessCatalog", {"catalog": {"name": "system"}})


# ------------------------------------------------------------------------------------------------
# Requests that are not what the plugin sends
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    None, [], "x", {}, {"input": {}},
    {"input": {"context": {"identity": {"user": 3}}, "action": {"operation": "ExecuteQuery"}}},
    {"input": {"context": {"identity": {"user": "a"}}, "action": {}}},
    body("si_analyst", "FilterTables", filter_resources={"table": {}}),  # type: ignore[arg-type]
    body("si_analyst", "SelectFromColumns", {"table": {"catalogName": "x"}}),
    body("si_analyst", "SelectFromColumns", {"view": {"catalogName": "x"}}),
    body("si_analyst", "SelectFromColumns", table(DEATHS, "id_no")),  # type: ignore[arg-type]
])
def test_malformed_requests(payload: Any) -> None:
    with pytest.raises(OpaRequestError):
        parse_request(payload)


def test_a_mask_request_must_name_one_column(policy: OpaPolicy) -> None:
    request = body("si_analyst", "GetColumnMask", filter_resources=[table(DEATHS, ["id_no",
                                                                                   "region_code"])])
    with pytest.raises(OpaRequestError):
        column_masks(policy, parse_request(request))
    with pytest.raises(OpaRequestError):
        row_filters(policy, parse_request(body("si_analyst", "ExecuteQuery")))


# ------------------------------------------------------------------------------------------------
# The routes
# ------------------------------------------------------------------------------------------------


class Client:
    """Posts to the routes in-process, through httpx's ASGI transport on a private loop."""

    def __init__(self, app: FastAPI) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://trino-opa")

    def post(self, url: str, json: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(url, json=json))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture(scope="module")
def client(snapshot: CatalogSnapshot) -> Iterator[Client]:
    app = FastAPI()
    app.include_router(opa_router(lambda: snapshot, lambda: TODAY, SERVICE, lambda p: "k"))
    found = Client(app)
    yield found
    found.close()


def test_allow_route(client: Client) -> None:
    answer = client.post("/opa/v1/allow", json=body("si_analyst", "SelectFromColumns",
                                                    table(RESIDENTS, ["phone"])))
    assert answer.json() == {"result": True}
    denied = client.post("/opa/v1/allow", json=body("si_analyst", "SelectFromColumns",
                                                    table(DEATHS, ["id_no"])))
    assert denied.json() == {"result": False}


def test_batch_route(client: Client) -> None:
    request = body("mi_analyst", "FilterTables",
                   filter_resources=[table(PENSIONERS), table(HOSPITALIZATIONS)])
    assert client.post("/opa/v1/batch", json=request).json() == {"result": [1]}


def test_row_filters_route(client: Client) -> None:
    answer = client.post("/opa/v1/row-filters",
                         json=body("chengdu_si_analyst", "GetRowFilters", table(INSURED)))
    assert answer.json() == {"result": [{"expression": "\"region_code\" LIKE '5101%'"}]}


def test_column_masks_route(client: Client) -> None:
    request = body("si_analyst", "GetColumnMask", filter_resources=[
        column(RESIDENTS, "name", "varchar"), column(RESIDENTS, "phone", "varchar(11)")])
    assert client.post("/opa/v1/column-masks", json=request).json() == {"result": [
        {"index": 1, "viewExpression": {"expression": rendered("phone", "phone",
                                                               "varchar(11)")}}]}


@pytest.mark.parametrize(("route", "answer"), [
    ("/opa/v1/allow", {"result": False}),
    ("/opa/v1/batch", {"result": []}),
])
def test_malformed_requests_are_denied(client: Client, route: str,
                                       answer: dict[str, Any]) -> None:
    assert client.post(route, json={"input": {"action": {}}}).json() == answer
    assert client.post(route, json=[1, 2]).json() == answer


@pytest.mark.parametrize("route", ["/opa/v1/row-filters", "/opa/v1/column-masks"])
def test_malformed_filter_and_mask_requests_fail_the_query(client: Client,
                                                           route: str) -> None:
    assert client.post(route, json={"input": {"action": {}}}).status_code == 400


# ------------------------------------------------------------------------------------------------
# Trino's configuration
# ------------------------------------------------------------------------------------------------


def test_access_control_properties() -> None:
    files = render_opa_access_control("https://gateway.internal:8443/")
    assert files == {"access-control.properties": (
        "access-control.name=opa\n"
        "opa.policy.batch-column-masking-uri=https://gateway.internal:8443/opa/v1/column-masks\n"
        "opa.policy.batched-uri=https://gateway.internal:8443/opa/v1/batch\n"
        "opa.policy.row-filters-uri=https://gateway.internal:8443/opa/v1/row-filters\n"
        "opa.policy.uri=https://gateway.internal:8443/opa/v1/allow\n")}


@pytest.mark.parametrize("url", ["gateway:8080", "ftp://gateway", "http://gateway/?x=1",
                                 "http://gate way", "http://gateway\nopa.log-requests=true"])
def test_access_control_refuses_odd_urls(url: str) -> None:
    with pytest.raises(ValueError):
        render_opa_access_control(url)


def test_trino_names(snapshot: CatalogSnapshot) -> None:
    trips = snapshot.table("transport.public.trips")
    assert isinstance(trips, Table)
    assert TrinoName.of(trips) == TrinoName(*TRIPS)
