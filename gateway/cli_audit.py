"""``shuqiao audit`` — verify the audit chain and read the log (auditors only).

Exit codes follow the CLI's contract: 0 success (``verify``: the chain is intact); 1 any error
(``verify``: a broken chain, each broken record named); 2 refused — the principal given with
``--as`` does not hold the ``auditor`` role.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from catalog.audit_store import AuditReader, AuditRecord, VerifyReport
from catalog.errors import ShuqiaoError
from catalog.store import CatalogStore
from gateway.audit import may_read_audit
from gateway.settings import Settings, load_settings

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2

audit_app = typer.Typer(no_args_is_help=True,
                        help="The audit log: verify its hash chain, read its records.")

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to shuqiao.toml.")]
AuditorOption = Annotated[str, typer.Option("--as", help="Principal reading the log: an auditor.")]
FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]

_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def say(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


@audit_app.command("verify")
def verify(config: ConfigOption,
           fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text") -> None:
    """Check every record's hash and the chain linking them; name each broken record."""
    try:
        report = AuditReader(load_settings(config).path("audit.path")).verify()
    except ShuqiaoError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_json(), ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_report_text(report))
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _report_text(report: VerifyReport) -> str:
    lines = [str(problem) for problem in report.problems]
    state = "intact" if report.ok else f"BROKEN ({len(report.problems)} problems)"
    lines.append(f"audit chain {state}: {report.records} records")
    if report.head:
        lines.append(f"head: {report.head[0]} {report.head[1]}")
    if report.open:
        lines.append(f"open statements (no completion yet): {_ranges(report.open)}")
    return "\n".join(lines) + "\n"


def _ranges(numbers: tuple[int, ...]) -> str:
    shown = ", ".join(str(n) for n in numbers[:20])
    return shown + (f", ... ({len(numbers)} in all)" if len(numbers) > 20 else "")


@audit_app.command("tail")
def tail(config: ConfigOption, principal: AuditorOption,
         n: Annotated[int, typer.Option("-n", help="How many records.")] = 20,
         fmt: FormatOption = "table") -> None:
    """The last N records, oldest first."""
    reader = _reader_for(config, principal, fmt)
    _print(_read(lambda: reader.tail(n)), fmt)


@audit_app.command("search")
def search(
    config: ConfigOption,
    principal: AuditorOption,
    who: Annotated[str | None, typer.Option("--principal", help="Records of this principal.")]
    = None,
    decision: Annotated[str | None, typer.Option(
        "--decision", help="allowed, refused, failed, finished or cancelled.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="ISO date/time, or how long ago: 30m, 24h, 7d.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Like --since; exclusive.")]
    = None,
    text: Annotated[str | None, typer.Option("--text", help="Substring of any value.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many (newest).")] = 1000,
    fmt: FormatOption = "table",
) -> None:
    """Records matching every filter given, oldest first."""
    reader = _reader_for(config, principal, fmt)
    try:
        start, end = parse_time(since), parse_time(until)
    except ValueError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None
    _print(_read(lambda: reader.search(principal=who, decision=decision, since=start,
                                       until=end, text=text, limit=limit)), fmt)


def parse_time(text: str | None, now: datetime | None = None) -> datetime | None:
    """An ISO date or date-time (local time unless it says otherwise), or ``30m``/``24h``/``7d``
    meaning that long before ``now``."""
    if not text:
        return None
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return (now or datetime.now().astimezone()) - timedelta(**{unit: amount})
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date, a date-time or a duration like 24h") from None


def _reader_for(config: Path, principal: str, fmt: str) -> AuditReader:
    """The log, opened for ``principal`` if they are an auditor; exits otherwise."""
    if fmt not in ("table", "json"):
        say("error: --format must be table or json")
        raise typer.Exit(EXIT_ERROR)
    try:
        settings = load_settings(config)
        allowed = _is_auditor(settings, principal)
        reader = AuditReader(settings.path("audit.path")) if allowed else None
    except ShuqiaoError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None
    if reader is None:
        say(f"refused: {principal} does not hold the auditor role")
        raise typer.Exit(EXIT_REFUSED)
    return reader


def _is_auditor(settings: Settings, principal: str) -> bool:
    with CatalogStore(settings.path("catalog.path")) as store:
        return may_read_audit(store.snapshot(), principal)


def _read(fetch: Callable[[], list[AuditRecord]]) -> list[AuditRecord]:
    try:
        records = fetch()
    except ShuqiaoError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None
    return records


def _print(records: list[AuditRecord], fmt: str) -> None:
    if fmt == "json":
        body = [r.as_json() for r in records]
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return
    table = RichTable("seq", "at", "kind", "principal", "outcome", "summary")
    for r in records:  # Text cells: SQL and names are not rich markup
        cells = (str(r.seq), r.at, r.kind, r.principal, r.outcome or "", summary(r))
        table.add_row(*(Text(cell) for cell in cells))
    Console(highlight=False).print(table)
    Console(stderr=True).print(f"({len(records)} records)")


def summary(record: AuditRecord) -> str:
    """One line about a record, for the table view."""
    body = record.body
    if record.kind == "decision":
        reason = body.get("reason") or {}
        why = reason.get("rule") or reason.get("error") or ""
        sql = " ".join(str(body.get("sql", "")).split())
        return (f"[{why}] " if why else "") + (sql[:77] + "..." if len(sql) > 80 else sql)
    if record.kind == "completion":
        error = f", {body['error']}" if body.get("error") else ""
        return (f"statement {body.get('statement')}: {body.get('rows')} rows,"
                f" {body.get('elapsed_ms')} ms{error}")
    return f"{body.get('event', '')} {json.dumps(body.get('details', {}), ensure_ascii=False)}"
