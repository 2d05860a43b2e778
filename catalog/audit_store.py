"""The audit log: an append-only, hash-chained record of every statement and governance event.

It lives in its own SQLite file (setting ``audit.path``), apart from the catalog: the catalog is
rewritten by policy changes, the audit log only ever grows. Writes are ``BEGIN IMMEDIATE``
transactions committed with ``synchronous = FULL`` in WAL mode, so a record is on disk (fsync'd)
when the call returns; the records of writers that arrive together share one transaction (group
commit), and several processes may append to the same file.

Records and their kinds::

    decision    one per statement: principal, client, original SQL, the decision (allowed,
                refused or failed) and its reason (rule + message for refusals, error class for
                failures), purposes of the grants used, rewritten SQL as shown to users (the
                hash-mask key redacted), sources and tables touched, engine, planning time
    completion  one per allowed statement, when its result stream ends: status (finished,
                failed or cancelled), rows returned (counted, never stored), elapsed time.
                A statement that ended before its result was released (a small result
                fetched whole) has both records written in one transaction, in that order
    event       governance steps that share the chain: access requests, approvals, ...

No record holds a data value: rows are counted, errors are reduced to their class and the
data-free messages Shuqiao's own errors carry.

The chain. A record is stored as ``body``, a canonical JSON text (sorted keys, no spaces) that
includes its sequence number ``seq``, and ``hash = sha256(prev_hash + "\\n" + body)``, where
``prev_hash`` is the hash of the record before it (64 zeros for the first). The columns beside the
body (kind, time, principal, outcome, statement) are copies kept for searching; they must agree
with the body. A one-row table, ``audit_head``, holds the last sequence number and hash, written
in the same transaction as the record, so removing or adding records at the end shows too.
Export :attr:`VerifyReport.head` elsewhere now and then to anchor the chain outside the file.

Verification (:meth:`AuditReader.verify`) names every broken record by sequence number and kind:

    edited      the record no longer hashes to its stored hash (or its columns disagree with
                its body), or it was rewritten with a fresh hash that its successor does not
                chain to
    deleted     a sequence number the chain needs is missing
    inserted    a record that is not part of the chain: a second record claiming a sequence
                number the chain already has, or records past the head
    reordered   records of the chain stored at places out of their order

(A missing ``audit_head`` row is reported as record 0, deleted.)

A decision with no completion is an *open* statement (still streaming, or its process stopped):
listed in the report, not a problem.

API::

    log = AuditLog(path)                                   # creates or opens the file
    seq = log.decision(principal, client, sql, decision="allowed", purposes=..., ...)
    log.completion(seq, status="finished", rows=42, elapsed_ms=12.5)  # closes statement seq
    log.decision(..., decision="allowed", ending=Ending("finished", 1, 2.5))  # both at once
    log.event("access-request.created", principal, {"request": "R17"})
    log.verify() -> VerifyReport;  log.tail(n);  log.search(principal=, decision=, since=, ...)
    AuditReader(path)                                      # read-only: verify, tail, search
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any, Literal

from catalog.errors import CatalogError

GENESIS = "0" * 64
SCHEMA_VERSION = 1

Decision = Literal["allowed", "refused", "failed"]
Status = Literal["finished", "failed", "cancelled"]
ProblemKind = Literal["edited", "deleted", "inserted", "reordered"]

_SCHEMA = """
CREATE TABLE audit_records (
    seq       INTEGER PRIMARY KEY,
    kind      TEXT NOT NULL,
    at        TEXT NOT NULL,
    principal TEXT NOT NULL,
    outcome   TEXT,
    statement INTEGER,
    body      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_by_principal ON audit_records (principal, seq);
CREATE INDEX audit_by_time ON audit_records (at);
CREATE UNIQUE INDEX audit_one_completion ON audit_records (statement) WHERE kind = 'completion';
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
"""
_COLUMNS = "seq, kind, at, principal, outcome, statement, body, prev_hash, hash"


class AuditError(CatalogError):
    """The audit log could not be opened, read or written. A statement whose record cannot be
    written is not run: the gateway fails closed."""


@dataclass(frozen=True, slots=True)
class Client:
    """Who connected, as far as the protocol tells: never authenticated facts, only labels."""

    address: str = ""
    user_agent: str = ""
    source: str = ""
    tags: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {"address": self.address, "user_agent": self.user_agent,
                "source": self.source, "tags": list(self.tags)}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a statement was refused (``rule``) or failed (``error``, the error's class)."""

    rule: str | None = None
    error: str | None = None
    message: str = ""

    def as_json(self) -> dict[str, object]:
        found = {"rule": self.rule, "error": self.error, "message": self.message}
        return {key: value for key, value in found.items() if value}


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    kind: str
    at: str
    principal: str
    outcome: str | None
    statement: int | None
    body: Mapping[str, Any] = field(hash=False)
    hash: str = ""

    def as_json(self) -> dict[str, Any]:
        return {**self.body, "seq": self.seq, "hash": self.hash}


@dataclass(frozen=True, slots=True)
class Problem:
    seq: int
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"record {self.seq}: {self.kind} ({self.detail})"


@dataclass(frozen=True)
class VerifyReport:
    records: int
    head: tuple[int, str] | None
    problems: tuple[Problem, ...]
    open: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "records": self.records,
            "head": {"seq": self.head[0], "hash": self.head[1]} if self.head else None,
            "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail}
                         for p in self.problems],
            "open": list(self.open),
        }


def canonical_json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)


def chain_hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime | date) -> str:
    """The stored form of a time: UTC, ISO 8601, microseconds, ``Z``. Naive means local time."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time())
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------------------------
# Reading: never blocks the writer (WAL readers see the last committed state).


class AuditReader:
    """Read access to an existing audit log: verify, tail and search."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise AuditError(f"no audit log at {self.path}")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   isolation_level=None)
        except sqlite3.Error as err:
            raise AuditError(f"cannot read audit log {self.path}: {err}") from err
        with closing(conn):
            try:
                conn.execute("BEGIN")
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                raise AuditError(f"cannot read audit log {self.path}: {err}") from err

    def tail(self, n: int = 20) -> list[AuditRecord]:
        """The last ``n`` records, oldest first."""
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM audit_records ORDER BY seq DESC LIMIT ?", (n,)
            ).fetchall()
        return [_record(row) for row in reversed(rows)]

    def search(self, *, principal: str | None = None, decision: str | None = None,
               since: datetime | date | None = None, until: datetime | date | None = None,
               text: str | None = None, limit: int = 1000) -> list[AuditRecord]:
        """The newest ``limit`` records matching every filter given, oldest first.

        ``decision`` matches a record's outcome: allowed / refused / failed for decisions,
        finished / failed / cancelled for completions. ``text`` is a case-sensitive substring
        of any value in the record (SQL, reason, event details, ...). ``until`` is exclusive.
        """
        where, params = _filters(principal, decision, since, until, text)
        sql = (f"SELECT {_COLUMNS} FROM audit_records {where} ORDER BY seq DESC LIMIT ?")
        with self._read() as conn:
            rows = conn.execute(sql, (*params, limit)).fetchall()
        return [_record(row) for row in reversed(rows)]

    def verify(self) -> VerifyReport:
        """Walk the whole chain; see the module docstring for what each problem means."""
        with self._read() as conn:
            rows = [_Row.load(*row) for row in conn.execute(
                "SELECT seq, kind, at, principal, outcome, statement, body, prev_hash, hash"
                " FROM audit_records ORDER BY seq")]
            head_row = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
            still_open = _open_statements(conn)
        head = (int(head_row[0]), str(head_row[1])) if head_row else None
        problems = _Verifier(rows, head).problems()
        return VerifyReport(len(rows), head, problems, still_open)


def _filters(principal: str | None, decision: str | None, since: datetime | date | None,
             until: datetime | date | None, text: str | None) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    # The body is canonical JSON: search for the text as it is escaped there.
    fragment = json.dumps(text, ensure_ascii=False)[1:-1] if text else None
    for clause, value in (("principal = ?", principal), ("outcome = ?", decision),
                          ("at >= ?", timestamp(since) if since else None),
                          ("at < ?", timestamp(until) if until else None),
                          ("instr(body, ?) > 0", fragment)):
        if value:
            clauses.append(clause)
            params.append(value)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _record(row: tuple[Any, ...]) -> AuditRecord:
    seq, kind, at, principal, outcome, statement, body, _prev, hash_ = row
    return AuditRecord(seq, kind, at, principal, outcome, statement, json.loads(body), hash_)


def _open_statements(conn: sqlite3.Connection) -> tuple[int, ...]:
    rows = conn.execute(
        "SELECT d.seq FROM audit_records d WHERE d.kind = 'decision' AND d.outcome = 'allowed'"
        " AND NOT EXISTS (SELECT 1 FROM audit_records c"
        "                 WHERE c.kind = 'completion' AND c.statement = d.seq) ORDER BY d.seq")
    return tuple(row[0] for row in rows)


# ---------------------------------------------------------------------------------------------
# Writing: one writer connection per process. Records wait in a queue; the thread that holds the
# writer lock commits everything queued so far in one transaction (group commit: one fsync for
# the records of every statement that arrived meanwhile), and each caller returns once its own
# records are on disk. BEGIN IMMEDIATE serialises processes. The chain's head is kept in memory
# and read again only when another connection has committed since (``PRAGMA data_version``).


@dataclass(frozen=True, slots=True)
class Ending:
    """How an allowed statement ended, for its completion record."""

    status: Status
    rows: int
    elapsed_ms: float
    error: str | None = None

    def fields(self, statement: int) -> dict[str, Any]:
        return {"statement": statement, "status": self.status, "rows": self.rows,
                "elapsed_ms": _ms(self.elapsed_ms), "error": self.error}


@dataclass(frozen=True, slots=True)
class _Pending:
    kind: str
    principal: str
    outcome: str | None
    statement: int | None
    fields: Mapping[str, Any]
    ending: Ending | None = None  # a decision whose completion follows it in the same write


@dataclass(slots=True)
class _Ticket:
    """One call's records, written together; ``seqs`` or ``error`` once committed."""

    records: tuple[_Pending, ...]
    deferred: bool = False
    done: bool = False
    seqs: list[int] = field(default_factory=list)
    error: AuditError | None = None

    def outcome(self) -> list[int]:
        if self.error is not None:
            raise self.error
        return self.seqs


class AuditLog(AuditReader):
    """The audit log, writable. Every write is durable when the call returns."""

    #: Allowed decisions remembered for their completions (principal by sequence number).
    REMEMBERED = 65536

    def __init__(self, path: Path | str, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.RLock()      # held by the thread committing a batch
        self._queue_lock = threading.RLock()  # a finalizer may queue a record mid-append
        self._queue: list[_Ticket] = []
        self._writer: int | None = None     # the thread committing a batch
        self._head: tuple[int, str] | None = None
        self._version = -1
        self._allowed: OrderedDict[int, str] = OrderedDict()
        self._conn = _connect_writer(self.path)

    def close(self) -> None:
        with self._lock:
            self._commit_queued()
            self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def decision(self, principal: str, client: Client, sql: str, *, decision: Decision,
                 reason: Reason | None = None, purposes: Sequence[str] = (),
                 rewritten_sql: str | None = None, sources: Sequence[str] = (),
                 tables: Sequence[str] = (), engine: str | None = None,
                 query_id: str | None = None, planning_ms: float | None = None,
                 ending: Ending | None = None) -> int:
        """Record a statement's decision; returns its sequence number. With ``ending`` (an
        allowed statement that has already ended), its completion is written in the same
        transaction, as the record right after the decision."""
        if ending is not None and decision != "allowed":
            raise AuditError("only an allowed statement has a completion")
        fields = {
            "query_id": query_id, "client": client.as_json(), "sql": sql,
            "decision": decision, "reason": reason.as_json() if reason else None,
            "purposes": list(purposes), "rewritten_sql": rewritten_sql,
            "sources": list(sources), "tables": list(tables), "engine": engine,
            "planning_ms": _ms(planning_ms),
        }
        seqs = self._write(_Pending("decision", principal, decision, None, fields, ending),
                           wait=True)
        assert seqs
        return seqs[0]

    def completion(self, seq: int, *, status: Status, rows: int, elapsed_ms: float,
                   error: str | None = None, wait: bool = True) -> int | None:
        """Close allowed statement ``seq`` (the completion takes its principal). Returns the
        completion's sequence number, or ``None`` when ``wait`` is false and this thread is
        already inside a write (a finalizer ran mid-write): the record is then written right
        after that write."""
        fields = Ending(status, rows, elapsed_ms, error).fields(seq)
        seqs = self._write(_Pending("completion", "", status, seq, fields), wait=wait)
        return seqs[0] if seqs else None

    def event(self, kind: str, principal: str, details: Mapping[str, Any]) -> int:
        """Record a governance event (``kind`` such as ``access-request.approved``)."""
        fields = {"event": kind, "details": dict(details)}
        seqs = self._write(_Pending("event", principal, None, None, fields), wait=True)
        assert seqs
        return seqs[0]

    def _write(self, pending: _Pending, *, wait: bool) -> list[int] | None:
        ticket = _Ticket((pending,))
        if self._writer == threading.get_ident():  # re-entered: a finalizer ran mid-write
            if wait:
                raise AuditError("audit log re-entered while writing")
            ticket.deferred = True
            self._enqueue(ticket)
            return None
        self._enqueue(ticket)
        with self._lock:
            if not ticket.done:
                self._commit_queued()
            with self._queue_lock:
                deferred = any(t.deferred for t in self._queue)
            if deferred:
                self._commit_queued()
        return ticket.outcome()

    def _enqueue(self, ticket: _Ticket) -> None:
        with self._queue_lock:
            self._queue.append(ticket)

    def _commit_queued(self) -> None:
        """Write every queued record in one transaction. Records deferred by finalizers that
        cannot be written leave their statements open, which verification lists."""
        batch: list[_Ticket] = []
        self._writer = threading.get_ident()  # before taking the batch: finalizers defer
        try:
            with self._queue_lock:
                batch, self._queue = self._queue, []
            if batch:
                self._commit(batch)
        finally:
            self._writer = None
            for ticket in batch:
                ticket.done = True

    def _commit(self, batch: list[_Ticket]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            head = self._current_head(conn)
            for ticket in batch:
                head = self._insert_ticket(conn, ticket, head, alone=len(batch) == 1)
            conn.execute("INSERT OR REPLACE INTO audit_head (id, seq, hash) VALUES (1, ?, ?)",
                         head)
            conn.execute("COMMIT")
        except (sqlite3.Error, _Undone) as err:
            self._head = None
            with suppress(sqlite3.Error):  # a closed or failing connection has nothing to undo
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            for ticket in batch:
                if ticket.error is None:
                    self._forget(ticket)
                    ticket.seqs, ticket.error = [], AuditError(f"audit record not written: {err}")
            return
        self._head = head

    def _current_head(self, conn: sqlite3.Connection) -> tuple[int, str]:
        version = int(conn.execute("PRAGMA data_version").fetchone()[0])
        if self._head is None or version != self._version:
            row = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
            self._head = (int(row[0]), str(row[1])) if row else (0, GENESIS)
            self._version = version
        return self._head

    def _insert_ticket(self, conn: sqlite3.Connection, ticket: _Ticket,
                       head: tuple[int, str], alone: bool) -> tuple[int, str]:
        """The ticket's records, all or none, chained after ``head``. A ticket that shares
        its transaction with others is undone alone (a savepoint); one alone, with it."""
        at = timestamp(self._clock())
        if not alone:
            conn.execute("SAVEPOINT ticket")
        try:
            advanced = head
            for pending in ticket.records:
                for record in _with_completion(pending, advanced[0] + 1):
                    advanced = self._insert(conn, record, advanced, at)
                    ticket.seqs.append(advanced[0])
        except (sqlite3.IntegrityError, ValueError, TypeError) as err:
            if not alone:
                conn.execute("ROLLBACK TO ticket")
                conn.execute("RELEASE ticket")
            self._forget(ticket)
            ticket.seqs, ticket.error = [], AuditError(f"audit record not written: {err}")
            if alone:
                raise _Undone from err
            return head
        if not alone:
            conn.execute("RELEASE ticket")
        return advanced

    def _insert(self, conn: sqlite3.Connection, pending: _Pending, head: tuple[int, str],
                at: str) -> tuple[int, str]:
        principal = pending.principal
        if pending.kind == "completion":
            principal = self._statement_principal(conn, pending.statement)
        seq = head[0] + 1
        body = canonical_json({**pending.fields, "seq": seq, "kind": pending.kind, "at": at,
                               "principal": principal})
        digest = chain_hash(head[1], body)
        conn.execute(
            f"INSERT INTO audit_records ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, pending.kind, at, principal, pending.outcome, pending.statement, body,
             head[1], digest),
        )
        if pending.kind == "decision" and pending.outcome == "allowed":
            self._allowed[seq] = principal
            if len(self._allowed) > self.REMEMBERED:
                self._allowed.popitem(last=False)
        return seq, digest

    def _statement_principal(self, conn: sqlite3.Connection, seq: int | None) -> str:
        remembered = self._allowed.pop(seq, None) if seq is not None else None
        return remembered if remembered is not None else _statement_principal(conn, seq)

    def _forget(self, ticket: _Ticket) -> None:
        """Allowed decisions of a ticket that was not written are no statements to close."""
        for seq in ticket.seqs:
            self._allowed.pop(seq, None)


class _Undone(Exception):
    """A ticket alone in its transaction failed: the transaction is rolled back."""


def _with_completion(pending: _Pending, seq: int) -> tuple[_Pending, ...]:
    """A decision, followed by its completion when the statement has already ended (the
    decision takes sequence number ``seq``)."""
    if pending.ending is None:
        return (pending,)
    completion = _Pending("completion", "", pending.ending.status, seq,
                          pending.ending.fields(seq))
    return (pending, completion)


def _connect_writer(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as err:
        raise AuditError(f"cannot open audit log {path}: {err}") from err
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        _create_schema(conn)
    except (sqlite3.Error, AuditError) as err:
        conn.close()
        raise AuditError(f"cannot open audit log {path}: {err}") from err
    return conn


def _create_schema(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AuditError(f"audit log schema {version} is newer than this Shuqiao knows")
        if version == 0:
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statement_principal(conn: sqlite3.Connection, seq: int | None) -> str:
    row = conn.execute(
        "SELECT outcome, principal FROM audit_records WHERE seq = ? AND kind = 'decision'", (seq,)
    ).fetchone()
    if row is None or row[0] != "allowed":
        raise ValueError(f"record {seq} is not an allowed statement's decision")
    return str(row[1])


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# ---------------------------------------------------------------------------------------------
# Verification.


@dataclass(slots=True)
class _Row:
    position: int        # the seq column: where the record sits now
    origin: int | None   # the seq in its body: where it was written (None if unreadable)
    prev: str
    hash: str
    intact: bool         # hashes to its hash, and its columns agree with its body

    @classmethod
    def load(cls, seq: int, kind: str, at: str, principal: str, outcome: str | None,
             statement: int | None, body: str, prev: str, hash_: str) -> _Row:
        try:
            fields = json.loads(body)
            origin = fields["seq"] if isinstance(fields.get("seq"), int) else None
        except (ValueError, AttributeError):
            return cls(seq, None, prev, hash_, False)
        columns = (kind, at, principal, outcome, statement)
        agree = columns == tuple(fields.get(k) for k in ("kind", "at", "principal",
                                                         _outcome_key(kind), "statement"))
        intact = agree and origin is not None and chain_hash(prev, body) == hash_
        return cls(seq, origin, prev, hash_, intact)


def _outcome_key(kind: str) -> str:
    return {"decision": "decision", "completion": "status"}.get(kind, "outcome")


class _Verifier:
    """Rebuild the chain by sequence number and hash links, then name what does not fit.

    Intact records are placed by the seq in their body; at each number the chain accepts the
    record that links to the previous one and that the next one (or the head) links to.
    """

    def __init__(self, rows: Sequence[_Row], head: tuple[int, str] | None) -> None:
        self.head = head
        self.found: list[Problem] = []
        self.chain: list[_Row] = []
        self.by_origin: dict[int, list[_Row]] = {}
        self.damaged: list[_Row] = []
        for row in rows:
            if row.intact and row.origin is not None:
                self.by_origin.setdefault(row.origin, []).append(row)
            else:
                self.damaged.append(row)
                self._report(row.position, "edited", "does not match its hash")

    def problems(self) -> tuple[Problem, ...]:
        if self.head is None and (self.by_origin or self.damaged):
            self._report(0, "deleted", "the chain head is missing")
        self._walk()
        self._check_order()
        return tuple(sorted(self.found, key=lambda p: (p.seq, p.kind)))

    def _report(self, seq: int, kind: ProblemKind, detail: str) -> None:
        self.found.append(Problem(seq, kind, detail))

    def _walk(self) -> None:
        last = max([*self.by_origin, self.head[0] if self.head else 0])
        current: str | None = GENESIS
        for n in range(1, last + 1):
            candidates = self.by_origin.get(n, [])
            after = {r.prev for r in self.by_origin.get(n + 1, [])}
            genuine = self._pick(n, candidates, current, after)
            claimed = genuine is None and self._claim_damaged(n, current, after)
            self._report_strays(n, candidates, genuine, claimed)
            if genuine is not None:
                self.chain.append(genuine)
                current = genuine.hash
            else:
                if not candidates and not claimed:
                    self._report(n, "deleted", "missing from the chain")
                current = next(iter(after)) if len(after) == 1 else None

    def _pick(self, n: int, candidates: list[_Row], current: str | None,
              after: set[str]) -> _Row | None:
        if self.head is not None and n > self.head[0]:
            return None
        linked = [r for r in candidates if current is None or r.prev == current]
        confirmed = [r for r in linked if r.hash in after or self._is_head(n, r)]
        if confirmed:
            return confirmed[0]
        if after or (self.head is not None and n == self.head[0]):
            return None
        return linked[0] if linked else None

    def _is_head(self, n: int, row: _Row) -> bool:
        return self.head is not None and self.head == (n, row.hash)

    def _claim_damaged(self, n: int, current: str | None, after: set[str]) -> bool:
        """Whether an edited record (already reported) stands where record ``n`` belongs."""
        tests: tuple[Callable[[_Row], bool], ...] = (
            lambda r: r.hash in after, lambda r: r.prev == current,
            lambda r: r.origin == n, lambda r: r.position == n)
        for test in tests:
            for row in self.damaged:
                if test(row):
                    self.damaged.remove(row)
                    return True
        return False

    def _report_strays(self, n: int, candidates: list[_Row], genuine: _Row | None,
                       claimed: bool) -> None:
        beyond = self.head is not None and n > self.head[0]
        for row in candidates:
            if row is genuine:
                continue
            if genuine is not None or claimed or beyond:
                self._report(row.position, "inserted", f"not part of the chain (claims {n})")
            else:
                self._report(row.position, "edited", "rewritten: the chain does not link to it")

    def _check_order(self) -> None:
        by_position = sorted(self.chain, key=lambda r: r.position)
        for rank, row in enumerate(self.chain):
            if by_position[rank] is not row:
                self._report(row.position, "reordered", f"holds record {row.origin}")
