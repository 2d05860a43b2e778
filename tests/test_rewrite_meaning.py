"""Wherever the policy lets a query keep its meaning, the rewritten statement returns exactly
what the original returns over the raw department files (both run in DuckDB)."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest
import sqlglot
from conftest import DemoWorld
from sqlglot import exp

from gateway.demo.walkthrough import scenario_sql
from gateway.service import Gateway

PRESERVED = [
    ("si_analyst", "SELECT p.region_code, count(*) AS n, sum(p.monthly_amount) AS total "
                   "FROM social_security.public.pensioners p GROUP BY 1"),
    ("si_analyst", "SELECT p.id_no, p.name FROM social_security.public.pensioners p "
                   "JOIN social_security.public.insured i ON i.id_no = p.id_no "
                   "WHERE i.status = 'active' AND i.insurance_type = 'employee_pension'"),
    ("si_analyst", "SELECT pay.pay_month, count(*), sum(pay.amount) "
                   "FROM social_security.public.payments pay GROUP BY pay.pay_month"),
    ("si_analyst", "SELECT r.id_no, r.name, r.birth_date FROM public_security.public.residents r "
                   "WHERE r.hukou_region_code LIKE '51%' AND r.status = 'active' "
                   "AND r.gender = 'F' AND r.birth_date < DATE '1950-01-01'"),
    ("si_analyst", "SELECT p.id_no, d.death_date FROM social_security.public.pensioners p "
                   "JOIN public_security.public.deaths d ON d.id_no = p.id_no"),
    ("si_analyst", "SELECT p.id_no FROM social_security.public.pensioners p WHERE p.id_no IN "
                   "(SELECT j.id_no FROM justice.public.incarcerations j "
                   "WHERE j.end_date IS NULL)"),
    ("si_analyst", "SELECT c.category, count(*) FROM disabled_persons.public.certificates c "
                   "GROUP BY c.category"),
    ("si_analyst", scenario_sql("scenario3_fund_risk")),
    ("mi_analyst", "SELECT h.diagnosis_code, count(*), sum(h.total_cost) "
                   "FROM medical_insurance.public.hospitalizations h GROUP BY 1"),
    ("mi_analyst", "SELECT p.pension_type, count(*) FROM social_security.public.pensioners p "
                   "GROUP BY p.pension_type"),
    ("chengdu_si_analyst", "SELECT p.id_no FROM social_security.public.pensioners p "
                           "WHERE p.region_code LIKE '5101%'"),
]


def raw_sql(sql: str) -> str:
    """The original statement addressed to the raw SQLite files' physical schema."""
    tree = sqlglot.parse_one(sql, read="trino")
    for table in tree.find_all(exp.Table):
        if table.args.get("db"):
            table.set("db", exp.to_identifier("main"))
    return tree.sql(dialect="duckdb")


def normalise(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    def value(v: object) -> object:
        return f"{float(v):.2f}" if isinstance(v, float | Decimal) else v

    return sorted((tuple(value(v) for v in row) for row in rows), key=repr)


@pytest.fixture(scope="module")
def raw(demo_world: DemoWorld) -> duckdb.DuckDBPyConnection:
    return demo_world.raw_duckdb()


@pytest.mark.parametrize(("principal", "sql"), PRESERVED)
def test_rewrite_keeps_meaning(principal: str, sql: str, gateway: Gateway,
                               raw: duckdb.DuckDBPyConnection) -> None:
    execution = gateway.execute(principal, sql)
    through_gateway = [r for page in execution.result.pages(5000) for r in page]
    straight = raw.execute(raw_sql(sql)).fetchall()
    assert through_gateway, "a meaningful check needs rows"
    assert normalise(through_gateway) == normalise(straight)


def test_masked_columns_do_change_results(gateway: Gateway,
                                          raw: duckdb.DuckDBPyConnection) -> None:
    sql = "SELECT r.phone FROM public_security.public.residents r WHERE r.phone IS NOT NULL"
    masked = {r[0] for page in gateway.execute("si_analyst", sql).result.pages(5000) for r in page}
    clear = {r[0] for r in raw.execute(raw_sql(sql)).fetchall()}
    assert masked and not masked & clear
