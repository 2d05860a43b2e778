"""Governance: the resource catalogue, requests and approvals, source probes and scorecards.

One :class:`Governance` object over the catalog store and the audit log, with an injected
clock. The workflow of a request (rules in :mod:`gateway.approval`)::

    request     unconditional (无条件共享)  approved at once under the resource's default masks,
                                          approved_by "auto:unconditional"
                conditional (有条件共享)    pending, for a data owner of the providing department,
                                          due after ``deadline_days`` working days
                not shareable (不予共享)    refused with the resource's recorded legal basis
    approve     by a data owner of the providing department, never the requester nor an admin;
                may narrow columns, rows or period, never widen them
    reject      the same authority, with a reason
    withdraw    the requester, while the request is pending
    revoke      a data owner of the providing department: the grant leaves the catalog and the
                catalog version moves, so the very next statement (and plan) is refused

There is no background thread. Before each step the state is *settled*: pending requests past
their deadline are marked lapsed, active grants past their end are marked expired (the policy
pipeline already refuses them), and active grants a policy file replaced away are put back.

Every step is an event in the audit log's chain, written inside the catalog transaction it
records (a step whose event cannot be written is rolled back): ``request.created``,
``request.approved``, ``request.narrowed``, ``request.rejected``, ``request.refused``,
``request.lapsed``, ``request.withdrawn``, ``grant.revoked``, ``grant.expired``,
``grant.reinstated``, ``resource.applied``. Automatic steps name their actor ``auto:<why>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from catalog.audit_store import AuditLog
from catalog.errors import CatalogError
from catalog.governance_models import (
    AccessRequest,
    Freshness,
    GrantState,
    IssuedGrant,
    Probe,
    RequestStatus,
    Resource,
    ResourceDocument,
    Scope,
    ShareClass,
)
from catalog.governance_store import GovernanceStore, GovernanceWrite
from catalog.models import LOGICAL_SCHEMA, CatalogSnapshot, Principal, Source
from catalog.policy_file import load_policy
from catalog.resource_file import ResourceFileError, load_resources, validate_resources
from catalog.store import CatalogStore
from connectors.base import Health, connector_for
from gateway import sources as source_ops
from gateway.approval import (
    ADMIN_ROLE,
    DATA_OWNER_ROLE,
    Conflict,
    GovernanceError,
    InvalidRequest,
    NotFound,
    NotPermitted,
    RequestForm,
    authority_problem,
    grant_for,
    narrowed_scope,
    requested_scope,
)
from gateway.audit import AUDITOR_ROLE
from gateway.catalogue import Catalogue, Entry
from gateway.policy.masks import MASKS
from gateway.scorecards import Facts, Period, Scorecard, Served, compute_scorecards
from gateway.scorecards import export_scorecards as export_scorecards

if TYPE_CHECKING:
    from gateway.service import Gateway

__all__ = [
    "Conflict", "Governance", "GovernanceError", "InvalidRequest", "NotFound", "NotPermitted",
    "RequestForm", "WorkCalendar", "export_scorecards", "grant_json", "load_calendar",
    "request_json",
]  # fmt: skip

DEFAULT_DEADLINE_DAYS = 5
SCORECARD_DAYS = 30
AUTO_UNCONDITIONAL = "auto:unconditional"
AUTO_NOT_SHAREABLE = "auto:not_shareable"
AUTO_DEADLINE = "auto:deadline"
AUTO_EXPIRY = "auto:expiry"
AUTO_REINSTATE = "auto:reinstate"
_ALL_RECORDS = 2**62


def local_now() -> datetime:
    return datetime.now().astimezone()


# ---------------------------------------------------------------------------------------------
# Working days.


@dataclass(frozen=True)
class WorkCalendar:
    """Monday to Friday, less ``holidays``, plus ``workdays`` (weekend days worked in lieu,
    调休上班)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start``."""
        day = start
        while days > 0:
            day += timedelta(days=1)
            days -= self.is_working_day(day)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 if ``end <= start``)."""
        span = (start + timedelta(days=n) for n in range(1, (end - start).days + 1))
        return sum(1 for day in span if self.is_working_day(day))


def load_calendar(path: Path | str) -> WorkCalendar:
    """A calendar file: ``holidays:`` and ``workdays:``, lists of ISO dates."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise CatalogError(f"cannot read calendar {path}: {err}") from None
    if not isinstance(data, dict) or set(data) - {"holidays", "workdays"}:
        raise CatalogError(f"calendar {path}: expected the keys holidays and workdays")
    return WorkCalendar(_days(data.get("holidays"), path), _days(data.get("workdays"), path))


def _days(values: Any, path: Path | str) -> frozenset[date]:
    found = values or []
    if not isinstance(found, list) or not all(type(d) is date for d in found):
        raise CatalogError(f"calendar {path}: holidays and workdays are lists of YYYY-MM-DD")
    return frozenset(found)


# ---------------------------------------------------------------------------------------------
# The workflow.


class Governance:
    """Catalogue, requests, approvals, probes and scorecards over one catalog and audit log."""

    def __init__(self, store: CatalogStore, audit_log: AuditLog,
                 clock: Callable[[], datetime] = local_now, *,
                 deadline_days: int = DEFAULT_DEADLINE_DAYS, holidays: Iterable[date] = (),
                 workdays: Iterable[date] = ()) -> None:
        if deadline_days < 1:
            raise ValueError("deadline_days must be at least 1")
        self.catalog = store
        self.records = GovernanceStore(store)
        self.audit = audit_log
        self.clock = clock
        self.deadline_days = deadline_days
        self.calendar = WorkCalendar(frozenset(holidays), frozenset(workdays))

    @classmethod
    def for_gateway(cls, gateway: Gateway,
                    clock: Callable[[], datetime] = local_now) -> Governance:
        """Over a gateway's catalog and audit log; ``governance.deadline_days`` and
        ``governance.calendar`` are read from its settings when they are declared."""
        values = gateway.settings.values
        calendar = WorkCalendar()
        if values.get("governance.calendar"):
            calendar = load_calendar(gateway.settings.path("governance.calendar"))
        days = int(str(values.get("governance.deadline_days", DEFAULT_DEADLINE_DAYS)))
        return cls(gateway.store, gateway.audit.log, clock, deadline_days=days,
                   holidays=calendar.holidays, workdays=calendar.workdays)

    def close(self) -> None:
        self.records.close()

    def today(self) -> date:
        return self.clock().date()

    def local_day(self, moment: datetime) -> date:
        """The calendar day of ``moment`` in the clock's time zone."""
        return moment.astimezone(self.clock().tzinfo).date()

    # -- the catalogue ---------------------------------------------------------------------------

    def catalogue(self) -> Catalogue:
        return Catalogue(self.catalog.snapshot(), self.records.resources())

    def entry(self, code_or_table: str) -> Entry:
        found = self.catalogue().find(code_or_table)
        if found is None:
            raise NotFound(f"no catalogued resource {code_or_table!r}")
        return found

    def apply_resources(self, doc: ResourceDocument, actor: str = "") -> None:
        """Make ``doc`` the catalogue, whole, or refuse it whole (:class:`ResourceFileError`)."""
        problems = validate_resources(doc, self.catalog.snapshot(), MASKS.keys())
        if problems:
            raise ResourceFileError(doc.path, problems)
        with self.records.writing() as write:
            write.replace_resources(doc.resources)
            self.audit.event("resource.applied", actor, {
                "path": doc.path, "resources": [r.code for r in doc.resources]})

    def apply_resource_file(self, path: Path | str, actor: str = "") -> ResourceDocument:
        doc = load_resources(path, snapshot=self.catalog.snapshot(), known_masks=MASKS.keys())
        self.apply_resources(doc, actor)
        return doc

    # -- requests --------------------------------------------------------------------------------

    def request(self, requester: str, form: RequestForm) -> AccessRequest:
        """Ask for a catalogued table; see the module docstring for what happens next."""
        self.settle()
        snapshot = self.catalog.snapshot()
        asker = _principal(snapshot, requester)
        entry = self.entry(form.table)
        table = snapshot.table(entry.resource.table)
        assert table is not None  # entries exist only for registered tables
        scope = requested_scope(table, entry.resource, form, self.today())
        self._check_new(snapshot, requester, entry.resource)
        now = self.clock()
        with self.records.writing() as write:
            request = self._new_request(write, asker, entry.resource, form, scope, now)
            write.add_request(request)
            self._event("request.created", requester, _created(request))
            return self._route(write, request, entry.resource)

    def _check_new(self, snapshot: CatalogSnapshot, requester: str, resource: Resource) -> None:
        held = [g for g in snapshot.grants_for(requester, resource.table)
                if g.validity_problem(self.today()) is None]
        if held:
            raise Conflict(f"{resource.table} is already granted to {requester} by grant"
                           f" {held[0].id}")
        for pending in self.records.requests(RequestStatus.PENDING):
            if (pending.requester, pending.table) == (requester, resource.table):
                raise Conflict(f"request {pending.id} for {resource.table} is already pending")

    def _new_request(self, write: GovernanceWrite, asker: Principal, resource: Resource,
                     form: RequestForm, scope: Scope, now: datetime) -> AccessRequest:
        return AccessRequest(
            id=write.next_request_id(), requester=asker.name,
            requester_department=asker.department, resource=resource.code,
            table=resource.table, department=resource.department,
            share_class=resource.share_class, purpose=form.purpose.strip(),
            scenario=form.scenario.strip(), legal_basis=form.legal_basis.strip(),
            requested=scope, created_at=now,
            deadline=self.calendar.add_working_days(now.date(), self.deadline_days))

    def _route(self, write: GovernanceWrite, request: AccessRequest,
               resource: Resource) -> AccessRequest:
        if resource.share_class is ShareClass.UNCONDITIONAL:
            return self._grant(write, request, request.requested, resource, AUTO_UNCONDITIONAL)
        if resource.share_class is ShareClass.NOT_SHAREABLE:
            reason = (f"{resource.code} {resource.name} is not shareable"
                      f" ({resource.share_class.label}): {resource.basis}")
            return self._decide(write, request, RequestStatus.REFUSED, AUTO_NOT_SHAREABLE,
                                reason, "request.refused")
        return request

    def approve(self, request_id: str, owner: str, *, columns: Sequence[str] | None = None,
                row_filter: str | None = None, valid_until: date | None = None
                ) -> AccessRequest:
        """Approve a pending request, possibly narrowed; the grant is in force at once."""
        self.settle()
        request, snapshot = self._decidable(request_id, owner)
        entry = self.entry(request.table)
        if entry.resource.share_class is ShareClass.NOT_SHAREABLE:
            raise Conflict(f"{entry.code} has since been catalogued as not shareable"
                           f" ({entry.resource.share_class.label}); reject the request")
        table = snapshot.table(request.table)
        assert table is not None
        scope = narrowed_scope(request.requested, table, self.today(), columns=columns,
                               row_filter=row_filter, valid_until=valid_until)
        with self.records.writing() as write:
            return self._grant(write, request, scope, entry.resource, owner)

    def reject(self, request_id: str, owner: str, reason: str) -> AccessRequest:
        self.settle()
        if not reason.strip():
            raise InvalidRequest("a rejection needs a reason")
        request, _ = self._decidable(request_id, owner)
        with self.records.writing() as write:
            return self._decide(write, request, RequestStatus.REJECTED, owner, reason.strip(),
                                "request.rejected")

    def withdraw(self, request_id: str, requester: str) -> AccessRequest:
        self.settle()
        request = self._pending(request_id)
        if request.requester != requester:
            raise NotPermitted("only the requester may withdraw a request")
        with self.records.writing() as write:
            return self._decide(write, request, RequestStatus.WITHDRAWN, requester,
                                "withdrawn by the requester", "request.withdrawn")

    def _pending(self, request_id: str) -> AccessRequest:
        request = self.records.request(request_id)
        if request is None:
            raise NotFound(f"no request {request_id!r}")
        if request.status is not RequestStatus.PENDING:
            raise Conflict(f"request {request_id} is {request.status}, not pending")
        return request

    def _decidable(self, request_id: str, owner: str) -> tuple[AccessRequest, CatalogSnapshot]:
        request = self._pending(request_id)
        snapshot = self.catalog.snapshot()
        problem = authority_problem(snapshot, request.department, owner, request.requester)
        if problem:
            raise NotPermitted(f"{owner} may not decide on {request_id}: {problem}")
        return request, snapshot

    def _grant(self, write: GovernanceWrite, request: AccessRequest, scope: Scope,
               resource: Resource, approver: str) -> AccessRequest:
        now = self.clock()
        approved = dataclasses.replace(request, status=RequestStatus.APPROVED, decided_at=now,
                                       decided_by=approver, granted=scope)
        if not write.decide(approved):
            raise Conflict(f"request {request.id} was decided meanwhile")
        grant = grant_for(request, scope, resource, approver)
        if grant.id in write.catalog_grant_ids():
            raise Conflict(f"the catalog already has a grant {grant.id}")
        write.issue(IssuedGrant(grant, request.id, now))
        if approved.narrowed:
            self._event("request.narrowed", approver, _narrowing(request.requested, scope,
                                                                  request.id))
        self._event("request.approved", approver, _approval(approved, grant.columns))
        return approved

    def _decide(self, write: GovernanceWrite, request: AccessRequest, status: RequestStatus,
                actor: str, reason: str, event: str) -> AccessRequest:
        decided = dataclasses.replace(request, status=status, decided_at=self.clock(),
                                      decided_by=actor, reason=reason)
        if not write.decide(decided):
            raise Conflict(f"request {request.id} was decided meanwhile")
        self._event(event, actor, {"request": request.id, "requester": request.requester,
                                   "table": request.table, "reason": reason})
        return decided

    # -- grants ----------------------------------------------------------------------------------

    def revoke(self, grant_id: str, owner: str, reason: str = "") -> IssuedGrant:
        """Take an issued grant out of the catalog: the next statement under it is refused."""
        self.settle()
        issued = self.records.issued_grant(grant_id)
        if issued is None:
            raise NotFound(f"no grant {grant_id!r} was issued by a request (grants from the"
                           " policy file are changed in the policy file)")
        self._check_revoker(issued, owner)
        ended = dataclasses.replace(issued, state=GrantState.REVOKED, ended_at=self.clock(),
                                    ended_by=owner, reason=reason.strip() or None)
        with self.records.writing() as write:
            if not write.end_grant(ended, remove=True):
                raise Conflict(f"grant {grant_id} is {issued.state}, not active")
            self._event("grant.revoked", owner, {
                "grant": grant_id, "request": issued.request, "principal": issued.grant.principal,
                "table": issued.grant.table, "reason": ended.reason})
        return ended

    def _check_revoker(self, issued: IssuedGrant, owner: str) -> None:
        if issued.state is not GrantState.ACTIVE:
            raise Conflict(f"grant {issued.id} is {issued.state}, not active")
        snapshot = self.catalog.snapshot()
        problem = authority_problem(snapshot, _provider(snapshot, issued.grant.table), owner)
        if problem:
            raise NotPermitted(f"{owner} may not revoke {issued.id}: {problem}")

    # -- settling --------------------------------------------------------------------------------

    def settle(self) -> None:
        """Lapse overdue requests, mark expired grants, restore grants a policy apply removed."""
        today = self.today()
        overdue = [r for r in self.records.requests(RequestStatus.PENDING) if today > r.deadline]
        active = self.records.issued_grants(GrantState.ACTIVE)
        expired = [g for g in active if g.grant.valid_until and today > g.grant.valid_until]
        missing = self._missing([g for g in active if g not in expired])
        if not (overdue or expired or missing):
            return
        with self.records.writing() as write:
            for request in overdue:
                self._lapse(write, request)
            for issued in expired:
                self._expire(write, issued)
            for issued in missing:
                self._reinstate(write, issued)

    def _missing(self, active: Sequence[IssuedGrant]) -> list[IssuedGrant]:
        snapshot = self.catalog.snapshot()
        present = {g.id for g in snapshot.grants}
        return [g for g in active if g.id not in present
                and snapshot.principal(g.grant.principal) is not None]

    def _lapse(self, write: GovernanceWrite, request: AccessRequest) -> None:
        lapsed = dataclasses.replace(request, status=RequestStatus.LAPSED,
                                     decided_at=self.clock(), decided_by=AUTO_DEADLINE,
                                     reason=f"no decision by {request.deadline.isoformat()}")
        if write.decide(lapsed):
            self._event("request.lapsed", AUTO_DEADLINE, {
                "request": request.id, "requester": request.requester, "table": request.table,
                "department": request.department, "deadline": request.deadline.isoformat()})

    def _expire(self, write: GovernanceWrite, issued: IssuedGrant) -> None:
        until = issued.grant.valid_until
        ended = dataclasses.replace(issued, state=GrantState.EXPIRED, ended_at=self.clock(),
                                    ended_by=AUTO_EXPIRY, reason=f"valid until {until}")
        if write.end_grant(ended, remove=False):
            self._event("grant.expired", AUTO_EXPIRY, {
                "grant": issued.id, "principal": issued.grant.principal,
                "table": issued.grant.table, "valid_until": str(until)})

    def _reinstate(self, write: GovernanceWrite, issued: IssuedGrant) -> None:
        if issued.id in write.catalog_grant_ids():
            return
        write.put_grant(issued.grant)
        self._event("grant.reinstated", AUTO_REINSTATE, {
            "grant": issued.id, "principal": issued.grant.principal,
            "table": issued.grant.table})

    # -- reading ---------------------------------------------------------------------------------

    def requests(self, viewer: str | None = None, status: RequestStatus | None = None
                 ) -> tuple[AccessRequest, ...]:
        """Requests ``viewer`` may see (all without a viewer): their own, their department's
        as its data owner, every one for auditors and admins."""
        self.settle()
        found = self.records.requests(status)
        if viewer is None:
            return found
        principal = _principal(self.catalog.snapshot(), viewer)
        return tuple(r for r in found if _may_see(principal, r))

    def show(self, request_id: str, viewer: str | None = None) -> AccessRequest:
        self.settle()
        request = self.records.request(request_id)
        if request is None or (viewer is not None and not _may_see(
                _principal(self.catalog.snapshot(), viewer), request)):
            raise NotFound(f"no request {request_id!r}")
        return request

    def issued_grants(self, viewer: str | None = None) -> tuple[IssuedGrant, ...]:
        """Issued grants ``viewer`` may see (all without a viewer), as for requests."""
        self.settle()
        found = self.records.issued_grants()
        if viewer is None:
            return found
        snapshot = self.catalog.snapshot()
        principal = _principal(snapshot, viewer)
        return tuple(g for g in found if _may_see_grant(principal, g, snapshot))

    # -- probes and scorecards -------------------------------------------------------------------

    def record_probe(self, source: str, health: Health, at: datetime) -> Probe:
        failure = health.failure.value if health.failure else None
        probe = Probe(source, at, health.reachable, health.latency_ms, failure)
        self.records.record_probe(probe)
        return probe

    def probe_sources(self, names: Sequence[str] = ()) -> list[Health]:
        """Check each source (every one without ``names``); record the outcome, and each
        table's freshness when the source answers."""
        snapshot = self.catalog.snapshot()
        chosen = [source_ops.registered(snapshot, n) for n in names] or list(snapshot.sources)
        return [self._probe(snapshot, source) for source in chosen]

    def _probe(self, snapshot: CatalogSnapshot, source: Source) -> Health:
        connector = connector_for(source.kind)
        health = connector.check(source)
        at = self.clock()
        self.record_probe(source.name, health, at)
        if health.reachable:
            tables = list(snapshot.tables_of(source.name))
            found = source_ops.freshness(connector, source, tables)
            self.records.record_freshness([
                Freshness(source.name, f"{source.name}.{LOGICAL_SCHEMA}.{name}", when, at)
                for name, when in found if when is not None])
        return health

    def scorecards(self, *, since: datetime | None = None, until: datetime | None = None,
                   department: str | None = None) -> list[Scorecard]:
        """Scorecards over ``[since, until)`` (default: the last 30 days)."""
        self.settle()
        end = until or self.clock()
        period = Period(since or end - timedelta(days=SCORECARD_DAYS), end)
        catalogue = self.catalogue()
        facts = Facts(
            catalogue.snapshot, catalogue.entries(), self.records.requests(),
            self.records.probes(period.since, period.until), self.records.freshness(),
            self._served(period), period, self.deadline_days, self._working_days)
        return compute_scorecards(facts, department)

    def _served(self, period: Period) -> tuple[Served, ...]:
        records = self.audit.search(decision="allowed", since=period.since, until=period.until,
                                    limit=_ALL_RECORDS)
        return tuple(Served(r.principal, tuple(r.body.get("sources") or ()))
                     for r in records if r.kind == "decision")

    def _working_days(self, start: datetime, end: datetime) -> int:
        return self.calendar.working_days_between(self.local_day(start), self.local_day(end))

    def _event(self, kind: str, actor: str, details: Mapping[str, object]) -> None:
        self.audit.event(kind, actor, details)


# ---------------------------------------------------------------------------------------------
# Helpers.


def _principal(snapshot: CatalogSnapshot, name: str) -> Principal:
    found = snapshot.principal(name)
    if found is None:
        raise NotPermitted(f"unknown principal {name!r}")
    return found


def _provider(snapshot: CatalogSnapshot, table: str) -> str:
    found = snapshot.table(table)
    source = snapshot.source(found.source) if found else None
    return source.department if source else ""


def _may_see(viewer: Principal, request: AccessRequest) -> bool:
    if viewer.name == request.requester or {ADMIN_ROLE, AUDITOR_ROLE} & set(viewer.roles):
        return True
    return viewer.department == request.department and DATA_OWNER_ROLE in viewer.roles


def _may_see_grant(viewer: Principal, issued: IssuedGrant, snapshot: CatalogSnapshot) -> bool:
    if viewer.name == issued.grant.principal or {ADMIN_ROLE, AUDITOR_ROLE} & set(viewer.roles):
        return True
    return (viewer.department == _provider(snapshot, issued.grant.table)
            and DATA_OWNER_ROLE in viewer.roles)


def _created(r: AccessRequest) -> dict[str, object]:
    return {
        "request": r.id, "resource": r.resource, "table": r.table, "department": r.department,
        "share_class": r.share_class.value, "columns": list(r.requested.columns),
        "row_filter": r.requested.row_filter, "purpose": r.purpose, "scenario": r.scenario,
        "legal_basis": r.legal_basis, "valid_from": r.requested.valid_from.isoformat(),
        "valid_until": r.requested.valid_until.isoformat(), "deadline": r.deadline.isoformat(),
    }


def _approval(r: AccessRequest, columns: Mapping[str, object]) -> dict[str, object]:
    granted = r.granted
    assert granted is not None
    return {
        "request": r.id, "grant": r.id, "requester": r.requester, "table": r.table,
        "columns": {k: str(v) for k, v in columns.items()}, "row_filter": granted.row_filter,
        "valid_from": granted.valid_from.isoformat(),
        "valid_until": granted.valid_until.isoformat(), "narrowed": r.narrowed,
    }


def _narrowing(asked: Scope, granted: Scope, request_id: str) -> dict[str, object]:
    return {
        "request": request_id,
        "columns_removed": [c for c in asked.columns if c not in granted.columns],
        "row_filter": {"requested": asked.row_filter, "granted": granted.row_filter},
        "valid_until": {"requested": asked.valid_until.isoformat(),
                        "granted": granted.valid_until.isoformat()},
    }


def apply_governance_files(store: CatalogStore, audit_log: AuditLog, *, owners: Path,
                           resources: Path) -> None:
    """Lay a partial policy (e.g. the demo's data owners) over the current policy and make
    ``resources`` the catalogue: what ``demo init`` does after applying the demo policy."""
    doc = load_policy(owners, snapshot=store.snapshot(), known_masks=MASKS.keys(), partial=True)
    store.apply_policy(doc, replace=False)
    governance = Governance(store, audit_log)
    try:
        governance.apply_resource_file(resources)
    finally:
        governance.close()


# ---------------------------------------------------------------------------------------------
# As JSON, for the API and the command line.


def request_json(r: AccessRequest) -> dict[str, object]:
    """A request as the API and ``--format json`` show it."""
    scope = {"columns": list(r.requested.columns), "row_filter": r.requested.row_filter,
             "valid_from": r.requested.valid_from.isoformat(),
             "valid_until": r.requested.valid_until.isoformat()}
    granted = r.granted and {"columns": list(r.granted.columns),
                             "row_filter": r.granted.row_filter,
                             "valid_from": r.granted.valid_from.isoformat(),
                             "valid_until": r.granted.valid_until.isoformat()}
    return {
        "id": r.id, "status": r.status.value, "requester": r.requester,
        "requester_department": r.requester_department, "resource": r.resource,
        "table": r.table, "department": r.department, "share_class": r.share_class.value,
        "purpose": r.purpose, "scenario": r.scenario, "legal_basis": r.legal_basis,
        "requested": scope, "created_at": r.created_at.isoformat(),
        "deadline": r.deadline.isoformat(),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "decided_by": r.decided_by, "reason": r.reason, "granted": granted or None,
        "grant": r.id if r.status is RequestStatus.APPROVED else None,
    }


def grant_json(g: IssuedGrant) -> dict[str, object]:
    """An issued grant as the API and ``--format json`` show it."""
    return {"id": g.id, "state": g.state.value, "request": g.request,
            "principal": g.grant.principal, "table": g.grant.table,
            "purpose": g.grant.purpose,
            "columns": {k: str(v) for k, v in g.grant.columns.items()},
            "row_filter": g.grant.row_filter, "valid_until": str(g.grant.valid_until),
            "approved_by": g.grant.approved_by, "ended_by": g.ended_by, "reason": g.reason}
