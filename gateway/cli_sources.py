"""``shuqiao source ...`` — register, refresh, list and check departmental databases.

Exit codes: 0 success; 1 any error (the reason on stderr, one line, never a secret).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from catalog.errors import ShuqiaoError
from catalog.store import CatalogStore
from gateway import sources
from gateway.settings import load_settings

EXIT_OK, EXIT_ERROR = 0, 1

source_app = typer.Typer(no_args_is_help=True,
                         help="Departmental databases: register, sync, list and check them.")

ConfigOption = Annotated[Path, typer.Option(
    "--config", "-c", envvar="SHUQIAO_CONFIG", help="Path to shuqiao.toml.")]
NameArgument = Annotated[str, typer.Argument(help="The source's catalog name, e.g. justice.")]


def say(message: str) -> None:
    """One line on stderr, never wrapped or styled: scripts read these."""
    sys.stderr.write(message.rstrip("\n") + "\n")


def echo(text: str) -> None:
    """Results on stdout, plain: never truncated to the terminal's width."""
    sys.stdout.write(text.rstrip("\n") + "\n")


def aligned(rows: list[list[str]]) -> str:
    """Rows as left-aligned columns two spaces apart, the first row a header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


@contextmanager
def catalog(config: Path) -> Iterator[CatalogStore]:
    """The catalog store the config names; any Shuqiao error ends the command with exit 1."""
    try:
        with CatalogStore(load_settings(config).path("catalog.path")) as store:
            yield store
    except ShuqiaoError as error:
        say(f"error: {error}")
        raise typer.Exit(EXIT_ERROR) from None


@source_app.command("add")
def add(
    name: NameArgument,
    kind: Annotated[str, typer.Option("--kind", help="postgres, mysql, mariadb or sqlite.")],
    dsn: Annotated[str, typer.Option(
        "--dsn", help="postgresql://user@host:port/db[?schema=s], mysql://user@host:port/db,"
                      " or a SQLite file path. Never a password.")],
    department: Annotated[str, typer.Option("--department", help="Owning department.")],
    password: Annotated[str | None, typer.Option(
        "--password", help="Reference to the password: env:NAME or file:PATH.")] = None,
    config: ConfigOption = Path("shuqiao.toml"),
) -> None:
    """Register a source: test the connection, introspect its tables, record both.
    A source that does not answer is refused and nothing is written."""
    with catalog(config) as store:
        source = sources.source_from_dsn(name, kind, dsn, department, password)
        tables = sources.add_source(store, source)
    echo(f"source {name} added: {kind} at {sources.location(source)}, {len(tables)} tables")


@source_app.command("sync")
def sync(name: NameArgument, config: ConfigOption = Path("shuqiao.toml")) -> None:
    """Introspect a registered source again and replace its tables in the catalog."""
    with catalog(config) as store:
        report = sources.sync_source(store, name)
    changes = [f"+{t}" for t in report.added] + [f"-{t}" for t in report.removed]
    detail = f" ({', '.join(changes)})" if changes else ""
    echo(f"source {name} synced: {report.tables} tables{detail}")


@source_app.command("list")
def list_sources(config: ConfigOption = Path("shuqiao.toml")) -> None:
    """Every registered source: name, kind, department, location and table count."""
    with catalog(config) as store:
        rows = sources.source_rows(store.snapshot())
    lines = [[r.name, r.kind, r.department, r.location, str(r.tables)] for r in rows]
    echo(aligned([["name", "kind", "department", "location", "tables"], *lines]))


@source_app.command("check")
def check(name: NameArgument, config: ConfigOption = Path("shuqiao.toml")) -> None:
    """Test the connection and show each table's freshness; exit 1 when unhealthy."""
    with catalog(config) as store:
        status = sources.check_source(store, name)
    health = status.health
    if not health.reachable:
        say(f"error: {health.error}")
        raise typer.Exit(EXIT_ERROR)
    echo(f"source {name}: healthy ({health.kind}, {health.latency_ms or 0:.1f} ms)")
    echo(aligned([["table", "fresh as of (UTC)"],
                  *([table, _when(when)] for table, when in status.freshness)]))


@source_app.command("remove")
def remove(name: NameArgument, config: ConfigOption = Path("shuqiao.toml")) -> None:
    """Forget a source and its tables (grants naming them stay, covering nothing)."""
    with catalog(config) as store:
        sources.remove_source(store, name)
    echo(f"source {name} removed")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "unknown"
