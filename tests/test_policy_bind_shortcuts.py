"""Bind skips sqlglot steps whose work it has already done or can do more cheaply. Each shortcut
must give the very tree sqlglot's own step gives, on every statement of the golden files, the
adversarial corpus and the demo scenarios (an upgrade of sqlglot that changes a step fails here).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify_tables import qualify_tables

from catalog.models import CatalogSnapshot
from gateway.errors import ShuqiaoError
from gateway.policy import bind as binding
from gateway.policy.context import PolicyContext
from gateway.policy.parse import parse

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def statements() -> list[tuple[str, str]]:
    """(principal, sql) for every statement the policy tests use."""
    found: list[tuple[str, str]] = []
    corpus = yaml.safe_load((TESTS / "fixtures/security/corpus.yaml").read_text("utf-8"))
    for item in corpus:
        if isinstance(item, dict) and "sql" in item:
            sql = re.sub(r"\{\{\w+\}\}", "0", item["sql"])
            found.append((item.get("principal", "si_analyst"), sql))
    for path in sorted((TESTS / "fixtures/policy").glob("*.sql")):
        found += _golden_statements(path.read_text("utf-8"))
    for path in sorted((ROOT / "gateway/demo/scenarios").glob("*.sql")):
        found.append(("si_analyst", path.read_text("utf-8")))
    return found


def _golden_statements(text: str) -> list[tuple[str, str]]:
    principal, chunk, found = "si_analyst", list[str](), list[tuple[str, str]]()
    for line in text.splitlines():
        if not chunk and line.startswith("# principal:"):
            principal = line.partition(":")[2].strip()
        elif chunk or (line.strip() and not line.startswith(("#", "--"))):
            chunk.append(line)
            if line.rstrip().endswith(";"):
                found.append((principal, "\n".join(chunk).rstrip().removesuffix(";")))
                chunk = []
    return found


STATEMENTS = statements()


@pytest.mark.parametrize(("principal", "sql"), STATEMENTS)
def test_shortcuts_give_sqlglots_trees(demo_snapshot: CatalogSnapshot, principal: str,
                                       sql: str) -> None:
    try:
        query = parse(sql)
        walked = binding._refuse_unknown_constructs(query)
    except ShuqiaoError:
        return
    reference = normalize_identifiers(query.copy(), dialect="trino")
    normalized = binding._normalised(query, walked.identifiers)
    assert normalized == reference
    assert normalized.sql(dialect="trino") == reference.sql(dialect="trino")
    try:
        ctx = PolicyContext.for_principal(demo_snapshot, principal, date(2026, 11, 27))
        tables = binding.base_tables(normalized, walked.tables)
        for index, node in enumerate(tables):
            binding._bind_table(node, index, ctx)
    except ShuqiaoError:
        return
    if walked.plain:
        expected = qualify_tables(normalized.copy(), dialect="trino")
        copied = normalized.copy()
        aliased = binding._alias_references(copied, list(copied.find_all(exp.Table)))
        assert aliased == expected
        assert aliased.sql(dialect="trino") == expected.sql(dialect="trino")


def test_plain_statements_are_told_apart() -> None:
    plain = parse("WITH c AS (SELECT 1 AS a) SELECT c.a FROM c WHERE EXISTS (SELECT 1)")
    assert binding._refuse_unknown_constructs(plain).plain
    nested = parse("SELECT x.a FROM (SELECT 1 AS a)")
    assert not binding._refuse_unknown_constructs(nested).plain
