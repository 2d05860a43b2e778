"""Section 1: each scenario through the gateway and the same SQL straight on the engine.

Three engines, each measured with and without the gateway over the same data:

- ``duckdb_sqlite``: DuckDB over the departments' SQLite files;
- ``duckdb_pg``: DuckDB over the departments' PostgreSQL/MariaDB databases;
- ``trino``: the benchmark's Trino coordinator, one catalog per department.

*Straight* is the scenario SQL with ``<source>.public.<table>`` mapped to the physical schema,
run on a plain hardened DuckDB with the gateway's threads and memory settings over the same
attachments, or sent to Trino with the trino client (catalogs = sources). Gateway and straight
runs alternate, after one warm-up each, so load on a shared machine hits both alike. Every
row is fetched in both cases and checked against the ground truth.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb

from bench.common import SCENARIO_NAMES, Timing, check, timed
from bench.world import BenchWorld
from catalog.models import CatalogSnapshot
from connectors.base import connector_for
from gateway.demo.walkthrough import scenario_sql
from gateway.engines.duckdb import extension_directory
from gateway.service import Gateway

PRINCIPAL = "si_analyst"
SERVICE_USER = "shuqiao"
METHODS = ("duckdb_sqlite", "duckdb_pg", "trino")
METHOD_TITLES = {"duckdb_sqlite": "DuckDB over SQLite", "duckdb_pg": "DuckDB over PG/MariaDB",
                 "trino": "Trino"}

Result = tuple[list[str], list[tuple[object, ...]]]
Runner = Callable[[str], Result]


def physical_sql(sql: str, snapshot: CatalogSnapshot) -> str:
    """The scenario SQL addressed to the physical tables (``.public.`` is the logical schema)."""
    for table in snapshot.tables:
        pattern = rf"\b{re.escape(table.source)}\.public\.{re.escape(table.name)}\b"
        sql = re.sub(pattern, f"{table.source}.{table.physical_schema}.{table.physical}", sql)
    return sql


class StraightDuckDB:
    """A plain DuckDB, hardened like the gateway's, over the same attachments."""

    def __init__(self, snapshot: CatalogSnapshot, *, threads: int, memory_limit: str) -> None:
        self.con = duckdb.connect(config={
            "autoinstall_known_extensions": False, "autoload_known_extensions": False,
            "allow_community_extensions": False, "extension_directory": extension_directory(),
            "threads": threads, "memory_limit": memory_limit})
        attachments = [connector_for(s.kind).attachment(s) for s in snapshot.sources]
        for extension in sorted({a.extension for a in attachments}):
            self.con.execute(f"LOAD {extension}")
        for attachment in attachments:
            self.con.execute(attachment.sql())
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET lock_configuration = true")

    def run(self, sql: str) -> Result:
        cursor = self.con.cursor()
        try:
            cursor.execute(sql)
            rows = cursor.fetchall()
            return [d[0] for d in cursor.description or []], rows
        finally:
            cursor.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def close(self) -> None:
        self.con.close()


class StraightTrino:
    """The trino client, straight to the coordinator, as the service user."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        import trino

        self.conn = trino.dbapi.connect(host=host, port=port, user=SERVICE_USER,
                                        source="shuqiao-bench")  # type: ignore[no-untyped-call]

    def run(self, sql: str) -> Result:
        cursor = self.conn.cursor()
        cursor.execute(sql)
        rows = [tuple(r) for r in cursor.fetchall()]
        return [d[0] for d in cursor.description or []], rows

    def close(self) -> None:
        self.conn.close()


def through_gateway(gateway: Gateway, engine: str, page_size: int,
                    principal: str = PRINCIPAL) -> Runner:
    def run(sql: str) -> Result:
        execution = gateway.execute(principal, sql, engine=engine)
        rows = [r for page in execution.result.pages(page_size) for r in page]
        return [c.name for c in execution.result.columns], rows

    return run


@dataclass
class Pair:
    """Gateway and straight timings; ``rewritten`` is the gateway's own rendered statement run
    straight on the engine, which tells what the policy rewrite costs apart from the gateway's
    machinery (planning, audit, result paging)."""

    gateway: Timing | None = None
    straight: Timing | None = None
    rewritten: Timing | None = None
    gateway_accuracy: object = None
    straight_accuracy: object = None
    error: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.gateway is None or self.straight is None or self.straight.median_s == 0:
            return None
        return self.gateway.median_s / self.straight.median_s

    @property
    def min_ratio(self) -> float | None:
        if self.gateway is None or self.straight is None or self.straight.min_s == 0:
            return None
        return self.gateway.min_s / self.straight.min_s

    def as_dict(self) -> dict[str, object]:
        rewritten_ratio = (self.rewritten.median_s / self.straight.median_s
                           if self.rewritten and self.straight and self.straight.median_s
                           else None)
        return {"gateway": self.gateway, "straight": self.straight, "ratio": self.ratio,
                "min_ratio": self.min_ratio, "rewritten": self.rewritten,
                "rewritten_ratio": rewritten_ratio, "gateway_accuracy": self.gateway_accuracy,
                "straight_accuracy": self.straight_accuracy, "error": self.error}


def adaptive_runs(runs: int, probe: Callable[[], object], budget_s: float = 3.0,
                  most: int = 15) -> int:
    """``runs``, or more for a quick statement (up to ``most``, within about ``budget_s``),
    so that sub-second medians are not one noisy sample on a busy machine."""
    seconds, _ = timed(probe)
    return max(runs, min(most, int(budget_s / max(seconds, 1e-6))))


def alternate(scenario: str, bench: BenchWorld, gateway: Runner, gateway_sql: str,
              straight: Runner, straight_sql: str, runs: int,
              rewritten_sql: str | None = None) -> Pair:
    """One warm-up each, then gateway, straight (and the rewritten statement straight) runs
    alternately."""
    pair = Pair()
    try:
        got = gateway(gateway_sql)
        pair.gateway_accuracy = check(scenario, bench.truth, *got)
        got = straight(straight_sql)
        pair.straight_accuracy = check(scenario, bench.truth, *got)
        if rewritten_sql is not None:
            straight(rewritten_sql)
        through: list[float] = []
        plain: list[float] = []
        rewritten: list[float] = []
        for _ in range(adaptive_runs(runs, lambda: gateway(gateway_sql))):
            seconds, _ = timed(lambda: gateway(gateway_sql))
            through.append(seconds)
            seconds, _ = timed(lambda: straight(straight_sql))
            plain.append(seconds)
            if rewritten_sql is not None:
                seconds, _ = timed(lambda: straight(rewritten_sql))
                rewritten.append(seconds)
        pair.gateway, pair.straight = Timing.of(through), Timing.of(plain)
        pair.rewritten = Timing.of(rewritten) if rewritten else None
    except Exception as error:  # one engine failing must not lose the other figures
        pair.error = f"{type(error).__name__}: {str(error)[:300]}"
    return pair


def measure(bench: BenchWorld, *, trino_port: int, runs: int,
            methods: Sequence[str] = METHODS,
            log: Callable[[str], None] = print) -> dict[str, dict[str, Pair]]:
    results: dict[str, dict[str, Pair]] = {}
    for method in methods:
        config = bench.sqlite_config if method == "duckdb_sqlite" else bench.real_config
        snapshot = bench.snapshot("sqlite" if method == "duckdb_sqlite" else "real")
        gateway = Gateway.from_config(config)
        threads = int(gateway.settings["engine.duckdb_threads"])
        memory = str(gateway.settings["engine.duckdb_memory_limit"])
        page = int(gateway.settings["engine.page_size"])
        straight: StraightDuckDB | StraightTrino = (
            StraightTrino(trino_port) if method == "trino"
            else StraightDuckDB(snapshot, threads=threads, memory_limit=memory))
        engine = "trino" if method == "trino" else "duckdb"
        try:
            results[method] = {}
            for scenario in SCENARIO_NAMES:
                sql = scenario_sql(scenario)
                rendered = gateway.plan(PRINCIPAL, sql).statement(
                    gateway.target(PRINCIPAL, engine))
                pair = alternate(scenario, bench, through_gateway(gateway, engine, page), sql,
                                 straight.run, physical_sql(sql, snapshot), runs, rendered)
                results[method][scenario] = pair
                log(f"  {METHOD_TITLES[method]:<24} {scenario:<24} "
                    + (f"gateway {pair.gateway.median_s:8.3f}s straight "
                       f"{pair.straight.median_s:8.3f}s ratio {pair.ratio:.2f} (min "
                       f"{pair.min_ratio or 0:.2f}) rewritten straight "
                       f"{pair.rewritten.median_s if pair.rewritten else 0:8.3f}s"
                       if pair.gateway and pair.straight and pair.ratio is not None
                       else f"error {pair.error}"))
        finally:
            straight.close()
            gateway.close()
    return results
