"""Prometheus metrics, in a registry of the gateway's own (never the process-global one).

Labels stay bounded: decisions, statuses and engines are fixed words; departments and sources
come from the catalog and are capped (:data:`MAX_LABEL_VALUES` each, the rest counted as
``other``); errors are class names. No SQL, no principal names, no data values.

::

    shuqiao_statements_total{decision, department}    decisions: allowed, refused, failed
    shuqiao_completions_total{status, department}     allowed statements ending: finished,
                                                      failed, cancelled
    shuqiao_planning_seconds{decision}                statement received → decision
    shuqiao_execution_seconds{status}                 decision → result stream ended
    shuqiao_rows_returned_total{department}           rows handed to clients
    shuqiao_statement_rows                            rows per finished statement
    shuqiao_source_errors_total{source, error}        failed statements per source touched
    shuqiao_audit_write_seconds{kind}                 durable audit record writes
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_LABEL_VALUES = 64
OTHER = "other"
UNKNOWN = "unknown"

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
            60, 300)
_ROWS = (0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)


class _Bounded:
    """Label values as given until ``limit`` distinct ones were seen; then ``other``."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return UNKNOWN
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


class Metrics:
    """The gateway's metrics; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self._department = _Bounded()
        self._source = _Bounded()
        self._error = _Bounded()
        self.statements = self._counter("shuqiao_statements", "Statements by decision.",
                                        ("decision", "department"))
        self.completions = self._counter("shuqiao_completions",
                                         "Allowed statements by how their result stream ended.",
                                         ("status", "department"))
        self.planning = self._histogram("shuqiao_planning_seconds",
                                        "Statement received to decision.", ("decision",))
        self.execution = self._histogram("shuqiao_execution_seconds",
                                         "Decision to end of the result stream.", ("status",))
        self.rows = self._counter("shuqiao_rows_returned", "Rows handed to clients.",
                                  ("department",))
        self.statement_rows = Histogram("shuqiao_statement_rows",
                                        "Rows returned per finished statement.",
                                        buckets=_ROWS, registry=self.registry)
        self.source_errors = self._counter("shuqiao_source_errors",
                                           "Failed statements, per source they touched.",
                                           ("source", "error"))
        self.audit_writes = self._histogram("shuqiao_audit_write_seconds",
                                            "Durable audit record writes.", ("kind",))

    def _counter(self, name: str, doc: str, labels: tuple[str, ...]) -> Counter:
        return Counter(name, doc, labels, registry=self.registry)

    def _histogram(self, name: str, doc: str, labels: tuple[str, ...]) -> Histogram:
        return Histogram(name, doc, labels, buckets=_LATENCY, registry=self.registry)

    def decided(self, decision: str, department: str | None, seconds: float) -> None:
        self.statements.labels(decision, self._department(department)).inc()
        self.planning.labels(decision).observe(seconds)

    def completed(self, status: str, department: str | None, seconds: float, rows: int) -> None:
        department_label = self._department(department)
        self.completions.labels(status, department_label).inc()
        self.execution.labels(status).observe(seconds)
        self.rows.labels(department_label).inc(rows)
        if status == "finished":
            self.statement_rows.observe(rows)

    def source_failed(self, source: str, error: str) -> None:
        self.source_errors.labels(self._source(source), self._error(error)).inc()

    def audit_written(self, kind: str, seconds: float) -> None:
        self.audit_writes.labels(kind).observe(seconds)


def metrics_response(metrics: Metrics) -> tuple[bytes, str]:
    """The body and content type for a ``/metrics`` route."""
    return generate_latest(metrics.registry), CONTENT_TYPE_LATEST
