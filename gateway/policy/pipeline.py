"""The pipeline assembled: ``plan(sql, ctx)`` runs parse → bind → authorize, and a plan renders
its rewritten statement for any engine target. ``PlanCache`` memoises plans keyed by principal,
statement, catalog version and day, so a repeated statement costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from threading import Lock

from cachetools import LRUCache
from sqlglot import exp

from gateway.policy.authorize import Decision, authorize
from gateway.policy.bind import Bound, bind
from gateway.policy.context import PolicyContext
from gateway.policy.parameters import Parameter, bind_parameters
from gateway.policy.parse import parse
from gateway.policy.render import render, render_statement
from gateway.policy.rewrite import Target, rewrite

STEPS: tuple[Callable[..., object], ...] = (parse, bind, authorize, rewrite, render)


@dataclass(frozen=True)
class Plan:
    """An authorized statement: what it uses, and its rewritten form per engine target."""

    sql: str
    principal: str
    bound: Bound
    decision: Decision
    _rendered: dict[tuple[str, str, bool], str] = field(default_factory=dict, compare=False)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({u.table.source for u in self.bound.uses}))

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(sorted({u.table.qualified for u in self.bound.uses}))

    def statement(self, target: Target, *, pretty: bool = False) -> str:
        key = (target.dialect, target.mask_key, pretty)
        found = self._rendered.get(key)
        if found is None:
            found = render_statement(self.bound, self.decision, target, pretty=pretty)
            self._rendered[key] = found
        return found


def plan(sql: str, ctx: PolicyContext, parameters: Sequence[Parameter] = ()) -> Plan:
    query = parse(sql)
    if parameters or any(True for _ in query.find_all(exp.Placeholder)):
        query = bind_parameters(query, parameters)
    bound = bind(query, ctx, copy=False)
    return Plan(sql, ctx.principal.name, bound, authorize(bound, ctx))


CacheKey = tuple[str, str, int, date, str | None, str | None, tuple[str, ...]]


class PlanCache:
    """Plans keyed by (principal, statement, catalog version, day, session defaults)."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._plans: LRUCache[CacheKey, Plan] = LRUCache(maxsize=maxsize)
        self._lock = Lock()

    def plan(self, sql: str, ctx: PolicyContext, parameters: Sequence[Parameter] = ()) -> Plan:
        key: CacheKey = (ctx.principal.name, sql, ctx.snapshot.version, ctx.today,
                         ctx.default_catalog, ctx.default_schema,
                         tuple(f"{type(p).__name__}:{p!r}" for p in parameters))
        with self._lock:
            found = self._plans.get(key)
        if found is not None:
            return found
        made = plan(sql, ctx, parameters)
        with self._lock:
            self._plans[key] = made
        return made
