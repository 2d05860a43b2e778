"""The demo walkthrough: DEMO.md's scenarios and refusals, principal by principal.

``make demo`` runs it after building the world, so a new user sees in one screen what each
principal gets and why: masked, filtered, aggregated, or refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from rich.console import Console
from rich.table import Table as RichTable

from catalog.errors import ShuqiaoError
from gateway.output import json_value
from gateway.service import Gateway

SCENARIOS = {
    "scenario1_coverage": "Coverage expansion 参保扩面",
    "scenario2_verification": "Silent eligibility verification 寓认证于无形",
    "scenario3_fund_risk": "Fund-risk screening 防范基金风险",
}


def scenario_sql(name: str) -> str:
    """The documented SQL of a scenario, as shipped in ``gateway/demo/scenarios``."""
    return (resources.files("gateway.demo") / "scenarios" / f"{name}.sql").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Step:
    principal: str
    title: str
    sql: str


def steps() -> list[Step]:
    chengdu = (
        "SELECT p.region_code, count(*) AS pensioners, sum(p.monthly_amount) AS monthly_total\n"
        "FROM social_security.public.pensioners p GROUP BY p.region_code ORDER BY 1"
    )
    return [
        *(Step("si_analyst", title, scenario_sql(name)) for name, title in SCENARIOS.items()),
        Step("chengdu_si_analyst", "Chengdu analyst: the same table, only region 5101", chengdu),
        Step("mi_analyst", "Statistics on pensioners: aggregate-only, groups of at least 10",
             "SELECT p.pension_type, p.region_code, count(*) AS pensioners,\n"
             "       avg(p.monthly_amount) AS avg_amount\n"
             "FROM social_security.public.pensioners p GROUP BY 1, 2 ORDER BY 1, 2"),
        Step("mi_analyst", "…but never row by row",
             "SELECT p.region_code, p.monthly_amount FROM social_security.public.pensioners p"),
        Step("si_analyst", "Match columns join, but are never shown",
             "SELECT d.id_no, d.death_date FROM public_security.public.deaths d"),
        Step("lapsed_analyst", "A grant that expired",
             "SELECT r.name FROM public_security.public.residents r"),
        Step("auditor", "No data grants at all",
             "SELECT count(*) FROM social_security.public.pensioners"),
        Step("admin", "Admins register sources; they read no data",
             "SELECT r.name FROM public_security.public.residents r"),
    ]


def run_walkthrough(gateway: Gateway, console: Console, *, preview_rows: int = 5) -> None:
    for step in steps():
        console.rule(f"[bold]{step.principal}[/]: {step.title}")
        shown = "\n".join(ln for ln in step.sql.strip().splitlines() if not ln.startswith("--"))
        console.print(shown, markup=False, style="dim", soft_wrap=True)
        try:
            execution = gateway.execute(step.principal, step.sql)
            rows = [r for page in execution.result.pages(10_000) for r in page]
        except ShuqiaoError as error:
            console.print(f"refused: {error}", markup=False, style="red")
            continue
        table = RichTable(*(c.name for c in execution.result.columns))
        for row in rows[:preview_rows]:
            table.add_row(*("NULL" if v is None else str(json_value(v)) for v in row))
        console.print(table)
        console.print(f"{len(rows)} rows; purposes: {', '.join(execution.plan.decision.purposes)}")
