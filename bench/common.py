"""Shared helpers: timing, result normalisation, and recall/precision against the ground truth.

Every method (gateway, straight engine, copied files, centralised copy) is checked the same way:
its rows are reduced to one key per row, compared with the keys the generator's ground truth
implies. A key carries the values that matter (dates, months, cents), so a right id with a wrong
amount counts as both a false positive and a miss.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.demo.world import GroundTruth

SCENARIO_NAMES = ("scenario1_coverage", "scenario2_verification", "scenario3_fund_risk")
SHORT = {"scenario1_coverage": "S1 coverage", "scenario2_verification": "S2 verification",
         "scenario3_fund_risk": "S3 fund risk"}

Row = Sequence[object]
Key = tuple[object, ...]


@dataclass(frozen=True)
class Timing:
    """Seconds per run after the warm-up: the median, the minimum and every sample."""

    median_s: float
    min_s: float
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Timing:
        return cls(statistics.median(samples), min(samples), tuple(round(s, 6) for s in samples))

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def repeat(fn: Callable[[], object], runs: int, warmup: int = 1) -> tuple[Timing, object]:
    """Run ``fn`` ``warmup`` times unmeasured, then ``runs`` times; the last result is returned."""
    result: object = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(runs):
        seconds, result = timed(fn)
        samples.append(seconds)
    return Timing.of(samples), result


def percentile(sorted_samples: Sequence[float], fraction: float) -> float:
    if not sorted_samples:
        return float("nan")
    index = min(len(sorted_samples) - 1, max(0, round(fraction * (len(sorted_samples) - 1))))
    return sorted_samples[index]


def load_average() -> tuple[float, float, float]:
    try:
        parts = Path("/proc/loadavg").read_text().split()
        return float(parts[0]), float(parts[1]), float(parts[2])
    except (OSError, IndexError, ValueError):
        return (float("nan"),) * 3


def normal(value: object) -> object:
    """One spelling per value whatever the engine's Python type: dates ISO, decimals in cents."""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return f"{Decimal(str(value)):.2f}"
    return value


# ---------------------------------------------------------------------------------------------
# Keys and accuracy.


def _flag(value: object) -> bool:
    return value in (True, 1, "true", "True", "1")


def scenario_keys(scenario: str, columns: Sequence[str], rows: Iterable[Row]) -> list[Key]:
    """One key per returned row (duplicates kept, so a repeated row lowers precision)."""
    at = {name: i for i, name in enumerate(columns)}
    keys: list[Key] = []
    if scenario == "scenario1_coverage":
        for r in rows:
            keys.append((r[at["id_no"]], _flag(r[at["disabled"]])))
    elif scenario == "scenario2_verification":
        for r in rows:
            seen = r[at["last_seen"]]
            keys.append((r[at["id_no"]], _flag(r[at["verified"]]),
                         None if seen is None else normal(seen)))
    elif scenario == "scenario3_fund_risk":
        for r in rows:
            keys.append((r[at["reason"]], r[at["id_no"]], int(str(r[at["months"]])),
                         normal(Decimal(str(r[at["amount"]])))))
    else:
        raise ValueError(f"unknown scenario {scenario}")
    return keys


def truth_keys(scenario: str, truth: GroundTruth) -> set[Key]:
    if scenario == "scenario1_coverage":
        disabled = set(truth.disabled_uninsured)
        return {(i, i in disabled) for i in truth.uninsured}
    if scenario == "scenario2_verification":
        return ({(i, True, d) for i, d in truth.verified.items()}
                | {(i, False, None) for i in truth.unverified})
    if scenario == "scenario3_fund_risk":
        deceased = {("deceased", i, int(v["months"]), normal(Decimal(str(v["overpaid"]))))
                    for i, v in truth.deceased_paid.items()}
        jailed = {("incarcerated", i, int(v["months"]), normal(Decimal(str(v["amount"]))))
                  for i, v in truth.incarcerated_paid.items()}
        return deceased | jailed
    raise ValueError(f"unknown scenario {scenario}")


@dataclass(frozen=True)
class Accuracy:
    rows: int
    expected: int
    precision: float
    recall: float

    @property
    def exact(self) -> bool:
        return self.precision == 1.0 and self.recall == 1.0 and self.rows == self.expected

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "exact": self.exact}


def accuracy(got: list[Key], expected: set[Key]) -> Accuracy:
    found = set(got)
    hits = len(found & expected)
    # Duplicated rows are returned rows that are not new hits: they count against precision.
    precision = hits / len(got) if got else (1.0 if not expected else 0.0)
    recall = hits / len(expected) if expected else 1.0
    return Accuracy(len(got), len(expected), precision, recall)


def check(scenario: str, truth: GroundTruth, columns: Sequence[str],
          rows: Iterable[Row]) -> Accuracy:
    return accuracy(scenario_keys(scenario, columns, rows), truth_keys(scenario, truth))


def jsonable(value: Any) -> Any:
    """Dataclasses and tuples to plain JSON values (recursively)."""
    if hasattr(value, "as_dict"):
        return jsonable(value.as_dict())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
