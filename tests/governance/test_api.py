"""The catalogue's metadata tables and the governance API, over a real demo world."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from gateway.catalogue import CATALOGUE_TABLES, ITEM_COLUMNS, item_rows, resource_rows
from gateway.server.governance_routes import governance_router

from .conftest import World

RESIDENTS = "public_security.public.residents"


# -- metadata tables -----------------------------------------------------------------------------


def test_resource_rows_list_every_entry_with_its_share_class(world: World) -> None:
    columns, rows = resource_rows(world.gov)
    names = [name for name, _ in columns]
    assert len(rows) == 9
    by_code = {row[0]: dict(zip(names, row, strict=True)) for row in rows}
    residents = by_code["51-PS-0001"]
    assert (residents["table_catalog"], residents["table_schema"], residents["table_name"]) == (
        "public_security", "public", "residents")
    assert (residents["share_class"], residents["share_class_title"]) == ("conditional",
                                                                         "有条件共享")
    assert residents["department_title"] == "四川省公安厅 Public Security"
    assert residents["items"] == 8
    assert by_code["51-JU-0001"]["share_class_title"] == "不予共享"


def test_item_rows_describe_columns_never_data(world: World) -> None:
    columns, rows = item_rows(world.gov.catalogue(), "51-PS-0001")
    assert columns == ITEM_COLUMNS
    assert [(r[4], r[5], r[9]) for r in rows] == [
        (1, "id_no", "allow"), (2, "name", "allow"), (3, "gender", "allow"),
        (4, "birth_date", "allow"), (5, "hukou_region_code", "allow"),
        (6, "address", "mask:address_district"), (7, "phone", "mask:phone"),
        (8, "status", "allow")]
    assert rows[0][7:9] == ("sensitive-personal", "居民身份证号码 resident identity number")


@pytest.mark.parametrize(("query", "codes"), [
    ("户籍", ["51-PS-0001"]),
    ("无条件共享", ["51-SI-0001"]),
    ("养老金 每月", ["51-SI-0002", "51-SI-0003"]),
    ("DIAGNOSIS_CODE", ["51-MI-0001"]),
    ("nothing-like-this", []),
])
def test_search_matches_every_word(world: World, query: str, codes: list[str]) -> None:
    _, rows = CATALOGUE_TABLES["shuqiao.catalogue.resources"](world.gov, query)
    assert [r[0] for r in rows] == codes


# -- HTTP ----------------------------------------------------------------------------------------


class Api:
    def __init__(self, world: World) -> None:
        def caller(request: Request) -> str:
            return request.headers.get("X-Principal", "")

        app = FastAPI()
        app.include_router(governance_router(world.gov, caller))
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                        base_url="http://testserver")

    def call(self, method: str, url: str, who: str, body: dict[str, Any] | None = None,
             status: int = 200) -> Any:
        sent = self.client.request(method, url, headers={"X-Principal": who}, json=body)
        response = self.loop.run_until_complete(sent)
        assert response.status_code == status, response.text
        return response.json()

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def api(world: World) -> Iterator[Api]:
    client = Api(world)
    yield client
    client.close()


ASK = {"table": RESIDENTS, "columns": ["gender", "status", "phone"],
       "purpose": "medical assistance", "valid_until": "2026-06-30",
       "legal_basis": "《社会救助暂行办法》"}


def test_every_principal_browses_the_catalogue(api: Api) -> None:
    listed = api.call("GET", "/api/v1/resources?q=出行", "lapsed_analyst")
    assert [r["code"] for r in listed["resources"]] == ["51-TR-0001"]
    assert "items" not in listed["resources"][0]
    shown = api.call("GET", "/api/v1/resources/51-TR-0001", "auditor")
    assert [i["default_action"] for i in shown["items"]] == [
        "allow", "allow", "allow", "mask:date", "deny", "deny"]
    api.call("GET", "/api/v1/resources/51-XX-0001", "auditor", status=404)
    api.call("GET", "/api/v1/resources", "stranger", status=403)
    assert api.call("GET", "/api/v1/resources?department=social_security",
                    "admin")["count"] == 3


def test_the_request_cycle_over_http(api: Api, world: World) -> None:
    created = api.call("POST", "/api/v1/requests", "mi_analyst", ASK, status=201)
    assert (created["id"], created["status"], created["deadline"]) == (
        "R-0001", "pending", "2026-03-10")
    api.call("POST", "/api/v1/requests", "mi_analyst", ASK, status=409)
    api.call("POST", "/api/v1/requests/R-0001/approve", "si_owner", {}, status=403)
    api.call("POST", "/api/v1/requests/R-0001/approve", "ps_owner",
             {"columns": ["name"]}, status=422)
    approved = api.call("POST", "/api/v1/requests/R-0001/approve", "ps_owner",
                        {"columns": ["gender", "status"], "valid_until": "2026-05-31"})
    assert approved["granted"]["columns"] == ["gender", "status"]
    assert approved["grant"] == "R-0001"
    api.call("POST", "/api/v1/requests/R-0001/reject", "ps_owner", {"reason": "x"}, status=409)
    assert world.rows("mi_analyst", f"SELECT count(DISTINCT gender) FROM {RESIDENTS}") == [(2,)]

    mine = api.call("GET", "/api/v1/grants", "mi_analyst")
    assert [g["id"] for g in mine["grants"]] == ["R-0001"]
    assert api.call("GET", "/api/v1/grants", "tr_owner")["count"] == 0
    revoked = api.call("POST", "/api/v1/grants/R-0001/revoke", "ps_owner", {"reason": "done"})
    assert revoked["state"] == "revoked"
    assert api.call("GET", "/api/v1/requests/R-0001", "mi_analyst")["status"] == "approved"
    api.call("GET", "/api/v1/requests/R-0001", "lapsed_analyst", status=404)


def test_rejecting_and_withdrawing_over_http(api: Api) -> None:
    api.call("POST", "/api/v1/requests", "mi_analyst", ASK, status=201)
    api.call("POST", "/api/v1/requests/R-0001/reject", "ps_owner", {"reason": " "}, status=422)
    rejected = api.call("POST", "/api/v1/requests/R-0001/reject", "ps_owner",
                        {"reason": "超出职责范围"})
    assert (rejected["status"], rejected["reason"]) == ("rejected", "超出职责范围")
    api.call("POST", "/api/v1/requests", "lapsed_analyst", ASK, status=201)
    api.call("DELETE", "/api/v1/requests/R-0002", "mi_analyst", status=403)
    assert api.call("DELETE", "/api/v1/requests/R-0002", "lapsed_analyst")["status"] == (
        "withdrawn")
    listed = api.call("GET", "/api/v1/requests?status=rejected", "ps_owner")
    assert [r["id"] for r in listed["requests"]] == ["R-0001"]


def test_refusals_and_scorecards_over_http(api: Api, world: World) -> None:
    ask = {**ASK, "table": "51-JU-0001", "columns": ["start_date"]}
    refused = api.call("POST", "/api/v1/requests", "mi_analyst", ask, status=201)
    assert refused["status"] == "refused" and "不予共享" in refused["reason"]
    world.clock.advance(minutes=1)  # the default period ends now, exclusive
    cards = api.call("GET", "/api/v1/scorecards?department=justice", "si_analyst")
    [card] = cards["scorecards"]
    assert (card["department"], card["requests_received"], card["requests_answered"]) == (
        "justice", 1, 1)
    everyone = api.call("GET", "/api/v1/scorecards", "auditor")
    assert [c["department"] for c in everyone["scorecards"]] == [
        "public_security", "social_security", "medical_insurance", "transport", "justice",
        "disabled_persons"]
