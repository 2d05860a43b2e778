"""``make bench``: run the benchmarks and write a markdown table and JSON under bench/results.

Never part of ``make test``. Each figure is printed beside the machine it ran on.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


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
    }


def policy_overhead(python: str) -> dict[str, object]:
    done = subprocess.run([python, "-m", "bench.policy_overhead", "500"], check=True,
                          capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def policy_table(runs: list[dict[str, object]]) -> str:
    lines = ["| sqlglot build | scenario | cold p50 | cold p99 | repeated p50 | repeated p99 |",
             "|---|---|---|---|---|---|"]
    for run in runs:
        scenarios = run["scenarios"]
        assert isinstance(scenarios, dict)
        for name, figures in scenarios.items():
            cold, repeated = figures["cold"], figures["repeated"]
            lines.append(
                f"| {run['sqlglot_build']} | {name} | {cold['p50_ms']:.3f} ms | "
                f"{cold['p99_ms']:.3f} ms | {repeated['p50_ms']:.4f} ms | "
                f"{repeated['p99_ms']:.4f} ms |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    pythons = [sys.executable]
    pure = Path(".venv-pure/bin/python")
    if pure.exists():
        pythons.append(str(pure))
    runs = [policy_overhead(p) for p in pythons]
    report = {"machine": machine(), "policy_overhead": runs}
    (RESULTS / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    text = "\n\n".join([
        "# Shuqiao benchmark results",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()),
        "## Policy overhead (parse → bind → authorize → rewrite → render)",
        policy_table(runs),
    ]) + "\n"
    (RESULTS / "results.md").write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
