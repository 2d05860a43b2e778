"""The shape of refusals: what each one must say, and what it must not give away.

- A table that does not exist and one that exists but is not granted get the same message, word
  for word once the name is taken out, wherever in the statement the table appears.
- A denied column and a column that does not exist get the same message.
- GrantExpired names the grant and the date it lapsed; ColumnDenied names the column, the grant
  and the rule; MatchMisuse names the column, the rule and the grant; AggregateOnlyViolation
  names the table and the grant.
"""

from __future__ import annotations

import pytest

from gateway.errors import (
    AggregateOnlyViolation,
    ColumnDenied,
    GrantExpired,
    MatchMisuse,
    NotGranted,
    PolicyError,
)
from gateway.service import Gateway

# (principal, a table that exists but is not granted to them, one that does not exist)
UNGRANTED_AND_ABSENT = (
    ("mi_analyst", "public_security.public.residents", "public_security.public.citizens"),
    ("mi_analyst", "justice.public.incarcerations", "justice.public.paroles"),
    ("mi_analyst", "transport.public.trips", "transport.public.flights"),
    ("mi_analyst", "social_security.public.insured", "tax_bureau.public.returns"),
    ("lapsed_analyst", "social_security.public.pensioners", "social_security.public.pensions"),
    ("lapsed_analyst", "public_security.public.deaths", "public_security.public.births"),
    ("auditor", "social_security.public.payments", "social_security.public.refunds"),
    ("auditor", "medical_insurance.public.hospitalizations", "medical_insurance.public.clinics"),
    ("admin", "disabled_persons.public.certificates", "disabled_persons.public.applications"),
    ("admin", "public_security.public.residents", "audit.public.records"),
)

# Where a table can sit in a statement; {t} is the table.
POSITIONS = (
    "SELECT * FROM {t}",
    "SELECT x.no_such_column FROM {t} x",
    "SELECT count(*) AS c FROM {t}",
    "WITH c AS (SELECT * FROM {t}) SELECT 1 AS one",
    "SELECT 1 AS one WHERE EXISTS (SELECT 1 FROM {t})",
    "SELECT (SELECT count(*) FROM {t}) AS c",
)


def refusal(gateway: Gateway, principal: str, sql: str) -> PolicyError:
    with pytest.raises(PolicyError) as info:
        execution = gateway.execute(principal, sql)
        for _ in execution.result.pages(100):
            pass
    return info.value


def without(message: str, name: str) -> str:
    assert name in message, f"{name!r} should be named in {message!r}"
    return message.replace(name, "<table>")


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize(("principal", "ungranted", "absent"), UNGRANTED_AND_ABSENT)
def test_absent_and_ungranted_tables_read_the_same(
    gateway: Gateway, principal: str, ungranted: str, absent: str, position: str
) -> None:
    refused = refusal(gateway, principal, position.format(t=ungranted))
    missing = refusal(gateway, principal, position.format(t=absent))
    assert type(refused) is NotGranted and type(missing) is NotGranted
    assert without(str(refused), ungranted) == without(str(missing), absent)
    assert refused.rule == missing.rule == "not-granted"
    assert refused.error_name == missing.error_name == "PERMISSION_DENIED"
    assert str(refused) == f"table {ungranted} does not exist or is not granted to you"


@pytest.mark.parametrize(("principal", "ungranted", "absent"), UNGRANTED_AND_ABSENT)
def test_case_and_quoting_do_not_tell_tables_apart(
    gateway: Gateway, principal: str, ungranted: str, absent: str
) -> None:
    """Written in capitals or quoted, an existing table and an absent one still read the same."""
    for spell in (str.upper, lambda name: ".".join(f'"{p}"' for p in name.split("."))):
        refused = refusal(gateway, principal, f"SELECT * FROM {spell(ungranted)}")
        missing = refusal(gateway, principal, f"SELECT * FROM {spell(absent)}")
        assert type(refused) is type(missing) is NotGranted
        assert without(str(refused), ungranted) == without(str(missing), absent)


@pytest.mark.parametrize(
    ("principal", "table", "denied"),
    [
        ("si_analyst", "public_security.public.deaths", "cause_category"),
        ("si_analyst", "medical_insurance.public.hospitalizations", "diagnosis_code"),
        ("si_analyst", "transport.public.trips", "destination_code"),
        ("mi_analyst", "social_security.public.pensioners", "bank_account"),
        ("chengdu_si_analyst", "justice.public.incarcerations", "facility_code"),
    ],
)
def test_denied_and_absent_columns_read_the_same(
    gateway: Gateway, principal: str, table: str, denied: str
) -> None:
    refused = refusal(gateway, principal, f"SELECT count(t.{denied}) AS c FROM {table} t")
    missing = refusal(gateway, principal, f"SELECT count(t.no_such_column) AS c FROM {table} t")
    assert type(refused) is type(missing) is ColumnDenied
    assert (str(refused).replace(denied, "<column>")
            == str(missing).replace("no_such_column", "<column>"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT r.name FROM public_security.public.residents r",
        "SELECT count(*) AS c FROM public_security.public.residents",
        "SELECT t.trip_id FROM transport.public.trips t "
        "JOIN public_security.public.residents r ON r.id_no = t.id_no",
        "SELECT t.trip_id FROM transport.public.trips t "
        "WHERE t.id_no IN (SELECT r.id_no FROM public_security.public.residents r)",
    ],
)
def test_grant_expired_names_grant_and_date(gateway: Gateway, sql: str) -> None:
    err = refusal(gateway, "lapsed_analyst", sql)
    assert type(err) is GrantExpired
    message = str(err)
    assert "G12" in message
    assert "2025-12-31" in message
    assert "public_security.public.residents" in message
    assert err.rule == "grant-validity"


@pytest.mark.parametrize(
    ("principal", "sql", "column", "grant"),
    [
        ("si_analyst", "SELECT d.cause_category FROM public_security.public.deaths d",
         "cause_category", "G3"),
        ("si_analyst", "SELECT h.record_id FROM medical_insurance.public.hospitalizations h "
         "WHERE h.diagnosis_code = 'I21.0'", "diagnosis_code", "G4"),
        ("si_analyst", "SELECT sum(h.total_cost) AS s "
         "FROM medical_insurance.public.hospitalizations h", "total_cost", "G4"),
        ("si_analyst", "SELECT t.origin_code FROM transport.public.trips t", "origin_code", "G5"),
        ("si_analyst", "SELECT i.facility_code FROM justice.public.incarcerations i",
         "facility_code", "G6"),
        ("mi_analyst", "SELECT count(p.name) AS c FROM social_security.public.pensioners p",
         "name", "G10"),
        ("mi_analyst", "SELECT count(p.last_verified_on) AS c "
         "FROM social_security.public.pensioners p", "last_verified_on", "G10"),
        ("chengdu_si_analyst", "SELECT d.cause_category FROM public_security.public.deaths d",
         "cause_category", "G8.3"),
    ],
)
def test_column_denied_names_column_and_grant(
    gateway: Gateway, principal: str, sql: str, column: str, grant: str
) -> None:
    err = refusal(gateway, principal, sql)
    assert type(err) is ColumnDenied
    message = str(err)
    assert f"column {column} " in message
    assert f"grant {grant} " in message
    assert "deny" in message
    assert err.rule == "deny"


@pytest.mark.parametrize(
    ("principal", "sql", "grant"),
    [
        ("si_analyst", "SELECT d.id_no FROM public_security.public.deaths d", "G3"),
        ("si_analyst", "SELECT d.region_code FROM public_security.public.deaths d "
         "WHERE d.id_no LIKE '51%'", "G3"),
        ("si_analyst", "SELECT count(*) AS c FROM medical_insurance.public.hospitalizations h "
         "GROUP BY h.id_no", "G4"),
        ("si_analyst", "SELECT t.trip_id FROM transport.public.trips t ORDER BY t.id_no", "G5"),
        ("si_analyst", "SELECT count(DISTINCT i.id_no) AS c FROM justice.public.incarcerations i",
         "G6"),
        ("si_analyst", "SELECT c.grade FROM disabled_persons.public.certificates c "
         "WHERE substr(c.id_no, 1, 4) = '5101'", "G7"),
        ("mi_analyst", "SELECT count(*) AS c FROM social_security.public.pensioners p "
         "GROUP BY p.id_no", "G10"),
        ("chengdu_si_analyst", "SELECT d.id_no FROM public_security.public.deaths d", "G8.3"),
    ],
)
def test_match_misuse_names_column_rule_and_grant(
    gateway: Gateway, principal: str, sql: str, grant: str
) -> None:
    err = refusal(gateway, principal, sql)
    assert type(err) is MatchMisuse
    message = str(err)
    assert "column id_no " in message
    assert f"grant {grant})" in message
    assert "rule: match" in message
    assert err.rule == "match"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT p.monthly_amount FROM social_security.public.pensioners p",
        "SELECT p.region_code, count(*) OVER () AS c FROM social_security.public.pensioners p",
        "SELECT avg(t.monthly_amount) AS a "
        "FROM (SELECT p.monthly_amount FROM social_security.public.pensioners p) t",
    ],
)
def test_aggregate_only_names_table_and_grant(gateway: Gateway, sql: str) -> None:
    err = refusal(gateway, "mi_analyst", sql)
    assert type(err) is AggregateOnlyViolation
    assert "social_security.public.pensioners" in str(err)
    assert "G10" in str(err)
    assert err.rule == "aggregate-only"
