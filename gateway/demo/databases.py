"""The demo world in real databases: each department in its own PostgreSQL database, transport
in MariaDB (DEMO.md's full demo, ``shuqiao demo init --engine trino``).

The generated SQLite files are the input. DuckDB exports every table to CSV once (its SQLite
scanner and CSV writer are multi-threaded C++); PostgreSQL takes each file with ``COPY FROM
STDIN`` (``FREEZE``, inside the transaction that recreated the table, so no later vacuum pass),
MariaDB with ``LOAD DATA LOCAL INFILE``. Indexes are built after the rows are in, then every
table is analysed. Tables load concurrently, a few at a time, largest first, each as soon as
its CSV file is written (the export runs on a thread while earlier tables load).

Databases are named ``<prefix><source>`` (tests use a prefix so they never touch the demo's).
Passwords stay references: by default ``env:SHUQIAO_PG_PASSWORD`` and
``env:SHUQIAO_MARIADB_PASSWORD``, which are also the variables Trino's catalogs read
(``${ENV:...}``); :func:`write_password_file` makes a ``file:`` reference instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from catalog.models import Source
from connectors import mysql, postgres
from connectors.base import run_sync
from gateway.demo.schema import COLUMNS, Columns, create_index, create_table
from gateway.engines.duckdb import extension_directory

#: Departments kept in MariaDB; every other one goes to PostgreSQL.
MARIADB_SOURCES = frozenset({"transport"})
#: Tables loading at once: enough to overlap I/O, few enough for a small server.
CONCURRENCY = 3
NULL = r"\N"

Advance = Callable[[], None]


@dataclass(frozen=True, slots=True)
class PgTarget:
    """The PostgreSQL server the departments load into, as a user allowed to create databases."""

    host: str = "127.0.0.1"
    port: int = 55432
    user: str = "shuqiao"
    password_ref: str = "env:SHUQIAO_PG_PASSWORD"
    prefix: str = ""
    admin_database: str = "postgres"

    def source(self, name: str) -> Source:
        return Source(name, "postgres", name, {
            "host": self.host, "port": str(self.port), "database": f"{self.prefix}{name}",
            "user": self.user, "password_ref": self.password_ref, "schema": "public",
        })


@dataclass(frozen=True, slots=True)
class MariaTarget:
    """The MariaDB server transport loads into (``local_infile`` must be enabled)."""

    host: str = "127.0.0.1"
    port: int = 53306
    user: str = "shuqiao"
    password_ref: str = "env:SHUQIAO_MARIADB_PASSWORD"
    prefix: str = ""

    def source(self, name: str) -> Source:
        return Source(name, "mariadb", name, {
            "host": self.host, "port": str(self.port), "database": f"{self.prefix}{name}",
            "user": self.user, "password_ref": self.password_ref,
        })


def demo_sources(pg: PgTarget, mariadb: MariaTarget) -> list[Source]:
    """The six departments' sources, in DEMO.md's order, without touching any database."""
    return [mariadb.source(n) if n in MARIADB_SOURCES else pg.source(n) for n in COLUMNS]


def load_demo_databases(data_dir: Path, *, pg: PgTarget, mariadb: MariaTarget,
                        progress: bool = False) -> list[Source]:
    """Load the SQLite files in ``data_dir`` into the servers; return the sources to register.

    Each department's database is created if missing, and its tables dropped and recreated.
    """
    sources = demo_sources(pg, mariadb)
    with tempfile.TemporaryDirectory(prefix=".load-", dir=data_dir) as tmp:
        jobs = largest_first(data_dir, _jobs(sources, Path(tmp)))
        with _progress(progress, 2 * len(jobs)) as advance:  # each table: export, then load
            run_sync(_load(data_dir, sources, jobs, pg, advance))
    return sources


def write_password_file(path: Path, password: str) -> str:
    """Write ``password`` to ``path`` readable by its owner only; return its ``file:`` ref."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password)
    os.chmod(path, 0o600)
    return f"file:{path.resolve()}"


# ---------------------------------------------------------------------------------------------
# What to load (pure).


@dataclass(frozen=True, slots=True)
class Job:
    source: Source
    table: str
    columns: Columns
    csv: Path

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]


def _jobs(sources: Sequence[Source], tmp: Path) -> list[Job]:
    return [
        Job(source, table, columns, tmp / f"{source.name}.{table}.csv")
        for source in sources
        for table, columns in COLUMNS[source.name].items()
    ]


def largest_first(data_dir: Path, jobs: Sequence[Job]) -> list[Job]:
    """The jobs by the number of rows in their SQLite table, most first (a table's largest
    rowid, which SQLite reads off the end of the table), so the longest loads start first."""
    def rows(job: Job) -> int:
        path = data_dir / f"{job.source.name}.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            found = con.execute(f'SELECT max(rowid) FROM "{job.table}"').fetchone()
        con.close()
        return int(found[0] or 0) if found else 0

    return sorted(jobs, key=rows, reverse=True)


def mariadb_type(declared: str) -> str:
    """A demo column type in MariaDB: VARCHAR needs a length, and TIMESTAMP is DATETIME
    (MariaDB's TIMESTAMP converts time zones and ends in 2038)."""
    declared = re.sub(r"^VARCHAR(?!\()", "VARCHAR(255)", declared)
    return re.sub(r"^TIMESTAMP", "DATETIME", declared)


def mariadb_create_table(table: str, columns: Columns) -> str:
    mapped = tuple((name, mariadb_type(kind)) for name, kind in columns)
    return create_table(table, mapped) + " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"


def export_select(path: Path, table: str, columns: Columns) -> str:
    """Read a table from its SQLite file, decimals at their declared scale (SQLite keeps REAL)."""
    picks = ", ".join(_export_column(name, kind) for name, kind in columns)
    return f"SELECT {picks} FROM sqlite_scan({_literal(str(path))}, {_literal(table)})"


def _export_column(name: str, declared: str) -> str:
    kind = declared.split(" NOT NULL")[0]
    return f'CAST("{name}" AS {kind}) AS "{name}"' if kind.startswith("DECIMAL") else f'"{name}"'


def load_data_sql(job: Job) -> str:
    return (
        f"LOAD DATA LOCAL INFILE {_literal(str(job.csv), backslash=True)} INTO TABLE {job.table}"
        " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"'"
        " ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
        f" ({', '.join(job.names)})"
    )


def _literal(text: str, *, backslash: bool = False) -> str:
    if backslash:
        text = text.replace("\\", "\\\\")
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------------------------------
# Export: SQLite files to CSV, through DuckDB.


def export_csv(data_dir: Path, jobs: Sequence[Job], advance: Advance = lambda: None,
               exported: Callable[[Job], object] = lambda job: None,
               stop: threading.Event | None = None) -> None:
    """Write each job's CSV file in turn, calling ``exported`` after each; ``stop`` ends the
    export between two tables."""
    con = duckdb.connect(config={"extension_directory": extension_directory(),
                                 "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    try:
        con.execute("LOAD sqlite_scanner")
        for job in jobs:
            if stop is not None and stop.is_set():
                return
            select = export_select(data_dir / f"{job.source.name}.sqlite", job.table, job.columns)
            con.execute(f"COPY ({select}) TO {_literal(str(job.csv))}"
                        f" (FORMAT csv, HEADER false, NULLSTR '{NULL}')")
            advance()
            exported(job)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Load: CSV into the servers.


async def _load(data_dir: Path, sources: Sequence[Source], jobs: Sequence[Job], pg: PgTarget,
                advance: Advance) -> None:
    """Export on a thread, in the jobs' order; CONCURRENCY loaders take each table as soon
    as its file is written."""
    for source in sources:
        await _create_database(source, pg.admin_database)
    loop = asyncio.get_running_loop()
    ready: asyncio.Queue[Job | None] = asyncio.Queue()
    stop, finished = threading.Event(), threading.Event()

    def export_all() -> None:
        try:
            export_csv(data_dir, jobs, advance,
                       exported=lambda job: loop.call_soon_threadsafe(ready.put_nowait, job),
                       stop=stop)
        finally:
            for _ in range(CONCURRENCY):  # one end marker per loader, even after a failure
                loop.call_soon_threadsafe(ready.put_nowait, None)
            finished.set()

    async def loader() -> None:
        while (job := await ready.get()) is not None:
            await (_load_mariadb if job.source.kind == "mariadb" else _load_pg)(job)
            advance()

    export = loop.run_in_executor(None, export_all)
    try:
        async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
            group.create_task(_awaited(export))
            for _ in range(CONCURRENCY):
                group.create_task(loader())
    finally:
        stop.set()  # a failed load ends the export at the next table; its files stay unread
        await asyncio.to_thread(finished.wait)


async def _awaited(future: asyncio.Future[None]) -> None:
    await future


async def _create_database(source: Source, admin_database: str) -> None:
    database = source.options["database"]
    if source.kind == "mariadb":
        async with mysql.connect(source, database="") as con, con.cursor() as cursor:
            await cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`"
                                 " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        return
    async with postgres.connect(source, database=admin_database) as con:
        if not await con.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await con.execute(f'CREATE DATABASE "{database}"')


async def _load_pg(job: Job) -> None:
    async with postgres.connect(job.source, timeout=30) as con:
        async with con.transaction():
            await con.execute(f"DROP TABLE IF EXISTS {job.table}")
            await con.execute(create_table(job.table, job.columns))
            await con.copy_to_table(job.table, source=job.csv, columns=job.names,
                                    format="csv", null=NULL, freeze=True)
            await con.execute("SET LOCAL maintenance_work_mem = '256MB'")
            await con.execute(create_index(job.table))
        await con.execute(f"ANALYZE {job.table}")


async def _load_mariadb(job: Job) -> None:
    async with mysql.connect(job.source, local_infile=True, timeout=30) as con, \
            con.cursor() as cursor:
        await cursor.execute(f"DROP TABLE IF EXISTS {job.table}")
        await cursor.execute(mariadb_create_table(job.table, job.columns))
        await mysql.load_local_file(cursor, load_data_sql(job), job.csv)
        await cursor.execute(create_index(job.table))
        await cursor.execute(f"ANALYZE TABLE {job.table}")
        await cursor.fetchall()


@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Advance]:
    if not enabled:
        yield lambda: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task("loading departments' databases", total=total)
        yield lambda: bar.advance(task)
