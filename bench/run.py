"""``make bench``: build the demo world at each scale and measure, side by side in one run, the
gateway against the engines straight, copying files, a centralised copy, per-person lookups,
streaming, concurrent protocol clients and the policy overhead. Writes ``bench/results/
results.md``, ``results.json`` and ``scenarios.png``, each figure beside the machine it ran on.

Never part of ``make test``. ``make bench BENCH_ARGS="--scales 5000000"`` for the large world;
``python -m bench.run --help`` for the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from bench import centralised, copy_files, lookups, report, scenarios, services, streaming
from bench import concurrency as concurrent_clients
from bench import world as bench_world
from bench.common import jsonable, load_average
from gateway.demo.build import DemoDatabases

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
SECTIONS = ("scenarios", "copy", "centralised", "lookups", "streaming", "concurrency", "policy")


def machine() -> dict[str, object]:
    memory_kb = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0]
        memory_kb = int(first.split()[1])
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                    if ln.startswith("model name")), cpu)
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
    }


def server_versions(databases: DemoDatabases) -> dict[str, str]:
    import asyncmy
    import asyncpg

    pg, maria = databases.pg, databases.mariadb

    async def ask() -> dict[str, str]:
        con = await asyncpg.connect(host=pg.host, port=pg.port, user=pg.user,
                                    password=os.environ["SHUQIAO_PG_PASSWORD"],
                                    database=pg.admin_database)
        try:
            pg_version = str(await con.fetchval("SHOW server_version"))
        finally:
            await con.close()
        mcon = await asyncmy.connect(host=maria.host, port=maria.port, user=maria.user,
                                     password=os.environ["SHUQIAO_MARIADB_PASSWORD"])
        try:
            async with mcon.cursor() as cursor:
                await cursor.execute("SELECT VERSION()")
                row = await cursor.fetchone()
        finally:
            mcon.close()
        return {"postgresql": pg_version, "mariadb": str(row[0])}

    return asyncio.run(ask())


def policy_overhead(python: str) -> dict[str, object]:
    done = subprocess.run([python, "-m", "bench.policy_overhead", "500"], check=True,
                          capture_output=True, text=True, cwd=ROOT)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--scales", type=int, nargs="+", default=[100_000, 1_000_000],
                        help="residents per world (default: 100000 1000000)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=3,
                        help="measured runs per figure after one warm-up (default 3)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".cache" / "bench",
                        help="where worlds, exports and the private Trino's state go")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse a world already built and loaded for the same scale/seed")
    parser.add_argument("--keep-databases", action="store_true",
                        help="keep the b_* databases at the end (for a later --reuse)")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS,
                        help="sections to leave out")
    parser.add_argument("--lookup-seconds", type=float, default=10.0)
    parser.add_argument("--lookup-concurrency", type=int, default=4,
                        help="concurrent lookup clients in the second pass (1: no second pass)")
    parser.add_argument("--skip-concurrency", action="store_true",
                        help="leave out the concurrent protocol clients section")
    parser.add_argument("--concurrency-seconds", type=float, default=120.0)
    parser.add_argument("--concurrency-clients", type=int, default=50)
    parser.add_argument("--concurrency-lookup-seconds", type=float, default=30.0,
                        help="then lookups only, for comparison (0: leave out)")
    parser.add_argument("--skip-protocol", action="store_true",
                        help="no HTTP service: leave out the protocol streaming and clients")
    parser.add_argument("--trino-port", type=int, default=58091,
                        help="port of the benchmark's private Trino coordinator")
    parser.add_argument("--results-dir", type=Path, default=RESULTS,
                        help="where results.md, results.json and the plot go "
                             "(default: bench/results)")
    parser.add_argument("--server-port", type=int, default=58095,
                        help="port of the HTTP service started for the protocol figures")
    args = parser.parse_args(argv)
    if args.skip_concurrency:
        args.skip.append("concurrency")
    return args


def protocol_available() -> str | None:
    """Why the HTTP service cannot be benchmarked, or None when it can."""
    try:
        from gateway.server import create_app  # noqa: F401
        from gateway.server.auth import InsecureAuthenticator  # noqa: F401
    except Exception as error:
        return f"gateway.server.create_app is not importable ({type(error).__name__})"
    return None


def section(name: str, s: dict[str, Any], fn: Callable[[], object],
            log: Callable[[str], None]) -> None:
    log(f"[{time.strftime('%H:%M:%S')}] {name} (load {load_average()[0]:.1f})")
    try:
        s[name] = jsonable(fn())
    except Exception as error:
        s[name] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
        log(f"  {name} failed: {s[name]['error']}")


def measure_scale(scale: int, args: argparse.Namespace, databases: DemoDatabases,
                  trino: services.PrivateTrino, log: Callable[[str], None]) -> dict[str, Any]:
    skip = set(args.skip)
    s: dict[str, Any] = {"scale": scale, "seed": args.seed,
                         "load_average_start": list(load_average())}
    log(f"[{time.strftime('%H:%M:%S')}] world of {scale:,} residents")
    built = bench_world.build(args.data_dir / f"s{scale}", scale, args.seed, databases,
                              trino_port=args.trino_port, reuse=args.reuse)
    if built.reused:
        bench_world.with_trino_port(built.real_config, args.trino_port)
    log(f"  generate {built.generate_s:.1f} s, load {built.load_s:.1f} s"
        + (" (reused)" if built.reused else ""))
    s.update(generate_s=built.generate_s, load_s=built.load_s, reused=built.reused,
             sizes=built.sizes())
    trino.serve(built.trino_catalogs, built.snapshot())
    exports = args.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    central = centralised.Central(databases.pg.host, databases.pg.port, databases.pg.user,
                                  os.environ["SHUQIAO_PG_PASSWORD"],
                                  f"{bench_world.PREFIX}central")
    if "scenarios" not in skip:
        section("scenarios", s, lambda: scenarios.measure(
            built, trino_port=args.trino_port, runs=args.runs, log=log), log)
    if "copy" not in skip:
        section("copy_files", s, lambda: copy_files.measure(
            built, runs=args.runs, root=exports, log=log), log)
    if "centralised" not in skip:
        def central_figures() -> dict[str, object]:
            build = centralised.build(central, built, exports)
            log(f"  centralised copy loaded in {build['load_s']:.1f} s "
                f"(export {build['export_s']:.1f} s)")
            return {"build": build, "runs": centralised.measure(central, built, runs=args.runs,
                                                                log=log)}

        section("centralised", s, central_figures, log)
        if not args.keep_databases:
            centralised.drop(central)
    if "lookups" not in skip:
        section("lookups", s, lambda: lookups.measure(
            built, seconds=args.lookup_seconds, concurrent=args.lookup_concurrency, log=log),
            log)
    unavailable = None if args.skip_protocol else protocol_available()
    protocol = not args.skip_protocol and unavailable is None
    if "streaming" not in skip:
        section("streaming", s, lambda: streaming.measure(
            built, runs=args.runs, protocol=protocol, port=args.server_port,
            logs=args.data_dir, trino_port=args.trino_port, log=log), log)
    if "concurrency" in skip or not protocol:
        s["concurrency"] = {"skipped": unavailable or "left out (--skip-concurrency or "
                            "--skip-protocol)"}
    else:
        section("concurrency", s, lambda: concurrent_clients.measure(
            built, clients=args.concurrency_clients, seconds=args.concurrency_seconds,
            port=args.server_port, logs=args.data_dir,
            lookup_seconds=args.concurrency_lookup_seconds, log=log), log)
    s["load_average_end"] = list(load_average())
    return s


def main(argv: list[str]) -> None:
    args = arguments(argv)
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    results_dir = args.results_dir.resolve()
    results_dir.mkdir(parents=True, exist_ok=True)
    services.set_passwords()

    def log(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    command = "make bench" + (f" BENCH_ARGS={shlex.quote(' '.join(argv))}" if argv else "")
    result: dict[str, Any] = {"machine": machine(), "command": command, "runs": args.runs,
                              "scales": []}
    databases = bench_world.targets(bench_world.PREFIX, services.pg_port(),
                                    services.mariadb_port())
    needs_services = any(x not in args.skip for x in SECTIONS if x != "policy")
    if needs_services:
        with services.databases_up() as started:
            if started:
                log(f"started {', '.join(started)} (stopped again at the end)")
            result["machine"].update(server_versions(databases))
            trino = services.PrivateTrino(args.data_dir / "services", args.trino_port)
            try:
                for scale in args.scales:
                    result["scales"].append(measure_scale(scale, args, databases, trino, log))
                    result["machine"]["trino"] = trino.version()
                    report.write(result, results_dir)  # what is done so far survives a failure
            finally:
                trino.stop()
                if not args.keep_databases:
                    bench_world.drop_databases(databases)
                    (args.data_dir / "loaded.json").unlink(missing_ok=True)  # nothing to reuse
    if "policy" not in args.skip:
        log(f"[{time.strftime('%H:%M:%S')}] policy overhead")
        pythons = [sys.executable]
        pure = ROOT / ".venv-pure" / "bin" / "python"
        if pure.exists():
            pythons.append(str(pure))
        result["policy_overhead"] = [policy_overhead(p) for p in pythons]
    result["load_average_end"] = list(load_average())
    text = report.write(result, results_dir)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
