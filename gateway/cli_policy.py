"""``shuqiao export``, ``shuqiao diff`` and ``shuqiao shadow``: policy as code before ``apply``.

::

    shuqiao export --config FILE [-o policy.yaml]      the applied policy, as a policy file
    shuqiao diff   --config FILE -f policy.yaml        what applying it would change
    shuqiao shadow --config FILE -f policy.yaml --as AUDITOR [--since 30d] [--on DAY]
                                                       what it would have decided on the
                                                       statements the audit log recorded

Exit codes extend the CLI's contract: 0 success (``diff``: no change; ``shadow``: no recorded
statement would be decided otherwise); 1 any error, an invalid policy file included; 2 refused
(``shadow`` reads the audit log, so ``--as`` must hold the auditor role); 3 ``diff`` found
changes, or ``shadow`` found statements that would newly be refused or newly be allowed.
Nothing is ever written to the catalog.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from catalog.audit_store import AuditReader
from catalog.errors import PolicyFileError, ShuqiaoError
from catalog.models import CatalogSnapshot
from catalog.policy_file import dump_policy
from catalog.store import CatalogStore
from gateway.audit import may_read_audit
from gateway.cli_audit import parse_time
from gateway.policy_admin import (
    diff_policies,
    load_proposal,
    proposed_snapshot,
    read_statements,
    shadow_run,
)
from gateway.settings import load_settings

EXIT_OK, EXIT_ERROR, EXIT_REFUSED, EXIT_CHANGES = 0, 1, 2, 3

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to shuqiao.toml.")]
PolicyOption = Annotated[Path, typer.Option("--file", "-f", help="The proposed policy file.")]
FormatOption = Annotated[str, typer.Option("--format", help="text or json.")]


def say(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def export(
    config: ConfigOption,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write here instead of standard output.")] = None,
) -> None:
    """Write the applied policy as a policy file that ``shuqiao apply -f`` takes back."""
    try:
        with _store(config) as store:
            text = f"# exported from catalog version {store.version}\n"
            text += dump_policy(store.export_policy())
    except ShuqiaoError as error:
        raise _failed(error) from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        say(f"exported to {output}")


def diff(config: ConfigOption, file: PolicyOption, fmt: FormatOption = "text") -> None:
    """What applying the policy file would change: entries added, removed and changed, field
    by field. Exit 0 when nothing would, 3 when something would."""
    _check_format(fmt)
    try:
        with _store(config) as store:
            proposed = load_proposal(file, store.snapshot())
            changes = diff_policies(store.export_policy(), proposed)
    except ShuqiaoError as error:
        raise _failed(error) from None
    if fmt == "json":
        sys.stdout.write(json.dumps(changes.as_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(changes.text())
    if not changes.empty:
        raise typer.Exit(EXIT_CHANGES)


def shadow(
    config: ConfigOption,
    file: PolicyOption,
    principal: Annotated[str, typer.Option("--as", help="Principal reading the audit log: an "
                                                        "auditor.")],
    since: Annotated[str | None, typer.Option(
        "--since", help="Replay statements since: ISO date/time, or 30m, 24h, 7d.")] = None,
    on: Annotated[str | None, typer.Option(
        "--on", help="Decide every statement on this day (YYYY-MM-DD) instead of its own.")]
    = None,
    limit: Annotated[int, typer.Option("--limit", help="Look at the newest N audit records.")]
    = 100_000,
    fmt: FormatOption = "text",
) -> None:
    """Replay the audit log's statements under the proposed policy, without applying it, and
    list those it would newly refuse or newly allow. Exit 3 when there are any."""
    _check_format(fmt)
    try:
        start, day = parse_time(since), date.fromisoformat(on) if on else None
    except ValueError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None
    try:
        settings = load_settings(config)
        with CatalogStore(settings.path("catalog.path")) as store:
            current = store.snapshot()
        _require_auditor(current, principal)
        proposed = proposed_snapshot(current, load_proposal(file, current))
        statements = read_statements(AuditReader(settings.path("audit.path")),
                                     since=start, limit=limit)
    except ShuqiaoError as error:
        raise _failed(error) from None
    report = shadow_run(statements, current, proposed, on=day)
    if fmt == "json":
        sys.stdout.write(json.dumps(report.as_json(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(report.text())
    if report.flips:
        raise typer.Exit(EXIT_CHANGES)


def register_policy_commands(app: typer.Typer) -> None:
    """Add ``export``, ``diff`` and ``shadow`` to the ``shuqiao`` command."""
    app.command("export")(export)
    app.command("diff")(diff)
    app.command("shadow")(shadow)


def _store(config: Path) -> CatalogStore:
    return CatalogStore(load_settings(config).path("catalog.path"))


def _require_auditor(snapshot: CatalogSnapshot, principal: str) -> None:
    if not may_read_audit(snapshot, principal):
        say(f"refused: {principal} does not hold the auditor role")
        raise typer.Exit(EXIT_REFUSED)


def _check_format(fmt: str) -> None:
    if fmt not in ("text", "json"):
        say("error: --format must be text or json")
        raise typer.Exit(EXIT_ERROR)


def _failed(error: ShuqiaoError) -> typer.Exit:
    say(str(error) if isinstance(error, PolicyFileError) else f"error: {error}")
    return typer.Exit(EXIT_ERROR)
