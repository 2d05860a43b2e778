"""The gateway's audit writer: every statement leaves a durable record before any row leaves.

One :class:`StatementAudit` per statement, used as a context manager around planning and
execution::

    with auditor.statement(principal, sql, client) as audit:
        plan = ...                               # a PolicyError here: a "refused" decision
        audit.authorized(plan, engine)           # the "allowed" decision, on disk
        result = engine.execute(...)             # an error here: a "failed" completion
        return audit.release(result)             # rows counted; completion when it ends

Outside the block nothing is swallowed: every exception is recorded and raised again. If the
record itself cannot be written, :class:`~catalog.audit_store.AuditError` is raised instead and
no row is released (fail closed).

:class:`AuditedResult` wraps the engine's result stream: it counts rows through ``pages()`` and
writes the completion record exactly once — when the stream is exhausted (finished), fails
(failed), is cancelled, closed or garbage-collected before its end (cancelled). Metrics and
structured logs are fed from the same points, so the three never disagree.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from types import TracebackType
from typing import Protocol

from cachetools import LRUCache

from catalog.audit_store import AuditLog, Client, Decision, Reason, Status
from catalog.errors import ShuqiaoError, SourceError
from catalog.models import CatalogSnapshot
from gateway.engines import ResultColumn, ResultStream
from gateway.errors import PolicyError
from gateway.logs import emit, get_logger
from gateway.metrics import Metrics
from gateway.policy.pipeline import Plan
from gateway.policy.rewrite import Target

__all__ = ["AuditedResult", "Auditor", "Client", "StatementAudit", "may_read_audit"]

NO_CLIENT = Client()
AUDITOR_ROLE = "auditor"


class EngineLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def dialect(self) -> str: ...


def may_read_audit(snapshot: CatalogSnapshot, principal: str) -> bool:
    """Only auditors read the audit log (admins and data owners do not)."""
    found = snapshot.principal(principal)
    return found is not None and AUDITOR_ROLE in found.roles


def _no_department(principal: str) -> str | None:
    return None


class Auditor:
    """Writes the audit log, and feeds metrics and logs from the same events."""

    def __init__(self, log: AuditLog, *, metrics: Metrics | None = None,
                 logger: logging.Logger | None = None,
                 department_of: Callable[[str], str | None] = _no_department,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.log = log
        self.metrics = metrics or Metrics()
        self.logger = logger or get_logger("statement")
        self.department_of = department_of
        self.clock = clock
        # Query ids this auditor has recorded lately, so the protocol can tell which of its
        # statements still need a record of their own (those that never reached the gateway).
        self._recent: LRUCache[str, bool] = LRUCache(maxsize=65536)
        self._recent_lock = threading.Lock()

    def statement(self, principal: str, sql: str, client: Client = NO_CLIENT, *,
                  query_id: str | None = None) -> StatementAudit:
        query = query_id or new_query_id()
        with self._recent_lock:
            self._recent[query] = True
        return StatementAudit(self, principal, sql, client, query)

    def recorded(self, query_id: str) -> bool:
        with self._recent_lock:
            return query_id in self._recent

    def timed_write(self, kind: str, write: Callable[[], int | None]) -> int | None:
        started = self.clock()
        seq = write()
        self.metrics.audit_written(kind, self.clock() - started)
        return seq

    def close(self) -> None:
        self.log.close()


def _department(auditor: Auditor, principal: str) -> str | None:
    """The principal's department, a metrics label only: a failed lookup must not stop the
    statement from being audited."""
    try:
        return auditor.department_of(principal)
    except Exception:
        return None


def new_query_id() -> str:
    return uuid.uuid4().hex


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


class StatementAudit:
    """The audit of one statement; see the module docstring for its life."""

    def __init__(self, auditor: Auditor, principal: str, sql: str, client: Client,
                 query_id: str) -> None:
        self.auditor = auditor
        self.principal = principal
        self.sql = sql
        self.client = client
        self.query_id = query_id
        self.department = _department(auditor, principal)
        self.started = auditor.clock()
        self.seq: int | None = None
        self.sources: tuple[str, ...] = ()
        self._released = False

    def __enter__(self) -> StatementAudit:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._released:
            return
        if self.seq is None:
            self._undecided(error)
        else:
            self._failed_after_decision(error)

    # -- the decision ---------------------------------------------------------------------------

    def authorized(self, plan: Plan, engine: EngineLike) -> int:
        """Write the ``allowed`` decision durably; call before the engine runs the statement."""
        shown = plan.statement(Target(engine.dialect))  # the default target redacts the key
        self.sources = plan.sources
        seq = self._decide("allowed", None, plan=plan, engine=engine.name, rewritten=shown)
        self.seq = seq
        return seq

    def _undecided(self, error: BaseException | None) -> None:
        if isinstance(error, PolicyError):
            self._decide("refused", Reason(rule=error.rule, message=str(error)))
            return
        self._decide("failed", _failure(error))
        if isinstance(error, SourceError):
            self.auditor.metrics.source_failed(error.source, type(error).__name__)

    def _decide(self, decision: Decision, reason: Reason | None, *, plan: Plan | None = None,
                engine: str | None = None, rewritten: str | None = None) -> int:
        planning = self.auditor.clock() - self.started
        seq = self.auditor.timed_write("decision", lambda: self.auditor.log.decision(
            self.principal, self.client, self.sql, decision=decision,
            reason=reason, purposes=plan.decision.purposes if plan else (),
            rewritten_sql=rewritten, sources=plan.sources if plan else (),
            tables=plan.tables if plan else (), engine=engine, query_id=self.query_id,
            planning_ms=_ms(planning)))
        assert seq is not None
        self.auditor.metrics.decided(decision, self.department, planning)
        emit(self.auditor.logger, f"statement.{decision}", query_id=self.query_id,
             principal=self.principal, department=self.department, decision=decision,
             rule=reason.rule if reason else None, error=reason.error if reason else None,
             engine=engine, sources=list(self.sources), audit_seq=seq,
             planning_ms=_ms(planning))
        return seq

    # -- after the decision ---------------------------------------------------------------------

    def release(self, result: ResultStream) -> AuditedResult:
        """Hand the result over: from now on its stream writes the completion."""
        if self.seq is None:
            raise RuntimeError("release() before authorized(): nothing was recorded")
        self._released = True
        return AuditedResult(result, self._complete)

    def _failed_after_decision(self, error: BaseException | None) -> None:
        self._complete("failed", 0, error or "NotReleased", wait=True)

    def _complete(self, status: Status, rows: int, error: BaseException | str | None, *,
                  wait: bool) -> None:
        seq = self.seq
        assert seq is not None
        name = error if isinstance(error, str) or error is None else type(error).__name__
        elapsed = self.auditor.clock() - self.started
        self.auditor.timed_write("completion", lambda: self.auditor.log.completion(
            seq, status=status, rows=rows, elapsed_ms=_ms(elapsed), error=name, wait=wait))
        self.auditor.metrics.completed(status, self.department, elapsed, rows)
        if status == "failed":
            self._count_source_errors(error, name or "unknown")
        emit(self.auditor.logger, "statement.completed", query_id=self.query_id,
             principal=self.principal, status=status, rows=rows, error=name,
             audit_seq=seq, duration_ms=_ms(elapsed))

    def _count_source_errors(self, error: BaseException | str | None, name: str) -> None:
        """A source's own error names it; an engine's cannot tell, so every source touched
        counts it."""
        sources = (error.source,) if isinstance(error, SourceError) else self.sources
        for source in sources:
            self.auditor.metrics.source_failed(source, name)


def _failure(error: BaseException | None) -> Reason:
    """An error reduced to its class, plus the message only for Shuqiao's own errors, whose
    messages never hold data values (an engine's or driver's may)."""
    if error is None:
        return Reason(error="NotExecuted", message="the statement ended without a decision")
    message = str(error) if isinstance(error, ShuqiaoError) else ""
    return Reason(error=type(error).__name__, message=message)


class Completion(Protocol):
    def __call__(self, status: Status, rows: int, error: BaseException | str | None, *,
                 wait: bool) -> None: ...


class AuditedResult:
    """A :class:`~gateway.engines.ResultStream` whose end is audited exactly once."""

    def __init__(self, result: ResultStream, complete: Completion) -> None:
        self._result = result
        self._complete = complete
        self._rows = 0
        self._done = False
        self._lock = threading.Lock()
        self.columns: tuple[ResultColumn, ...] = result.columns

    @property
    def rows(self) -> int:
        return self._rows

    @property
    def done(self) -> bool:
        return self._done

    def pages(self, size: int) -> Generator[list[tuple[object, ...]], None, None]:
        inner = self._result.pages(size)
        try:
            for page in inner:
                self._rows += len(page)
                yield page
        except GeneratorExit:
            self._finish("cancelled", wait=False)
            raise
        except BaseException as error:
            self._finish("failed", error)
            raise
        else:
            self._finish("finished")
        finally:
            _close(inner)

    def cancel(self) -> None:
        try:
            self._result.cancel()
        finally:
            self._finish("cancelled")

    def close(self) -> None:
        """Give up on the rest of the stream (a client that went away)."""
        if not self._done:
            self.cancel()

    def __del__(self) -> None:
        # A finalizer must not raise; if this write fails the decision stays open in the log.
        with contextlib.suppress(Exception):
            self._finish("cancelled", wait=False)

    def _finish(self, status: Status, error: BaseException | None = None, *,
                wait: bool = True) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._complete(status, self._rows, error, wait=wait)


def _close(pages: Iterator[list[tuple[object, ...]]]) -> None:
    close = getattr(pages, "close", None)
    if close is not None:
        close()
