"""Department scorecards from real events: requests made and answered, probes of the real
SQLite sources, statements executed through the gateway. Every figure is exact."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import generate_latest

from catalog.policy_file import parse_policy
from gateway.approval import RequestForm
from gateway.errors import ColumnDenied
from gateway.governance import export_scorecards
from gateway.scorecards import Scorecard

from .conftest import START, World

RESIDENTS = "public_security.public.residents"
DEATHS = "public_security.public.deaths"
UNTIL = date(2026, 6, 30)

#: How old each department's data is (its SQLite file's modification time) at START.
AGES = {
    "public_security": timedelta(hours=2),     # daily resources: fresh
    "medical_insurance": timedelta(hours=1),   # daily: fresh
    "transport": timedelta(hours=3),           # realtime: stale
    "social_security": timedelta(days=40),     # daily and monthly: stale
    "justice": timedelta(days=8),              # weekly: stale
    "disabled_persons": timedelta(days=20),    # monthly: fresh
}

#: Deaths loses two of its four column descriptions: 10 of public security's 12 items documented.
LESS_DOCUMENTED = """\
version: 1
tables:
  public_security.public.deaths:
    description: 死亡登记 death registrations
    columns:
      id_no: {classification: sensitive-personal, description: 居民身份证号码}
      death_date: {classification: sensitive-personal, description: 死亡日期}
"""


def ask(table: str, *columns: str) -> RequestForm:
    return RequestForm(table, columns, "verification 资格核查", UNTIL, legal_basis="依职责核查")


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


def age_sources(world: World) -> None:
    for source, age in AGES.items():
        moment = (START - age).timestamp()
        os.utime(world.data_dir / f"{source}.sqlite", (moment, moment))


def probe_with_justice_down(world: World) -> None:
    """Three rounds: all answer; justice's file is gone; justice alone answers again."""
    assert all(h.reachable for h in world.gov.probe_sources())
    world.clock.set(at(2, 10))
    justice = world.data_dir / "justice.sqlite"
    justice.rename(justice.with_suffix(".moved"))
    try:
        down = {h.source: h.reachable for h in world.gov.probe_sources()}
    finally:
        justice.with_suffix(".moved").rename(justice)
    assert [s for s, ok in down.items() if not ok] == ["justice"]
    world.clock.set(at(2, 11))
    [again] = world.gov.probe_sources(["justice"])
    assert again.reachable


def make_requests_and_statements(world: World) -> None:
    gov = world.gov
    world.clock.set(at(2, 9))
    gov.request("mi_analyst", ask(RESIDENTS, "gender", "status"))          # R-0001
    gov.request("lapsed_analyst", ask(DEATHS, "id_no"))                     # R-0002
    gov.request("tr_owner", ask(RESIDENTS, "gender"))                       # R-0003, lapses
    gov.request("mi_analyst", ask("51-SI-0001", "insurance_type"))          # R-0004, at once
    gov.request("mi_analyst", ask("51-JU-0001", "start_date"))              # R-0005, refused
    world.clock.set(at(3, 10))
    gov.reject("R-0002", "ps_owner", "与交通运输职责无关")                    # 1 working day
    world.clock.set(at(4, 10))
    gov.approve("R-0001", "ps_owner")                                       # 2 working days
    world.rows("mi_analyst", f"SELECT count(*) FROM {RESIDENTS}")
    world.rows("mi_analyst", f"SELECT gender, count(*) FROM {RESIDENTS} GROUP BY gender")
    with pytest.raises(ColumnDenied):
        world.rows("mi_analyst", f"SELECT name FROM {RESIDENTS}")           # refused: not served
    world.rows("si_analyst", f"SELECT count(*) FROM {RESIDENTS} r JOIN {DEATHS} d"
                             " ON r.id_no = d.id_no")                       # one statement
    world.rows("si_analyst", "SELECT count(*) FROM social_security.public.insured")  # own data
    world.rows("mi_analyst", "SELECT insurance_type, count(*)"
                             " FROM social_security.public.insured GROUP BY 1")
    world.clock.set(at(5, 10))
    gov.request("dp_owner", ask(DEATHS, "death_date"))                      # R-0006
    world.clock.set(at(11, 10))  # Friday 6 is a holiday: Mon 9, Tue 10, Wed 11
    gov.approve("R-0006", "ps_owner")                                       # 3 working days


@pytest.fixture
def cards(world: World) -> dict[str, Scorecard]:
    doc = parse_policy(LESS_DOCUMENTED, partial=True)
    world.gateway.store.apply_policy(doc, replace=False)
    age_sources(world)
    probe_with_justice_down(world)
    make_requests_and_statements(world)
    found = world.gov.scorecards(since=at(1, 0), until=at(12, 0))
    return {c.department: c for c in found}


def figures(card: Scorecard) -> dict[str, object]:
    found = card.as_json()
    for key in ("department", "title", "since", "until", "deadline_days", "documented_share",
                "availability", "fresh_share"):
        found.pop(key)
    return found


def test_public_security(cards: dict[str, Scorecard]) -> None:
    card = cards["public_security"]
    assert figures(card) == {
        "tables": 2, "resources": 2, "items": 12, "items_documented": 10,
        "probes": 2, "probes_ok": 2, "resources_fresh": 2,
        "requests_received": 4, "requests_answered": 3, "requests_approved": 2,
        "requests_rejected": 1, "requests_lapsed": 1, "median_response_days": 2.0,
        "statements_served": 3,
    }
    assert (card.documented_share, card.availability, card.fresh_share) == (10 / 12, 1.0, 1.0)
    assert card.deadline_days == 5


def test_every_department(cards: dict[str, Scorecard]) -> None:
    table = {name: (c.resources, c.items_documented, c.items, c.probes_ok, c.probes,
                    c.resources_fresh, c.requests_received, c.requests_answered,
                    c.requests_approved, c.median_response_days, c.statements_served)
             for name, c in cards.items()}
    assert table == {
        "public_security": (2, 10, 12, 2, 2, 2, 4, 3, 2, 2.0, 3),
        "social_security": (3, 18, 18, 2, 2, 0, 1, 1, 1, None, 1),
        "medical_insurance": (1, 7, 7, 2, 2, 1, 0, 0, 0, None, 0),
        "transport": (1, 6, 6, 2, 2, 0, 0, 0, 0, None, 0),
        "justice": (1, 4, 4, 2, 3, 0, 1, 1, 0, None, 0),
        "disabled_persons": (1, 4, 4, 2, 2, 1, 0, 0, 0, None, 0),
    }
    assert cards["justice"].availability == pytest.approx(2 / 3)


def test_a_period_counts_only_what_happened_in_it(cards: dict[str, Scorecard],
                                                  world: World) -> None:
    found = {c.department: c for c in world.gov.scorecards(since=at(2, 10) + timedelta(
        minutes=30), until=at(3, 0))}
    assert (found["justice"].probes, found["justice"].probes_ok) == (1, 1)
    assert found["public_security"].probes == 0
    assert found["public_security"].availability is None
    assert found["public_security"].requests_received == 0
    assert found["public_security"].statements_served == 0
    [only] = world.gov.scorecards(since=at(4, 0), until=at(5, 0), department="social_security")
    assert (only.statements_served, only.requests_received) == (1, 0)


def test_scorecards_are_exported_as_gauges(cards: dict[str, Scorecard], world: World) -> None:
    registry = world.gateway.metrics.registry
    export_scorecards(registry, list(cards.values()))
    export_scorecards(registry, list(cards.values()))  # registered once, updated after
    text = generate_latest(registry).decode()
    assert ('shuqiao_department_requests{department="public_security",outcome="received"} 4.0'
            in text)
    assert ('shuqiao_department_requests{department="public_security",outcome="lapsed"} 1.0'
            in text)
    assert 'shuqiao_department_statements_served{department="public_security"} 3.0' in text
    assert ('shuqiao_department_response_working_days{department="public_security"} 2.0'
            in text)
    assert ('shuqiao_department_source_availability_ratio{department="justice"}'
            ' 0.6666666666666666' in text)
    assert 'shuqiao_department_response_working_days{department="justice"}' not in text
