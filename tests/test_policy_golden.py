"""Golden files for each pipeline step: ``tests/fixtures/policy/<step>.sql`` hold ``input;``
``expected;`` pairs under ``# principal:`` headers; ``<step>__invalid.sql`` hold statements that
must raise the error named in their ``# error:`` header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlglot import exp

import gateway.errors as errors
from catalog.models import CatalogSnapshot
from gateway.policy.authorize import Decision, authorize
from gateway.policy.bind import bind
from gateway.policy.context import PolicyContext
from gateway.policy.parse import parse
from gateway.policy.render import render, render_statement
from gateway.policy.rewrite import Target, rewrite

FIXTURES = Path(__file__).parent / "fixtures" / "policy"
TODAY = date(2026, 11, 27)


@dataclass(frozen=True)
class Case:
    file: str
    line: int
    principal: str
    sql: str
    expected: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def read_cases(path: Path, *, pairs: bool) -> list[Case]:
    """Statements end with a line ending in ';'. Headers set principal (and error) onward."""
    cases: list[Case] = []
    header = {"principal": "si_analyst", "error": ""}
    pending: list[str] = []
    chunk: list[str] = []
    start = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not chunk and line.startswith("# ") and ":" in line:
            key, _, value = line[2:].partition(":")
            header[key.strip()] = value.strip()
            continue
        if not chunk and (not line.strip() or line.startswith("--")):
            continue
        start = start if chunk else number
        chunk.append(line)
        if line.rstrip().endswith(";"):
            pending.append("\n".join(chunk).rstrip().removesuffix(";"))
            chunk = []
            if not pairs:
                cases.append(Case(path.name, start, header["principal"], pending.pop(),
                                  header["error"]))
            elif len(pending) == 2:
                cases.append(Case(path.name, start, header["principal"], *pending))
                pending = []
    assert not chunk and not pending, f"{path}: unterminated statement"
    return cases


def context(snapshot: CatalogSnapshot, principal: str) -> PolicyContext:
    return PolicyContext.for_principal(snapshot, principal, TODAY)


def normal(sql: str) -> str:
    return " ".join(sql.split())


def step_parse(snapshot: CatalogSnapshot, case: Case) -> str:
    return parse(case.sql).sql(dialect="trino")


def step_bind(snapshot: CatalogSnapshot, case: Case) -> str:
    return bind(parse(case.sql), context(snapshot, case.principal)).query.sql(dialect="trino")


def step_authorize(snapshot: CatalogSnapshot, case: Case) -> str:
    ctx = context(snapshot, case.principal)
    decision = authorize(bind(parse(case.sql), ctx), ctx)
    return describe(decision)


def describe(decision: Decision) -> str:
    uses = sorted({f"{u.clause}:{u.table}.{u.column}={u.action}@{u.grant}"
                   for u in decision.uses})
    guards = [f"guard:{g.alias}>={g.minimum}@{g.grant}" for g in decision.guards]
    return " ".join(uses + guards)


def step_rewrite(snapshot: CatalogSnapshot, case: Case) -> str:
    ctx = context(snapshot, case.principal)
    bound = bind(parse(case.sql), ctx)
    return rewrite(bound, authorize(bound, ctx), Target("trino")).sql(dialect="trino")


def step_render(snapshot: CatalogSnapshot, case: Case) -> str:
    ctx = context(snapshot, case.principal)
    bound = bind(parse(case.sql), ctx)
    return render(rewrite(bound, authorize(bound, ctx), Target("duckdb")), "duckdb")


STEPS: dict[str, Callable[[CatalogSnapshot, Case], str]] = {
    "parse": step_parse,
    "bind": step_bind,
    "authorize": step_authorize,
    "rewrite": step_rewrite,
    "render": step_render,
}
VALID = [(step, c) for step in STEPS for c in read_cases(FIXTURES / f"{step}.sql", pairs=True)]
INVALID = [
    (step, c)
    for step in STEPS
    if (FIXTURES / f"{step}__invalid.sql").exists()
    for c in read_cases(FIXTURES / f"{step}__invalid.sql", pairs=False)
]


@pytest.mark.parametrize(("step", "case"), VALID, ids=[c.id for _, c in VALID])
def test_golden(step: str, case: Case, demo_snapshot: CatalogSnapshot) -> None:
    assert normal(STEPS[step](demo_snapshot, case)) == normal(case.expected)


@pytest.mark.parametrize(("step", "case"), INVALID, ids=[c.id for _, c in INVALID])
def test_golden_invalid(step: str, case: Case, demo_snapshot: CatalogSnapshot) -> None:
    error = getattr(errors, case.expected)
    assert isinstance(error, type) and issubclass(error, errors.ShuqiaoError)
    with pytest.raises(error):
        STEPS[step](demo_snapshot, case)


def test_every_step_has_golden_files() -> None:
    for step in STEPS:
        assert read_cases(FIXTURES / f"{step}.sql", pairs=True), step
    assert INVALID, "no __invalid golden files"


def test_render_is_plain_sql_for_every_engine(demo_snapshot: CatalogSnapshot) -> None:
    ctx = context(demo_snapshot, "si_analyst")
    bound = bind(parse("SELECT p.name FROM social_security.public.pensioners p"), ctx)
    decision = authorize(bound, ctx)
    for dialect in ("duckdb", "trino", "postgres"):
        sql = render(rewrite(bound, decision, Target(dialect)), dialect)
        assert isinstance(parse_in(dialect, sql), exp.Select)


def parse_in(dialect: str, sql: str) -> exp.Expr:
    import sqlglot

    return sqlglot.parse_one(sql, read=dialect)


@pytest.mark.parametrize(("step", "case"), [v for v in VALID if v[0] in ("rewrite", "render")],
                         ids=[c.id for s, c in VALID if s in ("rewrite", "render")])
def test_spliced_render_equals_whole_ast_render(step: str, case: Case,
                                                demo_snapshot: CatalogSnapshot) -> None:
    ctx = context(demo_snapshot, case.principal)
    bound = bind(parse(case.sql), ctx)
    decision = authorize(bound, ctx)
    for dialect in ("duckdb", "trino", "postgres"):
        target = Target(dialect, "k" * 64)
        whole = render(rewrite(bound, decision, target), dialect)
        assert render_statement(bound, decision, target) == whole
