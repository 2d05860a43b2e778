"""DEMO.md's scenarios and refusals through ``shuqiao query``, the way an analyst runs them.

Results are checked against the generator's ground truth (recall and precision, not "some
rows") and, for the filtered and aggregate-only principals, against the raw SQLite files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import DemoWorld

from gateway.demo.walkthrough import scenario_sql

SHUQIAO = [sys.executable, "-m", "gateway.cli"]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def rows(self) -> list[dict[str, Any]]:
        document = json.loads(self.stdout)
        names = [c["name"] for c in document["columns"]]
        return [dict(zip(names, row, strict=True)) for row in document["rows"]]


def shuqiao_query(config: Path, principal: str, sql: str) -> Run:
    done = subprocess.run(
        [*SHUQIAO, "query", "--config", str(config), "--as", principal, "--format", "json", "--",
         sql],
        capture_output=True, text=True, timeout=120, check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def scenario_runs(demo_world: DemoWorld) -> dict[str, Run]:
    names = ("scenario1_coverage", "scenario2_verification", "scenario3_fund_risk")
    return {n: shuqiao_query(demo_world.config, "si_analyst", scenario_sql(n)) for n in names}


def test_scenario1_finds_exactly_the_uninsured(scenario_runs: dict[str, Run],
                                               demo_world: DemoWorld) -> None:
    run = scenario_runs["scenario1_coverage"]
    assert run.code == 0, run.stderr
    rows = run.rows
    truth = demo_world.truth
    assert sorted(r["id_no"] for r in rows) == truth.uninsured
    assert sorted(r["id_no"] for r in rows if r["disabled"]) == truth.disabled_uninsured
    per_region = Counter(r["hukou_region_code"] for r in rows)
    assert all(r["uninsured_in_region"] == per_region[r["hukou_region_code"]] for r in rows)
    # The outreach list carries the masked phone only.
    assert all(r["phone"] is None or r["phone"][3:7] == "****" for r in rows)


def test_scenario2_marks_exactly_the_verified(scenario_runs: dict[str, Run],
                                              demo_world: DemoWorld) -> None:
    run = scenario_runs["scenario2_verification"]
    assert run.code == 0, run.stderr
    rows = run.rows
    verified = {r["id_no"]: r["last_seen"] for r in rows if r["verified"]}
    assert verified == demo_world.truth.verified
    assert sorted(r["id_no"] for r in rows if not r["verified"]) == demo_world.truth.unverified


def test_scenario3_finds_exactly_the_planted_fraud(scenario_runs: dict[str, Run],
                                                   demo_world: DemoWorld) -> None:
    run = scenario_runs["scenario3_fund_risk"]
    assert run.code == 0, run.stderr
    deceased = {r["id_no"]: {"months": r["months"], "overpaid": r["amount"]}
                for r in run.rows if r["reason"] == "deceased"}
    jailed = {r["id_no"]: {"months": r["months"], "amount": r["amount"]}
              for r in run.rows if r["reason"] == "incarcerated"}
    assert deceased == demo_world.truth.deceased_paid
    assert jailed == demo_world.truth.incarcerated_paid
    assert deceased and jailed


def test_chengdu_analyst_sees_only_chengdu(demo_world: DemoWorld) -> None:
    run = shuqiao_query(demo_world.config, "chengdu_si_analyst",
                        scenario_sql("scenario2_verification"))
    assert run.code == 0, run.stderr
    with demo_world.raw("social_security") as raw:
        chengdu = {r[0] for r in raw.execute(
            "SELECT id_no FROM pensioners WHERE region_code LIKE '5101%'")}
    assert {r["id_no"] for r in run.rows} == chengdu
    assert chengdu and all(r["region_code"].startswith("5101") for r in run.rows)


def test_mi_analyst_gets_only_groups_of_ten_or_more(demo_world: DemoWorld) -> None:
    sql = ("SELECT p.region_code, p.pension_type, count(*) AS n FROM "
           "social_security.public.pensioners p GROUP BY p.region_code, p.pension_type")
    run = shuqiao_query(demo_world.config, "mi_analyst", sql)
    assert run.code == 0, run.stderr
    with demo_world.raw("social_security") as raw:
        sizes = {(r[0], r[1]): r[2] for r in raw.execute(
            "SELECT region_code, pension_type, count(DISTINCT id_no) FROM pensioners "
            "GROUP BY 1, 2")}
    returned = {(r["region_code"], r["pension_type"]) for r in run.rows}
    assert returned == {k for k, n in sizes.items() if n >= 10}
    assert any(n < 10 for n in sizes.values()), "the world must have small groups to hide"


@pytest.mark.parametrize(("principal", "sql", "needle"), [
    ("lapsed_analyst", "SELECT r.name FROM public_security.public.residents r", "2025-12-31"),
    ("auditor", "SELECT count(*) FROM social_security.public.pensioners p", "not granted"),
    ("admin", "SELECT r.name FROM public_security.public.residents r", "not granted"),
    ("mi_analyst", "SELECT p.name FROM social_security.public.pensioners p", "name"),
])
def test_refusals_exit_2_with_the_reason(demo_world: DemoWorld, principal: str, sql: str,
                                         needle: str) -> None:
    run = shuqiao_query(demo_world.config, principal, sql)
    assert run.code == 2
    assert run.stdout == ""
    assert needle in run.stderr


def test_other_errors_exit_1(demo_world: DemoWorld, tmp_path: Path) -> None:
    assert shuqiao_query(demo_world.config, "si_analyst", "SELEC 1").code == 1
    assert shuqiao_query(tmp_path / "missing.toml", "si_analyst", "SELECT 1").code == 1


def test_explain_shows_columns_actions_and_rewritten_sql(demo_world: DemoWorld) -> None:
    sql = ("SELECT r.name, r.phone FROM public_security.public.residents r "
           "WHERE r.hukou_region_code = '510104'")
    done = subprocess.run(
        [*SHUQIAO, "explain", "--config", str(demo_world.config), "--as", "si_analyst",
         "--format", "json", "--", sql],
        capture_output=True, text=True, timeout=60, check=True,
    )
    report = json.loads(done.stdout)
    assert report["decision"] == "allowed"
    uses = {(u["clause"], u["column"], u["action"], u["grant"]) for u in report["columns"]}
    assert ("select", "phone", "mask:phone", "G2") in uses
    assert ("where", "hukou_region_code", "allow", "G2") in uses
    assert set(report["rewritten"]) == {"duckdb", "trino"}
    assert "LIKE '51%'" in report["rewritten"]["trino"]


def test_explain_of_a_refusal_exits_2(demo_world: DemoWorld) -> None:
    done = subprocess.run(
        [*SHUQIAO, "explain", "--config", str(demo_world.config), "--as", "lapsed_analyst",
         "--", "SELECT r.name FROM public_security.public.residents r"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 2
    assert "decision: refused" in done.stdout and "G12" in done.stdout
