"""Prison terms (justice.incarcerations), and the planted pensions paid while in prison.

Pensioners' terms come in three kinds: paid throughout a recent term (the fraud cases, about
0.1% of pensioners), a recent term during which the pension office did suspend payment (which
must not be reported), and old terms that ended long before the payment window. Other residents
serve or have served terms too, some of them twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.demo.lives import ACTIVE, Lives
from gateway.demo.people import People
from gateway.demo.rows import Array, Rows, labels, sample
from gateway.demo.timeline import (
    NAT,
    PAY_MONTHS,
    TODAY,
    add_months,
    add_years,
    days,
    stream,
    uniform_dates,
    years,
)

FACILITIES = tuple(f"SCJY{n:03d}" for n in range(1, 19))
PRISON_FRAUD_RATE = 0.001  # of pensioners
SUSPENDED_RATE = 0.0005
PAST_TERM_RATE = 0.001
MIN_PLANTED = 2  # of each pensioner kind, so that a small test world holds some
SERVING_RATE = 0.003  # of working-age residents
SERVED_RATE = 0.003
REPEAT_SHARE = 0.2  # of those serving now who served an earlier term
RELEASED_SHARE = 0.3  # of recent pensioner terms that already ended


@dataclass(frozen=True)
class Terms:
    """Prison terms: one entry per term (a person may have two)."""

    owner: Array
    start: Array
    end: Array  # NaT while serving
    suspends_pension: Array  # the pension office stopped payment for this term

    def served_between(self, size: int, low: np.datetime64, high: np.datetime64) -> Array:
        """Per person: in prison at any time in ``[low, high]``."""
        overlaps = (self.start <= high) & (np.where(np.isnat(self.end), TODAY, self.end) >= low)
        result: Array = np.zeros(size, dtype=bool)
        result[self.owner[overlaps]] = True
        return result

    def rows(self, seed: int, people: People) -> Rows:
        """justice.incarcerations, in order of admission."""
        rng = stream(seed, "incarcerations")
        order = np.argsort(self.start, kind="stable")
        facility = labels(FACILITIES)[rng.integers(0, len(FACILITIES), len(order))]
        return Rows(self.owner[order], {
            "id_no": people.id_no[self.owner[order]],
            "facility_code": facility,
            "start_date": self.start[order],
            "end_date": self.end[order],
        })


def draw_terms(seed: int, people: People, lives: Lives) -> Terms:
    rng = stream(seed, "justice")
    parts = [*_pensioner_terms(rng, lives), *_other_terms(rng, people, lives)]
    return Terms(*(np.concatenate([part[i] for part in parts]) for i in range(4)))


_Part = tuple[Array, Array, Array, Array]


def _pensioner_terms(rng: np.random.Generator, lives: Lives) -> list[_Part]:
    living = rng.permutation(np.flatnonzero(lives.pensioner & (lives.status == ACTIVE)))
    counts = [max(MIN_PLANTED, round(rate * lives.pensioner.sum()))
              for rate in (PRISON_FRAUD_RATE, SUSPENDED_RATE, PAST_TERM_RATE)]
    fraud, suspended, past = np.split(living[: sum(counts)], np.cumsum(counts)[:2])
    return [
        (fraud, *_recent_term(rng, len(fraud)), _paid(len(fraud))),
        (suspended, *_recent_term(rng, len(suspended)), ~_paid(len(suspended))),
        (past, *_old_term(rng, len(past)), _paid(len(past))),
    ]


def _recent_term(rng: np.random.Generator, size: int) -> tuple[Array, Array]:
    """A term overlapping the payment window by at least one pay month."""
    start = uniform_dates(rng, add_months(np.array([TODAY]), -24)[0], TODAY - days(32), size)
    released = np.maximum(start, PAY_MONTHS[0]) + rng.integers(35, 300, size).astype("m8[D]")
    end = np.where(rng.random(size) < RELEASED_SHARE, np.minimum(released, TODAY), NAT)
    return start, end


def _old_term(rng: np.random.Generator, size: int) -> tuple[Array, Array]:
    """A term that ended at least a year before today (so before the first pay month)."""
    start = uniform_dates(rng, TODAY - years(30), TODAY - years(5), size)
    end = start + rng.integers(365, 4 * 365, size).astype("m8[D]")
    return start, end


def _other_terms(rng: np.random.Generator, people: People, lives: Lives) -> list[_Part]:
    """Working-age residents, mostly young men: some serving now, some released."""
    candidates = np.flatnonzero(
        (lives.status == ACTIVE) & ~lives.pensioner & (people.age >= 20) & (people.age < 65)
    )
    weight = np.where(people.male[candidates], 12.0, 1.0) * np.where(
        people.age[candidates] < 45, 2.0, 1.0
    )
    serving_count = round(SERVING_RATE * len(candidates))
    served_count = round(SERVED_RATE * len(candidates))
    chosen = sample(rng, candidates, weight, serving_count + served_count, replace=False)
    serving, served = chosen[:serving_count], chosen[serving_count:]
    adult = add_years(people.birth, 18)
    serving_start = uniform_dates(
        rng, np.maximum(adult[serving], TODAY - years(8)), TODAY - days(7), len(serving)
    )
    served_start = uniform_dates(
        rng, np.maximum(adult[served], TODAY - years(20)), TODAY - years(1), len(served)
    )
    served_end = np.minimum(
        served_start + rng.integers(180, 5 * 365, len(served)).astype("m8[D]"), TODAY - days(1)
    )
    return [
        (serving, serving_start, np.full(len(serving), NAT), _paid(len(serving))),
        (served, served_start, served_end, _paid(len(served))),
        _earlier_terms(rng, serving, serving_start, adult),
    ]


def _earlier_terms(
    rng: np.random.Generator, serving: Array, serving_start: Array, adult: Array
) -> _Part:
    """Earlier, ended terms for some of those serving now (kept only if served as an adult)."""
    repeat = rng.random(len(serving)) < REPEAT_SHARE
    end = serving_start - rng.integers(365, 3 * 365, len(serving)).astype("m8[D]")
    start = end - rng.integers(180, 3 * 365, len(serving)).astype("m8[D]")
    keep = repeat & (start >= adult[serving])
    return serving[keep], start[keep], end[keep], _paid(int(keep.sum()))


def _paid(size: int) -> Array:
    """``suspends_pension`` for terms during which nobody stopped a pension."""
    return np.zeros(size, dtype=bool)
