"""The governance API: the resource catalogue, access requests and approvals, scorecards.

::

    GET    /api/v1/resources?q=&department=    browse or search the catalogue (metadata only)
    GET    /api/v1/resources/{code}            one resource with its items (信息项)
    GET    /api/v1/requests?status=            requests the caller may see
    POST   /api/v1/requests                    ask for a table
    GET    /api/v1/requests/{id}
    DELETE /api/v1/requests/{id}               withdraw a pending request (its requester)
    POST   /api/v1/requests/{id}/approve       a data owner of the providing department
    POST   /api/v1/requests/{id}/reject        the same, with a reason
    GET    /api/v1/grants                      issued grants the caller may see
    POST   /api/v1/grants/{id}/revoke          a data owner of the providing department
    GET    /api/v1/scorecards?department=&since=&until=

Every known principal may browse the catalogue and read the scorecards; who may decide what is
:class:`~gateway.governance.Governance`'s business. Its errors map once to statuses: unknown
things 404, separation of duties 403, ungrantable scopes 422, decided or duplicate 409. Handlers
are plain functions (FastAPI runs them in its thread pool): SQLite blocks.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run
time, and some name the dependency built inside :func:`governance_router`.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from catalog.governance_models import RequestStatus
from gateway.approval import (
    Conflict,
    GovernanceError,
    InvalidRequest,
    NotFound,
    NotPermitted,
    RequestForm,
)
from gateway.catalogue import entry_json
from gateway.governance import Governance, grant_json, request_json

PREFIX = "/api/v1"
_STATUSES: dict[type[GovernanceError], int] = {
    NotFound: 404, NotPermitted: 403, InvalidRequest: 422, Conflict: 409,
}


class RequestBody(BaseModel):
    table: str = Field(description="Resource code or <source>.public.<table>.")
    columns: list[str] = Field(description="Columns asked for, or ['*'].")
    purpose: str
    valid_until: date
    row_filter: str | None = None
    scenario: str = ""
    legal_basis: str = ""
    valid_from: date | None = None


class ApproveBody(BaseModel):
    columns: list[str] | None = Field(None, description="Keep only these requested columns.")
    row_filter: str | None = Field(None, description="Further restrict the requested rows.")
    valid_until: date | None = Field(None, description="End earlier than requested.")


class RejectBody(BaseModel):
    reason: str


class RevokeBody(BaseModel):
    reason: str = ""


@contextmanager
def _answering() -> Iterator[None]:
    """Governance errors as HTTP errors; the message never holds a data value."""
    try:
        yield
    except GovernanceError as error:
        raise HTTPException(_STATUSES.get(type(error), 400), str(error)) from None


def governance_router(gov: Governance, current_principal: Callable[..., str]) -> APIRouter:
    """Routes over ``gov``; ``current_principal`` is a FastAPI dependency naming the caller."""

    def known(principal: Annotated[str, Depends(current_principal)]) -> str:
        if gov.catalog.snapshot().principal(principal) is None:
            raise HTTPException(403, f"unknown principal {principal!r}")
        return principal

    Caller = Annotated[str, Depends(known)]
    router = APIRouter(prefix=PREFIX, tags=["governance"])

    @router.get("/resources")
    def resources(_: Caller, q: str = "", department: str | None = None) -> dict[str, Any]:
        found = gov.catalogue().search(q, department)
        return {"count": len(found), "resources": [entry_json(e, items=False) for e in found]}

    @router.get("/resources/{code}")
    def resource(_: Caller, code: str) -> dict[str, Any]:
        with _answering():
            return entry_json(gov.entry(code))

    @router.get("/requests")
    def requests(caller: Caller, status: RequestStatus | None = None) -> dict[str, Any]:
        found = gov.requests(caller, status)
        return {"count": len(found), "requests": [request_json(r) for r in found]}

    @router.post("/requests", status_code=201)
    def create(caller: Caller, body: RequestBody) -> dict[str, Any]:
        form = RequestForm(body.table, tuple(body.columns), body.purpose, body.valid_until,
                           body.row_filter, body.scenario, body.legal_basis, body.valid_from)
        with _answering():
            return request_json(gov.request(caller, form))

    @router.get("/requests/{request_id}")
    def show(caller: Caller, request_id: str) -> dict[str, Any]:
        with _answering():
            return request_json(gov.show(request_id, caller))

    @router.delete("/requests/{request_id}")
    def withdraw(caller: Caller, request_id: str) -> dict[str, Any]:
        with _answering():
            return request_json(gov.withdraw(request_id, caller))

    @router.post("/requests/{request_id}/approve")
    def approve(caller: Caller, request_id: str, body: ApproveBody) -> dict[str, Any]:
        with _answering():
            return request_json(gov.approve(request_id, caller, columns=body.columns,
                                            row_filter=body.row_filter,
                                            valid_until=body.valid_until))

    @router.post("/requests/{request_id}/reject")
    def reject(caller: Caller, request_id: str, body: RejectBody) -> dict[str, Any]:
        with _answering():
            return request_json(gov.reject(request_id, caller, body.reason))

    @router.get("/grants")
    def grants(caller: Caller) -> dict[str, Any]:
        found = gov.issued_grants(caller)
        return {"count": len(found), "grants": [grant_json(g) for g in found]}

    @router.post("/grants/{grant_id}/revoke")
    def revoke(caller: Caller, grant_id: str, body: RevokeBody) -> dict[str, Any]:
        with _answering():
            return grant_json(gov.revoke(grant_id, caller, body.reason))

    @router.get("/scorecards")
    def scorecards(
        _: Caller,
        department: str | None = None,
        since: Annotated[datetime | None, Query(description="Default: 30 days ago.")] = None,
        until: Annotated[datetime | None, Query(description="Default: now.")] = None,
    ) -> dict[str, Any]:
        cards = gov.scorecards(since=since, until=until, department=department)
        return {"count": len(cards), "scorecards": [c.as_json() for c in cards]}

    return router
