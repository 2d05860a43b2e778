"""The governance nouns: catalogue resources, access requests, issued grants and source probes.

A :class:`Resource` is one entry of the government information resource catalogue
(政务信息资源目录) for one registered table: its stable code, name, providing department, abstract,
share class (无条件共享 / 有条件共享 / 不予共享) with the legal basis of any restriction, update
cycle (更新周期) and the column actions a grant of it starts from. Its items (信息项) are the
table's columns as the catalog describes them.

An :class:`AccessRequest` asks for one resource within a :class:`Scope` (columns, rows, period);
an approval turns it into a grant whose scope is never wider. Everything here is a frozen value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from catalog.models import ALLOW, ColumnAction, Grant, LineKey, line_of


class ShareClass(StrEnum):
    """How a resource may be shared, in the words of the catalogue rules."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHAREABLE = "not_shareable"

    @property
    def label(self) -> str:
        """The catalogue rules' own words: 无条件共享, 有条件共享, 不予共享."""
        return _SHARE_LABELS[self]

    @property
    def needs_basis(self) -> bool:
        return self is not ShareClass.UNCONDITIONAL


_SHARE_LABELS = {
    ShareClass.UNCONDITIONAL: "无条件共享",
    ShareClass.CONDITIONAL: "有条件共享",
    ShareClass.NOT_SHAREABLE: "不予共享",
}


class UpdateCycle(StrEnum):
    """How often the providing department promises to refresh the data (更新周期)."""

    REALTIME = "realtime"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def max_age(self) -> timedelta:
        """The oldest data may be and still count as fresh for this cycle."""
        return _MAX_AGES[self]


_MAX_AGES = {
    UpdateCycle.REALTIME: timedelta(hours=1),
    UpdateCycle.DAILY: timedelta(days=1),
    UpdateCycle.WEEKLY: timedelta(days=7),
    UpdateCycle.MONTHLY: timedelta(days=31),
    UpdateCycle.QUARTERLY: timedelta(days=92),
    UpdateCycle.YEARLY: timedelta(days=366),
}


@dataclass(frozen=True, slots=True)
class Resource:
    """One catalogue entry; ``table`` is the logical ``<source>.public.<table>`` name."""

    code: str
    table: str
    name: str
    department: str
    share_class: ShareClass
    update_cycle: UpdateCycle
    abstract: str = ""
    basis: str = ""
    default_masks: Mapping[str, ColumnAction] = field(default_factory=dict, hash=False)

    def default_action(self, column: str) -> ColumnAction:
        """The action a grant starts from for ``column``: a column not named is ``allow``."""
        return self.default_masks.get(column, ALLOW)


@dataclass(frozen=True)
class ResourceDocument:
    """What a resource file holds; ``lines`` maps entries to their line (not compared)."""

    resources: tuple[Resource, ...] = ()
    path: str = field(default="<document>", compare=False)
    lines: Mapping[LineKey, int] = field(default_factory=dict, compare=False, repr=False)

    def line(self, *key: str | int) -> int:
        """The line of ``key`` or of its nearest enclosing entry; 0 when unknown."""
        return line_of(self.lines, key)


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    LAPSED = "lapsed"
    REFUSED = "refused"  # the resource is not shareable
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class Scope:
    """Columns, rows and period: what a request asks for, or what its grant gives."""

    columns: tuple[str, ...]
    row_filter: str | None
    valid_from: date
    valid_until: date


@dataclass(frozen=True, slots=True)
class AccessRequest:
    id: str
    requester: str
    requester_department: str
    resource: str
    table: str
    department: str
    share_class: ShareClass
    purpose: str
    scenario: str
    legal_basis: str
    requested: Scope
    created_at: datetime
    deadline: date
    status: RequestStatus = RequestStatus.PENDING
    decided_at: datetime | None = None
    decided_by: str | None = None
    reason: str | None = None
    granted: Scope | None = None

    @property
    def narrowed(self) -> bool:
        return self.granted is not None and self.granted != self.requested


class GrantState(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    """A grant an approval wrote into the catalog, with what became of it."""

    grant: Grant
    request: str
    issued_at: datetime
    state: GrantState = GrantState.ACTIVE
    ended_at: datetime | None = None
    ended_by: str | None = None
    reason: str | None = None

    @property
    def id(self) -> str:
        return self.grant.id


@dataclass(frozen=True, slots=True)
class Probe:
    """One connection test of a source; ``failure`` names why it failed, never a secret."""

    source: str
    at: datetime
    reachable: bool
    latency_ms: float | None = None
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class Freshness:
    """When a table's data last changed, as a probe last saw it."""

    source: str
    table: str
    fresh_as_of: datetime
    observed_at: datetime
