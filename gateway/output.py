"""Result and explanation formatting for the CLI: table, json and csv. Pure functions."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal

from gateway.engines import ResultColumn
from gateway.policy.authorize import ColumnUse
from gateway.policy.pipeline import Plan
from gateway.policy.rewrite import Target

Row = tuple[object, ...]


def json_value(value: object) -> object:
    """A JSON-safe value: decimals as exact strings, temporal values in ISO form."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def to_json(columns: Sequence[ResultColumn], rows: Iterable[Row]) -> str:
    document = {
        "columns": [{"name": c.name, "type": c.type} for c in columns],
        "rows": [[json_value(v) for v in row] for row in rows],
    }
    return json.dumps(document, ensure_ascii=False)


def to_csv(columns: Sequence[ResultColumn], rows: Iterable[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for row in rows:
        writer.writerow(["" if v is None else json_value(v) for v in row])
    return buffer.getvalue()


def explanation(plan: Plan, targets: Sequence[Target]) -> dict[str, object]:
    """What ``explain`` reports: decision, purposes, each column use, and the rewritten SQL."""
    return {
        "decision": "allowed",
        "principal": plan.principal,
        "tables": list(plan.tables),
        "purposes": list(plan.decision.purposes),
        "grants": [g.id for g in plan.decision.grants],
        "columns": [
            {"clause": u.clause, "table": u.table, "column": u.column,
             "action": str(u.action), "grant": u.grant}
            for u in _unique(plan)
        ],
        "aggregate_guards": [
            {"table_alias": g.alias, "min_group_size": g.minimum, "grant": g.grant}
            for g in plan.decision.guards
        ],
        "rewritten": {t.dialect: plan.statement(t, pretty=True) for t in targets},
    }


def _unique(plan: Plan) -> list[ColumnUse]:
    seen: dict[tuple[str, str, str], ColumnUse] = {}
    for use in plan.decision.uses:
        seen.setdefault((use.clause, use.table, use.column), use)
    return list(seen.values())


def explanation_text(report: dict[str, object]) -> str:
    lines = [f"decision: {report['decision']}", f"principal: {report['principal']}"]
    lines.append("purposes: " + "; ".join(str(p) for p in _list(report["purposes"])))
    lines.append("columns used:")
    for use in _list(report["columns"]):
        assert isinstance(use, dict)
        name = f"{use['table']}.{use['column']}"
        lines.append(f"  {use['clause']:<10} {name:<48} {use['action']:<22} {use['grant']}")
    for guard in _list(report["aggregate_guards"]):
        assert isinstance(guard, dict)
        lines.append(f"aggregate-only: every group of {guard['table_alias']} must hold at least "
                     f"{guard['min_group_size']} persons ({guard['grant']})")
    rewritten = report["rewritten"]
    assert isinstance(rewritten, dict)
    for dialect, sql in rewritten.items():
        lines.extend(["", f"-- rewritten for {dialect}", f"{sql};"])
    return "\n".join(lines)


def _list(value: object) -> list[object]:
    assert isinstance(value, list)
    return value
