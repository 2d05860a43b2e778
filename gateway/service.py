"""The gateway as one object: catalog store, plan cache, engines, audit and the hash-mask secret.

The CLI and the HTTP service are thin shells over :class:`Gateway`. All I/O lives here, in the
engines and in the audit log; the policy pipeline it calls is pure.

Routing: ``duckdb`` (embedded, every source), ``trino`` (every source Trino has a catalog for),
``direct`` (one PostgreSQL source, straight over asyncpg), or ``auto``: direct when the rewritten
statement touches a single PostgreSQL source, else the configured federating engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from catalog.audit_store import AuditLog, Client
from catalog.errors import SourceError
from catalog.models import CatalogSnapshot, Source
from catalog.store import CatalogStore
from connectors.base import connector_for, resolve_password
from gateway.audit import NO_CLIENT, Auditor, StatementAudit
from gateway.engines import Engine, ResultStream
from gateway.engines.direct import DirectEngine
from gateway.engines.duckdb import DuckDBEngine
from gateway.errors import EngineError
from gateway.metrics import Metrics
from gateway.policy.context import PolicyContext
from gateway.policy.masks import REDACTED_KEY, derive_key
from gateway.policy.parameters import Parameter
from gateway.policy.pipeline import Plan, PlanCache
from gateway.policy.rewrite import Target
from gateway.settings import Settings, load_settings

EXPLAIN_DIALECTS = ("duckdb", "trino")
ENGINES = ("duckdb", "trino", "direct", "auto")
DIRECT_KINDS = frozenset({"postgres"})


@dataclass(frozen=True)
class Execution:
    plan: Plan
    engine: str
    statement: str
    result: ResultStream


class Gateway:
    def __init__(self, settings: Settings, *, clock: Callable[[], date] = date.today) -> None:
        self.settings = settings
        self.clock = clock
        self.store = CatalogStore(settings.path("catalog.path"))
        self.plans = PlanCache(int(settings["policy.plan_cache_size"]))
        self.metrics = Metrics()
        self.audit = Auditor(AuditLog(settings.path("audit.path")), metrics=self.metrics,
                             department_of=self._department)
        secret = settings.secret("security.hash_key")
        self._hash_secret = secret.reveal() if secret else ""
        self._duckdb: DuckDBEngine | None = None
        self._duckdb_sources: tuple[Source, ...] = ()
        self._trino: Engine | None = None
        self._trino_sources: tuple[Source, ...] = ()
        self._direct: DirectEngine | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, path: Path | str, **kwargs: Callable[[], date]) -> Gateway:
        return cls(load_settings(path), **kwargs)

    def snapshot(self) -> CatalogSnapshot:
        return self.store.snapshot()

    def _department(self, principal: str) -> str | None:
        found = self.snapshot().principal(principal)
        return found.department if found else None

    def context(self, principal: str, *, catalog: str | None = None,
                schema: str | None = None) -> PolicyContext:
        return PolicyContext.for_principal(self.snapshot(), principal, self.clock(),
                                           default_catalog=catalog, default_schema=schema)

    def plan(self, principal: str, sql: str, parameters: Sequence[Parameter] = (), *,
             catalog: str | None = None, schema: str | None = None) -> Plan:
        ctx = self.context(principal, catalog=catalog, schema=schema)
        return self.plans.plan(sql, ctx, parameters)

    def target(self, principal: str, dialect: str, *, catalog_qualified: bool = True) -> Target:
        key = derive_key(self._hash_secret, principal) if self._hash_secret else REDACTED_KEY
        return Target(dialect, key, catalog_qualified)

    def execute(self, principal: str, sql: str, parameters: Sequence[Parameter] = (), *,
                catalog: str | None = None, schema: str | None = None,
                engine: str | None = None, client: Client = NO_CLIENT,
                query_id: str | None = None) -> Execution:
        """Plan, audit, then run on the chosen engine. The decision record is durable before
        any row is released, and the completion record is written when the stream ends.

        On the direct route the read-only statement runs first: a result of at most a page is
        then released with its decision and completion written in one durable write (nothing
        leaves before it is on disk; if it cannot be written, the rows are dropped)."""
        with self.audit.statement(principal, sql, client, query_id=query_id) as audit:
            plan = self.plan(principal, sql, parameters, catalog=catalog, schema=schema)
            route = self.route(plan, engine)
            if route == "direct":
                direct = self.direct()
                audit.allowed(plan, direct)
                statement = plan.statement(self.target(principal, direct.dialect,
                                                       catalog_qualified=False))
                return Execution(plan, route, statement,
                                 self._run_direct(direct, statement, plan, audit))
            runner = self.trino() if route == "trino" else self.duckdb()
            audit.authorized(plan, runner)
            statement = plan.statement(self.target(principal, runner.dialect))
            result = self._run_federated(runner, statement, plan)
            return Execution(plan, route, statement, audit.release(result))

    def _run_direct(self, direct: DirectEngine, statement: str, plan: Plan,
                    audit: StatementAudit) -> ResultStream:
        """One hop for a result of at most a page; a cursor for a larger one."""
        source = plan.sources[0]
        whole = direct.fetch(statement, source, int(self.settings["engine.page_size"]))
        if whole is not None:
            return audit.release_ended(whole, len(whole.rows))
        cursor = direct.execute(statement, source)
        try:
            return audit.release(cursor)
        except BaseException:
            cursor.close()  # its decision could not be written: give the connection back
            raise

    def _run_federated(self, runner: Engine, statement: str, plan: Plan) -> ResultStream:
        """Run on a federating engine; when it fails, name the source that is down (if one
        is) and let the embedded engine re-attach its sources on the next statement."""
        try:
            return runner.execute(statement)
        except EngineError:
            down = self._first_unreachable(plan.sources)
            embedded = runner is self._duckdb
            if embedded:
                self._forget_duckdb()
            if down is not None:
                raise SourceError(down, "is unreachable") from None
            if not self._has_remote_source(plan):
                raise
        # Every source answers: a failure right after a source restarted comes from
        # connections that predate the restart (both engines hold some), so the read-only
        # statement runs once more — for the embedded engine on freshly attached sources.
        return (self.duckdb() if embedded else runner).execute(statement)

    def _has_remote_source(self, plan: Plan) -> bool:
        snapshot = self.snapshot()
        return any((s := snapshot.source(n)) is not None and s.kind != "sqlite"
                   for n in plan.sources)

    def _first_unreachable(self, names: Sequence[str]) -> str | None:
        snapshot = self.snapshot()
        sources = [s for n in names if (s := snapshot.source(n)) is not None]
        if not sources:
            return None
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            healths = list(pool.map(lambda s: connector_for(s.kind).check(s), sources))
        return next((h.source for h in healths if not h.reachable), None)

    def _forget_duckdb(self) -> None:
        with self._lock:
            if self._duckdb is not None:
                self._duckdb.close()
            self._duckdb = None

    def route(self, plan: Plan, requested: str | None = None) -> str:
        """The engine a statement runs on; ``auto`` prefers the direct route."""
        choice = requested or str(self.settings["engine.default"])
        if choice not in ENGINES:
            raise EngineError(f"unknown engine {choice!r}; expected one of {', '.join(ENGINES)}")
        if choice == "auto":
            direct = self._direct_source(plan)
            if direct is not None and self.settings["direct.enabled"]:
                return "direct"
            return "trino" if self._trino_can_run(plan) else "duckdb"
        if choice == "direct" and self._direct_source(plan) is None:
            raise EngineError("the direct route serves statements on one PostgreSQL source only")
        return choice

    def _direct_source(self, plan: Plan) -> Source | None:
        if len(plan.sources) != 1:
            return None
        source = self.snapshot().source(plan.sources[0])
        return source if source is not None and source.kind in DIRECT_KINDS else None

    def _trino_can_run(self, plan: Plan) -> bool:
        snapshot = self.snapshot()
        kinds = {s.kind for name in plan.sources if (s := snapshot.source(name)) is not None}
        trino_kinds = {k for k in kinds if connector_for(k).trino_connector}
        return bool(self.settings["trino.enabled"]) and kinds == trino_kinds

    def duckdb(self) -> DuckDBEngine:
        """The embedded engine over the catalog's sources, rebuilt when the sources change."""
        sources = self.snapshot().sources
        with self._lock:
            if self._duckdb is None or self._duckdb_sources != sources:
                if self._duckdb is not None:
                    self._duckdb.close()
                self._duckdb = DuckDBEngine(
                    [connector_for(s.kind).attachment(s) for s in sources],
                    threads=int(self.settings["engine.duckdb_threads"]),
                    memory_limit=str(self.settings["engine.duckdb_memory_limit"]),
                )
                self._duckdb_sources = sources
            return self._duckdb

    def trino(self) -> Engine:
        from gateway.engines.trino import TrinoEngine  # the trino client loads only when used

        sources = tuple(s for s in self.snapshot().sources
                        if connector_for(s.kind).trino_connector)
        with self._lock:
            if self._trino is None or self._trino_sources != sources:
                if self._trino is not None:
                    self._trino.close()
                self._trino = TrinoEngine(
                    str(self.settings["trino.host"]), int(self.settings["trino.port"]),
                    str(self.settings["trino.user"]),
                    catalog_sources=[s.name for s in sources],
                    query_timeout_s=float(self.settings["trino.query_timeout_s"]),
                )
                self._trino_sources = sources
            return self._trino

    def direct(self) -> DirectEngine:
        with self._lock:
            if self._direct is None:
                sources = [s for s in self.snapshot().sources if s.kind in DIRECT_KINDS]
                self._direct = DirectEngine(sources, resolve_password,
                                            pool_size=int(self.settings["direct.pool_size"]))
            return self._direct

    def close(self) -> None:
        for engine in (self._duckdb, self._trino, self._direct):
            if engine is not None:
                engine.close()
        self.audit.close()
        self.store.close()
