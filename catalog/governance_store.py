"""Governance records in the catalog's SQLite file: the resource catalogue, access requests,
issued grants, source probes and table freshness (tables of migration 0003).

The store keeps its own connection to the catalog file, so its writes serialise with the
catalog's through SQLite (``BEGIN IMMEDIATE``). A write is a unit of work::

    with store.writing() as write:
        request_id = write.next_request_id()
        write.add_request(...)
        write.issue(issued)                  # the grant enters the catalog's grants table
        audit.event(...)                     # inside: an unrecorded step is rolled back

Anything raised inside the block rolls everything back. A unit that touched the catalog's
grants bumps ``catalog_version`` in the same transaction, so the next snapshot, and every plan
cached against the old one, sees the change at once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from types import TracebackType
from typing import Any

from catalog.audit_store import timestamp
from catalog.errors import CatalogError
from catalog.governance_models import (
    AccessRequest,
    Freshness,
    GrantState,
    IssuedGrant,
    Probe,
    RequestStatus,
    Resource,
    Scope,
    ShareClass,
    UpdateCycle,
)
from catalog.models import ColumnAction, Grant
from catalog.store import CatalogStore, connect, write_transaction

_REQUEST_COLUMNS = (
    "id, requester, requester_department, resource, table_name, department, share_class,"
    " purpose, scenario, legal_basis, columns, row_filter, valid_from, valid_until, created_at,"
    " deadline, status, decided_at, decided_by, reason, granted_columns, granted_row_filter,"
    " granted_until"
)
_ISSUED_COLUMNS = (
    "id, request, principal, table_name, purpose, columns, row_filter, valid_from, valid_until,"
    " approved_by, issued_at, state, ended_at, ended_by, reason"
)
REQUEST_PREFIX = "R-"


class GovernanceStore:
    """The governance tables of one catalog file."""

    def __init__(self, catalog: CatalogStore) -> None:
        if catalog.path == ":memory:":
            raise CatalogError("governance records need a catalog file, not :memory:")
        self.catalog = catalog
        self._lock = threading.RLock()
        self._conn = connect(catalog.path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> GovernanceStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def resources(self) -> tuple[Resource, ...]:
        """The catalogue, ordered by code."""
        with self._lock:
            self._conn.execute("BEGIN")  # both queries see the same catalogue
            try:
                masks = _masks(self._conn)
                rows = self._conn.execute(
                    "SELECT code, table_name, name, department, share_class, update_cycle,"
                    " abstract, basis FROM resources ORDER BY code").fetchall()
            finally:
                self._conn.execute("COMMIT")
        return tuple(_resource(row, masks.get(row[0], {})) for row in rows)

    def requests(self, status: RequestStatus | None = None) -> tuple[AccessRequest, ...]:
        """Requests in the order they were made, all or those with ``status``."""
        where, params = ("WHERE status = ?", (status.value,)) if status else ("", ())
        return tuple(_request(row) for row in self._rows(
            f"SELECT {_REQUEST_COLUMNS} FROM access_requests {where} ORDER BY rowid", params))

    def request(self, request_id: str) -> AccessRequest | None:
        rows = self._rows(f"SELECT {_REQUEST_COLUMNS} FROM access_requests WHERE id = ?",
                          (request_id,))
        return _request(rows[0]) if rows else None

    def issued_grants(self, state: GrantState | None = None) -> tuple[IssuedGrant, ...]:
        where, params = ("WHERE state = ?", (state.value,)) if state else ("", ())
        return tuple(_issued(row) for row in self._rows(
            f"SELECT {_ISSUED_COLUMNS} FROM issued_grants {where} ORDER BY rowid", params))

    def issued_grant(self, grant_id: str) -> IssuedGrant | None:
        rows = self._rows(f"SELECT {_ISSUED_COLUMNS} FROM issued_grants WHERE id = ?",
                          (grant_id,))
        return _issued(rows[0]) if rows else None

    def probes(self, since: datetime, until: datetime) -> tuple[Probe, ...]:
        """Probes made in ``[since, until)``, oldest first."""
        rows = self._rows(
            "SELECT source, at, reachable, latency_ms, failure FROM probes"
            " WHERE at >= ? AND at < ? ORDER BY at, id", (timestamp(since), timestamp(until)))
        return tuple(Probe(s, _moment(at), bool(ok), ms, f) for s, at, ok, ms, f in rows)

    def freshness(self) -> tuple[Freshness, ...]:
        rows = self._rows("SELECT source, table_name, fresh_as_of, observed_at"
                          " FROM table_freshness ORDER BY source, table_name")
        return tuple(Freshness(s, t, _moment(fresh), _moment(seen)) for s, t, fresh, seen in rows)

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- writing -------------------------------------------------------------------------------

    @contextmanager
    def writing(self) -> Iterator[GovernanceWrite]:
        """One unit of work; see the module docstring."""
        with write_transaction(self._conn, self._lock, "governance"):
            write = GovernanceWrite(self._conn)
            yield write
            if write.catalog_changed:
                self._conn.execute("UPDATE catalog_version SET version = version + 1")

    def replace_resources(self, resources: Sequence[Resource]) -> None:
        with self.writing() as write:
            write.replace_resources(resources)

    def record_probe(self, probe: Probe) -> None:
        with self.writing() as write:
            write.record_probe(probe)

    def record_freshness(self, found: Sequence[Freshness]) -> None:
        with self.writing() as write:
            for item in found:
                write.record_freshness(item)


class GovernanceWrite:
    """The writes of one unit of work, on its open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.catalog_changed = False

    def next_request_id(self) -> str:
        row = self.conn.execute(
            "SELECT coalesce(max(CAST(substr(id, 3) AS INTEGER)), 0) FROM access_requests"
            " WHERE id LIKE 'R-%'").fetchone()
        return f"{REQUEST_PREFIX}{int(row[0]) + 1:04d}"

    def replace_resources(self, resources: Sequence[Resource]) -> None:
        self.conn.execute("DELETE FROM resources")
        self.conn.executemany(
            "INSERT INTO resources (code, table_name, name, department, share_class,"
            " update_cycle, abstract, basis) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.code, r.table, r.name, r.department, r.share_class.value, r.update_cycle.value,
              r.abstract, r.basis) for r in resources])
        self.conn.executemany(
            "INSERT INTO resource_masks (code, column_name, action) VALUES (?, ?, ?)",
            [(r.code, name, str(action)) for r in resources
             for name, action in r.default_masks.items()])

    def add_request(self, request: AccessRequest) -> None:
        marks = ", ".join("?" * 23)
        self.conn.execute(f"INSERT INTO access_requests ({_REQUEST_COLUMNS}) VALUES ({marks})",
                          _request_row(request))

    def decide(self, request: AccessRequest) -> bool:
        """Record a pending request's decision: status, who and when, why, and the granted
        scope. ``False`` (nothing written) when the request is no longer pending: another
        writer decided first."""
        granted = request.granted
        cursor = self.conn.execute(
            "UPDATE access_requests SET status = ?, decided_at = ?, decided_by = ?, reason = ?,"
            " granted_columns = ?, granted_row_filter = ?, granted_until = ?"
            " WHERE id = ? AND status = 'pending'",
            (request.status.value, _stamp(request.decided_at), request.decided_by,
             request.reason, _json_list(granted.columns) if granted else None,
             granted.row_filter if granted else None,
             granted.valid_until.isoformat() if granted else None, request.id))
        return cursor.rowcount == 1

    def issue(self, issued: IssuedGrant) -> None:
        """Keep the issued grant's record and put the grant into the catalog."""
        g = issued.grant
        columns = json.dumps({k: str(v) for k, v in g.columns.items()}, ensure_ascii=False)
        self.conn.execute(
            f"INSERT INTO issued_grants ({_ISSUED_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (g.id, issued.request, g.principal, g.table, g.purpose, columns, g.row_filter,
             _day(g.valid_from), _day(g.valid_until), g.approved_by, timestamp(issued.issued_at),
             issued.state.value, None, None, None))
        self.put_grant(g)

    def put_grant(self, grant: Grant) -> None:
        """Write ``grant`` into the catalog's grants table (never an aggregate-only one)."""
        self.conn.execute(
            "INSERT INTO grants (id, principal, table_pattern, purpose, row_filter, valid_from,"
            " valid_until, approved_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (grant.id, grant.principal, grant.table, grant.purpose, grant.row_filter,
             _day(grant.valid_from), _day(grant.valid_until), grant.approved_by))
        self.conn.executemany(
            "INSERT INTO grant_columns (grant_id, column_name, action) VALUES (?, ?, ?)",
            [(grant.id, name, str(action)) for name, action in grant.columns.items()])
        self.catalog_changed = True

    def end_grant(self, ended: IssuedGrant, *, remove: bool) -> bool:
        """Record how an active issued grant ended; with ``remove`` take it out of the
        catalog. ``False`` (nothing written) when it was no longer active."""
        cursor = self.conn.execute(
            "UPDATE issued_grants SET state = ?, ended_at = ?, ended_by = ?, reason = ?"
            " WHERE id = ? AND state = 'active'",
            (ended.state.value, _stamp(ended.ended_at), ended.ended_by, ended.reason, ended.id))
        if cursor.rowcount != 1:
            return False
        if remove:
            self.conn.execute("DELETE FROM grants WHERE id = ?", (ended.id,))
            self.catalog_changed = True
        return True

    def catalog_grant_ids(self) -> frozenset[str]:
        return frozenset(row[0] for row in self.conn.execute("SELECT id FROM grants"))

    def principal_names(self) -> frozenset[str]:
        return frozenset(row[0] for row in self.conn.execute("SELECT name FROM principals"))

    def record_probe(self, probe: Probe) -> None:
        self.conn.execute(
            "INSERT INTO probes (source, at, reachable, latency_ms, failure)"
            " VALUES (?, ?, ?, ?, ?)",
            (probe.source, timestamp(probe.at), int(probe.reachable), probe.latency_ms,
             probe.failure))

    def record_freshness(self, found: Freshness) -> None:
        self.conn.execute(
            "INSERT INTO table_freshness (source, table_name, fresh_as_of, observed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (source, table_name) DO UPDATE SET"
            " fresh_as_of = excluded.fresh_as_of, observed_at = excluded.observed_at",
            (found.source, found.table, timestamp(found.fresh_as_of),
             timestamp(found.observed_at)))


# ---------------------------------------------------------------------------------------------
# Rows and values.


def _stamp(moment: datetime | None) -> str | None:
    return timestamp(moment) if moment else None


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _maybe_moment(text: str | None) -> datetime | None:
    return _moment(text) if text else None


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _json_list(names: Sequence[str]) -> str:
    return json.dumps(list(names), ensure_ascii=False)


def _masks(conn: sqlite3.Connection) -> dict[str, dict[str, ColumnAction]]:
    found: dict[str, dict[str, ColumnAction]] = {}
    rows = conn.execute("SELECT code, column_name, action FROM resource_masks ORDER BY rowid")
    for code, column, action in rows:
        found.setdefault(code, {})[column] = ColumnAction.parse(action)
    return found


def _resource(row: tuple[Any, ...], masks: dict[str, ColumnAction]) -> Resource:
    code, table, name, department, share, cycle, abstract, basis = row
    return Resource(code, table, name, department, ShareClass(share), UpdateCycle(cycle),
                    abstract, basis, masks)


def _request_row(r: AccessRequest) -> tuple[object, ...]:
    asked, granted = r.requested, r.granted
    return (
        r.id, r.requester, r.requester_department, r.resource, r.table, r.department,
        r.share_class.value, r.purpose, r.scenario, r.legal_basis, _json_list(asked.columns),
        asked.row_filter, asked.valid_from.isoformat(), asked.valid_until.isoformat(),
        timestamp(r.created_at), r.deadline.isoformat(), r.status.value, _stamp(r.decided_at),
        r.decided_by, r.reason, _json_list(granted.columns) if granted else None,
        granted.row_filter if granted else None,
        granted.valid_until.isoformat() if granted else None,
    )


def _request(row: tuple[Any, ...]) -> AccessRequest:
    (rid, requester, requester_dept, resource, table, dept, share, purpose, scenario, basis,
     columns, row_filter, since, until, created, deadline, status, decided_at, decided_by,
     reason, granted_columns, granted_filter, granted_until) = row
    asked = Scope(tuple(json.loads(columns)), row_filter, date.fromisoformat(since),
                  date.fromisoformat(until))
    granted = None
    if granted_columns is not None:
        granted = Scope(tuple(json.loads(granted_columns)), granted_filter, asked.valid_from,
                        date.fromisoformat(granted_until))
    return AccessRequest(
        rid, requester, requester_dept, resource, table, dept, ShareClass(share), purpose,
        scenario, basis, asked, _moment(created), date.fromisoformat(deadline),
        RequestStatus(status), _maybe_moment(decided_at), decided_by, reason, granted)


def _issued(row: tuple[Any, ...]) -> IssuedGrant:
    (gid, request, principal, table, purpose, columns, row_filter, since, until, approver,
     issued_at, state, ended_at, ended_by, reason) = row
    actions = {k: ColumnAction.parse(v) for k, v in json.loads(columns).items()}
    grant = Grant(gid, principal, table, purpose, actions, row_filter,
                  valid_from=date.fromisoformat(since), valid_until=date.fromisoformat(until),
                  approved_by=approver)
    return IssuedGrant(grant, request, _moment(issued_at), GrantState(state),
                       _maybe_moment(ended_at), ended_by, reason)
