"""How the audit log writes: a statement that has ended before its release is recorded in one
write, concurrent writers share transactions, and the chain holds whoever writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from test_audit import FakeEngine, FakePlan, FakeResult, completions

from catalog.audit_store import AuditError, AuditLog, AuditReader, Client, Ending, utc_now
from gateway.audit import Auditor
from gateway.errors import EngineError

REPO = Path(__file__).parent.parent
CLIENT = Client(address="10.0.0.7", user_agent="pytest", source="tests")


@pytest.fixture
def log(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "audit.sqlite") as opened:
        yield opened


@pytest.fixture
def auditor(tmp_path: Path) -> Iterator[Auditor]:
    writer = Auditor(AuditLog(tmp_path / "audit.sqlite"), department_of=lambda p: "dept")
    yield writer
    writer.close()


# ---------------------------------------------------------------------------------------------
# The store.


def test_a_decision_with_its_ending_writes_both_records(log: AuditLog) -> None:
    seq = log.decision("si_analyst", CLIENT, "SELECT 1", decision="allowed", engine="direct",
                       planning_ms=0.4, ending=Ending("finished", 1, 2.5))
    decision, completion = log.tail(2)
    assert (decision.seq, decision.kind, decision.outcome) == (seq, "decision", "allowed")
    assert (completion.seq, completion.kind, completion.statement) == (seq + 1, "completion",
                                                                       seq)
    assert completion.principal == "si_analyst" and completion.at == decision.at
    assert {k: completion.body[k] for k in ("status", "rows", "elapsed_ms", "error")} == {
        "status": "finished", "rows": 1, "elapsed_ms": 2.5, "error": None}
    report = log.verify()
    assert report.ok and report.open == () and report.records == 2
    assert [r.seq for r in log.search(decision="finished")] == [seq + 1]


def test_only_an_allowed_statement_has_an_ending(log: AuditLog) -> None:
    with pytest.raises(AuditError):
        log.decision("si_analyst", CLIENT, "SELECT 1", decision="refused",
                     ending=Ending("finished", 0, 1.0))
    assert log.verify().records == 0


def test_concurrent_writers_share_transactions(log: AuditLog,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[int] = []
    commit = log._commit

    def slow_commit(batch: list) -> None:  # type: ignore[type-arg]
        batches.append(len(batch))
        time.sleep(0.01)  # as a slow fsync: writers arriving meanwhile queue up
        commit(batch)

    monkeypatch.setattr(log, "_commit", slow_commit)
    seqs: list[int] = []

    def write(n: int) -> None:
        for i in range(10):
            seq = log.decision(f"p{n}", CLIENT, f"SELECT {i}", decision="allowed")
            seqs.append(seq)
            log.completion(seq, status="finished", rows=i, elapsed_ms=1.0)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = log.verify()
    assert report.ok and report.records == 120 and report.open == ()
    assert sorted(seqs) == sorted(set(seqs)) and sum(batches) == 120
    assert max(batches) > 1 and len(batches) < 120
    by_statement = {r.statement: r.principal for r in log.tail(200) if r.kind == "completion"}
    assert all(by_statement[r.seq] == r.principal for r in log.tail(200)
               if r.kind == "decision")


def test_a_record_that_cannot_be_written_fails_alone_in_a_shared_transaction(
        log: AuditLog) -> None:
    first = log.decision("si_analyst", CLIENT, "SELECT 1", decision="allowed")
    log.completion(first, status="finished", rows=0, elapsed_ms=1.0)
    errors: list[BaseException] = []
    written: list[int] = []
    with log._lock:  # hold the writer: both records below join one batch
        second = threading.Thread(target=lambda: written.append(log.event("x", "a", {})))
        again = threading.Thread(target=lambda: _capture(errors, lambda: log.completion(
            first, status="finished", rows=0, elapsed_ms=1.0)))
        second.start()
        again.start()
        deadline = time.monotonic() + 5
        while len(log._queue) < 2 and time.monotonic() < deadline:
            time.sleep(0.001)
    second.join()
    again.join()
    assert len(written) == 1 and len(errors) == 1 and isinstance(errors[0], AuditError)
    assert log.verify().ok and log.verify().records == 3


def _capture(errors: list[BaseException], call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except BaseException as error:
        errors.append(error)


def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    with AuditLog(path) as one, AuditLog(path) as other:
        for i in range(5):
            seq = one.decision("si_analyst", CLIENT, f"SELECT {i}", decision="allowed")
            other.event("grant.approved", "data_owner", {"n": i})
            one.completion(seq, status="finished", rows=i, elapsed_ms=1.0)
        assert other.verify().ok and other.verify().records == 15


def test_a_later_clock_is_read_per_write(tmp_path: Path) -> None:
    moments = iter([datetime(2026, 1, 1, 12, 0, n) for n in range(10)])
    with AuditLog(tmp_path / "audit.sqlite", clock=lambda: next(moments, utc_now())) as audit:
        audit.event("a", "p", {})
        audit.event("b", "p", {})
        assert [r.at[11:19] for r in audit.tail(2)] == ["12:00:00", "12:00:01"]


CRASHING = """
import sys, time
from catalog.audit_store import AuditLog, Client, Ending
log = AuditLog(sys.argv[1])
seq = log.decision("si_analyst", Client(), "SELECT 1", decision="allowed", engine="direct",
                   ending=Ending("finished", 1, 0.5))
print(seq, flush=True)  # what a release would hand over now is recorded
time.sleep(300)
"""


def test_a_crash_after_a_whole_result_is_recorded_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    AuditLog(path).close()
    process = subprocess.Popen([sys.executable, "-c", CRASHING, str(path)], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seq = int(process.stdout.readline())
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    report = AuditReader(path).verify()
    assert report.ok and report.open == () and report.records == 2
    assert [r.kind for r in AuditReader(path).tail(2)] == ["decision", "completion"]
    assert AuditReader(path).tail(1)[0].statement == seq


# ---------------------------------------------------------------------------------------------
# The statement audit: a decision noted before the engine runs, written with the ending.


def test_a_whole_result_is_released_with_its_decision_and_completion(auditor: Auditor) -> None:
    result = FakeResult([[(1,), (2,)]])
    plan = FakePlan()
    with auditor.statement("si_analyst", "SELECT n FROM t", CLIENT) as audit:
        audit.allowed(plan, FakeEngine())  # type: ignore[arg-type]
        assert auditor.log.verify().records == 0  # nothing written, nothing released yet
        released = audit.release_ended(result, 2)
    assert released is result
    decision, completion = auditor.log.tail(2)
    assert decision.body["decision"] == "allowed" and decision.body["engine"] == "duckdb"
    assert decision.body["purposes"] == ["fraud detection"]
    assert decision.body["sources"] == ["social_security"]
    assert decision.body["tables"] == ["social_security.public.pensioners"]
    assert decision.body["rewritten_sql"] == plan.statement(plan.targets[0])
    assert decision.body["planning_ms"] is not None
    assert (completion.body["status"], completion.body["rows"]) == ("finished", 2)
    assert completion.body["elapsed_ms"] >= decision.body["planning_ms"]
    registry = auditor.metrics.registry
    assert registry.get_sample_value("shuqiao_audit_write_seconds_count",
                                     {"kind": "decision+completion"}) == 1
    assert auditor.log.verify().ok


def test_an_engine_failure_before_the_release_records_both(auditor: Auditor) -> None:
    with pytest.raises(EngineError), auditor.statement("si_analyst", "SELECT 1") as audit:
        audit.allowed(FakePlan(), FakeEngine())  # type: ignore[arg-type]
        raise EngineError("the source rejected the statement (UndefinedColumnError)")
    decision, completion = auditor.log.tail(2)
    assert decision.body["decision"] == "allowed" and decision.body["purposes"]
    assert (completion.body["status"], completion.body["error"]) == ("failed", "EngineError")
    assert completion.statement == decision.seq
    assert auditor.metrics.registry.get_sample_value(
        "shuqiao_source_errors_total", {"source": "social_security", "error": "EngineError"}) == 1


def test_a_larger_result_is_released_after_its_decision_and_streams(auditor: Auditor) -> None:
    with auditor.statement("si_analyst", "SELECT n FROM t", CLIENT) as audit:
        audit.allowed(FakePlan(), FakeEngine())  # type: ignore[arg-type]
        result = audit.release(FakeResult([[(1,), (2,)], [(3,)]]))
    assert [r.kind for r in auditor.log.tail(5)] == ["decision"]
    assert [row for page in result.pages(2) for row in page] == [(1,), (2,), (3,)]
    assert [(c["status"], c["rows"]) for c in completions(auditor)] == [("finished", 3)]


def test_a_failed_write_releases_nothing(auditor: Auditor, tmp_path: Path) -> None:
    auditor.log.close()
    auditor.log = AuditLog(tmp_path / "other.sqlite")
    auditor.log._conn.close()  # the log can no longer be written
    with pytest.raises(AuditError), auditor.statement("si_analyst", "SELECT 1") as audit:
        audit.allowed(FakePlan(), FakeEngine())  # type: ignore[arg-type]
        audit.release_ended(FakeResult([[(1,)]]), 1)
        pytest.fail("released without a record")
    auditor.log = AuditLog(tmp_path / "again.sqlite")
