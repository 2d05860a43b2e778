"""The gateway's audit writer: every statement leaves a durable record before any row leaves.

One :class:`StatementAudit` per statement, used as a context manager around planning and
execution::

    with auditor.statement(principal, sql, client) as audit:
        plan = ...                               # a PolicyError here: a "refused" decision
        audit.authorized(plan, engine)           # the "allowed" decision, on disk
        result = engine.execute(...)             # an error here: a "failed" completion
        return audit.release(result)             # rows counted; completion when it ends

An engine that runs a read-only statement and may hold its whole result before anything leaves
(the direct route) notes the decision instead, and writes it with the completion in one durable
write just before the release::

    with auditor.statement(principal, sql, client) as audit:
        plan = ...
        audit.allowed(plan, engine)              # noted, not yet written
        whole = engine.fetch(...)                # an error here: "allowed" + "failed", together
        return audit.release_ended(whole, rows)  # "allowed" + "finished", on disk, then released

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
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from cachetools import LRUCache

from catalog.audit_store import AuditLog, Client, Decision, Ending, Reason, Status
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
        self._allowed: _Allowed | None = None
        self._released = False

    def __enter__(self) -> StatementAudit:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._released:
            return
        if self.seq is not None:
            self._failed_after_decision(error)
        elif self._allowed is not None:
            self._ended("failed", 0, error or "NotReleased")
        else:
            self._undecided(error)

    # -- the decision ---------------------------------------------------------------------------

    def authorized(self, plan: Plan, engine: EngineLike) -> int:
        """Write the ``allowed`` decision durably; call before the engine runs the statement."""
        self.allowed(plan, engine)
        return self._write_allowed()

    def allowed(self, plan: Plan, engine: EngineLike) -> None:
        """Note the ``allowed`` decision without writing it yet, for an engine that runs a
        read-only statement first. Nothing may leave before :meth:`release` or
        :meth:`release_ended` has written it durably; any other way out of the block writes it
        together with a ``failed`` completion."""
        shown = plan.statement(Target(engine.dialect))  # the default target redacts the key
        self.sources = plan.sources
        self._allowed = _Allowed(plan, engine.name, shown, self.auditor.clock() - self.started)

    def _write_allowed(self, ending: Ending | None = None) -> int:
        allowed = self._allowed
        if allowed is None:
            raise RuntimeError("no allowed decision to record")
        seq = self._decide("allowed", None, plan=allowed.plan, engine=allowed.engine,
                           rewritten=allowed.rewritten, planning=allowed.planning,
                           ending=ending)
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
                engine: str | None = None, rewritten: str | None = None,
                planning: float | None = None, ending: Ending | None = None) -> int:
        if planning is None:
            planning = self.auditor.clock() - self.started
        kind = "decision" if ending is None else "decision+completion"
        seq = self.auditor.timed_write(kind, lambda: self.auditor.log.decision(
            self.principal, self.client, self.sql, decision=decision,
            reason=reason, purposes=plan.decision.purposes if plan else (),
            rewritten_sql=rewritten, sources=plan.sources if plan else (),
            tables=plan.tables if plan else (), engine=engine, query_id=self.query_id,
            planning_ms=_ms(planning), ending=ending))
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
        if self.seq is None and self._allowed is not None:
            self._write_allowed()
        if self.seq is None:
            raise RuntimeError("release() before authorized(): nothing was recorded")
        self._released = True
        return AuditedResult(result, self._complete)

    def release_ended(self, result: ResultStream, rows: int) -> ResultStream:
        """Hand over a result the engine already holds whole, ``rows`` rows: the decision and
        the ``finished`` completion are written together (one durable write) before it leaves,
        so the stream itself writes nothing more."""
        if self.seq is not None or self._allowed is None:
            raise RuntimeError("release_ended() needs an allowed decision not yet written")
        self._ended("finished", rows, None)
        self._released = True
        return result

    def _ended(self, status: Status, rows: int, error: BaseException | str | None) -> None:
        """Write the noted decision with its completion, in one write."""
        name = _error_name(error)
        elapsed = self.auditor.clock() - self.started
        seq = self._write_allowed(Ending(status, rows, _ms(elapsed), name))
        self._completed(seq, status, rows, error, elapsed)

    def _failed_after_decision(self, error: BaseException | None) -> None:
        self._complete("failed", 0, error or "NotReleased", wait=True)

    def _complete(self, status: Status, rows: int, error: BaseException | str | None, *,
                  wait: bool) -> None:
        seq = self.seq
        assert seq is not None
        name = _error_name(error)
        elapsed = self.auditor.clock() - self.started
        self.auditor.timed_write("completion", lambda: self.auditor.log.completion(
            seq, status=status, rows=rows, elapsed_ms=_ms(elapsed), error=name, wait=wait))
        self._completed(seq, status, rows, error, elapsed)

    def _completed(self, seq: int, status: Status, rows: int,
                   error: BaseException | str | None, elapsed: float) -> None:
        """Metrics and the log line of a completion that is written."""
        name = _error_name(error)
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


@dataclass(frozen=True, slots=True)
class _Allowed:
    """An ``allowed`` decision noted before it is written."""

    plan: Plan
    engine: str
    rewritten: str
    planning: float


def _error_name(error: BaseException | str | None) -> str | None:
    return error if isinstance(error, str) or error is None else type(error).__name__


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
        with self._reading(inner):
            for page in inner:
                self._rows += len(page)
                yield page

    def wire_pages(self, size: int) -> Generator[list[list[object]], None, None] | None:
        """The wrapped result's wire form (:class:`~gateway.engines.WireStream`), counted and
        audited like ``pages``; ``None`` when it has none."""
        wire = getattr(self._result, "wire_pages", None)
        inner: Iterator[list[list[object]]] | None = wire(size) if wire else None
        return None if inner is None else self._wire(inner)

    def _wire(self, inner: Iterator[list[list[object]]]
              ) -> Generator[list[list[object]], None, None]:
        with self._reading(inner):
            for page in inner:
                self._rows += len(page)
                yield page

    @contextlib.contextmanager
    def _reading(self, inner: Iterator[object]) -> Iterator[None]:
        """Audit how reading ``inner`` ends: exhausted, failed, or closed early (cancelled)."""
        try:
            yield
        except GeneratorExit:
            self._finish("cancelled", wait=False)
            raise
        except BaseException as error:
            self._finish("failed", error)
            raise
        else:
            self._finish("finished")
        finally:
            close = getattr(inner, "close", None)
            if close is not None:
                close()

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
