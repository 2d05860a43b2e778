"""The audit API: ``GET /api/v1/audit`` (tail or search) and ``GET /api/v1/audit/verify``.

Auditors only: any other principal, admins included, gets 403. Who is asking comes from the
app's own authentication, passed in as a dependency; the role is read from the current catalog
snapshot on every request, so revoking it takes effect at once. Handlers are plain functions
(FastAPI runs them in its thread pool): reading SQLite blocks.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run
time, and some name the dependency built inside :func:`audit_router`.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from catalog.audit_store import AuditReader
from catalog.models import CatalogSnapshot
from gateway.audit import may_read_audit

PREFIX = "/api/v1/audit"
MAX_RECORDS = 10_000


def audit_router(audit: AuditReader, current_principal: Callable[..., str],
                 snapshot: Callable[[], CatalogSnapshot]) -> APIRouter:
    """Routes over ``audit``; ``current_principal`` is a FastAPI dependency naming the caller."""

    def auditor(principal: Annotated[str, Depends(current_principal)]) -> str:
        if not may_read_audit(snapshot(), principal):
            raise HTTPException(403, "only principals with the auditor role may read the audit log")
        return principal

    Auditor = Annotated[str, Depends(auditor)]
    router = APIRouter(prefix=PREFIX, tags=["audit"])

    @router.get("")
    def records(
        _: Auditor,
        n: Annotated[int, Query(ge=1, le=MAX_RECORDS, description="The last n records.")] = 50,
        principal: str | None = None,
        decision: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """The last ``n`` records; with any filter, the newest ``n`` records matching all."""
        if any(v is not None for v in (principal, decision, since, until, text)):
            found = audit.search(principal=principal, decision=decision, since=since,
                                 until=until, text=text, limit=n)
        else:
            found = audit.tail(n)
        return {"count": len(found), "records": [r.as_json() for r in found]}

    @router.get("/verify")
    def verify(_: Auditor) -> dict[str, Any]:
        return audit.verify().as_json()

    return router

