"""Section 7: many protocol clients at once against the HTTP service, on loopback.

``clients`` threads, each with its own trino python client connection, run statements in a
bounded loop for ``seconds``: every ``SCENARIO_EVERY``-th statement a scenario (cycling through
the three), the others per-person lookups (half of them ids that exist nowhere). The service
runs in its own process with the world's configuration (``auto`` routing: lookups take the
direct route, scenarios the federating engine); its resident memory is sampled once a second.
A second, shorter phase runs lookups only, to tell what the scenarios in the mix cost the
lookups.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.common import SCENARIO_NAMES, percentile
from bench.lookups import lookup_ids
from bench.serve import HOST, Server, rss_kib
from bench.world import BenchWorld
from gateway.demo.walkthrough import scenario_sql

SCENARIO_EVERY = 10
LOOKUP = "SELECT d.death_date FROM public_security.public.deaths d WHERE d.id_no = '{}'"
MAX_STATEMENTS_PER_CLIENT = 200_000


@dataclass(frozen=True)
class KindFigures:
    statements: int
    errors: int
    per_s: float
    p50_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _figures(latencies: Sequence[float], errors: int, seconds: float) -> KindFigures:
    ordered = sorted(latencies)
    return KindFigures(len(ordered), errors, len(ordered) / seconds if seconds else 0.0,
                       percentile(ordered, 0.5) * 1000, percentile(ordered, 0.99) * 1000)


def statement_for(client: int, i: int, ids: Sequence[str], mix: bool) -> tuple[str, str]:
    if mix and (client + i) % SCENARIO_EVERY == 0:
        name = SCENARIO_NAMES[((client + i) // SCENARIO_EVERY) % len(SCENARIO_NAMES)]
        return "scenario", scenario_sql(name)
    return "lookup", LOOKUP.format(ids[(client * 7919 + i) % len(ids)])


def _connect(port: int) -> Any:
    import trino

    return trino.dbapi.connect(host=HOST, port=port, user="si_analyst",  # type: ignore[no-untyped-call]
                               request_timeout=600)


def phase(port: int, clients: int, seconds: float, ids: Sequence[str], *,
          mix: bool) -> dict[str, object]:
    """``clients`` threads in a bounded loop until ``seconds`` have passed."""
    latencies: dict[str, list[float]] = {"lookup": [], "scenario": []}
    errors: dict[str, int] = {"lookup": 0, "scenario": 0}
    error_kinds: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(c: int) -> None:
        conn = _connect(port)
        i = 0
        try:
            while time.perf_counter() < deadline and i < MAX_STATEMENTS_PER_CLIENT:
                kind, sql = statement_for(c, i, ids, mix)
                began = time.perf_counter()
                try:
                    cursor = conn.cursor()
                    cursor.execute(sql)
                    cursor.fetchall()
                    failed = None
                except Exception as error:
                    failed = type(error).__name__
                took = time.perf_counter() - began
                with lock:
                    latencies[kind].append(took)
                    if failed is not None:
                        errors[kind] += 1
                        error_kinds[failed] = error_kinds.get(failed, 0) + 1
                i += 1
        finally:
            conn.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.perf_counter()) + 600)
    elapsed = time.perf_counter() - began
    kinds = {k: _figures(v, errors[k], elapsed) for k, v in latencies.items() if v}
    total = sum(f.statements for f in kinds.values())
    return {"clients": clients, "seconds": elapsed, "statements": total,
            "per_s": total / elapsed if elapsed else 0.0, "errors": sum(errors.values()),
            "error_kinds": error_kinds, "kinds": kinds}


def measure(bench: BenchWorld, *, clients: int, seconds: float, port: int, logs: Path,
            lookup_seconds: float = 30.0,
            log: Callable[[str], None] = print) -> dict[str, object]:
    """The mix for ``seconds``, then (for comparison) lookups only for ``lookup_seconds``."""
    ids = lookup_ids(bench)
    memory: list[tuple[float, int]] = []
    done = threading.Event()
    with Server(bench.real_config, port, logs / "serve-concurrency.log") as server:
        # one statement of each kind first, so that start-up costs are not in the figures
        warm = _connect(port)
        for sql in (LOOKUP.format(ids[0]), *(scenario_sql(n) for n in SCENARIO_NAMES)):
            cursor = warm.cursor()
            cursor.execute(sql)
            cursor.fetchall()
        warm.close()
        start_rss = rss_kib(server.pid)

        def sample() -> None:
            began = time.perf_counter()
            # bounded: one sample a second while the clients run
            for _ in range(int(seconds + lookup_seconds) + 1200):
                memory.append((round(time.perf_counter() - began, 1), rss_kib(server.pid)))
                if done.wait(1.0):
                    break

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            mixed = phase(port, clients, seconds, ids, mix=True)
            _log_phase("mix", mixed, log)
            lookups_only = (phase(port, clients, lookup_seconds, ids, mix=False)
                            if lookup_seconds > 0 else None)
            if lookups_only is not None:
                _log_phase("lookups only", lookups_only, log)
        finally:
            done.set()
            sampler.join(5)
        end_rss = rss_kib(server.pid)
    result: dict[str, object] = {
        **mixed, "lookups_only": lookups_only,
        "rss_start_mib": start_rss / 1024, "rss_end_mib": end_rss / 1024,
        "rss_max_mib": max((m for _, m in memory), default=0) / 1024,
        "rss_samples_mib": [(t, round(m / 1024, 1)) for t, m in memory],
    }
    log(f"  server RSS {result['rss_start_mib']:.0f} MiB at start, max "
        f"{result['rss_max_mib']:.0f} MiB, {result['rss_end_mib']:.0f} MiB at the end")
    return result


def _log_phase(name: str, figures: dict[str, object], log: Callable[[str], None]) -> None:
    kinds = figures["kinds"]
    assert isinstance(kinds, dict)
    log(f"  concurrency {name}: {figures['clients']} clients {figures['seconds']:.0f}s, "
        f"{figures['statements']} statements ({figures['per_s']:.1f}/s), errors "
        f"{figures['errors']}; "
        + "; ".join(f"{k} p50 {f.p50_ms:.0f} ms p99 {f.p99_ms:.0f} ms ({f.statements})"
                    for k, f in kinds.items()))
