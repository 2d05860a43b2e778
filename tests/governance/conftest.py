"""A small demo world of the test's own (its catalog is mutated freely), with the demo's data
owners and resource catalogue applied, and one clock for the gateway, its audit log and
governance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from catalog.audit_store import AuditLog, AuditRecord
from gateway.demo.build import build_demo
from gateway.governance import Governance, apply_governance_files
from gateway.service import Gateway
from gateway.settings import load_settings

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo"
OWNERS = DEMO / "owners.yaml"
RESOURCES = DEMO / "resources.yaml"
SCALE = 1500
SEED = 11
#: Monday 2 March 2026, 09:00 UTC: a working day.
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Friday 6 March 2026 is declared a holiday in these tests.
HOLIDAY = date(2026, 3, 6)


class Clock:
    """A settable clock: ``clock()`` for governance and the audit log, ``clock.today()`` for
    the gateway's policy pipeline."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def today(self) -> date:
        return self.now.date()

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def set(self, moment: datetime) -> None:
        self.now = moment


@dataclass
class World:
    data_dir: Path
    gateway: Gateway
    gov: Governance
    clock: Clock

    def rows(self, principal: str, sql: str) -> list[tuple[object, ...]]:
        """Run ``sql`` through the gateway: plan, audit, execute."""
        result = self.gateway.execute(principal, sql).result
        return [row for page in result.pages(1000) for row in page]

    def events(self, kind: str) -> list[AuditRecord]:
        """The audit log's governance events of ``kind``, oldest first."""
        found = self.gateway.audit.log.search(text=kind, limit=10_000)
        return [r for r in found if r.kind == "event" and r.body["event"] == kind]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh small demo world for each test, its audit log stamped by the test's clock."""
    config = build_demo(tmp_path / "world", scale=SCALE, seed=SEED)
    # demo init already applied the governance files; start the chain afresh under the
    # test's clock and apply them again there, so every figure below is exact.
    (config.parent / "audit.sqlite").unlink()
    clock = Clock(START)
    settings = load_settings(config)
    gateway = Gateway(settings, clock=clock.today)
    gateway.audit.log.close()
    gateway.audit.log = AuditLog(settings.path("audit.path"), clock=clock)
    apply_governance_files(gateway.store, gateway.audit.log, owners=OWNERS, resources=RESOURCES)
    gov = Governance(gateway.store, gateway.audit.log, clock, deadline_days=5,
                     holidays=[HOLIDAY])
    yield World(config.parent, gateway, gov, clock)
    gov.close()
    gateway.close()
