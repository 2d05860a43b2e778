"""Section 6: streaming a large result (up to 1,000,000 rows of payments) through the gateway
against the same query straight on its engine, in rows per second.

On DuckDB, straight is measured three ways: ``fetchall`` (what a plain DuckDB user does),
``fetchmany`` in the gateway's page size (what the gateway's DuckDB engine does), and
``fetchmany`` of the gateway's rewritten statement (policy views, casts) run straight, which
separates what the rewritten SQL costs from what the gateway's own machinery costs. Through the
HTTP service, the trino python client reads the same statement over the Trino protocol from a
service process on loopback.

On Trino the comparison is like for like: the same trino python client, with the same code,
reads the rows straight from the coordinator and through the gateway's protocol endpoint, the
gateway running the statement on that coordinator. The gateway's rewritten statement straight on
Trino tells the rewrite's cost apart. The runs alternate between the paths, so a neighbour's
load on the shared machine falls on all of them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import Timing, timed
from bench.scenarios import SERVICE_USER, StraightDuckDB, physical_sql
from bench.serve import HOST, Server
from bench.world import BenchWorld, derived_config
from catalog.models import CatalogSnapshot
from gateway.service import Gateway

PRINCIPAL = "si_analyst"
LIMIT = 1_000_000


def stream_sql(limit: int = LIMIT) -> str:
    return ("SELECT pay.id_no, pay.region_code, pay.pay_month, pay.amount "
            f"FROM social_security.public.payments pay LIMIT {limit}")


@dataclass(frozen=True)
class Throughput:
    rows: int
    timing: Timing

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.timing.median_s if self.timing.median_s else 0.0

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "timing": self.timing, "rows_per_s": self.rows_per_s}


def rate(fn: Callable[[], int], runs: int) -> Throughput:
    rows = fn()  # warm-up
    samples = []
    for _ in range(runs):
        seconds, rows_read = timed(fn)
        assert isinstance(rows_read, int)
        rows = rows_read
        samples.append(seconds)
    return Throughput(rows, Timing.of(samples))


def rates(paths: dict[str, Callable[[], int]], runs: int) -> dict[str, Throughput]:
    """Each path warmed up once, then measured ``runs`` times, one run of each in turn."""
    rows = {name: fn() for name, fn in paths.items()}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(runs):
        for name, fn in paths.items():
            seconds, rows_read = timed(fn)
            assert isinstance(rows_read, int)
            rows[name] = rows_read
            samples[name].append(seconds)
    return {name: Throughput(rows[name], Timing.of(samples[name])) for name in paths}


def engine_figures(config: Path, snapshot: CatalogSnapshot, sql: str,
                   runs: int) -> dict[str, Throughput]:
    """Through the gateway on DuckDB, and straight on DuckDB three ways."""
    gateway = Gateway.from_config(config)
    page = int(gateway.settings["engine.page_size"])
    straight = StraightDuckDB(snapshot, threads=int(gateway.settings["engine.duckdb_threads"]),
                              memory_limit=str(gateway.settings["engine.duckdb_memory_limit"]))
    plain = physical_sql(sql, snapshot)
    rewritten = gateway.plan(PRINCIPAL, sql).statement(gateway.target(PRINCIPAL, "duckdb"))

    def through() -> int:
        execution = gateway.execute(PRINCIPAL, sql, engine="duckdb")
        return sum(len(p) for p in execution.result.pages(page))

    def fetchall() -> int:
        return len(straight.run(plain)[1])

    def fetchmany(statement: str = plain) -> int:
        cursor = straight.cursor()
        try:
            cursor.execute(statement)
            n = 0
            while rows := cursor.fetchmany(page):
                n += len(rows)
            return n
        finally:
            cursor.close()

    try:
        return {"gateway": rate(through, runs), "straight_fetchall": rate(fetchall, runs),
                "straight_fetchmany": rate(fetchmany, runs),
                "straight_rewritten_sql": rate(lambda: fetchmany(rewritten), runs)}
    finally:
        straight.close()
        gateway.close()


def measure(bench: BenchWorld, *, runs: int, protocol: bool, port: int, logs: Path,
            trino_port: int | None = None,
            log: Callable[[str], None] = print) -> dict[str, object]:
    sql = stream_sql()
    results: dict[str, object] = {}
    if trino_port is not None:
        results["trino"] = trino_results(bench, sql, runs, protocol=protocol, port=port,
                                         logs=logs, trino_port=trino_port, log=log)
    for backend, config in (("duckdb_sqlite", bench.sqlite_config),
                            ("duckdb_pg", bench.real_config)):
        snapshot = bench.snapshot("sqlite" if backend == "duckdb_sqlite" else "real")
        figures = engine_figures(config, snapshot, sql, runs)
        if protocol:
            served = derived_config(config, "shuqiao-serve-duckdb.toml",
                                    {"engine.default": "duckdb"})
            try:
                with Server(served, port, logs / f"serve-{backend}.log"):
                    figures["protocol"] = rate(lambda: _protocol_rows(port, sql), runs)
            except Exception as error:
                results[f"{backend}_protocol_error"] = f"{type(error).__name__}: {error}"[:300]
        base = figures["straight_fetchall"].rows_per_s
        results[backend] = {
            name: {**t.as_dict(), "vs_straight": t.rows_per_s / base if base else None}
            for name, t in figures.items()}
        for name, t in figures.items():
            log(f"  streaming {backend:<14} {name:<22} {t.rows:>9,} rows "
                f"{t.rows_per_s:>12,.0f} rows/s  ({t.rows_per_s / base:.0%} of straight)")
    return results


def trino_figures(bench: BenchWorld, sql: str, runs: int, *, protocol: bool, port: int,
                  logs: Path, trino_port: int) -> dict[str, Throughput]:
    """The trino client straight on Trino (the plain and the gateway's rewritten statement) and
    through the gateway's protocol endpoint with the gateway on that Trino."""
    gateway = Gateway.from_config(bench.real_config)
    try:
        rewritten = gateway.plan(PRINCIPAL, sql).statement(gateway.target(PRINCIPAL, "trino"))
    finally:
        gateway.close()
    plain = physical_sql(sql, bench.snapshot("real"))
    paths = {
        "straight": lambda: _protocol_rows(trino_port, plain, SERVICE_USER),
        "straight_rewritten_sql": lambda: _protocol_rows(trino_port, rewritten, SERVICE_USER),
    }
    if not protocol:
        return rates(paths, runs)
    served = derived_config(bench.real_config, "shuqiao-serve-trino.toml",
                            {"engine.default": "trino"})
    with Server(served, port, logs / "serve-trino.log"):
        return rates({**paths, "protocol": lambda: _protocol_rows(port, sql)}, runs)


def trino_results(bench: BenchWorld, sql: str, runs: int, *, protocol: bool, port: int,
                  logs: Path, trino_port: int,
                  log: Callable[[str], None]) -> dict[str, object]:
    try:
        figures = trino_figures(bench, sql, runs, protocol=protocol, port=port, logs=logs,
                                trino_port=trino_port)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"[:300]}
    base = figures["straight"].rows_per_s
    for name, t in figures.items():
        log(f"  streaming {'trino':<14} {name:<22} {t.rows:>9,} rows "
            f"{t.rows_per_s:>12,.0f} rows/s  ({t.rows_per_s / base:.0%} of straight)")
    return {name: {**t.as_dict(), "vs_straight": t.rows_per_s / base if base else None}
            for name, t in figures.items()}


def _protocol_rows(port: int, sql: str, user: str = PRINCIPAL) -> int:
    """Every row of ``sql`` read by the trino client from ``port``, in batches of 10,000."""
    import trino

    conn = trino.dbapi.connect(host=HOST, port=port, user=user, request_timeout=300,  # type: ignore[no-untyped-call]
                               source="shuqiao-bench")
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        n = 0
        while rows := cursor.fetchmany(10_000):
            n += len(rows)
        return n
    finally:
        conn.close()
