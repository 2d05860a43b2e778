"""Statements the protocol answers itself (metadata, session) are audited like queries: each
leaves a decision in the same hash chain, refusals included, and the chain still verifies."""

from __future__ import annotations

import time

import pytest
import trino
from trino.exceptions import TrinoUserError

from catalog.audit_store import AuditReader, AuditRecord
from gateway.settings import load_settings

from .conftest import HOST, Live


def reader(live: Live) -> AuditReader:
    return AuditReader(load_settings(live.gateway.settings.base_dir / "shuqiao.toml")
                       .path("audit.path"))


def decisions(live: Live, **filters: str) -> list[AuditRecord]:
    """The matching decision records; listeners hear of a statement just after it ends."""
    deadline = time.monotonic() + 5
    while True:
        found = [r for r in reader(live).search(**filters) if r.kind == "decision"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def run(live: Live, user: str, sql: str) -> list[list[object]]:
    connection = trino.dbapi.connect(host=HOST, port=live.port, user=user)
    cursor = connection.cursor()
    cursor.execute(sql)
    return cursor.fetchall()


def test_metadata_statements_are_audited(live: Live) -> None:
    marker = "SHOW TABLES FROM public_security.public LIKE 'res%'"
    assert run(live, "si_analyst", marker) == [["residents"]]
    records = decisions(live, text="LIKE 'res%'")
    assert records and records[-1].principal == "si_analyst"
    assert records[-1].outcome == "allowed"


def test_refused_metadata_statements_are_audited(live: Live) -> None:
    with pytest.raises(TrinoUserError):
        run(live, "mi_analyst", "DESCRIBE public_security.public.residents")
    records = decisions(live, principal="mi_analyst", text="DESCRIBE")
    assert records and records[-1].outcome in ("refused", "failed")
    assert not reader(live).verify().problems
