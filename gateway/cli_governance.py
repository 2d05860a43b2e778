"""``shuqiao resource|request|approve|reject|grant|scorecard`` and ``source probe``: governance
from the command line, a thin shell over :class:`gateway.governance.Governance`.

Exit codes: 0 success; 2 refused (separation of duties, or a resource that is not shareable);
1 any other error. The reason goes to stderr on one line, results to stdout.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from catalog.errors import ShuqiaoError
from catalog.governance_models import AccessRequest, RequestStatus
from catalog.resource_file import ResourceFileError
from gateway.approval import NotPermitted, RequestForm
from gateway.catalogue import Entry, entry_json
from gateway.cli_sources import echo, say
from gateway.governance import Governance, grant_json, request_json
from gateway.scorecards import Scorecard
from gateway.service import Gateway

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2

resource_app = typer.Typer(no_args_is_help=True,
                           help="The resource catalogue (政务信息资源目录): apply, browse, search.")
request_app = typer.Typer(no_args_is_help=True,
                          help="Access requests: ask for a catalogued table, follow the answer.")
grant_app = typer.Typer(no_args_is_help=True, help="Grants issued by approved requests.")

ConfigOption = Annotated[Path, typer.Option(
    "--config", "-c", envvar="SHUQIAO_CONFIG", help="Path to shuqiao.toml.")]
AsOption = Annotated[str, typer.Option("--as", help="The principal taking this step.")]
ViewerOption = Annotated[str | None, typer.Option(
    "--as", help="Show only what this principal may see.")]
FormatOption = Annotated[str, typer.Option("--format", help="table or json.")]
DEFAULT_CONFIG = Path("shuqiao.toml")


@contextmanager
def governance(config: Path) -> Iterator[Governance]:
    """Governance over the configured gateway; Shuqiao errors end the command (exit 1 or 2)."""
    try:
        gateway = Gateway.from_config(config)
        try:
            gov = Governance.for_gateway(gateway)
            try:
                yield gov
            finally:
                gov.close()
        finally:
            gateway.close()
    except ResourceFileError as error:
        say(str(error))
        raise typer.Exit(EXIT_ERROR) from None
    except NotPermitted as error:
        say(f"refused: {error}")
        raise typer.Exit(EXIT_REFUSED) from None
    except ShuqiaoError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        say("error: --format must be table or json")
        raise typer.Exit(EXIT_ERROR)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        say(f"error: {option} must be a date, YYYY-MM-DD")
        raise typer.Exit(EXIT_ERROR) from None


def _names(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(n.strip() for n in text.split(",") if n.strip())


def aligned(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns two spaces apart, the first row a header; Chinese
    characters take two terminal columns."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _json(value: object) -> None:
    echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# ---------------------------------------------------------------------------------------------
# resource


@resource_app.command("apply")
def resource_apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="Resource YAML file.")],
    actor: Annotated[str, typer.Option("--as", help="Who applies it (audited).")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Make a resource file the catalogue: all of it, or (on any problem) none of it."""
    with governance(config) as gov:
        doc = gov.apply_resource_file(file, actor)
    echo(f"applied {file}: {len(doc.resources)} resources")


@resource_app.command("list")
def resource_list(
    department: Annotated[str | None, typer.Option(help="Only this department's.")] = None,
    fmt: FormatOption = "table", config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Every catalogued resource: code, name, department, share class, update cycle."""
    _check_format(fmt)
    with governance(config) as gov:
        entries = gov.catalogue().search("", department)
    _print_entries(entries, fmt)


@resource_app.command("search")
def resource_search(
    query: Annotated[str, typer.Argument(help="Words to find (all of them) in the metadata.")],
    fmt: FormatOption = "table", config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Search codes, names, abstracts, departments and items (metadata only, never data)."""
    _check_format(fmt)
    with governance(config) as gov:
        entries = gov.catalogue().search(query)
    _print_entries(entries, fmt)


@resource_app.command("show")
def resource_show(
    resource: Annotated[str, typer.Argument(help="Resource code or <source>.public.<table>.")],
    fmt: FormatOption = "table", config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One resource with its items (信息项)."""
    _check_format(fmt)
    with governance(config) as gov:
        entry = gov.entry(resource)
    if fmt == "json":
        _json(entry_json(entry))
        return
    r = entry.resource
    echo("\n".join(f"{k}: {v}" for k, v in (
        ("code", r.code), ("name", r.name), ("table", r.table),
        ("department", f"{r.department} {entry.department_title}".strip()),
        ("share class", f"{r.share_class} {r.share_class.label}"), ("basis", r.basis or "-"),
        ("update cycle", r.update_cycle), ("abstract", r.abstract or "-"))))
    echo(aligned([["#", "item", "type", "classification", "grant starts as", "description"],
                  *([str(i.position), i.name, i.type, i.classification, str(i.default_action),
                     i.description] for i in entry.items)]))


def _print_entries(entries: Sequence[Entry], fmt: str) -> None:
    if fmt == "json":
        _json([entry_json(e, items=False) for e in entries])
        return
    echo(aligned([["code", "name", "table", "department", "share class", "cycle"],
                  *([e.code, e.resource.name, e.resource.table, e.resource.department,
                     e.resource.share_class.value, e.resource.update_cycle.value]
                    for e in entries)]))


# ---------------------------------------------------------------------------------------------
# request, approve, reject


@request_app.command("create")
def request_create(
    table: Annotated[str, typer.Argument(help="Resource code or <source>.public.<table>.")],
    principal: AsOption,
    columns: Annotated[str, typer.Option(help="Comma-separated columns, or *.")],
    purpose: Annotated[str, typer.Option(help="Why, in the words of the request.")],
    until: Annotated[str, typer.Option(help="Last day of the period, YYYY-MM-DD.")],
    row_filter: Annotated[str | None, typer.Option(help="Row scope, as in policy files.")] = None,
    scenario: Annotated[str, typer.Option(help="Usage scenario.")] = "",
    legal_basis: Annotated[str, typer.Option(help="Legal basis (conditional resources).")] = "",
    since: Annotated[str | None, typer.Option("--from", help="First day (default today).")
                     ] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Ask for a table: granted at once, sent to its data owner, or refused with the basis."""
    until_day = _day(until, "--until")
    assert until_day is not None
    form = RequestForm(table, _names(columns) or (), purpose, until_day, row_filter, scenario,
                       legal_basis, _day(since, "--from"))
    with governance(config) as gov:
        request = gov.request(principal, form)
    _print_request(request, "table")
    if request.status is RequestStatus.REFUSED:
        say(f"refused: {request.reason}")
        raise typer.Exit(EXIT_REFUSED)


@request_app.command("list")
def request_list(
    viewer: ViewerOption = None,
    status: Annotated[str | None, typer.Option(help="pending, approved, rejected, ...")] = None,
    fmt: FormatOption = "table", config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Requests (with --as, those that principal may see)."""
    _check_format(fmt)
    wanted = _status(status)
    with governance(config) as gov:
        found = gov.requests(viewer, wanted)
    if fmt == "json":
        _json([request_json(r) for r in found])
        return
    echo(aligned([["id", "status", "requester", "table", "created", "deadline", "decided by"],
                  *([r.id, r.status.value, r.requester, r.table, _stamp(r.created_at),
                     r.deadline.isoformat(), r.decided_by or "-"] for r in found)]))


def _status(text: str | None) -> RequestStatus | None:
    try:
        return RequestStatus(text) if text else None
    except ValueError:
        say(f"error: --status must be one of {', '.join(RequestStatus)}")
        raise typer.Exit(EXIT_ERROR) from None


@request_app.command("show")
def request_show(
    request_id: Annotated[str, typer.Argument(help="e.g. R-0001")],
    viewer: ViewerOption = None, fmt: FormatOption = "table",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """One request: what was asked, what was decided, what was granted."""
    _check_format(fmt)
    with governance(config) as gov:
        request = gov.show(request_id, viewer)
    _print_request(request, fmt)


@request_app.command("withdraw")
def request_withdraw(request_id: Annotated[str, typer.Argument(help="e.g. R-0001")],
                     principal: AsOption, config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Withdraw your own pending request."""
    with governance(config) as gov:
        request = gov.withdraw(request_id, principal)
    echo(f"request {request.id} withdrawn")


def approve(
    request_id: Annotated[str, typer.Argument(help="e.g. R-0001")],
    owner: AsOption,
    columns: Annotated[str | None, typer.Option(help="Keep only these columns.")] = None,
    row_filter: Annotated[str | None, typer.Option(help="Further restrict the rows.")] = None,
    until: Annotated[str | None, typer.Option(help="End the grant earlier.")] = None,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Approve a pending request as a data owner of the providing department; narrowing
    columns, rows or period is allowed, widening never."""
    with governance(config) as gov:
        request = gov.approve(request_id, owner, columns=_names(columns),
                              row_filter=row_filter, valid_until=_day(until, "--until"))
    narrowed = " (narrowed)" if request.narrowed else ""
    echo(f"request {request.id} approved{narrowed}: grant {request.id} is in force")


def reject(
    request_id: Annotated[str, typer.Argument(help="e.g. R-0001")],
    owner: AsOption,
    reason: Annotated[str, typer.Option(help="Why, for the requester and the audit log.")],
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Reject a pending request as a data owner of the providing department."""
    with governance(config) as gov:
        request = gov.reject(request_id, owner, reason)
    echo(f"request {request.id} rejected")


def _print_request(r: AccessRequest, fmt: str) -> None:
    if fmt == "json":
        _json(request_json(r))
        return
    lines = [("request", r.id), ("status", r.status.value), ("requester", r.requester),
             ("resource", f"{r.resource} {r.table}"), ("share class", r.share_class.value),
             ("purpose", r.purpose), ("columns", ", ".join(r.requested.columns)),
             ("row filter", r.requested.row_filter or "-"),
             ("period", f"{r.requested.valid_from} .. {r.requested.valid_until}")]
    if r.status in (RequestStatus.PENDING, RequestStatus.LAPSED):
        lines.append(("deadline", r.deadline.isoformat()))
    if r.decided_by:
        lines += [("decided by", r.decided_by), ("reason", r.reason or "-")]
    if r.granted:
        lines += [("granted columns", ", ".join(r.granted.columns)),
                  ("granted rows", r.granted.row_filter or "all"),
                  ("granted until", r.granted.valid_until.isoformat())]
    echo("\n".join(f"{k}: {v}" for k, v in lines))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


# ---------------------------------------------------------------------------------------------
# grant


@grant_app.command("revoke")
def grant_revoke(
    grant_id: Annotated[str, typer.Argument(help="e.g. R-0001")],
    owner: AsOption,
    reason: Annotated[str, typer.Option(help="Why (audited).")] = "",
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Revoke an issued grant: refused from the very next statement."""
    with governance(config) as gov:
        gov.revoke(grant_id, owner, reason)
    echo(f"grant {grant_id} revoked")


@grant_app.command("list")
def grant_list(fmt: FormatOption = "table", config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Grants issued by approved requests, in force or ended."""
    _check_format(fmt)
    with governance(config) as gov:
        issued = gov.issued_grants()
    if fmt == "json":
        _json([grant_json(g) for g in issued])
        return
    echo(aligned([["grant", "state", "principal", "table", "until", "approved by"],
                  *([g.id, g.state.value, g.grant.principal, g.grant.table,
                     str(g.grant.valid_until), g.grant.approved_by] for g in issued)]))


# ---------------------------------------------------------------------------------------------
# scorecard and probes


def scorecard(
    department: Annotated[str | None, typer.Option(help="Only this department.")] = None,
    days: Annotated[int, typer.Option(help="The period: the last N days.", min=1)] = 30,
    fmt: FormatOption = "table", config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Department scorecards (考核): catalogue, documentation, availability, freshness,
    requests and their answers, statements served to other departments."""
    _check_format(fmt)
    with governance(config) as gov:
        end = gov.clock()
        cards = gov.scorecards(since=end - timedelta(days=days), until=end,
                               department=department)
    if fmt == "json":
        _json([c.as_json() for c in cards])
        return
    echo(aligned([["department", "resources", "documented", "available", "fresh",
                   "requests (answered/approved/lapsed)", "median days", "served"],
                  *(_card_row(c) for c in cards)]))


def _card_row(c: Scorecard) -> list[str]:
    median = "-" if c.median_response_days is None else f"{c.median_response_days:g}"
    return [c.department, f"{c.resources}/{c.tables}", _percent(c.documented_share),
            _percent(c.availability), _percent(c.fresh_share),
            f"{c.requests_received} ({c.requests_answered}/{c.requests_approved}/"
            f"{c.requests_lapsed})", f"{median} (deadline {c.deadline_days})",
            str(c.statements_served)]


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.0%}"


def probe(
    names: Annotated[list[str] | None, typer.Argument(help="Sources to probe.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Probe every source.")] = False,
    config: ConfigOption = DEFAULT_CONFIG,
) -> None:
    """Check sources and record the outcome and each table's freshness for the scorecards;
    exit 1 when any source is unhealthy."""
    if bool(names) == every:
        say("error: name sources to probe, or give --all")
        raise typer.Exit(EXIT_ERROR)
    with governance(config) as gov:
        found = gov.probe_sources(names or ())
    echo(aligned([["source", "health", "latency (ms)"],
                  *([h.source, "healthy" if h.reachable else f"failed: {h.failure}",
                     f"{h.latency_ms:.1f}" if h.latency_ms is not None else "-"]
                    for h in found)]))
    if not all(h.reachable for h in found):
        raise typer.Exit(EXIT_ERROR)


def register_governance(app: typer.Typer, source_app: typer.Typer) -> None:
    """Add the governance commands to the ``shuqiao`` app and ``source probe`` to its sources."""
    app.add_typer(resource_app, name="resource")
    app.add_typer(request_app, name="request")
    app.add_typer(grant_app, name="grant")
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("scorecard")(scorecard)
    source_app.command("probe")(probe)

