"""Policy as code before ``apply``: export round-trips, diff names exact changes, and a shadow run
names exactly which recorded statements a proposed policy would decide otherwise."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, timedelta, timezone
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from catalog.audit_store import AuditReader
from catalog.models import ALLOW, PolicyDocument
from catalog.policy_file import dump_policy, load_policy, parse_policy
from catalog.store import CatalogStore
from gateway.cli_policy import register_policy_commands
from gateway.demo.build import build_demo, demo_policy_path
from gateway.demo.walkthrough import scenario_sql
from gateway.errors import PolicyError
from gateway.policy.masks import MASKS
from gateway.policy_admin import (
    EntryChange,
    FieldChange,
    Recorded,
    ShadowReport,
    Verdict,
    compare,
    diff_policies,
    proposed_snapshot,
    read_statements,
    record_day,
    replay,
    shadow_run,
)
from gateway.service import Gateway

SCALE = 1500
SEED = 5

# ------------------------------------------------------------------------------------------------
# The proposal: drop G5 (si_analyst's trips) and let si_analyst see deaths.cause_category.
# ------------------------------------------------------------------------------------------------


def proposal(current: PolicyDocument) -> PolicyDocument:
    grants = []
    for grant in current.grants:
        if grant.id == "G5":
            continue
        if grant.id == "G3":
            grant = dataclasses.replace(grant, columns={**grant.columns, "cause_category": ALLOW})
        grants.append(grant)
    return dataclasses.replace(current, grants=tuple(grants))


# ------------------------------------------------------------------------------------------------
# A demo world with a recorded history
# ------------------------------------------------------------------------------------------------

TRIPS_COUNT = "SELECT count(*) AS n FROM transport.public.trips"
TRIPS_BY_MODE = "SELECT t.mode, count(*) AS n FROM transport.public.trips t GROUP BY t.mode"
CAUSES = ("SELECT d.cause_category, count(*) AS n FROM public_security.public.deaths d"
          " GROUP BY d.cause_category")
DEATH_DAYS = "SELECT d.death_date FROM public_security.public.deaths d"
DEATH_IDS = "SELECT d.id_no FROM public_security.public.deaths d"
RESIDENTS = "SELECT r.name, r.phone FROM public_security.public.residents r"
PENSIONERS = "SELECT count(*) AS n FROM social_security.public.pensioners"
TRIPS_BY_PARAMETER = "SELECT count(*) AS n FROM transport.public.trips t WHERE t.mode = ?"
SHORT_TRIPS = "SELECT count(*) AS n FROM trips"

#: (principal, statement, parameters, session catalog): the order they are run and recorded in.
HISTORY: tuple[tuple[str, str, tuple[str, ...], str | None], ...] = (
    ("si_analyst", TRIPS_COUNT, (), None),                 # allowed -> newly refused
    ("si_analyst", TRIPS_BY_MODE, (), None),               # allowed -> newly refused
    ("si_analyst", CAUSES, (), None),                      # refused -> newly allowed
    ("si_analyst", DEATH_DAYS, (), None),                  # allowed -> rewritten (G3's view)
    ("si_analyst", DEATH_IDS, (), None),                   # refused (match) -> unchanged
    ("si_analyst", RESIDENTS, (), None),                   # allowed -> unchanged
    ("chengdu_si_analyst", TRIPS_COUNT, (), None),         # G8.5 untouched -> unchanged
    ("chengdu_si_analyst", CAUSES, (), None),              # G8.3 untouched -> unchanged
    ("mi_analyst", PENSIONERS, (), None),                  # aggregate-only -> unchanged
    ("lapsed_analyst", RESIDENTS, (), None),               # expired -> unchanged
    ("si_analyst", scenario_sql("scenario2_verification"), (), None),  # -> newly refused
    ("si_analyst", TRIPS_BY_PARAMETER, ("rail",), None),   # parameters not logged
    ("lapsed_analyst", SHORT_TRIPS, (), "transport"),      # session catalog not logged
)


@dataclass(frozen=True)
class History:
    config: Path
    catalog: Path
    audit: Path


def record(gateway: Gateway, principal: str, sql: str, parameters: tuple[str, ...],
           catalog: str | None) -> None:
    try:
        execution = gateway.execute(principal, sql, parameters, catalog=catalog,
                                    schema="public" if catalog else None)
    except PolicyError:
        return
    for _ in execution.result.pages(1000):
        pass


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    data_dir = tmp_path_factory.mktemp("policy-admin")
    config = build_demo(data_dir, scale=SCALE, seed=SEED)
    gateway = Gateway.from_config(config)
    try:
        for principal, sql, parameters, catalog in HISTORY:
            record(gateway, principal, sql, parameters, catalog)
    finally:
        gateway.close()
    yield History(config, data_dir / "catalog.sqlite", data_dir / "audit.sqlite")


@pytest.fixture
def store(history: History) -> Iterator[CatalogStore]:
    with CatalogStore(history.catalog) as opened:
        yield opened


# ------------------------------------------------------------------------------------------------
# Export
# ------------------------------------------------------------------------------------------------


def test_export_round_trips_through_apply(store: CatalogStore, tmp_path: Path) -> None:
    exported = tmp_path / "policy.yaml"
    exported.write_text(dump_policy(store.export_policy()), encoding="utf-8")
    with CatalogStore(tmp_path / "copy.sqlite") as copy:
        for source in store.snapshot().sources:
            copy.register_source(source)
            copy.replace_tables(source.name, list(store.snapshot().tables_of(source.name)))
        copy.apply_policy(load_policy(exported, snapshot=copy.snapshot(),
                                      known_masks=MASKS.keys()))
        assert copy.export_policy() == store.export_policy()
        assert copy.snapshot().grants == store.snapshot().grants


def test_export_command_writes_what_apply_takes_back(history: History, store: CatalogStore,
                                                    tmp_path: Path) -> None:
    target = tmp_path / "exported.yaml"
    result = invoke("export", "--config", str(history.config), "-o", str(target))
    assert result.exit_code == 0, result.output
    exported = parse_policy(target.read_text(encoding="utf-8"), snapshot=store.snapshot(),
                            known_masks=MASKS.keys())
    assert exported == store.export_policy()
    assert invoke("export", "--config", str(history.config)).stdout.endswith(
        target.read_text(encoding="utf-8").split("\n", 1)[1])


# ------------------------------------------------------------------------------------------------
# Diff
# ------------------------------------------------------------------------------------------------


def test_diff_names_each_change(store: CatalogStore) -> None:
    current = store.export_policy()
    changes = diff_policies(current, proposal(current)).changes
    assert changes == (
        EntryChange("grants", "G3", "changed",
                    (FieldChange("columns.cause_category", "deny", "allow"),)),
        EntryChange("grants", "G5", "removed", (
            FieldChange("principal", "si_analyst", None),
            FieldChange("table", "transport.public.trips", None),
            FieldChange("purpose", "eligibility verification 待遇资格认证", None),
            FieldChange("columns.id_no", "match", None),
            FieldChange("columns.trip_id", "allow", None),
            FieldChange("columns.mode", "allow", None),
            FieldChange("columns.departed_at", "mask:date", None),
            FieldChange("columns.origin_code", "deny", None),
            FieldChange("columns.destination_code", "deny", None),
            FieldChange("valid_from", "2025-01-01", None),
            FieldChange("valid_until", "2027-12-31", None),
            FieldChange("approved_by", "transport_data_owner", None),
        )),
    )


def test_diff_of_principals_departments_and_annotations() -> None:
    current = load_policy(demo_policy_path())
    principals = tuple(dataclasses.replace(p, department="medical_insurance")
                       if p.name == "lapsed_analyst" else p for p in current.principals)
    departments = (*current.departments[:-1],)  # big_data_center dropped
    tables = (dataclasses.replace(current.tables[0], description="居民 residents"),
              *current.tables[1:])
    proposed = dataclasses.replace(current, principals=principals, departments=departments,
                                   tables=tables)
    assert diff_policies(current, proposed).changes == (
        EntryChange("departments", "big_data_center", "removed",
                    (FieldChange("title", "四川省大数据中心 Big Data Center", None),)),
        EntryChange("principals", "lapsed_analyst", "changed",
                    (FieldChange("department", "transport", "medical_insurance"),)),
        EntryChange("tables", "public_security.public.residents", "changed",
                    (FieldChange("description", "户籍人口信息 registered residents",
                                 "居民 residents"),)),
    )


def test_an_added_grant_lists_its_fields() -> None:
    current = load_policy(demo_policy_path())
    g13 = dataclasses.replace(current.grants[-1], id="G13", principal="mi_analyst",
                              row_filter=None, valid_from=None, valid_until=None)
    change = diff_policies(current, dataclasses.replace(
        current, grants=(*current.grants, g13))).changes
    assert [(c.name, c.change) for c in change] == [("G13", "added")]
    assert FieldChange("principal", None, "mi_analyst") in change[0].fields
    assert FieldChange("row_filter", None, None) not in change[0].fields


def test_no_diff_against_itself(store: CatalogStore) -> None:
    assert diff_policies(store.export_policy(), store.export_policy()).empty


def test_diff_command_exit_codes(history: History, store: CatalogStore,
                                 tmp_path: Path) -> None:
    same, changed = tmp_path / "same.yaml", tmp_path / "changed.yaml"
    same.write_text(dump_policy(store.export_policy()), encoding="utf-8")
    changed.write_text(dump_policy(proposal(store.export_policy())), encoding="utf-8")
    unchanged = invoke("diff", "--config", str(history.config), "-f", str(same))
    assert (unchanged.exit_code, unchanged.stdout) == (0, "no changes\n")
    found = invoke("diff", "--config", str(history.config), "-f", str(changed),
                   "--format", "json")
    assert found.exit_code == 3
    assert [(c["name"], c["change"]) for c in json.loads(found.stdout)] == [
        ("G3", "changed"), ("G5", "removed")]
    text = invoke("diff", "--config", str(history.config), "-f", str(changed)).stdout
    assert text.startswith("~ grant G3 changed\n    columns.cause_category: deny -> allow\n"
                           "- grant G5 removed\n    principal: si_analyst\n")


def test_diff_refuses_an_invalid_file(history: History, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ngrants:\n  - {id: G1, principal: ghost}\n", encoding="utf-8")
    result = invoke("diff", "--config", str(history.config), "-f", str(bad))
    assert result.exit_code == 1
    assert "rejected" in result.stderr


# ------------------------------------------------------------------------------------------------
# Shadow run
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def report(history: History, store: CatalogStore) -> ShadowReport:
    current = store.snapshot()
    proposed = proposed_snapshot(current, proposal(store.export_policy()))
    return shadow_run(read_statements(AuditReader(history.audit)), current, proposed)


def flipped(report: ShadowReport, outcome: str) -> list[tuple[str, str]]:
    return [(r.statement.principal, r.statement.sql) for r in report.replayed
            if r.outcome == outcome]


def test_every_recorded_statement_is_replayed(report: ShadowReport) -> None:
    assert [(s.principal, s.sql) for s in (r.statement for r in report.replayed)] == [
        (principal, sql) for principal, sql, _, _ in HISTORY]


def test_shadow_run_names_exactly_the_flipped_statements(report: ShadowReport) -> None:
    assert flipped(report, "newly-refused") == [
        ("si_analyst", TRIPS_COUNT),
        ("si_analyst", TRIPS_BY_MODE),
        ("si_analyst", scenario_sql("scenario2_verification")),
    ]
    assert flipped(report, "newly-allowed") == [("si_analyst", CAUSES)]
    assert flipped(report, "rewritten") == [("si_analyst", DEATH_DAYS)]
    assert flipped(report, "not-reproducible") == [
        ("si_analyst", TRIPS_BY_PARAMETER), ("lapsed_analyst", SHORT_TRIPS)]
    assert report.counts() == {"newly-refused": 3, "newly-allowed": 1, "rewritten": 1,
                               "unchanged": 6, "not-reproducible": 2}


def test_flips_carry_the_rule_and_the_grants(report: ShadowReport) -> None:
    refused = report.of("newly-refused")
    assert {(r.statement.decision, r.proposed.rule) for r in refused} == {
        ("allowed", "not-granted")}
    assert all("transport.public.trips" in r.proposed.reason for r in refused)
    (allowed,) = report.of("newly-allowed")
    assert (allowed.statement.rule, allowed.current.rule) == ("deny", "deny")
    assert allowed.proposed.grants == ("G3",)


def test_shadow_text_and_json(report: ShadowReport) -> None:
    text = report.text()
    assert text.count("newly-refused: #") == 3
    assert "13 statements replayed: 3 newly-refused, 1 newly-allowed" in text
    listed = report.as_json()["statements"]
    assert [s["outcome"] for s in listed] == [
        "newly-refused", "newly-refused", "newly-allowed", "rewritten", "newly-refused",
        "not-reproducible", "not-reproducible"]


def test_shadow_on_a_later_day_sees_expiries(history: History, store: CatalogStore) -> None:
    """Evaluated after 2027-12-31, G2-G7 have expired too: the comparison is then against the
    current policy on that day, so nothing recorded reproduces."""
    current = store.snapshot()
    later = shadow_run(read_statements(AuditReader(history.audit)), current,
                       proposed_snapshot(current, proposal(store.export_policy())),
                       on=date(2028, 1, 1))
    assert flipped(later, "newly-refused") == []
    assert ("si_analyst", TRIPS_COUNT) in flipped(later, "not-reproducible")


def test_shadow_command(history: History, store: CatalogStore, tmp_path: Path) -> None:
    before = store.version
    proposed = tmp_path / "proposed.yaml"
    proposed.write_text(dump_policy(proposal(store.export_policy())), encoding="utf-8")
    args = ("shadow", "--config", str(history.config), "-f", str(proposed))
    refused = invoke(*args, "--as", "si_analyst")
    assert refused.exit_code == 2
    found = invoke(*args, "--as", "auditor", "--format", "json")
    assert found.exit_code == 3, found.output
    assert json.loads(found.stdout)["counts"]["newly-refused"] == 3
    same = tmp_path / "same.yaml"
    same.write_text(dump_policy(store.export_policy()), encoding="utf-8")
    assert invoke("shadow", "--config", str(history.config), "-f", str(same),
                  "--as", "auditor").exit_code == 0
    assert store.version == before, "a shadow run applies nothing"


# ------------------------------------------------------------------------------------------------
# The pure parts
# ------------------------------------------------------------------------------------------------


def test_record_day_is_the_local_day_of_the_record() -> None:
    shanghai = timezone(timedelta(hours=8))
    assert record_day("2026-03-04T17:30:00.000000Z", shanghai) == date(2026, 3, 5)
    assert record_day("2026-03-04T17:30:00.000000Z", UTC) == date(2026, 3, 4)


def test_replay_decides_without_running(store: CatalogStore) -> None:
    snapshot = store.snapshot()
    assert replay(snapshot, "si_analyst", DEATH_IDS, date(2026, 6, 1)).rule == "match"
    assert replay(snapshot, "nobody", DEATH_DAYS, date(2026, 6, 1)).rule == "principal"
    assert replay(snapshot, "si_analyst", "SELEC", date(2026, 6, 1)).decision == "failed"
    allowed = replay(snapshot, "si_analyst", DEATH_DAYS, date(2026, 6, 1))
    assert (allowed.decision, allowed.grants) == ("allowed", ("G3",))


ALLOWED, REFUSED, FAILED = Verdict("allowed"), Verdict("refused"), Verdict("failed")


@pytest.mark.parametrize(("recorded", "current", "proposed", "outcome"), [
    ("allowed", ALLOWED, REFUSED, "newly-refused"),
    ("refused", REFUSED, ALLOWED, "newly-allowed"),
    ("refused", REFUSED, REFUSED, "unchanged"),
    ("allowed", ALLOWED, Verdict("allowed", rewritten="SELECT 2"), "rewritten"),
    ("allowed", REFUSED, REFUSED, "not-reproducible"),
    ("allowed", FAILED, FAILED, "not-reproducible"),
])
def test_compare(recorded: str, current: Verdict, proposed: Verdict, outcome: str) -> None:
    statement = Recorded(1, "", date(2026, 1, 1), "p", "SELECT 1", recorded)
    assert compare(statement, current, proposed) == outcome


# ------------------------------------------------------------------------------------------------


def invoke(*args: str) -> Result:
    app = typer.Typer()
    register_policy_commands(app)
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
