"""The JSON API (/api/v1) as its OpenAPI schema describes it, probed by schemathesis with
generated requests as an auditor, an analyst and a data owner: no request gets a 5xx."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import Live

PRINCIPALS = ("auditor", "si_analyst", "si_owner")


@pytest.fixture(scope="module")
def api_schema(live: Live) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")


def test_the_json_api_is_documented(live: Live) -> None:
    document = httpx.get(f"{live.url}/api/v1/openapi.json").json()
    paths = set(document["paths"])
    assert paths and all(p.startswith("/api/v1/") for p in paths)
    assert any(p.startswith("/api/v1/audit") for p in paths)
    assert any(p.startswith("/api/v1/resources") for p in paths)


def test_no_generated_request_gets_a_server_error(api_schema: schemathesis.BaseSchema,
                                                  live: Live) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def probe(case: schemathesis.Case) -> None:
            for principal in PRINCIPALS:
                response = case.call(base_url=live.url, headers={"X-Trino-User": principal})
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} as {principal}: "
                                    f"{response.status_code}")

        probe()
    assert failures == []
