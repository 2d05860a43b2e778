"""The catalog's nouns: departments, sources, tables, principals and grants.

Everything here is a frozen value. The policy pipeline reads a :class:`CatalogSnapshot` and never
mutates it; the store (``catalog.store``) is the single writer that produces new snapshots.

Logical names are always ``<source>.public.<table>`` (lower case); the physical schema and table
name a source uses are kept beside them so engines can address the real object.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

LOGICAL_SCHEMA = "public"

#: The words a column's classification may take, least to most sensitive.
CLASSIFICATIONS = ("public", "internal", "sensitive-personal", "restricted")


class ActionKind(StrEnum):
    """What a grant lets a principal do with one column."""

    ALLOW = "allow"
    MASK = "mask"
    MATCH = "match"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class ColumnAction:
    """A column's action under a grant: ``allow``, ``mask:<fn>``, ``match`` or ``deny``."""

    kind: ActionKind
    mask: str | None = None

    @classmethod
    def parse(cls, text: str) -> ColumnAction:
        """Parse the policy-file spelling; raises ``ValueError`` naming the bad spelling."""
        word = text.strip()
        if word.startswith("mask:"):
            fn = word.removeprefix("mask:").strip()
            if not fn:
                raise ValueError("mask action needs a function name, e.g. mask:phone")
            return cls(ActionKind.MASK, fn)
        try:
            kind = ActionKind(word)
        except ValueError:
            raise ValueError(
                f"unknown column action {word!r}; expected allow, mask:<fn>, match or deny"
            ) from None
        if kind is ActionKind.MASK:
            raise ValueError("mask action needs a function name, e.g. mask:phone")
        return cls(kind)

    def __str__(self) -> str:
        return f"mask:{self.mask}" if self.kind is ActionKind.MASK else self.kind.value


ALLOW = ColumnAction(ActionKind.ALLOW)
MATCH = ColumnAction(ActionKind.MATCH)
DENY = ColumnAction(ActionKind.DENY)


@dataclass(frozen=True, slots=True)
class Department:
    name: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """A department's database. ``options`` holds connection settings; secrets are references."""

    name: str
    kind: str
    department: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    classification: str = "internal"
    description: str = ""


@dataclass(frozen=True, slots=True)
class Table:
    source: str
    name: str
    columns: tuple[Column, ...]
    physical_schema: str = "main"
    physical_name: str = ""
    description: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.source}.{LOGICAL_SCHEMA}.{self.name}"

    @property
    def physical(self) -> str:
        return self.physical_name or self.name

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    department: str
    roles: tuple[str, ...] = ()
    title: str = ""


@dataclass(frozen=True, slots=True)
class AggregateOnly:
    """The grant may only be read through aggregates, each group holding enough persons."""

    min_group_size: int
    subject_column: str = "id_no"


@dataclass(frozen=True, slots=True)
class Grant:
    """An approved scope: one principal, one table pattern, one purpose, per-column actions.

    ``columns`` maps column name (or ``*`` for "every other column") to its action; a column the
    grant does not name, with no ``*`` entry, is ``deny``.
    """

    id: str
    principal: str
    table: str
    purpose: str
    columns: Mapping[str, ColumnAction] = field(hash=False)
    row_filter: str | None = None
    aggregate_only: AggregateOnly | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    approved_by: str = ""

    def covers(self, qualified_table: str) -> bool:
        return fnmatch.fnmatchcase(qualified_table, self.table)

    @property
    def specificity(self) -> int:
        """Exact table names beat ``schema.*`` patterns when both cover a table."""
        return 0 if "*" in self.table else 1

    def action(self, column: str) -> ColumnAction:
        return self.columns.get(column) or self.columns.get("*") or DENY

    def validity_problem(self, today: date) -> str | None:
        """``None`` when the grant is in force on ``today``; otherwise why not, with the date."""
        if self.valid_from and today < self.valid_from:
            return f"grant {self.id} is not valid until {self.valid_from.isoformat()}"
        if self.valid_until and today > self.valid_until:
            return f"grant {self.id} expired on {self.valid_until.isoformat()}"
        return None


@dataclass(frozen=True)
class CatalogSnapshot:
    """A consistent, immutable view of the catalog; ``version`` changes on every write."""

    version: int
    departments: tuple[Department, ...] = ()
    sources: tuple[Source, ...] = ()
    tables: tuple[Table, ...] = ()
    principals: tuple[Principal, ...] = ()
    grants: tuple[Grant, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tables", {t.qualified: t for t in self.tables})
        object.__setattr__(self, "_principals", {p.name: p for p in self.principals})
        object.__setattr__(self, "_sources", {s.name: s for s in self.sources})
        by_principal: dict[str, list[Grant]] = {}
        for grant in self.grants:
            by_principal.setdefault(grant.principal, []).append(grant)
        object.__setattr__(self, "_grants_by_principal", by_principal)
        # (principal, table) -> grants_for's answer, filled on first use for registered ones;
        # the snapshot is immutable, so an answer never goes stale.
        object.__setattr__(self, "_grants_for", {})

    def table(self, qualified: str) -> Table | None:
        tables: dict[str, Table] = self._tables  # type: ignore[attr-defined]
        return tables.get(qualified)

    def principal(self, name: str) -> Principal | None:
        principals: dict[str, Principal] = self._principals  # type: ignore[attr-defined]
        return principals.get(name)

    def source(self, name: str) -> Source | None:
        sources: dict[str, Source] = self._sources  # type: ignore[attr-defined]
        return sources.get(name)

    def grants_for(self, principal: str, qualified_table: str) -> tuple[Grant, ...]:
        """Every grant of ``principal`` covering the table, most specific first."""
        memo: dict[tuple[str, str], tuple[Grant, ...]] = self._grants_for  # type: ignore[attr-defined]
        key = (principal, qualified_table)
        found = memo.get(key)
        if found is None:
            found = self._covering(principal, qualified_table)
            if self.table(qualified_table) and self.principal(principal):
                memo[key] = found  # bounded: registered principals x registered tables
        return found

    def _covering(self, principal: str, qualified_table: str) -> tuple[Grant, ...]:
        by_principal: dict[str, list[Grant]] = self._grants_by_principal  # type: ignore[attr-defined]
        found = [g for g in by_principal.get(principal, ()) if g.covers(qualified_table)]
        return tuple(sorted(found, key=lambda g: -g.specificity))

    def tables_of(self, source: str) -> Iterable[Table]:
        return (t for t in self.tables if t.source == source)


#: Where an entry sits in a policy document: ("grants", 3, "columns", "phone") -> its line.
LineKey = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ColumnAnnotation:
    classification: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class TableAnnotation:
    """Descriptions and classifications a policy sets on a registered table and its columns."""

    table: str
    description: str | None = None
    columns: Mapping[str, ColumnAnnotation] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyDocument:
    """A policy: what a policy file holds and what the store applies and exports.

    ``lines`` maps entries to their line in the file they came from; it is not compared.
    """

    departments: tuple[Department, ...] = ()
    principals: tuple[Principal, ...] = ()
    tables: tuple[TableAnnotation, ...] = ()
    grants: tuple[Grant, ...] = ()
    path: str = field(default="<document>", compare=False)
    lines: Mapping[LineKey, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, *key: str | int) -> int:
        """The line of ``key`` or of its nearest enclosing entry; 0 when unknown."""
        return line_of(self.lines, key)


def line_of(lines: Mapping[LineKey, int], key: LineKey) -> int:
    """The line of ``key`` in a document's line map, or of its nearest enclosing entry; 0 when
    unknown (shared by policy and resource documents)."""
    for end in range(len(key), 0, -1):
        found = lines.get(key[:end])
        if found is not None:
            return found
    return 0
