"""The pipeline assembled: ``plan(sql, ctx)`` runs parse → bind → authorize, and a plan renders
its rewritten statement for any engine target. ``PlanCache`` memoises the analysis keyed by
principal, statement, catalog version, day, session defaults and the parameters' kinds, so a
repeated statement costs a dictionary lookup, and a new parameter value a render of its literal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from threading import Lock

from cachetools import LRUCache
from sqlglot import exp

from gateway.policy.authorize import Decision, authorize
from gateway.policy.bind import Bound, bind
from gateway.policy.context import PolicyContext
from gateway.policy.parameters import (
    Parameter,
    Slots,
    Template,
    bind_parameters,
    kind,
    late_bindable,
    placeholders,
)
from gateway.policy.parse import parse
from gateway.policy.render import render, render_statement
from gateway.policy.rewrite import Target, rewrite

STEPS: tuple[Callable[..., object], ...] = (parse, bind, authorize, rewrite, render)


@dataclass(frozen=True)
class Plan:
    """An authorized statement: what it uses, and its rewritten form per engine target.

    With ``slots``, the parameters were bound late: ``bound`` holds a sentinel literal of each
    parameter's kind where the parameter stands (:meth:`with_values` puts the values there),
    and rendering fills the values into a template shared by every plan of the same analysis.
    """

    sql: str
    principal: str
    bound: Bound
    decision: Decision
    _rendered: dict[tuple[Target, bool], str] = field(default_factory=dict, compare=False)
    parameters: tuple[Parameter, ...] = ()
    slots: Slots | None = None
    _templates: dict[Target, Template | None] = field(default_factory=dict, compare=False)

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(sorted({u.table.source for u in self.bound.uses}))

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(sorted({u.table.qualified for u in self.bound.uses}))

    def statement(self, target: Target, *, pretty: bool = False) -> str:
        key = (target, pretty)
        found = self._rendered.get(key)
        if found is None:
            found = self._render(target, pretty)
            self._rendered[key] = found
        return found

    def with_values(self) -> Bound:
        """``bound`` with the parameters' values in place of their sentinels."""
        if self.slots is None:
            return self.bound
        return replace(self.bound, query=self.slots.filled_tree(self.bound.query,
                                                                self.parameters))

    def for_values(self, parameters: Sequence[Parameter]) -> Plan:
        """The same analysis with other values of the same kinds."""
        return Plan(self.sql, self.principal, self.bound, self.decision, {}, tuple(parameters),
                    self.slots, self._templates)

    def _render(self, target: Target, pretty: bool) -> str:
        if self.slots is not None and not pretty:
            template = self._template(target)
            if template is not None:
                return template.fill(self.parameters)
        return render_statement(self.with_values(), self.decision, target, pretty=pretty)

    def _template(self, target: Target) -> Template | None:
        if target not in self._templates:
            assert self.slots is not None
            sql = render_statement(self.bound, self.decision, target)
            self._templates[target] = self.slots.template(sql, target.dialect, self.parameters)
        return self._templates[target]


def plan(sql: str, ctx: PolicyContext, parameters: Sequence[Parameter] = ()) -> Plan:
    """Parse, bind and authorize ``sql`` with its parameters' values bound in the tree."""
    query = parse(sql)
    if parameters or "?" in sql:  # a ``?`` is the only way to write a parameter
        query = bind_parameters(query, parameters)
    bound, decision = _analysed(query, ctx)
    return Plan(sql, ctx.principal.name, bound, decision)


def plan_late(sql: str, ctx: PolicyContext, parameters: Sequence[Parameter]) -> Plan | None:
    """Like :func:`plan`, with the parameters bound as slots of their kinds; ``None`` when a
    parameter's value could shape the statement (see :mod:`.parameters`)."""
    query = parse(sql)
    nodes = placeholders(query, len(parameters))
    if not late_bindable(nodes, parameters):
        return None
    slots = Slots.drawn(parameters)
    bound, decision = _analysed(slots.bind(query, nodes, parameters), ctx)
    return Plan(sql, ctx.principal.name, bound, decision, {}, tuple(parameters), slots)


def _analysed(query: exp.Query, ctx: PolicyContext) -> tuple[Bound, Decision]:
    bound = bind(query, ctx, copy=False)
    decision = authorize(bound, ctx)
    # The scope tree served authorize; a cached plan need not keep it alive.
    return replace(bound, scope=None), decision


CacheKey = tuple[str, str, int, date, str | None, str | None, tuple[str, ...]]
EARLY = "early"  # the statement binds its parameters' values early: they are in the key


class PlanCache:
    """Plans keyed by (principal, statement, catalog version, day, session defaults, parameter
    kinds). A statement with parameters keeps its analysis, and each call's values fill it in at
    render time, unless a value could shape the statement: then the values join the key."""

    def __init__(self, maxsize: int = 4096) -> None:
        self._plans: LRUCache[CacheKey, Plan | str] = LRUCache(maxsize=maxsize)
        self._lock = Lock()

    def plan(self, sql: str, ctx: PolicyContext, parameters: Sequence[Parameter] = ()) -> Plan:
        key: CacheKey = (ctx.principal.name, sql, ctx.snapshot.version, ctx.today,
                         ctx.default_catalog, ctx.default_schema,
                         tuple(kind(p) for p in parameters))
        found = self._get(key)
        if isinstance(found, Plan):
            return found.for_values(parameters) if found.slots else found
        if found == EARLY:
            return self._early(key, sql, ctx, parameters)
        late = plan_late(sql, ctx, parameters) if parameters else plan(sql, ctx)
        self._put(key, late or EARLY)
        return late or self._early(key, sql, ctx, parameters)

    def _early(self, key: CacheKey, sql: str, ctx: PolicyContext,
               parameters: Sequence[Parameter]) -> Plan:
        values = ("values", *(f"{type(p).__name__}:{p!r}" for p in parameters))
        valued: CacheKey = (*key[:-1], values)
        found = self._get(valued)
        if isinstance(found, Plan):
            return found
        made = plan(sql, ctx, parameters)
        self._put(valued, made)
        return made

    def _get(self, key: CacheKey) -> Plan | str | None:
        with self._lock:
            return self._plans.get(key)

    def _put(self, key: CacheKey, value: Plan | str) -> None:
        with self._lock:
            self._plans[key] = value
