"""Section 5: per-person lookups, the verification use case.

``SELECT d.death_date FROM public_security.public.deaths d WHERE d.id_no = ?`` as si_analyst,
half the ids from the deaths table and half that exist nowhere, for a fixed time each:

- through the gateway's direct route (asyncpg pool to the department's database);
- through the gateway on Trino;
- raw asyncpg, ``SELECT death_date FROM deaths WHERE id_no = $1`` (prepared, one round trip);
- raw asyncpg the way the direct route talks to PostgreSQL (the rewritten statement with its
  literal, one unnamed execute limited to a page and one row, on a read-only pooled session that
  is reset on release), to separate the driver pattern from the gateway's own work;
- the direct route again with the audit log on tmpfs (no fsync cost);
- where a direct statement's time goes: the policy pipeline, the audit writes and the engine,
  each timed around the gateway's own calls (instrumentation only, the calls are unchanged);
- the policy pipeline alone (plan for a new id, and for one already seen).
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import percentile
from bench.world import BenchWorld, derived_config
from gateway.engines.direct import fetch_at_most
from gateway.service import Gateway

SQL = "SELECT d.death_date FROM public_security.public.deaths d WHERE d.id_no = ?"
RAW_SQL = "SELECT death_date FROM deaths WHERE id_no = $1"
PRINCIPAL = "si_analyst"
MAX_STATEMENTS = 2_000_000  # a bound on every loop, whatever the duration


@dataclass(frozen=True)
class Rate:
    statements: int
    seconds: float
    qps: float
    p50_ms: float
    p99_ms: float
    found: int
    errors: int
    clients: int

    @classmethod
    def of(cls, latencies: Sequence[float], seconds: float, found: int, errors: int,
           clients: int) -> Rate:
        ordered = sorted(latencies)
        return cls(len(ordered), seconds, len(ordered) / seconds if seconds else 0.0,
                   percentile(ordered, 0.5) * 1000, percentile(ordered, 0.99) * 1000, found,
                   errors, clients)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def lookup_ids(bench: BenchWorld, count: int = 4000, seed: int = 7) -> list[str]:
    """Alternately an id with a death row and an id that exists nowhere."""
    path = bench.data_dir / "public_security.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
        dead = [r[0] for r in con.execute("SELECT id_no FROM deaths ORDER BY id_no")]
    rng = random.Random(seed)
    chosen = rng.sample(dead, min(len(dead), count // 2))
    missing = [f"99{rng.randrange(10**15):015d}X" for _ in chosen]
    return [x for pair in zip(chosen, missing, strict=True) for x in pair]


def run_threads(lookup: Callable[[str], int], ids: Sequence[str], seconds: float,
                clients: int = 1) -> Rate:
    """``clients`` threads calling ``lookup`` over ``ids`` (cycled) for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    found = [0] * clients
    errors = [0] * clients
    deadline = time.perf_counter() + seconds

    def client(c: int) -> None:
        i = c
        while time.perf_counter() < deadline and len(latencies[c]) < MAX_STATEMENTS:
            start = time.perf_counter()
            try:
                found[c] += lookup(ids[i % len(ids)]) > 0
            except Exception:
                errors[c] += 1
            latencies[c].append(time.perf_counter() - start)
            i += clients
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    elapsed = time.perf_counter() - started
    return Rate.of([x for xs in latencies for x in xs], elapsed, sum(found), sum(errors),
                   clients)


def gateway_lookup(gateway: Gateway, engine: str, page: int) -> Callable[[str], int]:
    def lookup(id_no: str) -> int:
        execution = gateway.execute(PRINCIPAL, SQL, [id_no], engine=engine)
        return sum(len(p) for p in execution.result.pages(page))

    return lookup


class CallClock:
    """Times every call of ``owner.name`` (instrumentation only; the calls are unchanged)."""

    def __init__(self, owner: object, name: str) -> None:
        self.seconds = 0.0
        self.calls = 0
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        setattr(owner, name, timed)

    def ms_per(self, statements: int) -> float:
        return self.seconds * 1000 / max(1, statements)


class Breakdown:
    """Where a direct statement's time goes: policy, audit writes (each a durable write; a
    lookup's decision and completion share one) and the engine (its one hop, or its cursor)."""

    def __init__(self, gateway: Gateway) -> None:
        self.policy = CallClock(gateway, "plan")
        self.audit = CallClock(gateway.audit, "timed_write")
        engine = gateway.direct()
        self.engine = [CallClock(engine, "fetch"), CallClock(engine, "execute")]

    def figures(self, rate: Rate) -> dict[str, float]:
        n = rate.statements
        mean_ms = 1000 / rate.qps if rate.qps else 0.0
        policy, audit = self.policy.ms_per(n), self.audit.ms_per(n)
        engine = sum(c.ms_per(n) for c in self.engine)
        return {"policy_ms": policy, "audit_ms": audit, "engine_ms": engine,
                "other_ms": max(0.0, mean_ms - policy - audit - engine), "mean_ms": mean_ms,
                "audit_writes": self.audit.calls / max(1, n)}


def _pg_params(bench: BenchWorld) -> dict[str, Any]:
    snapshot = bench.snapshot("real")
    source = snapshot.source("public_security")
    assert source is not None
    o = source.options
    return {"host": o["host"], "port": int(o["port"]), "user": o["user"],
            "database": o["database"], "password": os.environ.get("SHUQIAO_PG_PASSWORD", "")}


async def _raw(params: dict[str, Any], ids: Sequence[str], seconds: float, clients: int,
               gateway_pattern: bool) -> Rate:
    settings = {"default_transaction_read_only": "on"} if gateway_pattern else None
    pool = await asyncpg.create_pool(min_size=clients, max_size=clients,
                                     server_settings=settings, **params)
    latencies: list[float] = []
    found = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def plain(con: Any, id_no: str) -> int:
        return len(await con.fetch(RAW_SQL, id_no))

    async def like_direct(id_no: str) -> int:
        literal = "'" + id_no.replace("'", "''") + "'"
        con = await pool.acquire()
        try:
            _, rows = await fetch_at_most(con, RAW_SQL.replace("$1", literal), 1001, 10.0)
            return len(rows)
        finally:
            await pool.release(con)

    async def client(c: int) -> None:
        nonlocal found
        i = c
        con = None if gateway_pattern else await pool.acquire()
        try:
            while loop.time() < deadline and len(latencies) < MAX_STATEMENTS:
                start = loop.time()
                id_no = ids[i % len(ids)]
                n = await (like_direct(id_no) if gateway_pattern else plain(con, id_no))
                found += n > 0
                latencies.append(loop.time() - start)
                i += clients
        finally:
            if con is not None:
                await pool.release(con)

    started = loop.time()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = loop.time() - started
    await pool.close()
    return Rate.of(latencies, elapsed, found, 0, clients)


def plan_cost(gateway: Gateway, ids: Sequence[str], count: int = 300) -> dict[str, float]:
    """Milliseconds to plan a lookup: a new id and a repeated one."""
    cold = []
    fresh = [f"98{n:015d}X" for n in range(count)]  # ids never looked up before
    for id_no in fresh:
        start = time.perf_counter()
        gateway.plan(PRINCIPAL, SQL, [id_no])
        cold.append(time.perf_counter() - start)
    warm = []
    for _ in range(count):
        start = time.perf_counter()
        gateway.plan(PRINCIPAL, SQL, [ids[0]])
        warm.append(time.perf_counter() - start)
    cold.sort()
    warm.sort()
    return {"cold_p50_ms": percentile(cold, 0.5) * 1000,
            "warm_p50_ms": percentile(warm, 0.5) * 1000}


def measure(bench: BenchWorld, *, seconds: float, concurrent: int = 4,
            log: Callable[[str], None] = print) -> dict[str, object]:
    ids = lookup_ids(bench)
    params = _pg_params(bench)
    results: dict[str, object] = {}

    def note(name: str, rate: Rate) -> None:
        results[name] = rate
        log(f"  lookups {name:<34} {rate.qps:9.1f} qps  p50 {rate.p50_ms:7.2f} ms  "
            f"p99 {rate.p99_ms:8.2f} ms  errors {rate.errors}")

    gateway = Gateway.from_config(bench.real_config)
    try:
        page = int(gateway.settings["engine.page_size"])
        direct = gateway_lookup(gateway, "direct", page)
        trino = gateway_lookup(gateway, "trino", page)
        run_threads(direct, ids, 1.0)  # warm-ups: pools, plans, JIT in Trino
        run_threads(trino, ids, 3.0)
        breakdown = Breakdown(gateway)
        rate = run_threads(direct, ids, seconds)
        note("gateway direct", rate)
        figures = breakdown.figures(rate)
        results["breakdown"] = figures
        results["audit_ms_per_statement"] = figures["audit_ms"]
        results["audit_writes_per_statement"] = figures["audit_writes"]
        log("  lookups breakdown per direct statement: " + ", ".join(
            f"{k} {v:.3f}" for k, v in figures.items()))
        note("gateway trino", run_threads(trino, ids, seconds))
        results["plan"] = plan_cost(gateway, ids[len(ids) // 2:])
        if concurrent > 1:
            note(f"gateway direct x{concurrent}", run_threads(direct, ids, seconds, concurrent))
            note(f"gateway trino x{concurrent}", run_threads(trino, ids, seconds, concurrent))
    finally:
        gateway.close()
    note("raw asyncpg", asyncio.run(_raw(params, ids, seconds, 1, False)))
    note("raw asyncpg, direct route's pattern", asyncio.run(_raw(params, ids, seconds, 1, True)))
    if concurrent > 1:
        note(f"raw asyncpg x{concurrent}", asyncio.run(_raw(params, ids, seconds, concurrent,
                                                            False)))
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        audit = shm / f"shuqiao-bench-audit-{os.getpid()}.sqlite"
        config = derived_config(bench.real_config, "shuqiao-audit-tmpfs.toml",
                                {"audit.path": str(audit)})
        gateway = Gateway.from_config(config)
        try:
            direct = gateway_lookup(gateway, "direct", page)
            run_threads(direct, ids, 1.0)
            note("gateway direct, audit on tmpfs", run_threads(direct, ids, seconds))
        finally:
            gateway.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{audit}{suffix}").unlink(missing_ok=True)
    return results
