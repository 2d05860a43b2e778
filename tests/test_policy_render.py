"""The rendered statement carries nothing of the analyst's text but what the pipeline checked."""

from __future__ import annotations

from datetime import date

import pytest

from catalog.models import CatalogSnapshot
from gateway.errors import ParseError, UnsupportedStatement
from gateway.policy.context import PolicyContext
from gateway.policy.parse import parse
from gateway.policy.pipeline import plan
from gateway.policy.rewrite import Target

TARGETS = [Target("duckdb", "k" * 64), Target("trino"), Target("postgres"), Target("mysql")]
COMMENTED = """
-- leading note: 510104199001011234
SELECT /*! UNION SELECT name FROM residents */ d.death_date /* inline */
FROM public_security.public.deaths d -- trailing note
WHERE d.region_code = '510104' /*+ hint */
"""


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.dialect)
def test_comments_never_reach_the_engine(demo_snapshot: CatalogSnapshot, target: Target) -> None:
    ctx = PolicyContext.for_principal(demo_snapshot, "si_analyst", date(2026, 11, 27))
    sql = plan(COMMENTED, ctx).statement(target)
    for fragment in ("--", "/*", "*/", "UNION", "510104199001011234", "note", "hint", "inline"):
        assert fragment not in sql
    assert "death_date" in sql and "'510104'" in sql


def test_a_documented_header_does_not_move_syntax_errors() -> None:
    with pytest.raises(ParseError) as bare:
        parse("SELECT a FROM t WHERE (\n\nb")
    with pytest.raises(ParseError) as headed:
        parse("-- header\n  -- more\n\nSELECT a FROM t WHERE (\n\nb")
    assert "Line 3" in str(bare.value) and "Line 6" in str(headed.value)


def test_only_comments_is_no_statement() -> None:
    with pytest.raises(UnsupportedStatement):
        parse("-- nothing\n-- here\n")
