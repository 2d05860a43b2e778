"""Resident identity numbers (GB 11643-1999): region, birth date, sequence and check character.

``510104 19900101 123 4``: a 6-digit region code, the birth date, a 3-digit sequence whose
parity gives the sex (odd = male), and an ISO 7064 MOD 11-2 check character (``0-9`` or ``X``).
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np

from gateway.demo.rows import STRING, Array

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
MAX_PER_DAY = 499  # sequences per region, birth date and sex: 001..997 odd, 002..998 even

_SHAPE = re.compile(r"\d{17}[\dX]")


def check_char(body: str) -> str:
    """The check character for the first 17 digits."""
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def is_valid(id_no: str) -> bool:
    """Well-formed, a real calendar date, and the right check character."""
    if not _SHAPE.fullmatch(id_no):
        return False
    try:
        date(int(id_no[6:10]), int(id_no[10:12]), int(id_no[12:14]))
    except ValueError:
        return False
    return id_no[17] == check_char(id_no[:17])


def yyyymmdd(days: Array) -> Array:
    """Dates as integers 19900101 (the middle of an identity number)."""
    year = days.astype("datetime64[Y]").astype(np.int64) + 1970
    month = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    result: Array = year * 10_000 + month * 100 + day
    return result


def sequences(region: Array, birth: Array, male: Array, rng: np.random.Generator) -> Array:
    """A sequence per person, unique among people of the same region, birth date and sex.

    Each group starts at a random point and counts on from there, as registration offices do.
    """
    key = region.astype(np.int64) * 100_000_000 + yyyymmdd(birth)
    start = rng.integers(0, MAX_PER_DAY, size=len(key))
    order = np.lexsort((start, male, key))
    sorted_key, sorted_male = key[order], male[order]
    new_group = np.ones(len(key), dtype=bool)
    new_group[1:] = (sorted_key[1:] != sorted_key[:-1]) | (sorted_male[1:] != sorted_male[:-1])
    group_first = np.maximum.accumulate(np.where(new_group, np.arange(len(key)), 0))
    rank = np.arange(len(key)) - group_first
    if len(key) and rank.max() >= MAX_PER_DAY:
        raise ValueError("too many people born on one day in one region")
    half = np.empty(len(key), dtype=np.int64)
    half[order] = (start[order][group_first] + rank) % MAX_PER_DAY
    result: Array = 2 * half + np.where(male, 1, 2)
    return result


def compose(region: Array, birth: Array, seq: Array) -> Array:
    """Full 18-character numbers (numpy ``StringDType``) from their parts."""
    body = region.astype(np.int64) * 100_000_000_000 + yyyymmdd(birth) * 1000 + seq
    total = np.zeros(len(body), dtype=np.int64)
    for position, weight in enumerate(WEIGHTS):
        total += (body // 10 ** (16 - position)) % 10 * weight
    checks = np.array(list(CHECK_CHARS), dtype=STRING)[total % 11]
    result: Array = np.strings.add(body.astype(STRING), checks)
    return result
