"""The gateway as one object: catalog store, plan cache, engines and the hash-mask secret.

The CLI and the HTTP service are thin shells over :class:`Gateway`. All I/O lives here or in
the engines; the policy pipeline it calls is pure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from catalog.models import CatalogSnapshot
from catalog.store import CatalogStore
from connectors.base import connector_for
from gateway.engines import ResultStream
from gateway.engines.duckdb import DuckDBEngine
from gateway.policy.context import PolicyContext
from gateway.policy.masks import REDACTED_KEY, derive_key
from gateway.policy.parameters import Parameter
from gateway.policy.pipeline import Plan, PlanCache
from gateway.policy.rewrite import Target
from gateway.settings import Settings, load_settings

EXPLAIN_DIALECTS = ("duckdb", "trino")


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
        secret = settings.secret("security.hash_key")
        self._hash_secret = secret.reveal() if secret else ""
        self._engine: DuckDBEngine | None = None
        self._engine_sources: tuple[object, ...] = ()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, path: Path | str, **kwargs: Callable[[], date]) -> Gateway:
        return cls(load_settings(path), **kwargs)

    def snapshot(self) -> CatalogSnapshot:
        return self.store.snapshot()

    def context(self, principal: str, *, catalog: str | None = None,
                schema: str | None = None) -> PolicyContext:
        return PolicyContext.for_principal(self.snapshot(), principal, self.clock(),
                                           default_catalog=catalog, default_schema=schema)

    def plan(self, principal: str, sql: str, parameters: Sequence[Parameter] = (), *,
             catalog: str | None = None, schema: str | None = None) -> Plan:
        ctx = self.context(principal, catalog=catalog, schema=schema)
        return self.plans.plan(sql, ctx, parameters)

    def target(self, principal: str, dialect: str) -> Target:
        if not self._hash_secret:
            return Target(dialect, REDACTED_KEY)
        return Target(dialect, derive_key(self._hash_secret, principal))

    def execute(self, principal: str, sql: str, parameters: Sequence[Parameter] = (), *,
                catalog: str | None = None, schema: str | None = None) -> Execution:
        plan = self.plan(principal, sql, parameters, catalog=catalog, schema=schema)
        engine = self.duckdb()
        statement = plan.statement(self.target(principal, engine.dialect))
        return Execution(plan, engine.name, statement, engine.execute(statement))

    def duckdb(self) -> DuckDBEngine:
        """The embedded engine over the catalog's sources, rebuilt when the sources change."""
        sources = self.snapshot().sources
        with self._lock:
            if self._engine is None or self._engine_sources != sources:
                if self._engine is not None:
                    self._engine.close()
                self._engine = DuckDBEngine(
                    [connector_for(s.kind).attachment(s) for s in sources],
                    threads=int(self.settings["engine.duckdb_threads"]),
                    memory_limit=str(self.settings["engine.duckdb_memory_limit"]),
                )
                self._engine_sources = sources
            return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        self.store.close()

