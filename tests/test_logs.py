"""Structured logs: JSON lines, allow-listed fields only, no data values and no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_audit import audited_execute

from catalog.audit_store import AuditLog
from gateway.audit import Auditor
from gateway.errors import NotGranted
from gateway.logs import (
    ALLOWED_FIELDS,
    MAX_TEXT,
    ROOT,
    configure_logging,
    emit,
    get_logger,
)
from gateway.service import Gateway
from gateway.settings import Secret


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging(out)
    yield out
    logging.getLogger(ROOT).removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line(stream: io.StringIO) -> None:
    log = get_logger("statement")
    emit(log, "statement.refused", query_id="q1", principal="mi_analyst", decision="refused",
         rule="aggregate-only", duration_ms=1.25)
    emit(log, "statement.completed", level=logging.WARNING, rows=3, sources=["a", "b"])
    first, second = lines(stream)
    assert first["event"] == "statement.refused" and first["level"] == "info"
    assert first["ts"].endswith("Z") and first["logger"] == "shuqiao.statement"
    assert {k: first[k] for k in ("query_id", "principal", "decision", "rule", "duration_ms")} \
        == {"query_id": "q1", "principal": "mi_analyst", "decision": "refused",
            "rule": "aggregate-only", "duration_ms": 1.25}
    assert second["level"] == "warning" and second["sources"] == ["a", "b"]
    assert set(first) <= ALLOWED_FIELDS and set(second) <= ALLOWED_FIELDS


def test_fields_off_the_allow_list_are_refused(stream: io.StringIO) -> None:
    emit(get_logger("x"), "statement.allowed", principal="si_analyst",
         sql="SELECT * FROM t WHERE id_no = '510104199001011234'", password="hunter2",
         value={"name": "曹玉兰"}, rule=Secret("env:KEY", "s3cr3t"), engine="x" * (MAX_TEXT + 1),
         ts="1970-01-01", **{"bad name!": 1})
    (line,) = lines(stream)
    text = stream.getvalue()
    for leaked in ("510104199001011234", "hunter2", "曹玉兰", "s3cr3t", "xxxx", "1970-01-01"):
        assert leaked not in text
    assert line["event"] == "statement.allowed" and line["principal"] == "si_analyst"
    assert line["refused"] == ["?", "engine", "password", "rule", "sql", "ts", "value"]


def test_free_text_messages_and_exceptions_are_reduced(stream: io.StringIO) -> None:
    log = get_logger("engine")
    log.info("row %s failed", "510104199001011234")
    try:
        raise ValueError("could not convert '曹玉兰' to INTEGER")
    except ValueError:
        log.exception("engine.error")
    first, second = lines(stream)
    assert first["event"] == "unstructured" and set(first) == {"ts", "level", "event", "logger"}
    assert second["event"] == "engine.error" and second["error"] == "ValueError"
    assert "510104199001011234" not in stream.getvalue() and "曹玉兰" not in stream.getvalue()


def test_statement_logs_hold_no_data_values_or_secrets(stream: io.StringIO, gateway: Gateway,
                                                       tmp_path: Path) -> None:
    auditor = Auditor(AuditLog(tmp_path / "audit.sqlite"))
    sql = "SELECT r.name, r.phone, r.address FROM public_security.public.residents r LIMIT 25"
    execution = audited_execute(gateway, auditor, "si_analyst", sql)
    rows = [row for page in execution.result.pages(10) for row in page]
    with pytest.raises(NotGranted), auditor.statement("auditor", sql):
        gateway.plan("auditor", sql)
    auditor.close()
    text = stream.getvalue()
    events = [(line["event"], line.get("rule")) for line in lines(stream)]
    assert events == [("statement.allowed", None), ("statement.completed", None),
                      ("statement.refused", "not-granted")]
    values = {str(v) for row in rows for v in row if v is not None and len(str(v)) >= 2}
    assert len(rows) == 25 and not [v for v in values if v in text]
    secret = gateway.settings.secret("security.hash_key")
    assert secret is not None and secret.reveal() not in text
    assert "SELECT" not in text and "residents" not in text
