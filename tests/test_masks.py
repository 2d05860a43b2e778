"""Every mask from DEMO.md, rendered for the embedded engine and run there: the documented
example in, the documented value out; null stays null; the hash mask is keyed per principal
and its key never shows in SQL a user can see. (Trino and PostgreSQL renderings are run by the
integration suite against the real servers.)
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
from sqlglot import exp

from gateway.policy.masks import MASKS, REDACTED_KEY, derive_key, mask_expression
from gateway.service import Gateway

EXAMPLES: dict[str, tuple[exp.Expr, object]] = {
    "id_no": (exp.Literal.string("510104199001011234"), "510104************"),
    "name": (exp.Literal.string("欧阳娜娜"), "欧***"),
    "phone": (exp.Literal.string("13812345678"), "138****5678"),
    "address_district": (
        exp.Literal.string("四川省成都市锦江区红星路二段70号"), "四川省成都市锦江区"),
    "bank_card": (exp.Literal.string("6222021234567890123"), "***************0123"),
    "date": (exp.cast(exp.Literal.string("2026-03-04 08:15:00"), "timestamp"), date(2026, 3, 4)),
    "month": (exp.cast(exp.Literal.string("2026-03-04"), "date"), date(2026, 3, 1)),
    "year": (exp.cast(exp.Literal.string("2026-03-04"), "date"), date(2026, 1, 1)),
    "null": (exp.Literal.string("anything"), None),
}


def run_duckdb(expression: exp.Expr) -> object:
    row = duckdb.connect().execute(exp.select(expression).sql("duckdb")).fetchone()
    assert row is not None
    return row[0]


def test_every_mask_has_an_example() -> None:
    assert set(EXAMPLES) | {"hash"} == set(MASKS)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_mask_example_on_duckdb(name: str) -> None:
    value, expected = EXAMPLES[name]
    assert run_duckdb(mask_expression(name, value, "duckdb", "k")) == expected


@pytest.mark.parametrize("name", sorted(MASKS))
def test_null_stays_null(name: str) -> None:
    kind = {"date": "timestamp", "month": "date", "year": "date"}.get(name, "varchar")
    assert run_duckdb(mask_expression(name, exp.cast(exp.Null(), kind), "duckdb", "k")) is None


@pytest.mark.parametrize(("given", "expected"), [
    ("张三", "张*"),
    ("重庆市渝中区解放碑街道88号", "重庆市渝中区"),
    ("四川省阿坝藏族羌族自治州马尔康市达萨街1号", "四川省阿坝藏族羌族自治州马尔康市"),
    ("四川省成都市都江堰市幸福路3号", "四川省成都市都江堰市"),
    ("四川省泸州市江阳区大山坪路12号", "四川省泸州市江阳区"),
    ("四川省达州市通川区朝阳路5号", "四川省达州市通川区"),
])
def test_more_examples(given: str, expected: str) -> None:
    mask = "name" if len(given) < 4 else "address_district"
    assert run_duckdb(mask_expression(mask, exp.Literal.string(given), "duckdb", "k")) == expected


def test_address_without_a_district_gives_null_not_the_raw_value() -> None:
    street_only = exp.Literal.string("红星路二段70号")
    masked = mask_expression("address_district", street_only, "duckdb", "k")
    assert run_duckdb(masked) is None


def test_hash_is_keyed_per_principal() -> None:
    value = exp.Literal.string("510104199001011234")
    key_a, key_b = derive_key("secret", "si_analyst"), derive_key("secret", "mi_analyst")
    a1 = run_duckdb(mask_expression("hash", value, "duckdb", key_a))
    a2 = run_duckdb(mask_expression("hash", value.copy(), "duckdb", key_a))
    b = run_duckdb(mask_expression("hash", value, "duckdb", key_b))
    unkeyed = duckdb.connect().execute("SELECT sha256('510104199001011234')").fetchone()
    assert a1 == a2 != b
    assert isinstance(a1, str) and len(a1) == 64
    assert unkeyed is not None and a1 != unkeyed[0]
    assert derive_key("other secret", "si_analyst") != key_a


def test_hash_key_never_in_shown_sql(demo_world: object, gateway: Gateway) -> None:
    from dataclasses import replace

    from gateway.output import explanation
    from gateway.policy.rewrite import Target

    plan = gateway.plan("si_analyst", "SELECT t.mode FROM transport.public.trips t")
    # Force the hash mask onto a column to see where its key would appear.
    use = plan.bound.uses[0]
    grant = replace(use.grant, columns={**use.grant.columns, "mode": _hash_action()})
    bound = replace(plan.bound, uses=(replace(use, grant=grant),))
    forced = replace(plan, bound=bound, _rendered={})
    key = gateway.target("si_analyst", "duckdb").mask_key
    assert key != REDACTED_KEY
    executed = forced.statement(Target("duckdb", key))
    shown = explanation(forced, [Target("duckdb"), Target("trino")])
    assert key in executed
    assert key not in str(shown) and REDACTED_KEY in str(shown)


def _hash_action() -> object:
    from catalog.models import ColumnAction

    return ColumnAction.parse("mask:hash")


def test_timestamp_mask_gives_a_date_not_a_time() -> None:
    value = exp.cast(exp.Literal.string("2026-03-04 23:59:59"), "timestamp")
    result = run_duckdb(mask_expression("date", value, "duckdb", "k"))
    assert result == date(2026, 3, 4) and not isinstance(result, datetime)
