"""``shuqiao`` — the command line. A thin shell over :class:`gateway.service.Gateway`.

Exit codes are a contract: 0 success; 2 refused by policy (reason on stderr); 1 any other error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from catalog.errors import PolicyFileError, ShuqiaoError
from gateway.cli_audit import audit_app
from gateway.cli_governance import register_governance
from gateway.cli_policy import register_policy_commands
from gateway.cli_serve import demo_callback, principal_app, serve
from gateway.cli_sources import source_app
from gateway.errors import PolicyError
from gateway.output import explanation, explanation_text, json_value, to_csv, to_json
from gateway.policy.rewrite import Target
from gateway.service import EXPLAIN_DIALECTS, Gateway

EXIT_OK, EXIT_ERROR, EXIT_REFUSED = 0, 1, 2

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Shuqiao 数桥: a federated query gateway for government data sharing.")
demo_app = typer.Typer(help="The reference demo world: bare `shuqiao demo` builds it if needed "
                            "and serves it on 127.0.0.1 in the insecure demo mode.")
demo_app.callback(invoke_without_command=True)(demo_callback)
app.add_typer(demo_app, name="demo")
app.command("serve")(serve)
app.add_typer(principal_app, name="principal")
app.add_typer(source_app, name="source")
app.add_typer(audit_app, name="audit")
register_governance(app, source_app)
register_policy_commands(app)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Path to shuqiao.toml.")]
PrincipalOption = Annotated[str, typer.Option("--as", help="Principal to run as.")]


def say(message: str) -> None:
    """One line on stderr, never wrapped or styled: scripts read these."""
    sys.stderr.write(message.rstrip("\n") + "\n")


def fail(error: ShuqiaoError) -> typer.Exit:
    """Report ``error`` on stderr and pick the exit code the contract names for it."""
    if isinstance(error, PolicyError):
        say(f"refused: {error}")
        return typer.Exit(EXIT_REFUSED)
    say(f"error: {error}")
    return typer.Exit(EXIT_ERROR)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="One read-only SQL query (Trino dialect).")],
    config: ConfigOption,
    principal: PrincipalOption,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    engine: Annotated[str | None, typer.Option(
        "--engine", help="duckdb, trino, direct or auto (default: engine.default).")] = None,
) -> None:
    """Run SQL through the full policy pipeline (on the embedded engine unless configured)."""
    if fmt not in ("table", "json", "csv"):
        say("error: --format must be table, json or csv")
        raise typer.Exit(EXIT_ERROR)
    try:
        gateway = Gateway.from_config(config)
        execution = gateway.execute(principal, sql, engine=engine)
        rows = [row for page in execution.result.pages(10_000) for row in page]
    except ShuqiaoError as error:
        raise fail(error) from None
    columns = execution.result.columns
    if fmt == "json":
        sys.stdout.write(to_json(columns, rows) + "\n")
    elif fmt == "csv":
        sys.stdout.write(to_csv(columns, rows))
    else:
        _print_table([c.name for c in columns], rows)


def _print_table(names: list[str], rows: list[tuple[object, ...]]) -> None:
    table = RichTable(*names, show_lines=False)
    for row in rows:
        table.add_row(*("NULL" if v is None else str(json_value(v)) for v in row))
    Console(highlight=False).print(table)
    Console(stderr=True).print(f"({len(rows)} rows)")


@app.command()
def explain(
    sql: Annotated[str, typer.Argument(help="One read-only SQL query (Trino dialect).")],
    config: ConfigOption,
    principal: PrincipalOption,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Show the decision, every column used with its action and grant, and the rewritten SQL
    for each engine. Executes nothing."""
    try:
        gateway = Gateway.from_config(config)
        plan = gateway.plan(principal, sql)
    except PolicyError as error:
        _print_refusal(error, fmt)
        raise typer.Exit(EXIT_REFUSED) from None
    except ShuqiaoError as error:
        raise fail(error) from None
    report = explanation(plan, [Target(d) for d in EXPLAIN_DIALECTS])
    if fmt == "json":
        sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(explanation_text(report) + "\n")


def _print_refusal(error: PolicyError, fmt: str) -> None:
    if fmt == "json":
        report = {"decision": "refused", "rule": error.rule, "reason": str(error)}
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(f"decision: refused\nrule: {error.rule}\nreason: {error}\n")
    say(f"refused: {error}")


@app.command()
def apply(
    config: ConfigOption,
    file: Annotated[Path, typer.Option("--file", "-f", help="Policy YAML file.")],
) -> None:
    """Apply a policy file to the catalog: all of it, or (on any problem) none of it."""
    from gateway.policyfiles import apply_policy_file

    try:
        gateway = Gateway.from_config(config)
        summary = apply_policy_file(gateway.store, file)
    except PolicyFileError as error:
        say(str(error))
        raise typer.Exit(EXIT_ERROR) from None
    except ShuqiaoError as error:
        raise fail(error) from None
    Console(highlight=False).print(summary)


@demo_app.command("init")
def demo_init(
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where to build the demo world.")],
    scale: Annotated[int, typer.Option("--scale", help="Number of residents.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    engine: Annotated[str, typer.Option(
        "--engine", help="duckdb: departments as SQLite files; trino: departments loaded into "
                         "PostgreSQL and MariaDB, with Trino catalogs rendered.")] = "duckdb",
) -> None:
    """Build the demo world: the departments' databases, the catalog, and shuqiao.toml."""
    from gateway.demo.build import DemoDatabases, build_demo

    if scale < 100:
        say("error: --scale must be at least 100")
        raise typer.Exit(EXIT_ERROR)
    if engine not in ("duckdb", "trino"):
        say("error: --engine must be duckdb or trino")
        raise typer.Exit(EXIT_ERROR)
    databases = DemoDatabases() if engine == "trino" else None
    try:
        config = build_demo(data_dir, scale=scale, seed=seed, progress=sys.stderr.isatty(),
                            databases=databases)
    except ShuqiaoError as error:
        raise fail(error) from None
    Console(highlight=False).print(f"demo world ready: {config}")


@demo_app.command("walkthrough")
def demo_walkthrough(config: ConfigOption) -> None:
    """Run the three DEMO.md scenarios and the refusals, showing what each principal gets."""
    from gateway.demo.walkthrough import run_walkthrough

    try:
        run_walkthrough(Gateway.from_config(config), Console(highlight=False))
    except ShuqiaoError as error:
        raise fail(error) from None


def main() -> None:
    app()


if __name__ == "__main__":
    main()
