"""Policy overhead: parse → bind → authorize → rewrite → render for the scenario statements.

*cold*: a statement the plan cache has not seen (a fresh cache per run); *repeated*: the same
statement again, answered from the cache keyed by principal, statement and catalog version;
*new parameter value*: the per-person lookup statement with a value the cache has not seen,
answered from the cached analysis with the value filled in at render time.
Prints one JSON document; ``bench.run`` collects it (also under the pure-Python sqlglot build).
"""

from __future__ import annotations

import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from pathlib import Path

import sqlglot

from catalog.models import CatalogSnapshot
from catalog.store import CatalogStore
from gateway.demo import world
from gateway.demo.build import demo_policy_path, register_demo_sources
from gateway.demo.walkthrough import SCENARIOS, scenario_sql
from gateway.policy.context import PolicyContext
from gateway.policy.pipeline import PlanCache, plan
from gateway.policy.rewrite import Target
from gateway.policyfiles import apply_policy_file

TARGET = Target("duckdb", "0" * 64)
LOOKUP = "SELECT death_date FROM public_security.public.deaths WHERE id_no = ?"


def demo_snapshot() -> CatalogSnapshot:
    data_dir = Path(tempfile.mkdtemp(prefix="shuqiao-bench-"))
    for source, tables in world.SOURCES.items():
        con = sqlite3.connect(data_dir / f"{source}.sqlite")
        for ddl in tables.values():
            con.execute(ddl)
        con.commit()
        con.close()
    with CatalogStore(data_dir / "catalog.sqlite") as store:
        register_demo_sources(store, data_dir)
        apply_policy_file(store, demo_policy_path())
        return store.snapshot()


def timings(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """Wall-clock p50/p99, and the same for the thread's CPU time: on a shared machine the
    CPU figures show the pipeline's own cost when other work steals the cores."""
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        fn()
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return {**_percentiles(wall, ""), **_percentiles(cpu, "cpu_"), "runs": runs}


def _percentiles(samples: list[float], prefix: str) -> dict[str, float]:
    samples.sort()
    return {
        f"{prefix}p50_ms": round(statistics.median(samples), 4),
        f"{prefix}p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 4),
    }


def _cold(sql: str, ctx: PolicyContext) -> str:
    return plan(sql, ctx).statement(TARGET)


def _repeated(cache: PlanCache, sql: str, ctx: PolicyContext) -> str:
    return cache.plan(sql, ctx).statement(TARGET)


def _new_value(cache: PlanCache, ctx: PolicyContext, values: Iterator[str]) -> str:
    return cache.plan(LOOKUP, ctx, [next(values)]).statement(TARGET)


def lookup_ids(count: int) -> Iterator[str]:
    """Distinct 18-character identity numbers, one per run."""
    return (f"510104{1950 + n % 60}0101{n % 10000:04d}" for n in range(count))


def measure(runs: int = 300) -> dict[str, object]:
    ctx = PolicyContext.for_principal(demo_snapshot(), "si_analyst", date(2026, 11, 27))
    results: dict[str, object] = {}
    for name in SCENARIOS:
        sql = scenario_sql(name)
        cache = PlanCache()
        cache.plan(sql, ctx).statement(TARGET)
        results[name] = {
            "cold": timings(partial(_cold, sql, ctx), runs),
            "repeated": timings(partial(_repeated, cache, sql, ctx), runs * 10),
        }
    cache = PlanCache()
    values = lookup_ids(runs * 10 + 1)
    _new_value(cache, ctx, values)
    lookup = {"new_parameter_value": timings(partial(_new_value, cache, ctx, values), runs * 10)}
    compiled = any(Path(sqlglot.__file__).parent.glob("*.so"))
    return {
        "sqlglot": getattr(sqlglot, "__version__", "unknown"),
        "sqlglot_build": "compiled (sqlglotc)" if compiled else "pure Python",
        "python": platform.python_version(),
        "scenarios": results,
        "lookup": lookup,
    }


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    json.dump(measure(runs), sys.stdout, indent=1)
    sys.stdout.write("\n")
