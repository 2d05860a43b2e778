"""The demo world's calendar, and vectorised date arithmetic over numpy ``datetime64[D]`` arrays.

Everything happens relative to ``AS_OF``, the world's "today"; the scenarios' date literals are
computed from it. Verification looks at the half-open window ``(WINDOW_START, AS_OF]``: records
dated on ``WINDOW_START`` itself are just outside, and the generator plants some there on purpose.
"""

from __future__ import annotations

import zlib
from datetime import date
from typing import Any

import numpy as np

from gateway.demo.rows import Array

AS_OF = date(2026, 11, 1)
TODAY = np.datetime64(AS_OF, "D")
WINDOW_START = np.datetime64(date(AS_OF.year - 1, AS_OF.month, AS_OF.day), "D")
# The departments' records reach a quarter further back than the window, so that some of them
# fall just outside it.
HISTORY_START = (WINDOW_START.astype("datetime64[M]") - 3).astype("datetime64[D]")
# Pensions are paid monthly; `pay_month` is the first day of each of the twelve months up to AS_OF.
PAY_MONTHS: Array = np.arange(
    np.datetime64(AS_OF, "M") - 11, np.datetime64(AS_OF, "M") + 1, dtype="datetime64[M]"
).astype("datetime64[D]")

NAT = np.datetime64("NaT", "D")
DAYS_PER_YEAR = 365.2425


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per purpose, so that changing one table leaves the others."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def add_months(days: Array, months: Array | int) -> Array:
    """Same day-of-month ``months`` later, clamped to the month's end (29 Feb -> 28 Feb)."""
    month = days.astype("datetime64[M]")
    target = month + np.asarray(months, dtype=np.int64)
    day_offset = days - month.astype("datetime64[D]")
    last_day = (target + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    result: Array = np.minimum(target.astype("datetime64[D]") + day_offset, last_day)
    return result


def add_years(days: Array, years: Array | int) -> Array:
    """Same date ``years`` later (birthdays, retirement dates)."""
    return add_months(days, np.asarray(years, dtype=np.int64) * 12)


def age_on(birth: Array, on: np.datetime64) -> Array:
    """Completed years of age on the date ``on`` (a birthday counts from its own day)."""
    years = on.astype("datetime64[Y]").astype(np.int64) - birth.astype("datetime64[Y]").astype(
        np.int64
    )
    not_yet = add_years(birth, years) > on
    result: Array = years - not_yet
    return result


def uniform_dates(rng: np.random.Generator, low: Any, high: Any, size: int) -> Array:
    """Dates drawn uniformly from ``[low, high]`` (both inclusive; scalars or arrays)."""
    low_d = np.asarray(low, dtype="datetime64[D]")
    span = (np.asarray(high, dtype="datetime64[D]") - low_d).astype(np.int64) + 1
    offset = np.floor(rng.random(size) * np.maximum(span, 1)).astype(np.int64)
    result: Array = low_d + offset.astype("timedelta64[D]")
    return result


def years(n: float) -> np.timedelta64:
    """A duration of about ``n`` years, in days, for coarse date ranges."""
    return np.timedelta64(round(n * DAYS_PER_YEAR), "D")


def days(n: int) -> np.timedelta64:
    return np.timedelta64(n, "D")
