"""Metrics: the gateway's own registry, bounded labels, and no SQL or principal names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from test_audit import PAGES, FakeEngine, FakePlan, FakeResult

from catalog.audit_store import AuditLog
from gateway.audit import Auditor
from gateway.errors import ColumnDenied, SourceError
from gateway.metrics import MAX_LABEL_VALUES, OTHER, Metrics, metrics_response


@pytest.fixture
def auditor(tmp_path: Path) -> Iterator[Auditor]:
    writer = Auditor(AuditLog(tmp_path / "audit.sqlite"), metrics=Metrics(),
                     department_of={"si_analyst": "social_security"}.get)
    yield writer
    writer.close()


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_each_gateway_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.decided("allowed", "social_security", 0.01)
    assert sample(first, "shuqiao_statements_total", decision="allowed",
                  department="social_security") == 1
    assert sample(second, "shuqiao_statements_total", decision="allowed",
                  department="social_security") == 0
    assert not [m for m in REGISTRY.collect() if m.name.startswith("shuqiao")]


def test_statements_latency_and_rows_follow_the_audit(auditor: Auditor) -> None:
    with auditor.statement("si_analyst", "SELECT n FROM t") as audit:
        audit.authorized(FakePlan(), FakeEngine())  # type: ignore[arg-type]
        result = audit.release(FakeResult(PAGES))
    assert sum(len(page) for page in result.pages(10)) == 3
    with pytest.raises(ColumnDenied), auditor.statement("si_analyst", "SELECT id_no FROM t"):
        raise ColumnDenied("column id_no is denied")
    metrics = auditor.metrics
    for decision in ("allowed", "refused"):
        assert sample(metrics, "shuqiao_statements_total", decision=decision,
                      department="social_security") == 1
        assert sample(metrics, "shuqiao_planning_seconds_count", decision=decision) == 1
    assert sample(metrics, "shuqiao_completions_total", status="finished",
                  department="social_security") == 1
    assert sample(metrics, "shuqiao_execution_seconds_count", status="finished") == 1
    assert sample(metrics, "shuqiao_rows_returned_total", department="social_security") == 3
    assert sample(metrics, "shuqiao_statement_rows_sum") == 3
    assert sample(metrics, "shuqiao_audit_write_seconds_count", kind="decision") == 2


def test_cancelled_and_failed_statements(auditor: Auditor) -> None:
    for fail_at in (None, 1):
        with auditor.statement("si_analyst", "SELECT n FROM t") as audit:
            audit.authorized(FakePlan(), FakeEngine())  # type: ignore[arg-type]
            result = audit.release(FakeResult(PAGES, fail_at=fail_at))
        if fail_at is None:
            result.cancel()
        else:
            with pytest.raises(Exception, match="could not run"):
                list(result.pages(10))
    metrics = auditor.metrics
    for status in ("cancelled", "failed"):
        assert sample(metrics, "shuqiao_completions_total", status=status,
                      department="social_security") == 1
    assert sample(metrics, "shuqiao_source_errors_total", source="social_security",
                  error="EngineError") == 1


def test_a_source_error_counts_against_its_source_only(auditor: Auditor) -> None:
    with pytest.raises(SourceError), auditor.statement("si_analyst", "SELECT 1") as audit:
        audit.authorized(FakePlan(sources=("a", "b")), FakeEngine())  # type: ignore[arg-type]
        raise SourceError("b", "is unreachable")
    with pytest.raises(SourceError), auditor.statement("si_analyst", "SELECT 1"):
        raise SourceError("c", "could not be attached")
    for source, count in (("a", 0), ("b", 1), ("c", 1)):
        assert sample(auditor.metrics, "shuqiao_source_errors_total", source=source,
                      error="SourceError") == count


def test_label_values_are_bounded() -> None:
    metrics = Metrics()
    for i in range(MAX_LABEL_VALUES + 10):
        metrics.decided("allowed", f"department_{i}", 0.001)
    departments = {s.labels["department"] for m in metrics.registry.collect()
                   if m.name == "shuqiao_statements" for s in m.samples}
    assert len(departments) == MAX_LABEL_VALUES + 1 and OTHER in departments
    metrics.decided("refused", None, 0.001)
    assert sample(metrics, "shuqiao_statements_total", decision="refused",
                  department="unknown") == 1


def test_exposition_holds_no_sql_or_principal(auditor: Auditor) -> None:
    with pytest.raises(ColumnDenied), auditor.statement("si_analyst", "SELECT secret_col FROM t"):
        raise ColumnDenied("column secret_col is denied")
    body, content_type = metrics_response(auditor.metrics)
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert "shuqiao_statements_total" in text and "shuqiao_planning_seconds_bucket" in text
    assert "si_analyst" not in text and "secret_col" not in text
