"""The answers the three seed scenarios must give, computed from the generated rows.

The truth is derived from the rows as written (who has an insured row, which payments fall after
a death date, ...), not from the generator's intentions, so it stays right if the planting
changes; tests then check it against plain SQL over the SQLite files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from gateway.demo.rows import STRING, Array, Rows, join_pairs
from gateway.demo.timeline import AS_OF, TODAY, WINDOW_START, add_years

ADULT_BORN_BY = add_years(np.array([TODAY]), -16)[0]  # aged 16 or over on AS_OF

Tables = dict[str, dict[str, Rows]]


class DeceasedPaid(TypedDict):
    months: int
    overpaid: str


class IncarceratedPaid(TypedDict):
    months: int
    amount: str


@dataclass(frozen=True)
class GroundTruth:
    """What was planted, keyed by identity number; amounts are exact decimal strings."""

    as_of: str
    scale: int
    seed: int
    counts: dict[str, dict[str, int]]  # source -> table -> rows
    uninsured: list[str]  # scenario 1: active Sichuan residents aged 16+ with no insured row
    disabled_uninsured: list[str]  # ... of whom hold a disability certificate
    verified: dict[str, str]  # scenario 2: pensioner -> latest day seen in the window
    unverified: list[str]  # pensioners not seen in the window (dead ones included)
    deceased_paid: dict[str, DeceasedPaid]  # scenario 3: paid for months after death
    incarcerated_paid: dict[str, IncarceratedPaid]  # paid for months inside a prison term

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(**data)


def ground_truth(tables: Tables, *, scale: int, seed: int) -> GroundTruth:
    id_of = _id_numbers(tables["public_security"]["residents"])
    pensioners = tables["social_security"]["pensioners"].owner
    last_seen = _last_seen(tables, len(id_of))
    seen = last_seen[pensioners] > np.iinfo(np.int64).min
    uninsured = _uninsured(tables, len(id_of))
    disabled = np.zeros(len(id_of), dtype=bool)
    disabled[tables["disabled_persons"]["certificates"].owner] = True
    deceased = _paid_after_death(tables, len(id_of))
    incarcerated = _paid_in_prison(tables)
    return GroundTruth(
        as_of=AS_OF.isoformat(),
        scale=scale,
        seed=seed,
        counts={s: {t: len(rows) for t, rows in ts.items()} for s, ts in tables.items()},
        uninsured=_sorted_ids(id_of, uninsured),
        disabled_uninsured=_sorted_ids(id_of, uninsured[disabled[uninsured]]),
        verified=_dates_by_id(id_of, pensioners[seen], last_seen[pensioners[seen]]),
        unverified=_sorted_ids(id_of, pensioners[~seen]),
        deceased_paid={k: {"months": m, "overpaid": a} for k, (m, a) in deceased.items()},
        incarcerated_paid={k: {"months": m, "amount": a} for k, (m, a) in incarcerated.items()},
    )


def _id_numbers(residents: Rows) -> Array:
    result: Array = np.empty(len(residents), dtype=object)
    result[residents.owner] = residents.columns["id_no"]
    return result


def _sorted_ids(id_of: Array, people: Array) -> list[str]:
    return sorted(id_of[people].tolist())


def _dates_by_id(id_of: Array, people: Array, day_numbers: Array) -> dict[str, str]:
    dates = np.datetime_as_string(day_numbers.astype("datetime64[D]")).tolist()
    return dict(sorted(zip(id_of[people].tolist(), dates, strict=True)))


def _uninsured(tables: Tables, size: int) -> Array:
    residents = tables["public_security"]["residents"]
    columns = residents.columns
    target = (
        (columns["status"] == "active")
        & np.strings.startswith(columns["hukou_region_code"].astype(STRING), "51")
        & (columns["birth_date"] <= ADULT_BORN_BY)
    )
    insured = np.zeros(size, dtype=bool)
    insured[tables["social_security"]["insured"].owner] = True
    result: Array = residents.owner[target & ~insured[residents.owner]]
    return result


def _last_seen(tables: Tables, size: int) -> Array:
    """Per person: the latest admission or departure day in the window, as a day number."""
    stays = tables["medical_insurance"]["hospitalizations"]
    trips = tables["transport"]["trips"]
    owner = np.concatenate([stays.owner, trips.owner])
    day = np.concatenate([
        stays.columns["admitted_on"], trips.columns["departed_at"].astype("datetime64[D]")
    ])
    inside = (day > WINDOW_START) & (day <= TODAY)
    result: Array = np.full(size, np.iinfo(np.int64).min)
    np.maximum.at(result, owner[inside], day[inside].astype(np.int64))
    return result


def _paid_after_death(tables: Tables, size: int) -> dict[str, tuple[int, str]]:
    deaths = tables["public_security"]["deaths"]
    payments = tables["social_security"]["payments"]
    death = np.full(size, np.datetime64("NaT", "D"))
    death[deaths.owner] = deaths.columns["death_date"]
    after = payments.columns["pay_month"] > death[payments.owner]
    return _totals(payments, np.flatnonzero(after))


def _paid_in_prison(tables: Tables) -> dict[str, tuple[int, str]]:
    terms = tables["justice"]["incarcerations"]
    payments = tables["social_security"]["payments"]
    pay, term = join_pairs(payments.owner, terms.owner)
    month = payments.columns["pay_month"][pay]
    end = terms.columns["end_date"][term]
    inside = (month >= terms.columns["start_date"][term]) & (
        month <= np.where(np.isnat(end), TODAY, end)
    )
    return _totals(payments, np.unique(pay[inside]))


def _totals(payments: Rows, chosen: Array) -> dict[str, tuple[int, str]]:
    """Per person among the chosen payment rows: how many, and their sum as exact yuan."""
    cents = np.rint(payments.columns["amount"][chosen] * 100).astype(np.int64)
    ids, group, months = np.unique(
        payments.columns["id_no"][chosen], return_inverse=True, return_counts=True
    )
    sums = np.zeros(len(ids), dtype=np.int64)
    np.add.at(sums, group, cents)
    return {
        str(i): (int(m), f"{s // 100}.{s % 100:02d}")
        for i, m, s in zip(ids.tolist(), months.tolist(), sums.tolist(), strict=True)
    }
