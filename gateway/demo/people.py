"""The residents: who they are (region, birth, sex, identity number, name), and their registry rows.

Ages follow the shape of Sichuan's 2020 census pyramid (an old province: about 23% are 60 or
over), so that pensioners come out near a fifth of the residents.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.demo import idcard
from gateway.demo.names import (
    FEMALE_CHARS,
    MALE_CHARS,
    OLDER_FEMALE_NAMES,
    OLDER_MALE_NAMES,
    SURNAMES,
)
from gateway.demo.regions import REGIONS, STREETS
from gateway.demo.rows import STRING, Array, Rows, choose, column, labels, pick, strings
from gateway.demo.timeline import DAYS_PER_YEAR, TODAY, age_on, stream

# Relative size of each 5-year age band, 0-4 up to 95-99.
AGE_BANDS = (
    4.5, 5.5, 5.6, 5.0, 5.0, 6.0, 8.0, 7.0, 6.5, 8.0, 8.5, 7.0, 6.0, 6.0, 4.5, 3.0, 2.0, 1.1,
    0.4, 0.1,
)
MALE_SHARE = 0.51
# People whose identity number was issued in another region than their current hukou.
MOVED_SHARE = 0.08
# People who live away from their hukou region live in Chengdu.
LIVES_IN_CHENGDU_SHARE = 0.15
# China Mobile, Unicom and Telecom number blocks.
PHONE_PREFIXES = (
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182",
    "183", "187", "188", "198", "130", "131", "132", "155", "156", "185", "186", "166", "133",
    "153", "180", "181", "189", "177", "199",
)
PHONE_FROM_AGE = 14  # children have no phone of their own on file
NO_PHONE_SHARE = 0.02
OLDER_GENERATION = np.datetime64("1965-01-01")

REGION_CODES = np.array([int(r.code) for r in REGIONS], dtype=np.int64)
REGION_TEXT = labels([r.code for r in REGIONS])
REGION_PREFIX = strings([r.prefix for r in REGIONS])
REGION_WEIGHTS = tuple(r.weight for r in REGIONS)
CHENGDU = np.flatnonzero(REGION_CODES // 100 == 5101)
SICHUAN = REGION_CODES // 10_000 == 51


@dataclass(frozen=True)
class People:
    """Per-person arrays, all of the world's length; a person is an index into them."""

    hukou: Array  # index into REGIONS
    birth: Array  # datetime64[D]
    male: Array
    id_no: Array
    name: Array
    age: Array  # completed years on AS_OF

    def __len__(self) -> int:
        return len(self.birth)

    @property
    def region_code(self) -> Array:
        """The hukou region code of each person, as text."""
        result: Array = REGION_TEXT[self.hukou]
        return result

    @property
    def sichuan(self) -> Array:
        result: Array = SICHUAN[self.hukou]
        return result

    @property
    def chengdu(self) -> Array:
        result: Array = np.isin(self.hukou, CHENGDU)
        return result


def draw_regions(rng: np.random.Generator, size: int) -> Array:
    return pick(rng, REGION_WEIGHTS, size)


def draw_chengdu(rng: np.random.Generator, size: int) -> Array:
    """Chengdu districts, weighted by population: where migrants live and work."""
    weights = tuple(REGIONS[i].weight for i in CHENGDU)
    result: Array = CHENGDU[pick(rng, weights, size)]
    return result


def draw_births(rng: np.random.Generator, size: int) -> Array:
    band = pick(rng, AGE_BANDS, size)
    age_days = ((band + rng.random(size)) * 5 * DAYS_PER_YEAR).astype(np.int64)
    result: Array = TODAY - age_days.astype("timedelta64[D]")
    return result


def draw_names(rng: np.random.Generator, male: Array, birth: Array) -> Array:
    """Surname plus a one- or two-character given name; older people often have a classic one.

    Names are drawn as integer codes into a table of every possible given name, so the strings
    come from one lookup instead of several passes of per-person concatenation.
    """
    size = len(male)
    surname = pick(rng, tuple(w for _, w in SURNAMES), size)
    two = rng.random(size) < 0.8
    older = (birth < OLDER_GENERATION) & (rng.random(size) < 0.3)
    his = _given_codes(rng, len(MALE_CHARS), len(OLDER_MALE_NAMES), two, older)
    hers = _given_codes(rng, len(FEMALE_CHARS), len(OLDER_FEMALE_NAMES), two, older)
    given = np.where(male, his, len(_MALE_GIVEN) + hers)
    result: Array = np.strings.add(_SURNAMES[surname], _GIVEN[given])
    return result


def _given_table(chars: str, classic: tuple[str, ...]) -> list[str]:
    """Every one-character name, then every two-character pair, then the classic names."""
    return list(chars) + [a + b for a in chars for b in chars] + list(classic)


def _given_codes(
    rng: np.random.Generator, chars: int, classic: int, two: Array, older: Array
) -> Array:
    """Codes into `_given_table`'s layout for one sex."""
    size = len(two)
    first, second = rng.integers(0, chars, size), rng.integers(0, chars, size)
    code = np.where(two, chars + first * chars + second, first)
    result: Array = np.where(older, chars + chars * chars + rng.integers(0, classic, size), code)
    return result


_SURNAMES = strings([s for s, _ in SURNAMES])
_MALE_GIVEN = _given_table(MALE_CHARS, OLDER_MALE_NAMES)
_GIVEN = strings(_MALE_GIVEN + _given_table(FEMALE_CHARS, OLDER_FEMALE_NAMES))


def draw_people(seed: int, size: int) -> People:
    hukou = draw_regions(stream(seed, "people.hukou"), size)
    birth = draw_births(stream(seed, "people.birth"), size)
    male = stream(seed, "people.sex").random(size) < MALE_SHARE
    id_no = column(_id_numbers(seed, hukou, birth, male))
    name = column(draw_names(stream(seed, "people.name"), male, birth))
    return People(hukou, birth, male, id_no, name, age_on(birth, TODAY))


def _id_numbers(seed: int, hukou: Array, birth: Array, male: Array) -> Array:
    """Numbers carry the region that issued them: usually the hukou, sometimes an earlier one."""
    rng = stream(seed, "people.id_no")
    moved = rng.random(len(hukou)) < MOVED_SHARE
    issued = REGION_CODES[np.where(moved, draw_regions(rng, len(hukou)), hukou)]
    return idcard.compose(issued, birth, idcard.sequences(issued, birth, male, rng))


def residents_rows(seed: int, people: People, status: Array) -> Rows:
    """public_security.residents, in registration order (one row per person)."""
    rng = stream(seed, "residents")
    return Rows(np.arange(len(people)), {
        "id_no": people.id_no,
        "name": people.name,
        "gender": choose(people.male, "M", "F"),
        "birth_date": people.birth,
        "hukou_region_code": people.region_code,
        "address": addresses(rng, people.hukou),
        "phone": phones(rng, people.age),
        "status": labels(("active", "deceased", "emigrated"))[status],
    })


def addresses(rng: np.random.Generator, hukou: Array) -> Array:
    """``<province><city><district><street><number>号``; some live in Chengdu, away from hukou."""
    size = len(hukou)
    away = rng.random(size) < LIVES_IN_CHENGDU_SHARE
    where = np.where(away, draw_chengdu(rng, size), hukou)
    street = strings(STREETS)[rng.integers(0, len(STREETS), size)]
    number = np.strings.add(rng.integers(1, 400, size).astype(STRING), "号")
    return column(np.strings.add(np.strings.add(REGION_PREFIX[where], street), number))


def phones(rng: np.random.Generator, age: Array) -> Array:
    """Mobile numbers; null for children and for a few adults who gave none."""
    size = len(age)
    prefix = strings(PHONE_PREFIXES)[rng.integers(0, len(PHONE_PREFIXES), size)]
    line = np.strings.zfill(rng.integers(0, 100_000_000, size).astype(STRING), 8)
    result = column(np.strings.add(prefix, line))
    result[(age < PHONE_FROM_AGE) | (rng.random(size) < NO_PHONE_SHARE)] = None
    return result
