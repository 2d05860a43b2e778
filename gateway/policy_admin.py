"""Policy as code, before it is applied: what a proposed policy file changes (:func:`diff_policies`)
and what it would have decided on the statements the audit log recorded (:func:`shadow_run`).

Both are pure, over policy documents, catalog snapshots and audit records; the few functions at
the end read those from disk.

The shadow run replays every recorded decision (``allowed`` or ``refused``; ``failed`` records
never reached a policy decision) through the policy pipeline twice, under the current and the
proposed policy, on the statement's own day: the local date of its record, when the gateway's
clock decided it, so that grants expiring or starting since then do not pass for effects of
the proposal (``on`` evaluates every statement on one given day instead). Each statement ends
up in one of:

``newly-refused``     recorded allowed, allowed again under the current policy, refused under
                      the proposed one (with the rule and reason it would get)
``newly-allowed``     recorded refused, refused again now, allowed under the proposal
``rewritten``         allowed under both, but the statement sent to the engine differs: other
                      masks, row filters, grants or columns in its policy views
``unchanged``         the same decision (a refusal may change its wording)
``not-reproducible``  replaying it under the current policy does not give the recorded decision:
                      the policy changed since, or the statement needed what the log does not
                      keep (session catalog and schema, parameter values). Never counted as a
                      flip.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from catalog.audit_store import AuditReader, AuditRecord
from catalog.errors import ShuqiaoError
from catalog.models import (
    CatalogSnapshot,
    Department,
    Grant,
    PolicyDocument,
    Principal,
    TableAnnotation,
)
from catalog.policy_file import load_policy
from gateway.errors import PolicyError
from gateway.policy.context import PolicyContext
from gateway.policy.masks import MASKS
from gateway.policy.pipeline import plan
from gateway.policy.rewrite import Target

# ---------------------------------------------------------------------------------------------
# Diff

Change = Literal["added", "removed", "changed"]
Fields = dict[str, str | None]


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        return f"{self.field}: {_shown(self.before)} -> {_shown(self.after)}"


@dataclass(frozen=True, slots=True)
class EntryChange:
    """One department, principal, table annotation or grant that the proposal changes.

    ``fields`` lists what differs; for an added or removed entry, every field it has.
    """

    section: str
    name: str
    change: Change
    fields: tuple[FieldChange, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"section": self.section, "name": self.name, "change": self.change,
                "fields": [dataclasses.asdict(f) for f in self.fields]}


@dataclass(frozen=True)
class PolicyDiff:
    changes: tuple[EntryChange, ...]

    @property
    def empty(self) -> bool:
        return not self.changes

    def as_json(self) -> list[dict[str, Any]]:
        return [change.as_json() for change in self.changes]

    def text(self) -> str:
        if self.empty:
            return "no changes\n"
        lines: list[str] = []
        for change in self.changes:
            lines.append(f"{_MARKS[change.change]} {change.section[:-1]} {change.name}"
                         f" {change.change}")
            lines += [f"    {_field_text(field, change.change)}" for field in change.fields]
        return "\n".join(lines) + "\n"


_MARKS: Mapping[Change, str] = {"added": "+", "removed": "-", "changed": "~"}


def _shown(value: str | None) -> str:
    return "(none)" if value is None else value


def _field_text(field: FieldChange, change: Change) -> str:
    """``field: value`` for an added or removed entry, ``field: before -> after`` otherwise."""
    if change == "changed":
        return str(field)
    return f"{field.field}: {_shown(field.after if change == 'added' else field.before)}"


def diff_policies(current: PolicyDocument, proposed: PolicyDocument) -> PolicyDiff:
    """Every entry ``proposed`` adds, removes or changes, section by section: in the current
    policy's order, then the new entries in the proposal's."""
    changes = [change for section, name, fields in SECTIONS
               for change in _section_changes(section, getattr(current, section),
                                              getattr(proposed, section), name, fields)]
    return PolicyDiff(tuple(changes))


def _section_changes(section: str, before: Sequence[Any], after: Sequence[Any],
                     name: Callable[[Any], str],
                     fields: Callable[[Any], Fields]) -> Iterable[EntryChange]:
    old = {name(entry): fields(entry) for entry in before}
    new = {name(entry): fields(entry) for entry in after}
    for key in dict.fromkeys([*old, *new]):
        if key not in new:
            yield EntryChange(section, key, "removed", _field_changes(old[key], {}))
        elif key not in old:
            yield EntryChange(section, key, "added", _field_changes({}, new[key]))
        elif old[key] != new[key]:
            yield EntryChange(section, key, "changed", _field_changes(old[key], new[key]))


def _field_changes(before: Fields, after: Fields) -> tuple[FieldChange, ...]:
    names = list(dict.fromkeys([*before, *after]))
    return tuple(FieldChange(n, before.get(n), after.get(n)) for n in names
                 if before.get(n) != after.get(n))


def _department_fields(d: Department) -> Fields:
    return {"title": d.title or None}


def _principal_fields(p: Principal) -> Fields:
    return {"department": p.department, "roles": ", ".join(p.roles) or None,
            "title": p.title or None}


def _annotation_fields(t: TableAnnotation) -> Fields:
    found: Fields = {"description": t.description}
    for column, note in t.columns.items():
        found[f"columns.{column}.classification"] = note.classification
        found[f"columns.{column}.description"] = note.description
    return found


def _grant_fields(g: Grant) -> Fields:
    aggregate = g.aggregate_only and (f"min_group_size={g.aggregate_only.min_group_size},"
                                      f" subject_column={g.aggregate_only.subject_column}")
    return {
        "principal": g.principal, "table": g.table, "purpose": g.purpose,
        **{f"columns.{column}": str(action) for column, action in g.columns.items()},
        "row_filter": g.row_filter, "aggregate_only": aggregate or None,
        "valid_from": _iso(g.valid_from), "valid_until": _iso(g.valid_until),
        "approved_by": g.approved_by or None,
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


SECTIONS: tuple[tuple[str, Callable[[Any], str], Callable[[Any], Fields]], ...] = (
    ("departments", lambda d: d.name, _department_fields),
    ("principals", lambda p: p.name, _principal_fields),
    ("tables", lambda t: t.table, _annotation_fields),
    ("grants", lambda g: g.id, _grant_fields),
)


# ---------------------------------------------------------------------------------------------
# Shadow run

Outcome = Literal["newly-refused", "newly-allowed", "rewritten", "unchanged", "not-reproducible"]
OUTCOMES: tuple[Outcome, ...] = (
    "newly-refused", "newly-allowed", "rewritten", "unchanged", "not-reproducible")
#: The engine dialect statements are compared in; the hash-mask key stays redacted.
COMPARED_TARGET = Target("trino")


@dataclass(frozen=True, slots=True)
class Recorded:
    """A statement as its decision record holds it."""

    seq: int
    at: str
    day: date
    principal: str
    sql: str
    decision: str
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the pipeline decides on a statement; ``failed`` when it never got to decide."""

    decision: Literal["allowed", "refused", "failed"]
    rule: str | None = None
    reason: str = ""
    grants: tuple[str, ...] = ()
    rewritten: str | None = None


@dataclass(frozen=True, slots=True)
class Replayed:
    statement: Recorded
    current: Verdict
    proposed: Verdict
    outcome: Outcome

    def as_json(self) -> dict[str, Any]:
        s = self.statement
        return {"seq": s.seq, "at": s.at, "principal": s.principal, "sql": s.sql,
                "recorded": {"decision": s.decision, "rule": s.rule},
                "current": _verdict_json(self.current),
                "proposed": _verdict_json(self.proposed), "outcome": self.outcome}


def _verdict_json(v: Verdict) -> dict[str, Any]:
    return {"decision": v.decision, "rule": v.rule, "reason": v.reason, "grants": list(v.grants)}


@dataclass(frozen=True)
class ShadowReport:
    replayed: tuple[Replayed, ...]

    def of(self, outcome: Outcome) -> tuple[Replayed, ...]:
        return tuple(r for r in self.replayed if r.outcome == outcome)

    @property
    def flips(self) -> tuple[Replayed, ...]:
        return self.of("newly-refused") + self.of("newly-allowed")

    def counts(self) -> dict[str, int]:
        return {outcome: len(self.of(outcome)) for outcome in OUTCOMES}

    def as_json(self) -> dict[str, Any]:
        return {"counts": self.counts(),
                "statements": [r.as_json() for r in self.replayed if r.outcome != "unchanged"]}

    def text(self) -> str:
        lines = [_replayed_line(r) for outcome in OUTCOMES[:3] for r in self.of(outcome)]
        counts = ", ".join(f"{n} {outcome}" for outcome, n in self.counts().items())
        return "\n".join([*lines, f"{len(self.replayed)} statements replayed: {counts}"]) + "\n"


def _replayed_line(r: Replayed) -> str:
    s, after = r.statement, r.proposed
    why = f" [{after.rule}] {after.reason}" if after.decision == "refused" else (
        f" under {', '.join(after.grants) or 'no grant'}")
    return f"{r.outcome}: #{s.seq} {s.at} {s.principal}: {one_line(s.sql)}\n    ->{why}"


def one_line(sql: str, width: int = 160) -> str:
    """A statement on one line for listings: without ``--`` comment lines, shortened."""
    kept = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    text = " ".join(" ".join(kept).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def proposed_snapshot(current: CatalogSnapshot, doc: PolicyDocument) -> CatalogSnapshot:
    """The catalog as it would be with ``doc`` applied: the same sources and tables, the
    proposal's departments, principals and grants. Annotations decide nothing and are left."""
    return dataclasses.replace(current, departments=doc.departments,
                               principals=doc.principals, grants=doc.grants)


def replay(snapshot: CatalogSnapshot, principal: str, sql: str, day: date) -> Verdict:
    """Plan ``sql`` for ``principal`` on ``day``; nothing is executed."""
    try:
        ctx = PolicyContext.for_principal(snapshot, principal, day)
        made = plan(sql, ctx)
    except PolicyError as error:
        return Verdict("refused", error.rule, str(error))
    except ShuqiaoError as error:
        return Verdict("failed", None, f"{type(error).__name__}: {error}")
    grants = tuple(g.id for g in made.decision.grants)
    return Verdict("allowed", grants=grants, rewritten=made.statement(COMPARED_TARGET))


def compare(recorded: Recorded, current: Verdict, proposed: Verdict) -> Outcome:
    if current.decision != recorded.decision:
        return "not-reproducible"
    if current.decision != proposed.decision:
        return "newly-refused" if current.decision == "allowed" else "newly-allowed"
    if current.decision == "allowed" and current.rewritten != proposed.rewritten:
        return "rewritten"
    return "unchanged"


def shadow_run(statements: Iterable[Recorded], current: CatalogSnapshot,
               proposed: CatalogSnapshot, *, on: date | None = None) -> ShadowReport:
    """Replay ``statements`` under both snapshots, on their own day or on ``on``."""
    verdicts: dict[tuple[int, str, str, date], Verdict] = {}

    def decide(snapshot: CatalogSnapshot, s: Recorded) -> Verdict:
        key = (id(snapshot), s.principal, s.sql, on or s.day)
        if key not in verdicts:
            verdicts[key] = replay(snapshot, s.principal, s.sql, on or s.day)
        return verdicts[key]

    replayed = []
    for s in statements:
        before, after = decide(current, s), decide(proposed, s)
        replayed.append(Replayed(s, before, after, compare(s, before, after)))
    return ShadowReport(tuple(replayed))


def recorded_statements(records: Iterable[AuditRecord],
                        tz: tzinfo | None = None) -> list[Recorded]:
    """The decision records that hold a policy decision, oldest first; ``tz`` is the zone of
    the gateway's clock (``None``: this machine's)."""
    found = [_recorded(r, tz) for r in records
             if r.kind == "decision" and r.outcome in ("allowed", "refused")]
    return sorted(found, key=lambda s: s.seq)


def _recorded(record: AuditRecord, tz: tzinfo | None) -> Recorded:
    reason = record.body.get("reason") or {}
    return Recorded(record.seq, record.at, record_day(record.at, tz), record.principal,
                    str(record.body.get("sql", "")), str(record.outcome), reason.get("rule"))


def record_day(at: str, tz: tzinfo | None = None) -> date:
    """The day an audit timestamp (UTC, ``...Z``) falls on in ``tz``."""
    return datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(tz).date()


# ---------------------------------------------------------------------------------------------
# Reading the inputs


def load_proposal(path: Path, current: CatalogSnapshot) -> PolicyDocument:
    """A policy file checked exactly as ``shuqiao apply`` would check it."""
    return load_policy(path, snapshot=current, known_masks=MASKS.keys())


def read_statements(audit: AuditReader, *, since: datetime | date | None = None,
                    limit: int = 100_000) -> list[Recorded]:
    """The policy decisions among the newest ``limit`` audit records (since ``since``)."""
    return recorded_statements(audit.search(since=since, limit=limit))
