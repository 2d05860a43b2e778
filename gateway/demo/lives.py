"""What happened to each resident: work, retirement, disability, emigration and death.

This is where the fund-risk cases are planted: a few pensioners have died but are still paid
(``paid_after_death``). Every other death of a pensioner falls inside the payment window and the
pension office stops paying after it. Deaths of other residents spread over the last six years.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.demo.people import People
from gateway.demo.rows import Array, Rows, labels, pick
from gateway.demo.timeline import (
    NAT,
    TODAY,
    WINDOW_START,
    add_months,
    add_years,
    days,
    stream,
    uniform_dates,
    years,
)

ACTIVE, DECEASED, EMIGRATED = 0, 1, 2

ADULT_AGE = 16
EMPLOYEE_SHARE = 0.55
CHENGDU_EMPLOYEE_SHARE = 0.7
PENSION_TAKE_UP = 0.77  # of the eligible in Sichuan; the rest never enrolled or draw elsewhere
PENSION_TAKE_UP_ELSEWHERE = 0.25
EMIGRATION_RATE = 0.004
DISABILITY_RATE = 0.025
FRAUD_DEATH_RATE = 0.005  # of pensioners: dead and still paid
MIN_FRAUD_DEATHS = 3  # so that a small test world still holds some
DEATH_HISTORY_YEARS = 6  # the registry lists deaths of (non-pensioner) residents this far back
# A long-standing pensioner: started before the earliest planted fraudulent death.
FRAUD_HORIZON_MONTHS = 30
CAUSES = ("disease", "accident", "other")
CAUSE_WEIGHTS = (0.86, 0.08, 0.06)


@dataclass(frozen=True)
class Lives:
    """Per-person life events, aligned with `People`."""

    status: Array  # ACTIVE / DECEASED / EMIGRATED
    death: Array  # datetime64[D], NaT while alive
    employee: Array  # worked for an employer (employee schemes), else the resident schemes
    pension_start: Array  # datetime64[D], NaT for non-pensioners
    paid_after_death: Array  # planted fraud: dead, and the pension office never learnt of it
    disabled: Array  # holds a disability certificate

    @property
    def pensioner(self) -> Array:
        result: Array = ~np.isnat(self.pension_start)
        return result


def annual_mortality(age: Array) -> Array:
    """A Gompertz curve through China's life tables: 0.5% at 60, 3% at 80, 7.5% at 90."""
    result: Array = 0.0006 + 0.005 * np.exp(0.09 * (age - 60))
    return result


def draw_lives(seed: int, people: People) -> Lives:
    employee = _employment(stream(seed, "lives.employment"), people)
    pension_start = _pensions(stream(seed, "lives.pension"), people, employee)
    pensioner = ~np.isnat(pension_start)
    fraud, death = _pensioner_deaths(stream(seed, "lives.pensioner_deaths"), people, pension_start)
    emigrated = _emigration(stream(seed, "lives.emigration"), people, pensioner)
    others = ~pensioner & ~emigrated
    death = np.where(others, _other_deaths(stream(seed, "lives.deaths"), people), death)
    status = np.where(np.isnat(death), np.where(emigrated, EMIGRATED, ACTIVE), DECEASED)
    disabled = _disability(stream(seed, "lives.disability"), people, emigrated)
    return Lives(status.astype(np.int8), death, employee, pension_start, fraud, disabled)


def _employment(rng: np.random.Generator, people: People) -> Array:
    share = np.where(people.chengdu, CHENGDU_EMPLOYEE_SHARE, EMPLOYEE_SHARE)
    result: Array = (people.age >= ADULT_AGE) & (rng.random(len(people)) < share)
    return result


def _pensions(rng: np.random.Generator, people: People, employee: Array) -> Array:
    """Pension start: the month after reaching retirement age, for those who took one up.

    Employees retire at 60 (men, some at 55 in arduous jobs) or 50/55 (women, workers and
    cadres); the resident scheme pays from 60.
    """
    size = len(people)
    draw = rng.random(size)
    woman_age = np.where(draw < 0.6, 50, 55)
    man_age = np.where(draw < 0.1, 55, 60)
    retire_at = np.where(employee, np.where(people.male, man_age, woman_age), 60)
    start = (add_years(people.birth, retire_at).astype("datetime64[M]") + 1).astype(
        "datetime64[D]"
    )
    take_up = np.where(people.sichuan, PENSION_TAKE_UP, PENSION_TAKE_UP_ELSEWHERE)
    takes = (start <= TODAY) & (rng.random(size) < take_up)
    result: Array = np.where(takes, start, NAT)
    return result


def _pensioner_deaths(
    rng: np.random.Generator, people: People, pension_start: Array
) -> tuple[Array, Array]:
    """Planted frauds (died up to 30 months ago, still paid) and honest deaths in the window."""
    size = len(people)
    horizon = add_months(np.array([TODAY]), -FRAUD_HORIZON_MONTHS)[0]
    long_standing = np.flatnonzero(pension_start <= horizon)
    pensioners = np.count_nonzero(~np.isnat(pension_start))
    count = min(max(MIN_FRAUD_DEATHS, round(FRAUD_DEATH_RATE * pensioners)), len(long_standing))
    fraud = np.zeros(size, dtype=bool)
    fraud[rng.choice(long_standing, size=count, replace=False)] = True
    dies = rng.random(size) < annual_mortality(people.age)
    dies &= (pension_start <= WINDOW_START) & ~fraud
    death = np.full(size, NAT)
    death[fraud] = uniform_dates(rng, horizon, TODAY - days(1), int(fraud.sum()))
    death[dies] = uniform_dates(rng, WINDOW_START + days(1), TODAY, int(dies.sum()))
    return fraud, death


def _emigration(rng: np.random.Generator, people: People, pensioner: Array) -> Array:
    working_age = (people.age >= 18) & (people.age < 60)
    result: Array = working_age & ~pensioner & (rng.random(len(people)) < EMIGRATION_RATE)
    return result


def _other_deaths(rng: np.random.Generator, people: People) -> Array:
    """Deaths over the last six years, at each age's mortality (no one dies before birth)."""
    size = len(people)
    dies = rng.random(size) < DEATH_HISTORY_YEARS * annual_mortality(people.age)
    earliest = np.maximum(people.birth, TODAY - years(DEATH_HISTORY_YEARS))
    result: Array = np.where(dies, uniform_dates(rng, earliest, TODAY, size), NAT)
    return result


def _disability(rng: np.random.Generator, people: People, emigrated: Array) -> Array:
    """Certificates are commoner with age (most disability is acquired)."""
    weight = np.select([people.age < 18, people.age < 60], [0.4, 0.9], 2.2)
    result: Array = ~emigrated & (rng.random(len(people)) < DISABILITY_RATE * weight)
    return result


def deaths_rows(seed: int, people: People, lives: Lives) -> Rows:
    """public_security.deaths: exactly one row per deceased resident, in order of death."""
    rng = stream(seed, "deaths")
    owner = np.flatnonzero(lives.status == DECEASED)
    owner = owner[np.argsort(lives.death[owner], kind="stable")]
    return Rows(owner, {
        "id_no": people.id_no[owner],
        "death_date": lives.death[owner],
        "region_code": people.region_code[owner],
        "cause_category": labels(CAUSES)[pick(rng, CAUSE_WEIGHTS, len(owner))],
    })
