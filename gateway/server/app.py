"""The HTTP service: the Trino client protocol over :class:`~gateway.service.Gateway`.

Routes::

    POST   /v1/statement                                  start a statement
    GET    /v1/statement/executing/{id}/{slug}/{token}    its next response
    DELETE /v1/statement/executing/{id}/{slug}/{token}    cancel it
    GET    /v1/query/{id}                                 its state and row counters
    DELETE /v1/query/{id}                                 cancel it
    GET    /v1/info                                       server info (no authentication)

plus, when given, the audit API router and the ``/metrics`` route. Every other route needs an
authenticated principal (see :mod:`gateway.server.auth`).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response as HttpResponse

from catalog.audit_store import Client
from gateway import __version__
from gateway.server import constants as h
from gateway.server.auth import Authenticator, Forbidden, InsecureAuthenticator, Unauthenticated
from gateway.server.protocol import (
    MAX_WAIT,
    PURGE_INTERVAL,
    ClientQuery,
    QueryListener,
    QueryRegistry,
    Response,
    log,
    new_query_id,
)
from gateway.server.session import ClientSession, StatementContext, answer
from gateway.service import Gateway

QUERY_WORKERS = 8
FIRST_WAIT = 0.1  # seconds a POST waits for the first page before answering QUEUED
FIRST_TOKEN = -1  # the POST's own response; the first nextUri token is 0


async def authenticated(request: Request) -> str:
    authenticator: Authenticator = request.app.state.authenticator
    return await run_in_threadpool(authenticator.authenticate, request)


def current_principal(request: Request) -> str:
    """The same as :func:`authenticated`, as a plain function (FastAPI runs it on a worker):
    for routers that take a synchronous dependency."""
    authenticator: Authenticator = request.app.state.authenticator
    return authenticator.authenticate(request)


Principal = Annotated[str, Depends(authenticated)]


def create_app(gateway: Gateway, auth: Authenticator, *,
               audit_router: APIRouter | None = None,
               metrics_route: APIRouter | Callable[..., Any] | None = None,
               listeners: Sequence[QueryListener] = (),
               max_wait: float = MAX_WAIT, first_wait: float = FIRST_WAIT) -> FastAPI:
    """The service over ``gateway``; ``listeners`` hear of every statement once it has ended.

    ``first_wait``: how long ``POST /v1/statement`` waits for the first page (a quick statement
    is answered in one round trip); ``max_wait``: how long each ``GET`` waits for the next."""
    executor = ThreadPoolExecutor(QUERY_WORKERS, thread_name_prefix="shuqiao-query")
    registry = QueryRegistry(executor, listeners)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if isinstance(auth, InsecureAuthenticator):
            warn_insecure(auth.host)
        purging = asyncio.create_task(purge_every(registry, PURGE_INTERVAL))
        yield
        purging.cancel()
        await asyncio.to_thread(registry.close)

    # The JSON API is documented by OpenAPI under its own prefix; the Trino protocol routes are
    # Trino's own contract and documented there.
    app = FastAPI(title="Shuqiao", version=__version__, docs_url="/api/v1/docs",
                  redoc_url=None, openapi_url="/api/v1/openapi.json", lifespan=lifespan)
    app.state.gateway, app.state.authenticator, app.state.registry = gateway, auth, registry
    app.state.started = time.monotonic()
    app.state.max_wait, app.state.first_wait = max_wait, first_wait
    app.add_exception_handler(Unauthenticated, _unauthenticated)
    app.add_exception_handler(Forbidden, _forbidden)
    app.include_router(router)
    if audit_router is not None:
        app.include_router(audit_router)
    if isinstance(metrics_route, APIRouter):
        app.include_router(metrics_route)
    elif metrics_route is not None:
        app.add_api_route("/metrics", metrics_route, methods=["GET"], include_in_schema=False)
    return app


async def purge_every(registry: QueryRegistry, seconds: float) -> None:
    """Forget abandoned and long-finished queries even when no new statement arrives."""
    while True:
        await asyncio.sleep(seconds)
        registry.purge()


def warn_insecure(host: str) -> None:
    message = (f"INSECURE MODE: X-Trino-User is trusted without a password, on {host} only. "
               "Never use this outside local development and the demo.")
    log.warning(message)
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


async def _unauthenticated(request: Request, error: Exception) -> HttpResponse:
    response = PlainTextResponse("Unauthorized: invalid or missing credentials\n", 401)
    for challenge in request.app.state.authenticator.challenges:
        response.headers.append(h.WWW_AUTHENTICATE, challenge)
    return response


async def _forbidden(request: Request, error: Exception) -> HttpResponse:
    return PlainTextResponse(f"Forbidden: {error}\n", 403)


router = APIRouter(include_in_schema=False)  # the Trino protocol, documented by Trino


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _render(response: Response) -> HttpResponse:
    return HttpResponse(response.body, 200, response.headers, media_type="application/json")


def _not_found() -> HttpResponse:
    return PlainTextResponse("Query not found\n", 404)


@router.post(h.STATEMENT_PATH)
async def post_statement(request: Request, principal: Principal) -> HttpResponse:
    try:
        sql = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        return PlainTextResponse("the statement is not UTF-8 text\n", 400)
    if not sql.strip():
        return PlainTextResponse("SQL statement is empty\n", 400)
    state = request.app.state
    session = ClientSession.from_headers(request.headers.getlist)
    query_id = new_query_id()
    context = StatementContext(state.gateway, principal, session, _client(request, session),
                               query_id)
    query = ClientQuery(principal, sql, partial(answer, sql, context),
                        page_size=int(state.gateway.settings["engine.page_size"]),
                        parametric_datetime=session.parametric_datetime,
                        source=session.source, client_tags=session.client_tags,
                        query_id=query_id)
    state.registry.add(query)
    async with query.lock:
        # A quick statement answers the POST itself: one round trip instead of two.
        await query.advance(state.first_wait)
        response = query.respond(FIRST_TOKEN, _base_url(request))
    state.registry.report(query)
    return _render(response)


def _client(request: Request, session: ClientSession) -> Client:
    """What the client says about itself: labels for the audit log, never trusted facts."""
    return Client(address=request.client.host if request.client else "",
                  user_agent=request.headers.get(h.USER_AGENT, ""),
                  source=session.source or "", tags=session.client_tags)


@router.get(h.EXECUTING_PATH + "/{query_id}/{slug}/{token}")
async def get_results(request: Request, principal: Principal, query_id: str, slug: str,
                      token: int) -> HttpResponse:
    registry: QueryRegistry = request.app.state.registry
    query = registry.get(query_id, principal, slug)
    if query is None:
        return _not_found()
    async with query.lock:
        cached = query.cached(token)
        if cached is not None:
            return _render(cached)
        if token != query.expected_token():
            return _not_found()
        await query.advance(request.app.state.max_wait)
        response = query.respond(token, _base_url(request))
    registry.report(query)
    return _render(response)


@router.delete(h.EXECUTING_PATH + "/{query_id}/{slug}/{token}")
async def cancel_statement(request: Request, principal: Principal, query_id: str, slug: str,
                           token: int) -> HttpResponse:
    return _cancel(request.app.state.registry, request.app.state.registry.get(
        query_id, principal, slug))


@router.delete(h.QUERY_PATH + "/{query_id}")
async def cancel_query(request: Request, principal: Principal, query_id: str) -> HttpResponse:
    registry: QueryRegistry = request.app.state.registry
    return _cancel(registry, registry.get(query_id, principal))


def _cancel(registry: QueryRegistry, query: ClientQuery | None) -> HttpResponse:
    if query is None:
        return _not_found()
    query.cancel()
    registry.report(query)
    return HttpResponse(status_code=204)


@router.get(h.QUERY_PATH + "/{query_id}")
async def query_info(request: Request, principal: Principal, query_id: str) -> HttpResponse:
    query = request.app.state.registry.get(query_id, principal)
    if query is None:
        return _not_found()
    return JSONResponse(query.info())


@router.get(h.INFO_PATH)
async def info(request: Request) -> HttpResponse:
    minutes = (time.monotonic() - request.app.state.started) / 60
    return JSONResponse({"nodeVersion": {"version": __version__},
                         "environment": h.ENVIRONMENT, "coordinator": True,
                         "starting": False, "uptime": f"{minutes:.2f}m"})


def settle_heap() -> None:
    """Move what start-up allocated (modules, the catalog, the engines) out of the collector's
    view before serving: streaming allocates rows by the million, and each full collection
    would otherwise walk every long-lived object again."""
    gc.collect()
    gc.freeze()
