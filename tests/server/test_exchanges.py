"""Captured exchanges, replayed.

``fixtures/server/exchanges/*.json`` are requests real clients sent to this service (the Trino
Python client 0.340, the Trino 476 CLI and JDBC driver) over the ``demo_world`` fixture's world
(4,000 residents, seed 7), with the responses they got, recorded by an ASGI middleware around
``create_app``. Replaying each request (following our own ``nextUri``) must give the same
responses, up to query ids, slugs and timings.

``fixtures/server/trino476_reference.json`` holds what a real Trino 476 server answered to
session statements and errors; our documents must have the same shape and session headers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from requests.structures import CaseInsensitiveDict
from trino.client import get_prepared_statement_values

from .conftest import FIXTURES, Service, final, load_fixture

EXCHANGES = sorted((FIXTURES / "exchanges").glob("*.json"))
REFERENCE = load_fixture("trino476_reference.json")
NEXT_URI = re.compile(r"^.*/v1/statement/executing/[^/]+/[^/]+/(\d+)$")
TIMINGS = ("elapsedTimeMillis", "wallTimeMillis")


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what differs between runs: ids, hosts, slugs and timings."""
    copy = dict(document)
    copy["id"] = "<id>"
    copy["infoUri"] = "<info>"
    if "nextUri" in copy:
        copy["nextUri"] = NEXT_URI.sub(r"<next>/\1", copy["nextUri"])
    copy["stats"] = {k: 0 if k in TIMINGS else v for k, v in copy["stats"].items()}
    return copy


def trino_headers(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-trino-")}


@pytest.mark.parametrize("path", EXCHANGES, ids=[p.stem for p in EXCHANGES])
def test_replayed_exchanges_get_the_captured_answers(service: Service, path: Path) -> None:
    exchange = load_fixture(f"exchanges/{path.name}")
    next_uri = ""
    for step in exchange["steps"]:
        request, expected = step["request"], step["response"]
        url = request["path"] if request["method"] == "POST" else next_uri
        got = service.request(request["method"], url, headers=request["headers"],
                              content=request["body"])
        assert got.status_code == expected["status"]
        assert trino_headers(dict(got.headers)) == trino_headers(expected["headers"])
        assert normalised(got.json()) == normalised(expected["body"])
        next_uri = got.json().get("nextUri", "")


def test_every_exchange_was_captured_from_a_real_client() -> None:
    clients = {load_fixture(f"exchanges/{p.name}")["client"].split("/")[0] for p in EXCHANGES}
    assert clients == {"Trino Python Client", "trino-cli", "Trino JDBC Driver"}


# --- the shape of Trino 476's own answers ---------------------------------------------------


def test_result_documents_have_trinos_keys(service: Service) -> None:
    ours = final(service.statement("SELECT 1 AS a"))
    reference = REFERENCE["values_parametric"]
    assert set(reference["document_keys"]) <= set(ours) | {"data"}
    assert set(reference["stats_keys"]) - {"rootStage"} <= set(ours["stats"])


def test_error_documents_have_trinos_shape(service: Service) -> None:
    ours = final(service.statement("SELECT d.cause_category FROM public_security.public.deaths d"))
    reference = REFERENCE["denied"]["error"]
    assert ours["error"]["errorName"] == reference["errorName"] == "PERMISSION_DENIED"
    assert ours["error"]["errorCode"] == reference["errorCode"]
    assert ours["error"]["errorType"] == reference["errorType"]
    assert set(reference) <= set(ours["error"])
    assert set(reference["failureInfo"]) <= set(ours["error"]["failureInfo"])
    assert ours["error"]["failureInfo"]["errorInfo"] == reference["failureInfo"]["errorInfo"]


def test_use_answers_like_trino(service: Service) -> None:
    responses = service.statement("USE justice.public")
    reference = REFERENCE["use"]
    assert trino_headers(dict(responses[-1].headers)) == {
        "x-trino-set-catalog": "justice", "x-trino-set-schema": "public"}
    assert set(trino_headers(reference["response_headers"])) == set(
        trino_headers(dict(responses[-1].headers)))
    assert final(responses)["updateType"] == reference["updateType"] == "USE"
    assert set(final(responses)) == set(reference["document_keys"])


def test_added_prepare_is_encoded_like_trino(service: Service) -> None:
    sql = "SELECT ? AS x, 'a,b' AS y"
    header = service.statement(f"PREPARE q1 FROM {sql}")[-1].headers["x-trino-added-prepare"]
    reference = REFERENCE["prepare"]["response_headers"]["x-trino-added-prepare"]
    for value in (header, reference):
        # The Python client splits on commas before decoding: a comma must stay encoded.
        parsed = get_prepared_statement_values(
            CaseInsensitiveDict({"X-Trino-Added-Prepare": value}), "X-Trino-Added-Prepare")
        assert [name for name, _ in parsed] == ["q1"]
    assert unquote_plus(header.split("=", 1)[1]) == sql


def test_an_unknown_prepared_statement_reads_like_trino(service: Service) -> None:
    ours = final(service.statement("DEALLOCATE PREPARE q1"))["error"]
    reference = REFERENCE["deallocate_unknown"]["error"]
    for key in ("message", "errorName", "errorCode", "errorType"):
        assert ours[key] == reference[key]
