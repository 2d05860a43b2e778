"""Policy views do not cost the departments their indexes: Trino's plan for the rewritten
scenarios still pushes the row filter and the scenarios' date predicates into the PostgreSQL
table scans, through the derived tables the rewrite adds."""

from __future__ import annotations

import re

import pytest

from gateway.demo.walkthrough import scenario_sql
from gateway.service import Gateway

pytestmark = pytest.mark.services


def scans(gateway: Gateway, scenario: str) -> dict[str, str]:
    """Each table scan line of Trino's EXPLAIN for the scenario as the gateway rewrites it."""
    plan = gateway.plan("si_analyst", scenario_sql(scenario))
    sql = plan.statement(gateway.target("si_analyst", "trino"))
    result = gateway.trino().execute(f"EXPLAIN {sql}")
    text = "\n".join(str(row[0]) for page in result.pages(100) for row in page)
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = re.search(r"(?:TableScan|ScanFilterProject|ScanFilter|ScanProject)\["
                          r"table = (\w+):(\w+)\.(\w+)", line)
        if match:
            found[f"{match[1]}.{match[3]}"] = found.get(f"{match[1]}.{match[3]}", "") + line
    return found


def test_row_filter_and_age_limit_reach_the_residents_scan(real_gateway: Gateway) -> None:
    residents = scans(real_gateway, "scenario1_coverage")["public_security.residents"]
    constraint = residents.split("constraint on [", 1)[1].split("]", 1)[0]
    assert "status" in constraint and "birth_date" in constraint
    # The G2 row filter's LIKE is sent to PostgreSQL as a parameterised predicate.
    assert re.search(r'"hukou_region_code"\) LIKE', residents)


def test_date_window_reaches_the_hospitalization_scan(real_gateway: Gateway) -> None:
    hospital = scans(real_gateway, "scenario2_verification")[
        "medical_insurance.hospitalizations"]
    assert "constraint on [" in hospital
    assert "admitted_on" in hospital.split("constraint on [", 1)[1].split("]", 1)[0]


def test_date_window_on_a_masked_column_reaches_the_trips_scan(real_gateway: Gateway) -> None:
    # trips.departed_at is masked to its date (G5); the mask is a plain cast Trino sees
    # through, so the window becomes a range on the raw column, applied by MariaDB.
    trips = scans(real_gateway, "scenario2_verification")["transport.trips"]
    assert "constraint on [" in trips
    assert "departed_at" in trips.split("constraint on [", 1)[1].split("]", 1)[0]
