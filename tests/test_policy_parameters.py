"""Parameters bound late: ``PlanCache`` analyses a statement once per parameter *kind* and fills
each call's values in at render time. Every rendering must equal the one binding the values in
the tree (``pipeline.plan``), and no decision may be reused across kinds that decide otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlglot
from sqlglot import exp

from catalog.models import CatalogSnapshot
from gateway.errors import MatchMisuse, ParseError
from gateway.policy.context import PolicyContext
from gateway.policy.parameters import Parameter
from gateway.policy.pipeline import PlanCache, plan
from gateway.policy.rewrite import Target

TODAY = date(2026, 11, 27)
LOOKUP = "SELECT death_date FROM public_security.public.deaths WHERE id_no = ?"
TARGETS = [Target("duckdb", "k" * 64), Target("trino"), Target("postgres"),
           Target("mysql", catalog_qualified=False)]


@pytest.fixture
def ctx(demo_snapshot: CatalogSnapshot) -> PolicyContext:
    return PolicyContext.for_principal(demo_snapshot, "si_analyst", TODAY)


def early(sql: str, ctx: PolicyContext, parameters: Sequence[Parameter], target: Target) -> str:
    """The statement with the values bound in the tree, as before late binding."""
    return plan(sql, ctx, parameters).statement(target)


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.dialect)
def test_new_values_render_as_if_bound_in_the_tree(ctx: PolicyContext, target: Target) -> None:
    cache = PlanCache()
    rendered = []
    for value in ("510104199001011234", "510104198512120021", "51010419850101002X"):
        made = cache.plan(LOOKUP, ctx, [value])
        assert made.slots is not None
        sql = made.statement(target)
        assert sql == early(LOOKUP, ctx, [value], target)
        assert f"'{value}'" in sql
        rendered.append(sql)
    assert len(set(rendered)) == 3


@pytest.mark.parametrize("value", [
    "O'Brien", "'; DROP TABLE deaths; --", "\\'", "a\\b", "x' OR '1'='1", "多'行\n值",
])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.dialect)
def test_a_value_with_quotes_stays_one_literal(ctx: PolicyContext, target: Target,
                                                value: str) -> None:
    cache = PlanCache()
    cache.plan(LOOKUP, ctx, ["510104199001011234"]).statement(target)
    sql = cache.plan(LOOKUP, ctx, [value]).statement(target)
    assert sql == early(LOOKUP, ctx, [value], target)
    statements = sqlglot.parse(sql, read=target.dialect)
    assert len(statements) == 1 and statements[0] is not None
    where = statements[0].find(exp.Where)
    assert where is not None
    assert [lit.this for lit in where.find_all(exp.Literal) if lit.is_string] == [value]


@pytest.mark.parametrize(("sql", "values"), [
    ("SELECT d.death_date FROM public_security.public.deaths d WHERE d.death_date > ?",
     [[date(2026, 1, 1)], [date(2025, 3, 4)]]),
    ("SELECT d.death_date FROM public_security.public.deaths d WHERE d.death_date "
     "BETWEEN ? AND ?",
     [[date(2026, 1, 1), date(2026, 2, 1)], [date(2020, 1, 1), date(2021, 1, 1)]]),
    ("SELECT pay.pay_month FROM social_security.public.payments pay WHERE pay.amount > ?",
     [[100], [2500], [-3], [-17]]),
    ("SELECT pay.pay_month FROM social_security.public.payments pay WHERE pay.amount >= ?",
     [[Decimal("1.50")], [Decimal("-0.25")], [1.5], [1e-05], [-2.5e-07]]),
    ("SELECT d.death_date FROM public_security.public.deaths d "
     "WHERE d.id_no IN (?, ?) AND d.region_code <> ?",
     [["510104199001011234", "510104198512120021", "510104"], ["a'b", "c", "d"]]),
    ("SELECT t.mode FROM transport.public.trips t WHERE t.departed_at < ?",
     [[datetime(2026, 3, 4, 8, 15)], [datetime(2025, 1, 2, 3, 4, 5)]]),
])
def test_every_kind_renders_as_if_bound_in_the_tree(ctx: PolicyContext, sql: str,
                                                    values: list[list[Parameter]]) -> None:
    cache = PlanCache()
    for parameters in values:
        made = cache.plan(sql, ctx, parameters)
        assert made.slots is not None
        for target in TARGETS:
            assert made.statement(target) == early(sql, ctx, parameters, target)
            assert made.statement(target, pretty=True) == plan(sql, ctx, parameters).statement(
                target, pretty=True)


def test_a_number_is_refused_against_a_match_column_whatever_was_cached(
        ctx: PolicyContext) -> None:
    """The numeric-literal cast oracle: a number compared with a match column is refused, also
    when the same statement with a string is cached, and the string is still allowed after."""
    cache = PlanCache()
    assert "510104199001011234" in cache.plan(LOOKUP, ctx, ["510104199001011234"]).statement(
        TARGETS[0])
    for number in (510104199001011234, 5.1, Decimal("5")):
        with pytest.raises(MatchMisuse):
            cache.plan(LOOKUP, ctx, [number])
    assert "'1'" in cache.plan(LOOKUP, ctx, ["1"]).statement(TARGETS[0])


def test_a_string_is_allowed_after_a_refused_number(ctx: PolicyContext) -> None:
    cache = PlanCache()
    with pytest.raises(MatchMisuse):
        cache.plan(LOOKUP, ctx, [42])
    assert "'42'" in cache.plan(LOOKUP, ctx, ["42"]).statement(TARGETS[0])


def test_a_value_that_shapes_the_statement_is_bound_early(ctx: PolicyContext) -> None:
    """``ORDER BY ?`` is a position: 1 orders by death_date, 2 by the match column id_no."""
    sql = ("SELECT x.death_date FROM (SELECT d.death_date, d.id_no "
           "FROM public_security.public.deaths d ORDER BY ?) x")
    cache = PlanCache()
    made = cache.plan(sql, ctx, [1])
    assert made.slots is None
    with pytest.raises(MatchMisuse):
        cache.plan(sql, ctx, [2])
    assert cache.plan(sql, ctx, [1]) is made


def test_null_and_booleans_are_their_own_kind(ctx: PolicyContext) -> None:
    sql = "SELECT d.death_date FROM public_security.public.deaths d WHERE d.region_code = ?"
    cache = PlanCache()
    for value in (None, "510104", None, True, False, "510105"):
        assert cache.plan(sql, ctx, [value]).statement(TARGETS[0]) == early(
            sql, ctx, [value], TARGETS[0])


def test_the_plan_shows_its_own_values(ctx: PolicyContext) -> None:
    cache = PlanCache()
    cache.plan(LOOKUP, ctx, ["510104199001011234"])
    made = cache.plan(LOOKUP, ctx, ["510104198512120021"])
    assert made.tables == ("public_security.public.deaths",)
    assert made.sources == ("public_security",)
    shown = made.with_values().query.sql(dialect="trino")
    assert "'510104198512120021'" in shown and "shuqiao_parameter" not in shown
    assert "510104198512120021" in made.statement(TARGETS[1], pretty=True)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), Decimal("NaN")])
def test_a_number_without_a_literal_is_refused(ctx: PolicyContext, value: Parameter) -> None:
    sql = "SELECT pay.pay_month FROM social_security.public.payments pay WHERE pay.amount > ?"
    with pytest.raises(ParseError):
        PlanCache().plan(sql, ctx, [value])
    with pytest.raises(ParseError):
        plan(sql, ctx, [value])


def test_the_parameter_count_must_match(ctx: PolicyContext) -> None:
    with pytest.raises(ParseError):
        PlanCache().plan(LOOKUP, ctx, ["a", "b"])
    with pytest.raises(ParseError):
        PlanCache().plan(LOOKUP, ctx, [])
