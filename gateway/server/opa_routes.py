"""The decision endpoint for Trino's OPA access-control plugin (``access-control.name=opa``).

Routes, each answering the request shape the Trino 476 plugin sends (see :mod:`gateway.opa`)::

    POST /opa/v1/allow          opa.policy.uri                        {"result": bool}
    POST /opa/v1/batch          opa.policy.batched-uri                {"result": [int]}
    POST /opa/v1/row-filters    opa.policy.row-filters-uri            {"result": [{"expression"}]}
    POST /opa/v1/column-masks   opa.policy.batch-column-masking-uri
                                {"result": [{"index", "viewExpression": {"expression"}}]}

A request the module cannot read is denied in the shape Trino expects (``false``, ``[]``) on the
first two routes; on the last two it is answered with HTTP 400, which fails the query in Trino.

The answers reveal what each user may read: serve these routes only where the Trino coordinator
alone can reach them.
Handlers are plain functions: FastAPI runs them in its thread pool.

No ``from __future__ import annotations`` here: FastAPI reads the handlers' annotations at run
time.
"""

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, HTTPException

from catalog.models import CatalogSnapshot
from gateway.opa import (
    OpaPolicy,
    OpaRequest,
    OpaRequestError,
    allow,
    batch,
    column_masks,
    parse_request,
    row_filters,
)

PREFIX = "/opa/v1"

Payload = Annotated[Any, Body()]
T = TypeVar("T")


def opa_router(snapshot: Callable[[], CatalogSnapshot], today: Callable[[], date],
               service_user: str, mask_key: Callable[[str], str]) -> APIRouter:
    """The four routes, deciding over the current snapshot and day at every request.

    ``mask_key`` is accepted but not used: columns under the keyed ``hash`` mask are denied on
    this path, since Trino would show the key to the user in the query's plan.
    """
    router = APIRouter(prefix=PREFIX, tags=["opa"])

    def policy() -> OpaPolicy:
        return OpaPolicy(snapshot(), today(), service_user)

    @router.post("/allow")
    def allow_route(payload: Payload) -> dict[str, bool]:
        request = _readable(payload)
        return {"result": request is not None and allow(policy(), request)}

    @router.post("/batch")
    def batch_route(payload: Payload) -> dict[str, list[int]]:
        request = _readable(payload)
        return {"result": [] if request is None else batch(policy(), request)}

    @router.post("/row-filters")
    def row_filters_route(payload: Payload) -> dict[str, list[dict[str, str]]]:
        found = _answer(lambda: row_filters(policy(), parse_request(payload)))
        return {"result": [{"expression": expression} for expression in found]}

    @router.post("/column-masks")
    def column_masks_route(payload: Payload) -> dict[str, list[dict[str, Any]]]:
        found = _answer(lambda: column_masks(policy(), parse_request(payload)))
        return {"result": [{"index": index, "viewExpression": {"expression": expression}}
                           for index, expression in found]}

    return router


def _readable(payload: object) -> OpaRequest | None:
    try:
        return parse_request(payload)
    except OpaRequestError:
        return None


def _answer(decide: Callable[[], T]) -> T:
    try:
        return decide()
    except OpaRequestError as error:
        raise HTTPException(400, f"not a request of Trino's OPA plugin: {error}") from None
