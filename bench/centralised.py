"""Section 3: a centralised copy, every department's table in ONE PostgreSQL database.

Built from the same CSV exports the copy-the-files method makes (the load time is reported,
not counted in the scenario figure), an index on ``id_no`` per table, analysed; then each
scenario's SQL with the table names mapped (``<source>.public.<table>`` → ``<table>``).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import SCENARIO_NAMES, Accuracy, Timing, check, timed
from bench.copy_files import ALL_TABLES, export, export_dir
from bench.world import BenchWorld
from gateway.demo.schema import COLUMNS, create_index, create_table
from gateway.demo.walkthrough import scenario_sql

Result = tuple[list[str], list[tuple[object, ...]]]


def central_sql(sql: str) -> str:
    for source, tables in COLUMNS.items():
        for table in tables:
            sql = re.sub(rf"\b{source}\.public\.{table}\b", table, sql)
    return sql


@dataclass(frozen=True)
class Central:
    host: str
    port: int
    user: str
    password: str
    database: str

    async def connect(self, database: str | None = None) -> Any:
        return await asyncpg.connect(host=self.host, port=self.port, user=self.user,
                                     password=self.password, database=database or self.database)


def build(central: Central, bench: BenchWorld, root: Path) -> dict[str, float]:
    """Export every table, then create the central database from the CSVs."""
    into = export_dir(root)
    try:
        export_s, files = timed(lambda: export(bench.snapshot("real"), ALL_TABLES, into))
        assert isinstance(files, dict)

        async def load() -> None:
            admin = await central.connect("postgres")
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{central.database}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{central.database}"')
            finally:
                await admin.close()
            con = await central.connect()
            try:
                for (source, table), exported in files.items():
                    columns = COLUMNS[source][table]
                    async with con.transaction():
                        await con.execute(create_table(table, columns))
                        await con.copy_to_table(table, source=str(exported.path), format="csv",
                                                header=exported.header,
                                                null=None if exported.header else r"\N",
                                                columns=[n for n, _ in columns])
                        await con.execute(create_index(table))
                    await con.execute(f"ANALYZE {table}")
            finally:
                await con.close()

        load_s, _ = timed(lambda: asyncio.run(load()))
        return {"export_s": export_s, "load_s": load_s}
    finally:
        shutil.rmtree(into, ignore_errors=True)


def drop(central: Central) -> None:
    async def run() -> None:
        admin = await central.connect("postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{central.database}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(run())


@dataclass
class CentralRun:
    timing: Timing | None = None
    accuracy: Accuracy | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"timing": self.timing, "accuracy": self.accuracy, "error": self.error}


def measure(central: Central, bench: BenchWorld, *, runs: int,
            log: Callable[[str], None] = print) -> dict[str, CentralRun]:
    async def scenario_runs(sql: str) -> tuple[list[float], Result]:
        con = await central.connect()
        try:
            async def once() -> Result:
                statement = await con.prepare(sql)
                records = await statement.fetch()
                return ([a.name for a in statement.get_attributes()],
                        [tuple(r) for r in records])

            result = await once()  # warm-up
            samples = []
            loop = asyncio.get_running_loop()
            count = runs
            while count > 0:
                start = loop.time()
                result = await once()
                samples.append(loop.time() - start)
                if len(samples) == 1 and samples[0] < 0.1:
                    count = max(count, 10)
                count -= 1
            return samples, result
        finally:
            await con.close()

    results: dict[str, CentralRun] = {}
    for scenario in SCENARIO_NAMES:
        run = CentralRun()
        try:
            samples, result = asyncio.run(scenario_runs(central_sql(scenario_sql(scenario))))
            run.timing = Timing.of(samples)
            run.accuracy = check(scenario, bench.truth, *result)
            log(f"  centralised {scenario:<24} {run.timing.median_s:8.3f}s "
                f"exact={run.accuracy.exact}")
        except Exception as error:
            run.error = f"{type(error).__name__}: {str(error)[:300]}"
            log(f"  centralised {scenario:<24} error {run.error}")
        results[scenario] = run
    return results
