"""The rules of requests and approvals, as pure functions over catalog values.

- A request names columns of one catalogued table (``*`` for every column a grant may carry),
  an optional row scope (a row filter, as in policy files), a purpose, a usage scenario, a legal
  basis (required for conditional resources) and a period.
- An approval may narrow the scope, never widen it: columns are a subset of those requested;
  an extra row filter is ANDed to the requested one, so it can only remove rows; the period
  can only end earlier.
- Separation of duties: only a data owner of the providing department decides; never the
  requester, never an admin (even one that also holds the data-owner role).

Errors (mapped once to HTTP statuses and CLI exit codes)::

    GovernanceError (ShuqiaoError)
    ├── NotFound          an unknown request, grant or resource                     404
    ├── NotPermitted      separation of duties: this principal may not do this      403
    ├── InvalidRequest    a scope that cannot be granted, or an approval widening   422
    └── Conflict          not pending any more, already granted, already asked      409
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from catalog.errors import ShuqiaoError
from catalog.governance_models import AccessRequest, Resource, Scope, ShareClass
from catalog.models import ActionKind, CatalogSnapshot, ColumnAction, Grant, Principal, Table
from catalog.policy_file import row_filter_columns, row_filter_problems

DATA_OWNER_ROLE = "data_owner"
ADMIN_ROLE = "admin"
EVERY_COLUMN = "*"


class GovernanceError(ShuqiaoError):
    """A governance step could not be taken; the message says why, never a data value."""


class NotFound(GovernanceError):
    pass


class NotPermitted(GovernanceError):
    pass


class InvalidRequest(GovernanceError):
    pass


class Conflict(GovernanceError):
    pass


@dataclass(frozen=True, slots=True)
class RequestForm:
    """What a principal fills in to ask for a table (by logical name or resource code)."""

    table: str
    columns: tuple[str, ...]
    purpose: str
    valid_until: date
    row_filter: str | None = None
    scenario: str = ""
    legal_basis: str = ""
    valid_from: date | None = None


# ---------------------------------------------------------------------------------------------
# The requested scope.


def requested_scope(table: Table, resource: Resource, form: RequestForm, today: date) -> Scope:
    """The scope ``form`` asks for, checked; raises :class:`InvalidRequest` listing problems."""
    problems: list[str] = []
    columns = _requested_columns(table, resource, form.columns, problems)
    problems += _filter_problems(table, form.row_filter)
    start = form.valid_from or today
    problems += _period_problems(start, form.valid_until, today)
    if not form.purpose.strip():
        problems.append("a request needs a purpose")
    if resource.share_class is ShareClass.CONDITIONAL and not form.legal_basis.strip():
        problems.append(f"{resource.code} is shared on conditions: give the legal basis")
    if problems:
        raise InvalidRequest(f"request for {table.qualified} refused: {'; '.join(problems)}")
    return Scope(columns, _filter_text(form.row_filter), start, form.valid_until)


def _requested_columns(table: Table, resource: Resource, asked: Sequence[str],
                       problems: list[str]) -> tuple[str, ...]:
    names = [c.strip().lower() for c in asked if c.strip()]
    if EVERY_COLUMN in names:
        return tuple(c for c in table.column_names if not _denied(resource, c))
    if not names:
        problems.append("name at least one column")
    for name in dict.fromkeys(names):
        if table.column(name) is None:
            problems.append(f"{table.qualified} has no column {name!r}")
        elif _denied(resource, name):
            problems.append(f"column {name} is not shared ({resource.code} denies it)")
    return tuple(n for n in dict.fromkeys(names) if table.column(n) is not None)


def _denied(resource: Resource, column: str) -> bool:
    return resource.default_action(column).kind is ActionKind.DENY


def _filter_problems(table: Table, row_filter: str | None) -> list[str]:
    text = _filter_text(row_filter)
    if text is None:
        return []
    problems = row_filter_problems(text)
    missing = row_filter_columns(text) - set(table.column_names) if not problems else set()
    if missing:
        problems.append(f"row filter uses {', '.join(sorted(missing))}, which"
                        f" {table.qualified} does not have")
    return problems


def _filter_text(row_filter: str | None) -> str | None:
    return row_filter.strip() if row_filter and row_filter.strip() else None


def _period_problems(start: date, until: date, today: date) -> list[str]:
    if until < start:
        return [f"the period ends ({until}) before it starts ({start})"]
    if until < today:
        return [f"the period ends ({until}) before today ({today})"]
    return []


# ---------------------------------------------------------------------------------------------
# Narrowing on approval.


def narrowed_scope(asked: Scope, table: Table, today: date, *,
                   columns: Sequence[str] | None = None, row_filter: str | None = None,
                   valid_until: date | None = None) -> Scope:
    """The scope an approval grants: ``asked``, narrowed by whatever is given. Raises
    :class:`InvalidRequest` for anything that would widen it."""
    problems: list[str] = []
    kept = _narrowed_columns(asked.columns, columns, problems)
    problems += _filter_problems(table, row_filter)
    until = valid_until or asked.valid_until
    if until > asked.valid_until:
        problems.append(f"the grant may not last beyond the requested {asked.valid_until}")
    problems += _period_problems(asked.valid_from, until, today)
    if problems:
        raise InvalidRequest(f"approval refused: {'; '.join(problems)}")
    return Scope(kept, _conjunction(asked.row_filter, _filter_text(row_filter)),
                 asked.valid_from, until)


def _narrowed_columns(asked: tuple[str, ...], given: Sequence[str] | None,
                      problems: list[str]) -> tuple[str, ...]:
    if given is None:
        return asked
    names = tuple(dict.fromkeys(c.strip().lower() for c in given if c.strip()))
    widening = [n for n in names if n not in asked]
    if widening:
        problems.append(f"column(s) {', '.join(widening)} were not requested: an approval"
                        " may only narrow")
    if not names:
        problems.append("an approval keeps at least one column; reject the request instead")
    return tuple(n for n in asked if n in names)


def _conjunction(first: str | None, second: str | None) -> str | None:
    """Both filters must hold: an added filter can only remove rows."""
    if first is None or second is None:
        return first or second
    return f"({first}) AND ({second})"


# ---------------------------------------------------------------------------------------------
# Grants and authority.


def grant_for(request: AccessRequest, scope: Scope, resource: Resource,
              approved_by: str) -> Grant:
    """The grant an approved request becomes: each granted column under the resource's default
    action; every other column is denied (a grant denies what it does not name)."""
    columns: dict[str, ColumnAction] = {c: resource.default_action(c) for c in scope.columns}
    return Grant(id=request.id, principal=request.requester, table=request.table,
                 purpose=request.purpose, columns=columns, row_filter=scope.row_filter,
                 valid_from=scope.valid_from, valid_until=scope.valid_until,
                 approved_by=approved_by)


def authority_problem(snapshot: CatalogSnapshot, department: str, actor: str,
                      requester: str | None = None) -> str | None:
    """Why ``actor`` may not decide for ``department`` (on ``requester``'s request); ``None``
    when they may."""
    found = snapshot.principal(actor)
    if found is None:
        return f"unknown principal {actor!r}"
    if ADMIN_ROLE in found.roles:
        return "admins register sources and principals; they approve nothing"
    if actor == requester:
        return "a principal may not decide on their own request"
    if DATA_OWNER_ROLE not in found.roles or found.department != department:
        return f"only a data owner of {department} decides on its resources"
    return None


def owners_of(snapshot: CatalogSnapshot, department: str) -> tuple[Principal, ...]:
    """The principals who may decide for ``department``."""
    return tuple(p for p in snapshot.principals
                 if p.department == department and DATA_OWNER_ROLE in p.roles
                 and ADMIN_ROLE not in p.roles)
