"""Department scorecards (考核): how well each providing department shares its data.

Computed from recorded facts only, by a pure function (:func:`compute_scorecards`) over what
:class:`~gateway.governance.Governance` gathers:

    resources            catalogue entries of the department, against its registered tables
    items documented     items (columns) with both a description and a classification
    availability         successful probes of its sources in the period / all its probes
    freshness            resources whose data, at the last probe, was no older than their
                         update cycle allows (unknown freshness counts as stale)
    requests             made in the period for its resources: received, answered (approved,
                         rejected, or refused as not shareable), approved, rejected, lapsed
    response time        median working days from request to a data owner's decision,
                         beside the deadline (automatic decisions are not counted)
    statements served    allowed statements in the period touching its sources, by principals
                         of other departments (each statement counted once per department)

:func:`export_scorecards` publishes them as Prometheus gauges in a gateway's registry::

    shuqiao_department_resources{department}
    shuqiao_department_items_documented_ratio{department}
    shuqiao_department_source_availability_ratio{department}
    shuqiao_department_fresh_resources_ratio{department}
    shuqiao_department_requests{department, outcome}    received, answered, approved,
                                                        rejected, lapsed
    shuqiao_department_response_working_days{department}   median
    shuqiao_department_statements_served{department}
"""

from __future__ import annotations

import statistics
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric

from catalog.governance_models import (
    AccessRequest,
    Freshness,
    Probe,
    RequestStatus,
)
from catalog.models import CatalogSnapshot
from gateway.catalogue import Entry

AUTOMATIC = "auto:"
ANSWERED = frozenset({RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.REFUSED})
DECIDED_BY_OWNER = frozenset({RequestStatus.APPROVED, RequestStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class Period:
    """``[since, until)``; naive bounds are taken as local time."""

    since: datetime
    until: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", _aware(self.since))
        object.__setattr__(self, "until", _aware(self.until))

    def __contains__(self, moment: datetime) -> bool:
        return self.since <= _aware(moment) < self.until


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.astimezone()


@dataclass(frozen=True, slots=True)
class Served:
    """One allowed statement, as the scorecards need it: who, and which sources."""

    principal: str
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a scorecard is computed from."""

    snapshot: CatalogSnapshot
    entries: tuple[Entry, ...]
    requests: tuple[AccessRequest, ...]
    probes: tuple[Probe, ...]
    freshness: tuple[Freshness, ...]
    served: tuple[Served, ...]
    period: Period
    deadline_days: int
    working_days: Callable[[datetime, datetime], int] = field(compare=False)


@dataclass(frozen=True)
class Scorecard:
    department: str
    title: str
    since: datetime
    until: datetime
    tables: int
    resources: int
    items: int
    items_documented: int
    probes: int
    probes_ok: int
    resources_fresh: int
    requests_received: int
    requests_answered: int
    requests_approved: int
    requests_rejected: int
    requests_lapsed: int
    median_response_days: float | None
    deadline_days: int
    statements_served: int

    @property
    def documented_share(self) -> float | None:
        return _share(self.items_documented, self.items)

    @property
    def availability(self) -> float | None:
        return _share(self.probes_ok, self.probes)

    @property
    def fresh_share(self) -> float | None:
        return _share(self.resources_fresh, self.resources)

    def as_json(self) -> dict[str, object]:
        shown: dict[str, object] = asdict(self)
        shown.update(since=self.since.isoformat(), until=self.until.isoformat(),
                     documented_share=self.documented_share, availability=self.availability,
                     fresh_share=self.fresh_share)
        return shown


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---------------------------------------------------------------------------------------------
# Computing.


def compute_scorecards(facts: Facts, department: str | None = None) -> list[Scorecard]:
    """One scorecard per providing department (or just ``department``), in catalog order."""
    return [_scorecard(facts, name, title) for name, title in _providers(facts)
            if department in (None, name)]


def _providers(facts: Facts) -> Iterator[tuple[str, str]]:
    providing = {s.department for s in facts.snapshot.sources}
    providing |= {e.resource.department for e in facts.entries}
    for d in facts.snapshot.departments:
        if d.name in providing:
            yield d.name, d.title


def _scorecard(facts: Facts, department: str, title: str) -> Scorecard:
    sources = {s.name for s in facts.snapshot.sources if s.department == department}
    entries = [e for e in facts.entries if e.resource.department == department]
    items = [i for e in entries for i in e.items]
    probes = [p for p in facts.probes if p.source in sources and p.at in facts.period]
    asked = [r for r in facts.requests if r.department == department
             and r.created_at in facts.period]
    return Scorecard(
        department, title, facts.period.since, facts.period.until,
        tables=sum(1 for t in facts.snapshot.tables if t.source in sources),
        resources=len(entries), items=len(items),
        items_documented=sum(i.documented for i in items),
        probes=len(probes), probes_ok=sum(p.reachable for p in probes),
        resources_fresh=_fresh(entries, facts.freshness),
        requests_received=len(asked),
        requests_answered=_count(asked, ANSWERED),
        requests_approved=_count(asked, {RequestStatus.APPROVED}),
        requests_rejected=_count(asked, {RequestStatus.REJECTED}),
        requests_lapsed=_count(asked, {RequestStatus.LAPSED}),
        median_response_days=_median_response(asked, facts.working_days),
        deadline_days=facts.deadline_days,
        statements_served=_served(facts, department, sources),
    )


def _count(requests: Iterable[AccessRequest], statuses: Iterable[RequestStatus]) -> int:
    wanted = set(statuses)
    return sum(1 for r in requests if r.status in wanted)


def _fresh(entries: Sequence[Entry], freshness: Sequence[Freshness]) -> int:
    latest = {f.table: f for f in freshness}
    return sum(1 for e in entries
               if (f := latest.get(e.resource.table)) is not None
               and f.observed_at - f.fresh_as_of <= e.resource.update_cycle.max_age)


def _median_response(requests: Sequence[AccessRequest],
                     working_days: Callable[[datetime, datetime], int]) -> float | None:
    days = [working_days(r.created_at, r.decided_at) for r in requests
            if r.status in DECIDED_BY_OWNER and r.decided_at is not None
            and not (r.decided_by or "").startswith(AUTOMATIC)]
    return float(statistics.median(days)) if days else None


def _served(facts: Facts, department: str, sources: set[str]) -> int:
    principals = {p.name: p.department for p in facts.snapshot.principals}
    return sum(1 for s in facts.served
               if sources.intersection(s.sources)
               and principals.get(s.principal, department) != department)


# ---------------------------------------------------------------------------------------------
# Prometheus.


class ScorecardCollector:
    """Gauges over the latest scorecards; registered once per registry."""

    def __init__(self) -> None:
        self.cards: tuple[Scorecard, ...] = ()

    def describe(self) -> Iterator[Metric]:
        return _families(())

    def collect(self) -> Iterator[Metric]:
        return _families(self.cards)


_COLLECTORS: weakref.WeakKeyDictionary[CollectorRegistry, ScorecardCollector] = (
    weakref.WeakKeyDictionary())

_RATIOS: tuple[tuple[str, str, Callable[[Scorecard], float | None]], ...] = (
    ("shuqiao_department_resources", "Catalogued resources.", lambda c: float(c.resources)),
    ("shuqiao_department_items_documented_ratio",
     "Share of items with a description and a classification.", lambda c: c.documented_share),
    ("shuqiao_department_source_availability_ratio",
     "Share of successful source probes in the period.", lambda c: c.availability),
    ("shuqiao_department_fresh_resources_ratio",
     "Share of resources fresh for their update cycle at the last probe.",
     lambda c: c.fresh_share),
    ("shuqiao_department_response_working_days",
     "Median working days from request to a data owner's decision.",
     lambda c: c.median_response_days),
    ("shuqiao_department_statements_served",
     "Allowed statements touching the department's sources, by other departments.",
     lambda c: float(c.statements_served)),
)
_REQUEST_OUTCOMES: tuple[tuple[str, Callable[[Scorecard], int]], ...] = (
    ("received", lambda c: c.requests_received), ("answered", lambda c: c.requests_answered),
    ("approved", lambda c: c.requests_approved), ("rejected", lambda c: c.requests_rejected),
    ("lapsed", lambda c: c.requests_lapsed),
)


def _families(cards: Sequence[Scorecard]) -> Iterator[Metric]:
    for name, doc, value in _RATIOS:
        family = GaugeMetricFamily(name, doc, labels=("department",))
        for card in cards:
            found = value(card)
            if found is not None:
                family.add_metric((card.department,), found)
        yield family
    requests = GaugeMetricFamily("shuqiao_department_requests",
                                 "Access requests made in the period, by outcome.",
                                 labels=("department", "outcome"))
    for card in cards:
        for outcome, count in _REQUEST_OUTCOMES:
            requests.add_metric((card.department, outcome), float(count(card)))
    yield requests


def export_scorecards(registry: CollectorRegistry, cards: Sequence[Scorecard]) -> None:
    """Publish ``cards`` in ``registry`` (e.g. ``Metrics.registry``), replacing the last ones."""
    collector = _COLLECTORS.get(registry)
    if collector is None:
        collector = ScorecardCollector()
        registry.register(collector)
        _COLLECTORS[registry] = collector
    collector.cards = tuple(cards)
