"""Statements on the Trino engine read over the gateway's protocol endpoint by the trino python
client: Trino's rows go out as Trino sent them (no decoding and encoding again), and the client
gets exactly what the decoding path gives — and what Trino gives straight — with the audit's row
count right and cancel working mid-stream.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import services
import trino
from e2e.conftest import running

from catalog.audit_store import AuditReader, AuditRecord
from gateway.engines.trino import TrinoResult
from gateway.server import create_app, protocol
from gateway.server.auth import InsecureAuthenticator
from gateway.service import Gateway
from gateway.settings import render_settings

from .conftest import RealWorld

pytestmark = pytest.mark.services

HOST = "127.0.0.1"
PRINCIPAL = "si_analyst"
PAGE_SIZE = 100
#: Every kind of value the payments give, with nulls, date-times at two precisions and a zone.
TYPED = ("SELECT p.id_no, p.region_code, p.pay_month, p.amount, "
         "CAST(p.pay_month AS TIMESTAMP(3)) AS paid_ms, "
         "CAST(p.pay_month AS TIMESTAMP(6)) AS paid_us, "
         "CAST(p.pay_month AS TIMESTAMP(3) WITH TIME ZONE) AS paid_tz, "
         "CAST(p.amount AS DOUBLE) AS amount_d, CAST(p.amount AS BIGINT) AS amount_i, "
         "NULLIF(p.region_code, p.region_code) AS nothing, "
         "CASE WHEN p.amount > 300 THEN p.pay_month END AS some_days, "
         "CASE WHEN p.amount > 300 THEN p.amount END AS some_amounts, p.amount > 300 AS big "
         "FROM social_security.public.payments p ORDER BY p.id_no, p.pay_month")


@dataclass(frozen=True)
class Served:
    port: int
    gateway: Gateway

    def audit(self) -> AuditReader:
        return AuditReader(self.gateway.settings.path("audit.path"))


def trino_config(base: Path) -> Path:
    """The real world's configuration with every statement on Trino, in small pages."""
    flat = {f"{section}.{key}": value
            for section, values in tomllib.loads(base.read_text(encoding="utf-8")).items()
            for key, value in values.items()}
    flat.update({"engine.default": "trino", "engine.page_size": PAGE_SIZE})
    path = base.parent / "shuqiao-trino-protocol.toml"
    path.write_text(render_settings(flat), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(real_world: RealWorld) -> Iterator[Served]:
    gateway = Gateway.from_config(trino_config(real_world.real_config))
    with running(create_app(gateway, InsecureAuthenticator(HOST))) as port:
        yield Served(port, gateway)
    gateway.close()


@pytest.fixture
def wire_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many results were read in wire form."""
    reads: list[int] = []
    wire_pages = TrinoResult.wire_pages

    def counted(self: TrinoResult, size: int) -> Any:
        reads.append(size)
        return wire_pages(self, size)

    monkeypatch.setattr(TrinoResult, "wire_pages", counted)
    return reads


def fetch(port: int, sql: str, user: str = PRINCIPAL) -> tuple[list[tuple[str, str]], list[Any]]:
    connection = trino.dbapi.connect(host=HOST, port=port, user=user)
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        return [(d[0], d[1]) for d in cursor.description], rows
    finally:
        connection.close()


def test_rows_and_types_are_those_of_the_decoding_path(
        served: Served, wire_reads: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    passed = fetch(served.port, TYPED)
    assert wire_reads == [PAGE_SIZE]
    monkeypatch.setattr(protocol, "passes_through", lambda text, parametric: False)
    decoded = fetch(served.port, TYPED)
    assert wire_reads == [PAGE_SIZE]  # the second read decoded and encoded every value
    assert passed == decoded
    types = dict(passed[0])
    assert types["amount"] == "decimal(10, 2)" and types["paid_us"] == "timestamp(6)"
    rows = passed[1]
    assert len(rows) > 3 * PAGE_SIZE
    assert all(r[9] is None for r in rows)
    assert any(r[10] is None for r in rows) and any(r[10] is not None for r in rows)
    assert any(r[11] is None for r in rows) and any(r[11] is not None for r in rows)


def test_rows_are_those_trino_gives_straight(served: Served, wire_reads: list[int]) -> None:
    rewritten = served.gateway.plan(PRINCIPAL, TYPED).statement(
        served.gateway.target(PRINCIPAL, "trino"))
    straight = fetch(services.trino_port(), rewritten, user=services.USER)
    through = fetch(served.port, TYPED)
    assert wire_reads == [PAGE_SIZE]
    assert through[1] == straight[1]
    assert [name for name, _ in through[0]] == [name for name, _ in straight[0]]


def completion(served: Served, marker: str) -> AuditRecord:
    """The completion of the one statement whose SQL holds ``marker``."""
    deadline = time.monotonic() + 5
    while True:
        records = served.audit().search(principal=PRINCIPAL)
        decisions = {r.seq for r in records if r.kind == "decision"
                     and marker in str(r.body.get("sql", ""))}
        done = [r for r in records if r.kind == "completion" and r.statement in decisions]
        if done or time.monotonic() > deadline:
            assert len(done) == 1, f"{len(done)} completions for {marker}"
            return done[0]
        time.sleep(0.05)


def test_the_audit_counts_the_rows_passed_through(
        served: Served, wire_reads: list[int]) -> None:
    sql = TYPED.replace("SELECT", "SELECT /* counted */", 1)
    rows = fetch(served.port, sql)[1]
    assert wire_reads == [PAGE_SIZE]
    record = completion(served, "/* counted */")
    assert record.outcome == "finished"
    assert record.body["rows"] == len(rows)


def test_cancel_mid_stream_stops_the_statement(
        served: Served, wire_reads: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    cancelled: list[TrinoResult] = []
    cancel = TrinoResult.cancel

    def noted(self: TrinoResult) -> None:
        cancelled.append(self)
        cancel(self)

    monkeypatch.setattr(TrinoResult, "cancel", noted)
    connection = trino.dbapi.connect(host=HOST, port=served.port, user=PRINCIPAL)
    cursor = connection.cursor()
    cursor.execute(TYPED.replace("SELECT", "SELECT /* cancelled */", 1))
    assert cursor.fetchone() is not None
    cursor.cancel()
    connection.close()
    assert wire_reads == [PAGE_SIZE]
    assert len(cancelled) == 1
    assert cancelled[0].finished  # nothing more to fetch: the query is gone from Trino
    record = completion(served, "/* cancelled */")
    assert record.outcome == "cancelled"
    assert 0 < record.body["rows"] < 10 * PAGE_SIZE
