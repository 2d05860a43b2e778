"""Statements the protocol answers itself — metadata (SHOW, DESCRIBE, information_schema,
system.jdbc) and session statements (USE, PREPARE, DEALLOCATE) — never reach
``Gateway.execute``, so this listener writes their records into the same audit chain: one
decision and, for those that ran, one completion. Ordinary queries are audited by the gateway.
"""

from __future__ import annotations

from catalog.audit_store import Client, Decision, Reason, Status
from gateway.audit import Auditor
from gateway.server.protocol import QueryRecord, State

DENIED = {"PERMISSION_DENIED"}


class ProtocolAuditListener:
    def __init__(self, auditor: Auditor) -> None:
        self.auditor = auditor
        self.log = auditor.log

    def query_completed(self, record: QueryRecord) -> None:
        if self.auditor.recorded(record.id):
            return  # Gateway.execute recorded it under the protocol's query id
        client = Client(source=record.source or "", tags=record.client_tags)
        decision, reason = _decision(record)
        seq = self.log.decision(record.principal, client, record.sql, decision=decision,
                                reason=reason, engine=f"protocol:{record.kind}",
                                query_id=record.id)
        if decision == "allowed":
            status: Status = "cancelled" if record.state is State.CANCELED else "finished"
            self.log.completion(seq, status=status, rows=record.rows,
                                elapsed_ms=record.elapsed * 1000)


def _decision(record: QueryRecord) -> tuple[Decision, Reason | None]:
    if record.state is not State.FAILED:
        return "allowed", None
    if record.error_name in DENIED:
        return "refused", Reason(rule="metadata", message=record.error_message or "")
    return "failed", Reason(error=record.error_name or "error", message=record.error_message or "")
