"""Policy files: the demo policy, line-numbered problems, cross-checks and the round trip."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from catalog.errors import CatalogError, PolicyFileError, PolicyProblem
from catalog.models import (
    CLASSIFICATIONS,
    ActionKind,
    AggregateOnly,
    CatalogSnapshot,
    Column,
    ColumnAction,
    Department,
    Grant,
    Principal,
    Source,
    Table,
)
from catalog.policy_file import (
    PolicyDocument,
    dump_policy,
    load_policy,
    parse_policy,
    row_filter_problems,
    validate_policy,
)

DEMO_POLICY = Path(__file__).resolve().parents[1] / "deploy" / "demo" / "policy.yaml"
KNOWN_MASKS = frozenset(
    {"id_no", "name", "phone", "address_district", "bank_card", "date", "month", "year"}
    | {"hash", "null"}
)

# DEMO.md's tables, column by column.
DEMO_TABLES: dict[str, list[tuple[str, str]]] = {
    "public_security.public.residents": [
        ("id_no", "varchar(18)"), ("name", "varchar"), ("gender", "char(1)"),
        ("birth_date", "date"), ("hukou_region_code", "varchar(6)"), ("address", "varchar"),
        ("phone", "varchar(11)"), ("status", "varchar"),
    ],
    "public_security.public.deaths": [
        ("id_no", "varchar(18)"), ("death_date", "date"), ("region_code", "varchar(6)"),
        ("cause_category", "varchar"),
    ],
    "social_security.public.insured": [
        ("id_no", "varchar(18)"), ("name", "varchar"), ("insurance_type", "varchar"),
        ("region_code", "varchar(6)"), ("enrolled_on", "date"), ("status", "varchar"),
    ],
    "social_security.public.pensioners": [
        ("id_no", "varchar(18)"), ("name", "varchar"), ("region_code", "varchar(6)"),
        ("pension_type", "varchar"), ("monthly_amount", "decimal(10,2)"), ("start_date", "date"),
        ("last_verified_on", "date"), ("bank_account", "varchar(19)"),
    ],
    "social_security.public.payments": [
        ("id_no", "varchar(18)"), ("region_code", "varchar(6)"), ("pay_month", "date"),
        ("amount", "decimal(10,2)"),
    ],
    "medical_insurance.public.hospitalizations": [
        ("record_id", "bigint"), ("id_no", "varchar(18)"), ("hospital_code", "varchar"),
        ("admitted_on", "date"), ("discharged_on", "date"), ("diagnosis_code", "varchar"),
        ("total_cost", "decimal(12,2)"),
    ],
    "transport.public.trips": [
        ("trip_id", "bigint"), ("id_no", "varchar(18)"), ("mode", "varchar"),
        ("departed_at", "timestamp"), ("origin_code", "varchar(6)"),
        ("destination_code", "varchar(6)"),
    ],
    "justice.public.incarcerations": [
        ("id_no", "varchar(18)"), ("facility_code", "varchar"), ("start_date", "date"),
        ("end_date", "date"),
    ],
    "disabled_persons.public.certificates": [
        ("id_no", "varchar(18)"), ("category", "varchar"), ("grade", "int"), ("issued_on", "date"),
    ],
}  # fmt: skip


def demo_table(qualified: str) -> Table:
    source, _, name = qualified.split(".")
    columns = tuple(Column(column, kind) for column, kind in DEMO_TABLES[qualified])
    return Table(source, name, columns)


def demo_snapshot() -> CatalogSnapshot:
    tables = tuple(demo_table(q) for q in DEMO_TABLES)
    sources = tuple(
        Source(name, "sqlite", name, {"path": f"/data/{name}.db"})
        for name in dict.fromkeys(t.source for t in tables)
    )
    return CatalogSnapshot(version=1, sources=sources, tables=tables)


def tables_only() -> CatalogSnapshot:
    """The demo tables without their sources (whose departments a small policy omits)."""
    return CatalogSnapshot(version=1, tables=demo_snapshot().tables)


@pytest.fixture(scope="module")
def demo() -> PolicyDocument:
    return load_policy(DEMO_POLICY, snapshot=demo_snapshot(), known_masks=KNOWN_MASKS)


def policy(body: str) -> str:
    """A small valid head (departments, principals) followed by ``body``."""
    head = """\
        version: 1
        departments:
          - {name: social_security, title: Social Security}
          - {name: public_security, title: Public Security}
        principals:
          - {name: si_analyst, department: social_security, roles: [analyst]}
        """
    return textwrap.dedent(head) + textwrap.dedent(body)


def problems_of(text: str, **checks: object) -> list[PolicyProblem]:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(text, "policy.yaml", **checks)  # type: ignore[arg-type]
    return caught.value.problems


RESIDENTS_GRANT = """\
    grants:
      - id: G2
        principal: si_analyst
        table: public_security.public.residents
        purpose: coverage expansion
        columns:
          id_no: allow
          phone: {phone_action}
        row_filter: "{row_filter}"
        valid_from: {valid_from}
        valid_until: 2027-12-31
        approved_by: public_security_data_owner
    """


def residents_grant(
    phone_action: str = "mask:phone",
    row_filter: str = "status = 'active'",
    valid_from: str = "2025-01-01",
) -> str:
    return policy(
        RESIDENTS_GRANT.format(
            phone_action=phone_action, row_filter=row_filter, valid_from=valid_from
        )
    )


# -- the demo policy -----------------------------------------------------------------------------


def test_demo_policy_validates_against_demo_tables(demo: PolicyDocument) -> None:
    assert validate_policy(demo, demo_snapshot(), KNOWN_MASKS) == []


def test_demo_policy_has_demo_departments_and_principals(demo: PolicyDocument) -> None:
    assert [d.name for d in demo.departments] == [
        "public_security", "social_security", "medical_insurance", "transport", "justice",
        "disabled_persons", "big_data_center",
    ]  # fmt: skip
    roles = {p.name: (p.department, p.roles) for p in demo.principals}
    assert roles == {
        "si_analyst": ("social_security", ("analyst",)),
        "chengdu_si_analyst": ("social_security", ("analyst",)),
        "mi_analyst": ("medical_insurance", ("analyst",)),
        "lapsed_analyst": ("transport", ("analyst",)),
        "auditor": ("big_data_center", ("auditor",)),
        "admin": ("big_data_center", ("admin",)),
    }


def test_demo_grants_are_demo_md(demo: PolicyDocument) -> None:
    grants = {g.id: g for g in demo.grants}
    assert list(grants) == [
        "G1", "G2", "G3", "G4", "G5", "G6", "G7",
        "G8.1", "G8.2", "G8.3", "G8.4", "G8.5", "G8.6", "G8.7",
        "G9", "G10", "G11", "G12",
    ]  # fmt: skip
    assert {g.principal for g in demo.grants} == {
        "si_analyst", "chengdu_si_analyst", "mi_analyst", "lapsed_analyst",
    }  # fmt: skip
    assert not any(g.principal in ("auditor", "admin") for g in demo.grants)
    g2 = grants["G2"]
    assert g2.row_filter == "hukou_region_code LIKE '51%' AND status = 'active'"
    assert str(g2.action("address")) == "mask:address_district"
    assert g2.action("phone") == ColumnAction(ActionKind.MASK, "phone")
    assert g2.action("id_no").kind is ActionKind.ALLOW
    assert grants["G1"].columns == {"*": ColumnAction(ActionKind.ALLOW)}
    assert grants["G3"].action("id_no").kind is ActionKind.MATCH
    assert grants["G3"].action("cause_category").kind is ActionKind.DENY
    assert str(grants["G5"].action("departed_at")) == "mask:date"
    assert str(grants["G7"].action("issued_on")) == "mask:year"
    assert grants["G10"].aggregate_only == AggregateOnly(10, "id_no")
    assert grants["G10"].action("last_verified_on").kind is ActionKind.DENY
    assert grants["G12"].valid_until == date(2025, 12, 31)
    assert grants["G12"].validity_problem(date(2026, 6, 1)) == "grant G12 expired on 2025-12-31"


def test_demo_validity(demo: PolicyDocument) -> None:
    no_expiry = {g.id for g in demo.grants if g.valid_until is None}
    assert no_expiry == {"G1", "G8.1", "G9", "G11"}
    assert all(g.valid_from for g in demo.grants)
    others = {g.valid_until for g in demo.grants if g.id not in no_expiry | {"G12"}}
    assert others == {date(2027, 12, 31)}
    assert all(g.approved_by.endswith("_data_owner") for g in demo.grants)


def test_g8_mirrors_g1_to_g7_within_chengdu(demo: PolicyDocument) -> None:
    grants = {g.id: g for g in demo.grants}
    for n in range(1, 8):
        province, chengdu = grants[f"G{n}"], grants[f"G8.{n}"]
        assert chengdu.principal == "chengdu_si_analyst"
        assert (chengdu.table, chengdu.purpose, chengdu.columns) == (
            province.table, province.purpose, province.columns,
        )  # fmt: skip
        assert chengdu.valid_until == province.valid_until
    assert grants["G8.1"].row_filter == "region_code LIKE '5101%'"
    assert grants["G8.2"].row_filter == "hukou_region_code LIKE '5101%' AND status = 'active'"
    assert all(grants[f"G8.{n}"].row_filter is None for n in range(3, 8))


def test_demo_annotates_every_column(demo: PolicyDocument) -> None:
    annotations = {t.table: t for t in demo.tables}
    assert set(annotations) == set(DEMO_TABLES)
    for qualified, columns in DEMO_TABLES.items():
        annotated = annotations[qualified].columns
        assert list(annotated) == [name for name, _ in columns]
        for column in annotated.values():
            assert column.classification in CLASSIFICATIONS
            assert column.description and not column.description.isascii()


def test_demo_round_trips(demo: PolicyDocument) -> None:
    text = dump_policy(demo)
    again = parse_policy(text)
    assert again == demo
    assert dump_policy(again) == text


# -- problems point at their lines ---------------------------------------------------------------


def test_bad_action_points_at_its_line() -> None:
    [problem] = problems_of(residents_grant(phone_action="mask_phone"))
    assert problem.line == 14
    assert "column phone" in problem.message and "'mask_phone'" in problem.message


def test_unknown_mask_points_at_its_line() -> None:
    text = residents_grant(phone_action="mask:telephone")
    assert parse_policy(text).grants[0].action("phone").mask == "telephone"
    [problem] = problems_of(text, known_masks=KNOWN_MASKS)
    assert problem.line == 14
    assert "unknown mask 'telephone'" in problem.message


def test_bad_date_points_at_its_line() -> None:
    [problem] = problems_of(residents_grant(valid_from="2025-02-30"))
    assert problem.line == 16
    assert "valid_from '2025-02-30' is not an ISO date" in problem.message


@pytest.mark.parametrize("written", ["01/01/2025", "20250101", "2025-1-1", "next year"])
def test_dates_must_be_iso(written: str) -> None:
    [problem] = problems_of(residents_grant(valid_from=written))
    assert (problem.line, "is not an ISO date" in problem.message) == (16, True)


def test_subquery_in_row_filter_points_at_its_line() -> None:
    text = residents_grant(row_filter="id_no IN (SELECT id_no FROM social_security.public.insured)")
    [problem] = problems_of(text)
    assert problem.line == 15
    assert problem.message == "grant G2: row filter may not use subqueries"


def test_unknown_column_against_registered_table() -> None:
    text = residents_grant().replace("phone: mask:phone", "telephone: mask:phone")
    [problem] = problems_of(text, snapshot=tables_only())
    assert problem.line == 14
    assert "column 'telephone' is in no table" in problem.message


def test_duplicate_grant_id_points_at_the_second() -> None:
    grant = """\
          - id: G1
            principal: si_analyst
            table: social_security.public.*
            purpose: own data
            columns: {"*": allow}
            approved_by: social_security_data_owner
        """
    text = policy("grants:\n" + textwrap.dedent(grant) + textwrap.dedent(grant))
    messages = [str(p) for p in problems_of(text)]
    assert messages == ["line 14: duplicate grant id 'G1' (first at line 8)"]


def test_yaml_syntax_error_points_at_its_line() -> None:
    text = policy(
        """\
        grants:
          - id: G1
            principal: si_analyst
           table: social_security.public.*
        """
    )
    [problem] = problems_of(text)
    assert problem.line == 10
    assert problem.message.startswith("not valid YAML")


def test_unclosed_bracket_names_where_it_opened() -> None:
    [problem] = problems_of(policy("grants:\n  - {id: G1, principal: si_analyst\n"))
    assert "on line 8" in problem.message


def test_every_problem_is_listed_at_once() -> None:
    text = policy(
        """\
        grants:
          - id: G1
            principal: nobody
            table: social_security.public.*
            purpose: own data
            columns: {"*": alow}
            aggregate_only: {min_group_size: 1}
            valid_from: 2026-01-01
            valid_until: 2025-01-01
            approved_by: social_security_data_owner
            valid_untill: 2027-01-01
          - id: G2
            principal: si_analyst
            table: public_security.public.residents
            columns: {phone: "mask:telephone"}
            row_filter: "lower(status) = 'active'"
            approved_by: si_analyst
        """
    )
    problems = problems_of(text, known_masks=KNOWN_MASKS)
    assert [(p.line, p.message) for p in problems] == [
        (9, "grant G1: unknown principal 'nobody'"),
        (12, "grant G1: column *: unknown column action 'alow'; expected allow, mask:<fn>,"
             " match or deny"),
        (13, "grant G1: min_group_size must be at least 2"),
        (15, "grant G1: valid_until 2025-01-01 is before valid_from 2026-01-01"),
        (17, "grant: unknown key 'valid_untill' (expected id, principal, table, purpose, columns,"
             " row_filter, aggregate_only, valid_from, valid_until, approved_by)"),
        (18, "grant G2: missing purpose"),
        (21, "grant G2: column phone: unknown mask 'telephone' (known: address_district,"
             " bank_card, date, hash, id_no, month, name, null, phone, year)"),
        (22, "grant G2: row filter may not use function LOWER"),
        (23, "grant G2: a grant may not be approved by its own principal"),
    ]  # fmt: skip


def test_error_message_names_file_and_lines() -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_policy(residents_grant(phone_action="maybe"), "policies/si.yaml")
    assert "policies/si.yaml:line 14: grant G2: column phone" in str(caught.value)
    assert "nothing applied" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", 1, "the policy file is empty"),
        ("- version: 1\n", 1, "the policy file must be a mapping"),
        ("departments: []\n", 1, "the policy file: missing version"),
        ("version: 2\n", 1, "unsupported version '2'; expected 1"),
        ("version: 1\nversion: 1\n", 2, "the policy file: duplicate key 'version'"),
        ("version: 1\ngrant: []\n", 2, "the policy file: unknown key 'grant'"),
        ("version: 1\nprincipals: {a: b}\n", 2, "principals must be a list"),
        ("version: 1\nprincipals:\n  - {name: a}\n", 3, "principal a: missing department"),
        ("version: 1\ndepartments:\n  - {name: [a]}\n", 3, "department: name must be a single"),
        ("version: 1\ndepartments:\n  - {name: ''}\n", 3, "department: name must not be empty"),
    ],
)
def test_shape_problems(text: str, line: int, message: str) -> None:
    [problem] = problems_of(text)
    assert problem.line == line
    assert problem.message.startswith(message)


def test_load_policy_reports_the_path(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\ndepartments:\n  - {title: x}\n", encoding="utf-8")
    with pytest.raises(PolicyFileError) as caught:
        load_policy(path)
    assert caught.value.path == str(path)
    assert caught.value.problems == [PolicyProblem(3, "department: missing name")]


def test_load_policy_refuses_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read policy file"):
        load_policy(tmp_path / "missing.yaml")
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("version: 1 # \xe9\n".encode("latin-1"))
    with pytest.raises(PolicyFileError, match="not UTF-8"):
        load_policy(latin1)


# -- the document's own consistency ---------------------------------------------------------------


def grant(grant_id: str = "G1", **changes: object) -> Grant:
    fields: dict[str, object] = {
        "id": grant_id,
        "principal": "si_analyst",
        "table": "social_security.public.insured",
        "purpose": "own data",
        "columns": {"*": ColumnAction(ActionKind.ALLOW)},
        "approved_by": "social_security_data_owner",
    }
    return Grant(**(fields | changes))  # type: ignore[arg-type]


def document(*grants: Grant) -> PolicyDocument:
    return PolicyDocument(
        departments=(Department("social_security"),),
        principals=(Principal("si_analyst", "social_security", ("analyst",)),),
        grants=grants,
    )


def messages(doc: PolicyDocument, snapshot: CatalogSnapshot | None = None) -> list[str]:
    return [p.message for p in validate_policy(doc, snapshot, KNOWN_MASKS)]


def test_same_pattern_twice_is_ambiguous() -> None:
    doc = document(grant("G1"), grant("G2", purpose="statistics"))
    assert messages(doc) == [
        "grant G2: ambiguous with grant G1: both give si_analyst"
        " social_security.public.insured with the same specificity"
    ]


def test_exact_table_and_pattern_are_not_ambiguous() -> None:
    doc = document(grant("G1"), grant("G2", table="social_security.public.*"))
    assert messages(doc, tables_only()) == []


def test_references_must_be_declared() -> None:
    doc = PolicyDocument(
        principals=(Principal("si_analyst", "social_security"),),
        grants=(grant(principal="nobody"),),
    )
    assert messages(doc) == [
        "principal si_analyst: unknown department 'social_security'",
        "grant G1: unknown principal 'nobody'",
    ]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("insured", "grant G1: table 'insured' is not <source>.public.<table>"),
        ("social_security.main.insured", "grant G1: table 'social_security.main.insured' is not"),
        ("social_security.public.ins*", "grant G1: table 'social_security.public.ins*' is not"),
        ("*", "grant G1: table '*' is not"),
    ],
)
def test_table_patterns(table: str, message: str) -> None:
    [problem] = messages(document(grant(table=table)))
    assert problem.startswith(message)


def test_cross_checks_against_the_catalog() -> None:
    doc = PolicyDocument(
        departments=(Department("social_security"),),
        principals=(Principal("si_analyst", "social_security"),),
        grants=(
            grant("G1", table="justice.public.prisons"),
            grant("G2", table="social_security.public.*", row_filter="hukou_region_code = '51'"),
            grant(
                "G3",
                table="social_security.public.pensioners",
                aggregate_only=AggregateOnly(10, "person"),
            ),
        ),
    )
    assert messages(doc, demo_snapshot()) == [
        "grant G1: table justice.public.prisons matches no registered table",
        "grant G2: row filter uses hukou_region_code, which social_security.public.insured"
        " does not have",
        "grant G2: row filter uses hukou_region_code, which social_security.public.pensioners"
        " does not have",
        "grant G2: row filter uses hukou_region_code, which social_security.public.payments"
        " does not have",
        "grant G3: subject_column 'person' is not a column of social_security.public.pensioners",
        *(
            f"source {source} belongs to undeclared department {source!r}"
            for source in (
                "public_security", "medical_insurance", "transport", "justice", "disabled_persons",
            )
        ),
    ]  # fmt: skip


def test_annotations_must_name_registered_columns() -> None:
    text = policy(
        """\
        tables:
          social_security.public.insured:
            columns:
              id_no: {classification: sensitive-personal}
              id_number: {classification: secret}
          social_security.public.members: {description: x}
        """
    )
    snapshot = CatalogSnapshot(version=1, tables=(demo_table("social_security.public.insured"),))
    assert [(p.line, p.message) for p in problems_of(text, snapshot=snapshot)] == [
        (11, "table social_security.public.insured: column id_number: unknown classification"
             " 'secret' (expected public, internal, sensitive-personal, restricted)"),
        (11, "table social_security.public.insured: has no column 'id_number'"),
        (12, "table social_security.public.members: is not a registered table"),
    ]  # fmt: skip


# -- row filters -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row_filter",
    [
        "hukou_region_code LIKE '51%' AND status = 'active'",
        "region_code LIKE '5101%'",
        "NOT (status <> 'active' OR status IS NULL)",
        "grade BETWEEN 1 AND 2 OR grade IN (3, 4) AND end_date IS NOT NULL",
        "amount >= -1.5 AND amount <= 100 AND name NOT LIKE '张%'",
        "TRUE",
    ],
)
def test_accepted_row_filters(row_filter: str) -> None:
    assert row_filter_problems(row_filter) == []


@pytest.mark.parametrize(
    ("row_filter", "problem"),
    [
        ("id_no IN (SELECT id_no FROM t)", "row filter may not use subqueries"),
        ("EXISTS (SELECT 1)", "row filter may not use subqueries"),
        ("upper(status) = 'ACTIVE'", "row filter may not use function UPPER"),
        ("amount + 1 > 2", "row filter may not use ADD expressions"),
        ("start_date > DATE '2025-01-01'", "row filter may not use function CAST"),
        ("r.status = 'active'", "row filter must name columns without a table qualifier"),
        ("status = ?", "row filter may not use PLACEHOLDER expressions"),
        ("status", "row filter is not a boolean expression"),
        ("'active'", "row filter is not a boolean expression"),
        ("status = 'a' AND region_code", "row filter is not a boolean expression"),
        ("status = 'active'; DROP TABLE residents", "row filter may not use BLOCK expressions"),
        ("status = ", "row filter is not valid Trino SQL"),
        ("status = 'active", "row filter is not valid Trino SQL"),
        ("", "row filter is not valid Trino SQL"),
    ],
)
def test_refused_row_filters(row_filter: str, problem: str) -> None:
    assert row_filter_problems(row_filter)[0].startswith(problem)


# -- writing ---------------------------------------------------------------------------------------


def test_dump_round_trips_every_field() -> None:
    doc = document(
        grant(
            "G9",
            table="social_security.public.pensioners",
            columns={"id_no": ColumnAction.parse("match"), "name": ColumnAction.parse("mask:name")},
            row_filter="region_code LIKE '5101%' AND pension_type IN ('employee', 'resident')",
            aggregate_only=AggregateOnly(10, "id_no"),
            valid_from=date(2025, 1, 1),
            valid_until=date(2027, 12, 31),
            purpose="statistics: 统计分析 #1",
        )
    )  # fmt: skip
    text = dump_policy(doc)
    assert "'*'" not in text and "valid_from: 2025-01-01" in text
    assert parse_policy(text) == doc


def test_values_that_look_like_other_yaml_types_stay_text() -> None:
    doc = PolicyDocument(
        departments=(Department("no", "yes"), Department("null", "1.5")),
        principals=(Principal("on", "no", ("~",), "2025-01-01"),),
    )
    assert parse_policy(dump_policy(doc)) == doc
