"""The audit log: a verified hash chain, every statement recorded, no data values, auditors only."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from conftest import DemoWorld
from fastapi import FastAPI, Header
from typer.testing import CliRunner

from catalog.audit_store import (
    GENESIS,
    AuditLog,
    AuditReader,
    Client,
    Reason,
    canonical_json,
    chain_hash,
)
from catalog.models import CatalogSnapshot
from gateway.audit import AuditedResult, Auditor, StatementAudit
from gateway.cli_audit import audit_app, parse_time
from gateway.engines import ResultColumn
from gateway.errors import EngineError, NotGranted, ParseError
from gateway.policy.masks import REDACTED_KEY
from gateway.policy.rewrite import Target
from gateway.server.audit_routes import audit_router
from gateway.service import Execution, Gateway

REPO = Path(__file__).parent.parent
CLIENT = Client(address="10.0.0.7", user_agent="pytest", source="tests", tags=("audit",))


# ---------------------------------------------------------------------------------------------
# Helpers: a small log, and raw access to its file for tampering.


def fill(log: AuditLog, statements: int = 4) -> None:
    """Allowed statements with completions, a refusal and an event: 2 * statements + 2."""
    for i in range(statements):
        seq = log.decision("si_analyst", CLIENT, f"SELECT {i}", decision="allowed",
                           purposes=["fraud detection"], rewritten_sql=f"SELECT {i}",
                           sources=["social_security"], engine="duckdb")
        log.completion(seq, status="finished", rows=i, elapsed_ms=1.5)
    log.decision("mi_analyst", CLIENT, "SELECT id_no FROM x", decision="refused",
                 reason=Reason(rule="deny", message="column id_no is denied"))
    log.event("access-request.created", "mi_analyst", {"request": "R1"})


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    audit = AuditLog(tmp_path / "audit.sqlite")
    fill(audit)
    yield audit
    audit.close()


@pytest.fixture
def raw(log: AuditLog) -> Iterator[sqlite3.Connection]:
    """The audit file opened directly, append-only triggers dropped: what an intruder has."""
    conn = sqlite3.connect(log.path, isolation_level=None)
    conn.execute("DROP TRIGGER audit_records_no_update")
    conn.execute("DROP TRIGGER audit_records_no_delete")
    yield conn
    conn.close()


def problems(log: AuditReader) -> list[tuple[int, str]]:
    return [(p.seq, p.kind) for p in log.verify().problems]


def row(raw: sqlite3.Connection, seq: int) -> tuple[str, str, str]:
    found = raw.execute("SELECT body, prev_hash, hash FROM audit_records WHERE seq = ?", (seq,))
    body, prev, digest = found.fetchone()
    return body, prev, digest


def shift_up(raw: sqlite3.Connection, after: int) -> None:
    """Renumber every record after ``after`` one up, making room for a forged one."""
    raw.execute("UPDATE audit_records SET seq = -(seq + 1) WHERE seq > ?", (after,))
    raw.execute("UPDATE audit_records SET seq = -seq WHERE seq < 0")


def forged(prev: str, seq: int) -> tuple[str, str]:
    body = canonical_json({"seq": seq, "kind": "event", "at": "2026-01-01T00:00:00.000000Z",
                           "principal": "admin", "event": "grant.approved",
                           "details": {"grant": "G99"}})
    return body, chain_hash(prev, body)


def insert(raw: sqlite3.Connection, seq: int, body: str, prev: str, digest: str) -> None:
    raw.execute(
        "INSERT INTO audit_records (seq, kind, at, principal, outcome, statement, body,"
        " prev_hash, hash) VALUES (?, 'event', '2026-01-01T00:00:00.000000Z', 'admin', NULL,"
        " NULL, ?, ?, ?)", (seq, body, prev, digest))


# ---------------------------------------------------------------------------------------------
# The chain, and each kind of tampering named precisely.


def test_an_untouched_chain_verifies(log: AuditLog) -> None:
    report = log.verify()
    assert report.ok and report.records == 10 and report.open == ()
    assert report.head == (10, log.tail(1)[0].hash)
    first = log.tail(10)[0]
    assert first.body["seq"] == 1 and first.hash == chain_hash(GENESIS, canonical_json(first.body))


def test_records_are_append_only_through_sqlite(log: AuditLog) -> None:
    conn = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_records SET principal = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_records WHERE seq = 1")
    conn.close()


@pytest.mark.parametrize("edit", [
    "UPDATE audit_records SET principal = 'someone_else' WHERE seq = 4",
    "UPDATE audit_records SET body = replace(body, '\"rows\":1', '\"rows\":0') WHERE seq = 4",
    "UPDATE audit_records SET outcome = 'cancelled' WHERE seq = 4",
    "UPDATE audit_records SET hash = replace(hash, substr(hash, 1, 1), 'x') WHERE seq = 4",
])
def test_an_edited_record_is_named(log: AuditLog, raw: sqlite3.Connection, edit: str) -> None:
    raw.execute(edit)
    assert problems(log) == [(4, "edited")]


def test_an_edited_record_with_a_recomputed_hash_is_named(log: AuditLog,
                                                          raw: sqlite3.Connection) -> None:
    body, prev, _ = row(raw, 9)
    body = body.replace("column id_no is denied", "nothing to see")
    raw.execute("UPDATE audit_records SET body = ?, hash = ? WHERE seq = 9",
                (body, chain_hash(prev, body)))
    assert problems(log) == [(9, "edited")]


@pytest.mark.parametrize(("deleted", "expected"), [
    ((5,), [(5, "deleted")]),
    ((5, 6), [(5, "deleted"), (6, "deleted")]),
    ((1,), [(1, "deleted")]),
    ((10,), [(10, "deleted")]),
])
def test_a_deleted_record_is_named(log: AuditLog, raw: sqlite3.Connection,
                                   deleted: tuple[int, ...],
                                   expected: list[tuple[int, str]]) -> None:
    for seq in deleted:
        raw.execute("DELETE FROM audit_records WHERE seq = ?", (seq,))
    assert problems(log) == expected


def test_a_forged_record_inserted_in_the_middle_is_named(log: AuditLog,
                                                         raw: sqlite3.Connection) -> None:
    _, _, hash_of_6 = row(raw, 6)
    shift_up(raw, 6)
    body, digest = forged(hash_of_6, 7)
    insert(raw, 7, body, hash_of_6, digest)
    assert problems(log) == [(7, "inserted")]


def test_a_forged_record_appended_past_the_head_is_named(log: AuditLog,
                                                        raw: sqlite3.Connection) -> None:
    _, _, hash_of_10 = row(raw, 10)
    body, digest = forged(hash_of_10, 11)
    insert(raw, 11, body, hash_of_10, digest)
    assert problems(log) == [(11, "inserted")]


def test_reordered_records_are_named(log: AuditLog, raw: sqlite3.Connection) -> None:
    raw.execute("UPDATE audit_records SET seq = -3 WHERE seq = 3")
    raw.execute("UPDATE audit_records SET seq = 3 WHERE seq = 4")
    raw.execute("UPDATE audit_records SET seq = 4 WHERE seq = -3")
    assert problems(log) == [(3, "reordered"), (4, "reordered")]


def swap(raw: sqlite3.Connection, a: int, b: int) -> None:
    raw.execute("UPDATE audit_records SET seq = -1 WHERE seq = ?", (a,))
    raw.execute("UPDATE audit_records SET seq = ? WHERE seq = ?", (a, b))
    raw.execute("UPDATE audit_records SET seq = ? WHERE seq = -1", (b,))


def rehash_edit(raw: sqlite3.Connection, k: int) -> None:
    body, prev, _ = row(raw, k)
    body = body.replace('"at":"', '"at":"1')
    raw.execute("UPDATE audit_records SET body = ?, at = ?, hash = ? WHERE seq = ?",
                (body, json.loads(body)["at"], chain_hash(prev, body), k))


def insert_after(raw: sqlite3.Connection, k: int) -> None:
    _, _, digest = row(raw, k)
    shift_up(raw, k)
    body, forged_hash = forged(digest, k + 1)
    insert(raw, k + 1, body, digest, forged_hash)


def delete_and_renumber(raw: sqlite3.Connection, k: int) -> None:
    raw.execute("DELETE FROM audit_records WHERE seq = ?", (k,))
    raw.execute("UPDATE audit_records SET seq = -(seq - 1) WHERE seq > ?", (k,))
    raw.execute("UPDATE audit_records SET seq = -seq WHERE seq < 0")


Tamper = Callable[[sqlite3.Connection, int], object]
TAMPERINGS: dict[str, tuple[Tamper, Callable[[int], object]]] = {
    "edit": (lambda raw, k: raw.execute("UPDATE audit_records SET at = 'x' WHERE seq = ?", (k,)),
             lambda k: [(k, "edited")]),
    "edit and rehash": (rehash_edit, lambda k: [(k, "edited")]),
    "delete": (lambda raw, k: raw.execute("DELETE FROM audit_records WHERE seq = ?", (k,)),
               lambda k: [(k, "deleted")]),
    "delete and renumber": (delete_and_renumber, lambda k: [(k, "deleted")]),
    "insert": (insert_after, lambda k: [(k + 1, "inserted")]),
    "swap with the next": (lambda raw, k: swap(raw, k, k % 10 + 1),
                           lambda k: sorted([(k, "reordered"), (k % 10 + 1, "reordered")])),
}


def test_every_single_tampering_anywhere_is_named_precisely(log: AuditLog,
                                                            tmp_path: Path) -> None:
    log.close()
    wrong = []
    for name, (tamper, expected) in TAMPERINGS.items():
        for k in range(1, 11):
            copy = tmp_path / f"{name}-{k}.sqlite"
            shutil.copy(log.path, copy)
            conn = sqlite3.connect(copy, isolation_level=None)
            conn.execute("DROP TRIGGER audit_records_no_update")
            conn.execute("DROP TRIGGER audit_records_no_delete")
            tamper(conn, k)
            conn.close()
            if problems(AuditReader(copy)) != expected(k):
                wrong.append((name, k, problems(AuditReader(copy))))
    assert wrong == []


def test_the_chain_goes_on_after_reopening(log: AuditLog) -> None:
    log.close()
    with AuditLog(log.path) as again:
        again.event("grant.approved", "data_owner", {"grant": "G1"})
        assert again.verify().ok and again.verify().records == 11


def test_a_completion_is_written_once_and_only_for_an_allowed_statement(log: AuditLog) -> None:
    from catalog.audit_store import AuditError

    with pytest.raises(AuditError):
        log.completion(1, status="finished", rows=0, elapsed_ms=0)
    with pytest.raises(AuditError):
        log.completion(9, status="finished", rows=0, elapsed_ms=0)
    assert log.verify().ok


def test_a_completion_deferred_inside_a_write_is_written_next(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        seq = audit.decision("si_analyst", CLIENT, "SELECT 1", decision="allowed")
        audit._writer = threading.get_ident()  # as when a finalizer runs in the middle of a write
        assert audit.completion(seq, status="cancelled", rows=0, elapsed_ms=1,
                                wait=False) is None
        audit._writer = None
        audit.event("grant.approved", "data_owner", {})
        assert [r.kind for r in audit.tail(3)] == ["decision", "completion", "event"]


CRASHING = """
import sys, time
from catalog.audit_store import AuditLog, Client
log = AuditLog(sys.argv[1])
seq = log.decision("si_analyst", Client(), "SELECT 1", decision="allowed", engine="duckdb")
print(seq, flush=True)
time.sleep(300)
"""


def test_a_crash_before_completion_leaves_the_decision_and_a_valid_chain(log: AuditLog) -> None:
    process = subprocess.Popen([sys.executable, "-c", CRASHING, str(log.path)], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seq = int(process.stdout.readline())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    report = AuditReader(log.path).verify()
    assert report.ok and report.open == (seq,)
    assert log.tail(1)[0].body["sql"] == "SELECT 1"


def test_search_filters(log: AuditLog) -> None:
    assert [r.seq for r in log.search(principal="mi_analyst")] == [9, 10]
    assert [r.seq for r in log.search(decision="refused")] == [9]
    assert [r.seq for r in log.search(text="SELECT 2")] == [5]
    assert [r.seq for r in log.search(text='"rows":3')] == []  # JSON syntax is not a value
    assert len(log.search(since=datetime.now(UTC) - timedelta(minutes=5))) == 10
    assert log.search(until=datetime.now(UTC) - timedelta(days=1)) == []
    assert [r.seq for r in log.search(principal="si_analyst", limit=2)] == [7, 8]


# ---------------------------------------------------------------------------------------------
# The writer: every statement, exactly one completion, no data values.


@dataclass
class FakeResult:
    """A result stream of ``pages``, failing at page ``fail_at`` if given."""

    pages_: list[list[tuple[object, ...]]]
    fail_at: int | None = None
    cancelled: bool = False
    columns: tuple[ResultColumn, ...] = (ResultColumn("n", "INTEGER"),)

    def pages(self, size: int) -> Iterator[list[tuple[object, ...]]]:
        for i, page in enumerate(self.pages_):
            if i == self.fail_at:
                raise EngineError("the embedded engine could not run the statement")
            yield page

    def cancel(self) -> None:
        self.cancelled = True


@dataclass(frozen=True)
class FakeEngine:
    name: str = "duckdb"
    dialect: str = "duckdb"


@dataclass
class FakeDecision:
    purposes: tuple[str, ...] = ("fraud detection",)


@dataclass
class FakePlan:
    """A plan that remembers which target its statement was rendered for."""

    decision: FakeDecision = field(default_factory=FakeDecision)
    sources: tuple[str, ...] = ("social_security",)
    tables: tuple[str, ...] = ("social_security.public.pensioners",)
    targets: list[Target] = field(default_factory=list)

    def statement(self, target: Target) -> str:
        self.targets.append(target)
        return f"SELECT 1 /* key {target.mask_key} */"


@pytest.fixture
def auditor(tmp_path: Path) -> Iterator[Auditor]:
    writer = Auditor(AuditLog(tmp_path / "audit.sqlite"), department_of=lambda p: "dept")
    yield writer
    writer.close()


def released(auditor: Auditor, result: FakeResult) -> tuple[StatementAudit, AuditedResult]:
    with auditor.statement("si_analyst", "SELECT n FROM t", CLIENT) as audit:
        audit.authorized(FakePlan(), FakeEngine())  # type: ignore[arg-type]
        return audit, audit.release(result)


def completions(auditor: Auditor) -> list[dict[str, object]]:
    return [dict(r.body) for r in auditor.log.tail(100) if r.kind == "completion"]


PAGES: list[list[tuple[object, ...]]] = [[(1,), (2,)], [(3,)]]


def test_exhaustion_writes_one_finished_completion(auditor: Auditor) -> None:
    _, result = released(auditor, FakeResult(PAGES))
    assert [r for page in result.pages(2) for r in page] == [(1,), (2,), (3,)]
    result.close()
    del result
    gc.collect()
    assert [(c["status"], c["rows"]) for c in completions(auditor)] == [("finished", 3)]


def test_cancel_writes_one_cancelled_completion(auditor: Auditor) -> None:
    fake = FakeResult(PAGES)
    _, result = released(auditor, fake)
    pages = result.pages(2)
    next(pages)
    result.cancel()
    result.cancel()
    pages.close()
    assert fake.cancelled
    assert [(c["status"], c["rows"]) for c in completions(auditor)] == [("cancelled", 2)]


def test_an_error_writes_one_failed_completion(auditor: Auditor) -> None:
    _, result = released(auditor, FakeResult(PAGES, fail_at=1))
    with pytest.raises(EngineError):
        list(result.pages(2))
    del result
    gc.collect()
    found = completions(auditor)
    assert [(c["status"], c["rows"], c["error"]) for c in found] == [("failed", 2, "EngineError")]


@pytest.mark.parametrize("started", [False, True])
def test_abandonment_writes_one_cancelled_completion(auditor: Auditor, started: bool) -> None:
    _, result = released(auditor, FakeResult(PAGES))
    if started:
        pages = result.pages(1)
        next(pages)
        del pages
    del result
    gc.collect()
    expected = [("cancelled", 2 if started else 0)]  # the fake's first page holds two rows
    assert [(c["status"], c["rows"]) for c in completions(auditor)] == expected
    assert auditor.log.verify().ok


def test_a_refusal_is_recorded_with_its_rule(auditor: Auditor) -> None:
    with pytest.raises(NotGranted), auditor.statement("mi_analyst", "SELECT * FROM x", CLIENT):
        raise NotGranted("x.public.y")
    record = auditor.log.tail(1)[0].body
    assert record["decision"] == "refused" and record["reason"]["rule"] == "not-granted"
    assert record["client"] == {"address": "10.0.0.7", "user_agent": "pytest",
                                "source": "tests", "tags": ["audit"]}


def test_a_failure_before_the_decision_is_recorded_by_class(auditor: Auditor) -> None:
    with pytest.raises(ParseError), auditor.statement("si_analyst", "SELEC 1"):
        raise ParseError("not valid SQL")
    with pytest.raises(KeyError), auditor.statement("si_analyst", "SELECT 1"):
        raise KeyError("a value from somewhere")
    first, second = (r.body for r in auditor.log.tail(2))
    assert first["decision"] == "failed" and first["reason"]["error"] == "ParseError"
    assert second["reason"] == {"error": "KeyError"}  # no message: it may quote a value


def test_an_engine_failure_after_the_decision_completes_it_as_failed(auditor: Auditor) -> None:
    with pytest.raises(EngineError), auditor.statement("si_analyst", "SELECT 1") as audit:
        audit.authorized(FakePlan(), FakeEngine())  # type: ignore[arg-type]
        raise EngineError("the embedded engine could not run the statement")
    assert [(c["status"], c["error"]) for c in completions(auditor)] == [("failed", "EngineError")]
    assert auditor.metrics.registry.get_sample_value(
        "shuqiao_source_errors_total", {"source": "social_security", "error": "EngineError"}) == 1


def test_the_rewritten_sql_recorded_has_the_hash_key_redacted(auditor: Auditor) -> None:
    plan = FakePlan()
    with auditor.statement("si_analyst", "SELECT 1") as audit:
        audit.authorized(plan, FakeEngine())  # type: ignore[arg-type]
        audit.release(FakeResult([])).close()
    assert plan.targets == [Target("duckdb", REDACTED_KEY)]
    decision = auditor.log.tail(2)[0].body
    assert decision["rewritten_sql"] == f"SELECT 1 /* key {REDACTED_KEY} */"
    assert decision["purposes"] == ["fraud detection"] and decision["engine"] == "duckdb"


def audited_execute(gateway: Gateway, auditor: Auditor, principal: str, sql: str) -> Execution:
    """What Gateway.execute does with an auditor."""
    with auditor.statement(principal, sql, CLIENT) as audit:
        plan = gateway.plan(principal, sql)
        engine = gateway.duckdb()
        audit.authorized(plan, engine)
        statement = plan.statement(gateway.target(principal, engine.dialect))
        return Execution(plan, engine.name, statement, audit.release(engine.execute(statement)))


def test_records_of_a_real_statement_hold_no_data_values(gateway: Gateway,
                                                         auditor: Auditor) -> None:
    sql = ("SELECT r.name, r.address, r.phone, p.monthly_amount"
           " FROM public_security.public.residents r"
           " JOIN social_security.public.pensioners p ON p.id_no = r.id_no LIMIT 40")
    execution = audited_execute(gateway, auditor, "si_analyst", sql)
    rows = [row for page in execution.result.pages(7) for row in page]
    assert len(rows) == 40
    decision, completion = (r.body for r in auditor.log.tail(2))
    assert decision["decision"] == "allowed" and completion["rows"] == 40
    assert decision["sources"] == ["public_security", "social_security"]
    assert decision["rewritten_sql"] == execution.plan.statement(Target("duckdb"))
    text = json.dumps([decision, completion], ensure_ascii=False)
    values = {str(v) for r in rows for v in r if v is not None and len(str(v)) >= 2}
    assert values and not [v for v in values if v in text and v not in sql]


# ---------------------------------------------------------------------------------------------
# Who may read it: the CLI and the API.


@pytest.fixture
def config(tmp_path: Path, demo_world: DemoWorld) -> Path:
    (tmp_path / "shuqiao.toml").write_text(
        f'[catalog]\npath = "{demo_world.data_dir / "catalog.sqlite"}"\n'
        '[audit]\npath = "audit.sqlite"\n', encoding="utf-8")
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        fill(audit)
    return tmp_path / "shuqiao.toml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(audit_app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_cli_verify(config: Path) -> None:
    code, out, _ = run("verify", "--config", str(config))
    assert code == 0 and "intact: 10 records" in out
    conn = sqlite3.connect(config.parent / "audit.sqlite")
    conn.execute("DROP TRIGGER audit_records_no_delete")
    conn.execute("DELETE FROM audit_records WHERE seq = 3")
    conn.commit()
    conn.close()
    code, out, _ = run("verify", "--config", str(config))
    assert code == 1 and "record 3: deleted" in out
    code, out, _ = run("verify", "--config", str(config), "--format", "json")
    assert code == 1 and json.loads(out)["problems"][0]["kind"] == "deleted"


def test_cli_tail_and_search_for_auditors(config: Path) -> None:
    code, out, err = run("tail", "--config", str(config), "--as", "auditor", "-n", "3")
    assert code == 0 and "(3 records)" in err and "[deny] SELECT id_no FROM x" in out
    code, out, _ = run("tail", "--config", str(config), "--as", "auditor", "--format", "json")
    assert code == 0 and json.loads(out)[-1]["event"] == "access-request.created"
    code, out, _ = run("search", "--config", str(config), "--as", "auditor",
                       "--principal", "mi_analyst", "--decision", "refused", "--format", "json")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == [9]
    code, out, _ = run("search", "--config", str(config), "--as", "auditor", "--since", "1h",
                       "--text", "SELECT 3", "--format", "json")
    assert code == 0 and [r["seq"] for r in json.loads(out)] == [7]


@pytest.mark.parametrize("who", ["si_analyst", "admin", "nobody"])
def test_cli_refuses_non_auditors(config: Path, who: str) -> None:
    for command in (["tail"], ["search", "--text", "SELECT"]):
        code, out, err = run(*command, "--config", str(config), "--as", who)
        assert code == 2 and out == "" and "auditor role" in err


def test_cli_errors(tmp_path: Path, config: Path) -> None:
    (tmp_path / "other.toml").write_text('[audit]\npath = "missing.sqlite"\n', encoding="utf-8")
    code, _, err = run("verify", "--config", str(tmp_path / "other.toml"))
    assert code == 1 and "no audit log" in err
    code, _, err = run("search", "--config", str(config), "--as", "auditor", "--since", "soon")
    assert code == 1 and "not a date" in err


def test_parse_time() -> None:
    now = datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert parse_time("24h", now) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert parse_time("2026-03-01") == datetime(2026, 3, 1)
    assert parse_time(None) is None


@dataclass
class Api:
    """The router mounted on a bare app, called in-process."""

    app: FastAPI

    def get(self, path: str, who: str, params: dict[str, str | int] | None = None
            ) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                return await client.get(path, params=params,
                                        headers={"X-Shuqiao-Principal": who})

        return asyncio.run(call())


@pytest.fixture
def api(config: Path, demo_snapshot: CatalogSnapshot) -> Api:
    def principal(x_shuqiao_principal: str = Header()) -> str:
        return x_shuqiao_principal

    app = FastAPI()
    reader = AuditReader(config.parent / "audit.sqlite")
    app.include_router(audit_router(reader, principal, lambda: demo_snapshot))
    return Api(app)


def test_api_serves_auditors(api: Api) -> None:
    body = api.get("/api/v1/audit", "auditor", {"n": 2}).json()
    assert [r["seq"] for r in body["records"]] == [9, 10] and body["count"] == 2
    body = api.get("/api/v1/audit", "auditor", {"decision": "refused"}).json()
    assert [r["seq"] for r in body["records"]] == [9]
    body = api.get("/api/v1/audit/verify", "auditor").json()
    assert body["ok"] and body["records"] == 10


@pytest.mark.parametrize("who", ["si_analyst", "admin", "nobody"])
def test_api_refuses_non_auditors(api: Api, who: str) -> None:
    for path in ("/api/v1/audit", "/api/v1/audit/verify"):
        response = api.get(path, who)
        assert response.status_code == 403 and "records" not in response.text
