"""``CatalogSnapshot.grants_for`` answers from an index by principal and a memo per registered
table; the answers must be those of matching every grant's pattern, in the same order."""

from __future__ import annotations

import fnmatch

import pytest

from catalog.models import ALLOW, CatalogSnapshot, Column, Grant, Principal, Table


def linear(snapshot: CatalogSnapshot, principal: str, table: str) -> tuple[Grant, ...]:
    """The definition: every grant of the principal whose pattern covers the table, exact
    names before patterns, otherwise in the snapshot's order."""
    found = [g for g in snapshot.grants
             if g.principal == principal and fnmatch.fnmatchcase(table, g.table)]
    return tuple(sorted(found, key=lambda g: -g.specificity))


def grant(id_: str, principal: str, pattern: str) -> Grant:
    return Grant(id_, principal, pattern, "test", {"*": ALLOW})


TABLES = tuple(Table(source, name, (Column("id", "INTEGER"),))
               for source in ("hr", "hr_archive", "tax")
               for name in ("people", "people_2026", "pay"))
GRANTS = (
    grant("g1", "ana", "hr.public.*"),
    grant("g2", "ana", "hr.public.people"),
    grant("g3", "ana", "hr*.public.people*"),
    grant("g4", "bo", "tax.public.pay"),
    grant("g5", "ana", "*"),
    grant("g6", "ana", "hr.public.peopl?"),
    grant("g7", "ana", "[th]*.public.pay"),
    grant("g8", "bo", "tax.public.pay"),
)
PRINCIPALS = (Principal("ana", "hr"), Principal("bo", "tax"))
SNAPSHOT = CatalogSnapshot(1, tables=TABLES, principals=PRINCIPALS, grants=GRANTS)
NAMES = [t.qualified for t in TABLES] + ["hr.public.unregistered", "HR.public.people", ""]


@pytest.mark.parametrize("principal", ["ana", "bo", "nobody"])
@pytest.mark.parametrize("table", NAMES)
def test_grants_for_matches_every_pattern(principal: str, table: str) -> None:
    expected = linear(SNAPSHOT, principal, table)
    assert SNAPSHOT.grants_for(principal, table) == expected
    assert SNAPSHOT.grants_for(principal, table) == expected  # answered from the memo


def test_demo_grants(demo_snapshot: CatalogSnapshot) -> None:
    principals = {g.principal for g in demo_snapshot.grants} | {"nobody"}
    for principal in principals:
        for table in demo_snapshot.tables:
            for _ in range(2):
                assert demo_snapshot.grants_for(principal, table.qualified) == linear(
                    demo_snapshot, principal, table.qualified)


def test_only_registered_names_are_memoised() -> None:
    snapshot = CatalogSnapshot(2, tables=TABLES, principals=PRINCIPALS, grants=GRANTS)
    for n in range(100):
        snapshot.grants_for("ana", f"hr.public.guess_{n}")
        snapshot.grants_for(f"user_{n}", "hr.public.people")
    snapshot.grants_for("ana", "hr.public.people")
    assert list(snapshot._grants_for) == [("ana", "hr.public.people")]  # type: ignore[attr-defined]
