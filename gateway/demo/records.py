"""Records the other departments keep: hospital stays, trips and disability certificates.

Hospital stays and trips are what silent verification looks for, so they are planned around the
pensioners: every living pensioner shows up in at least one record inside the window, except a
planted share who are alive but unverified. Some of those have a record dated exactly on
``WINDOW_START``, which is outside the half-open window; trips on that day leave in the evening,
so only comparing dates (not timestamps) gets them right. Nobody dead, emigrated or in prison
shows up at all. The remaining records go to residents at rates that vary with age.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gateway.demo.justice import Terms
from gateway.demo.lives import ACTIVE, Lives
from gateway.demo.people import REGION_TEXT, REGION_WEIGHTS, People, draw_chengdu
from gateway.demo.regions import DISTANT_DESTINATIONS, REGIONS
from gateway.demo.rows import STRING, Array, Rows, column, labels, pick, sample, strings
from gateway.demo.timeline import (
    HISTORY_START,
    NAT,
    TODAY,
    WINDOW_START,
    add_years,
    days,
    stream,
    uniform_dates,
)

HOSPITAL_RATE = 0.15  # stays per resident per year
TRIP_RATE = 0.30
HIDDEN_SHARE = 0.08  # of living pensioners: alive, but no record in the window
EDGE_SHARE = 0.25  # of those, with a record on WINDOW_START itself
PROOF_BY_HOSPITAL = 0.3  # the rest show up on a trip
PROOF_TODAY_SHARE = 0.02  # proofs dated on AS_OF, the window's inclusive end
RECORD_ID_BASE = 5_100_000_000
TRIP_ID_BASE = 80_000_000_000

ELDERLY_DIAGNOSES = (
    "I63.9", "I21.0", "I10", "I50.9", "J44.1", "J18.9", "E11.9", "N18.5", "C34.9", "H25.9",
    "M17.9", "S72.0", "I25.1", "K80.2",
)
GENERAL_DIAGNOSES = (
    "J18.9", "K35.8", "K80.2", "J20.9", "A09.9", "N20.0", "S82.2", "K29.7", "S52.5", "J03.9",
)
CHILDBIRTH = "O80.0"
CATEGORIES = ("visual", "hearing", "physical", "intellectual", "mental", "multiple")
CATEGORY_WEIGHTS = (0.13, 0.12, 0.48, 0.08, 0.09, 0.10)
GRADE_WEIGHTS = (0.15, 0.25, 0.30, 0.30)
CERTIFICATES_FROM = np.datetime64("2008-04-01")  # the second-generation certificate
_REGION_CODES = strings([r.code for r in REGIONS])


@dataclass(frozen=True)
class Events:
    """Who shows up on which day, before the rows' other columns are drawn."""

    owner: Array
    day: Array

    def __len__(self) -> int:
        return len(self.owner)

    def __add__(self, other: Events) -> Events:
        return Events(
            np.concatenate([self.owner, other.owner]), np.concatenate([self.day, other.day])
        )


def hospital_weight(people: People) -> Array:
    age = people.age
    weight = np.select(
        [age < 5, age < 15, age < 45, age < 60, age < 70, age < 80],
        [0.12, 0.04, 0.06, 0.10, 0.22, 0.35], 0.5,
    )
    mothers = ~people.male & (age >= 20) & (age < 40)
    result: Array = weight + np.where(mothers, 0.08, 0.0)
    return result


def trip_weight(people: People) -> Array:
    age = people.age
    result: Array = np.select(
        [age < 5, age < 18, age < 30, age < 60, age < 70, age < 80],
        [0.1, 0.25, 0.6, 0.5, 0.3, 0.15], 0.05,
    )
    return result


def plan_events(seed: int, people: People, lives: Lives, terms: Terms) -> tuple[Events, Events]:
    """Hospital stays and trips, as (owner, day) pairs."""
    rng = stream(seed, "records.plan")
    size = len(people)
    free = (lives.status == ACTIVE) & ~terms.served_between(size, HISTORY_START, TODAY)
    living_pensioner = lives.pensioner & free
    hidden = living_pensioner & (rng.random(size) < HIDDEN_SHARE)
    proven = np.flatnonzero(living_pensioner & ~hidden)
    by_hospital = rng.random(len(proven)) < PROOF_BY_HOSPITAL
    proof_day = _window_days(rng, len(proven))
    proof_day[rng.random(len(proven)) < PROOF_TODAY_SHARE] = TODAY
    edge = np.flatnonzero(hidden)[rng.random(int(hidden.sum())) < EDGE_SHARE]
    edge_by_hospital = rng.random(len(edge)) < PROOF_BY_HOSPITAL
    plans = []
    for rate, weight, mine, edges in (
        (HOSPITAL_RATE, hospital_weight(people), by_hospital, edge_by_hospital),
        (TRIP_RATE, trip_weight(people), ~by_hospital, ~edge_by_hospital),
    ):
        proof = Events(proven[mine], proof_day[mine])
        edge_events = Events(edge[edges], np.full(int(edges.sum()), WINDOW_START))
        background = _background(rng, people, rate, weight, free & ~hidden, free, len(proof))
        plans.append(proof + edge_events + background)
    return plans[0], plans[1]


def _window_days(rng: np.random.Generator, size: int) -> Array:
    return uniform_dates(rng, WINDOW_START + days(1), TODAY, size)


def _background(
    rng: np.random.Generator,
    people: People,
    rate: float,
    weight: Array,
    in_window: Array,
    before_window: Array,
    planted: int,
) -> Events:
    """Everyone else's records: ``rate`` per resident and year, the planted ones included."""
    window_count = max(0, round(rate * len(people)) - planted)
    history_days = int((WINDOW_START - HISTORY_START).astype(np.int64))
    history_count = round(rate * len(people) * history_days / 365)
    inside = _sample(rng, in_window, weight, window_count)
    before = _sample(rng, before_window, weight, history_count)
    day = np.concatenate([
        _window_days(rng, len(inside)),
        uniform_dates(rng, HISTORY_START, WINDOW_START - days(1), len(before)),
    ])
    owner = np.concatenate([inside, before])
    return Events(owner, np.maximum(day, people.birth[owner]))  # nobody travels before birth


def _sample(rng: np.random.Generator, allowed: Array, weight: Array, count: int) -> Array:
    candidates = np.flatnonzero(allowed)
    return sample(rng, candidates, weight[candidates], count, replace=True)


def hospitalization_rows(seed: int, people: People, events: Events) -> Rows:
    """medical_insurance.hospitalizations, numbered in order of admission."""
    rng = stream(seed, "hospitalizations")
    order = np.argsort(events.day, kind="stable")
    owner, admitted = events.owner[order], events.day[order]
    size = len(owner)
    stay = np.minimum(1 + rng.geometric(0.13, size), 90)
    discharged = admitted + stay.astype("m8[D]")
    cost = stay * rng.lognormal(np.log(900), 0.5, size) + rng.lognormal(np.log(2500), 0.6, size)
    return Rows(owner, {
        "record_id": RECORD_ID_BASE + np.arange(1, size + 1),
        "id_no": people.id_no[owner],
        "hospital_code": _hospital_codes(rng, people.hukou[owner]),
        "admitted_on": admitted,
        "discharged_on": np.where(discharged > TODAY, NAT, discharged),  # still in hospital
        "diagnosis_code": _diagnoses(rng, people, owner),
        "total_cost": np.rint(cost * 100) / 100,
    })


def _hospital_codes(rng: np.random.Generator, hukou: Array) -> Array:
    """Designated-hospital codes: ``H`` + region + 5 digits; a quarter go to Chengdu hospitals."""
    size = len(hukou)
    where = np.where(rng.random(size) < 0.25, draw_chengdu(rng, size), hukou)
    number = np.strings.zfill((1 + rng.geometric(0.15, size)).astype(STRING), 5)
    return column(np.strings.add(np.strings.add("H", _REGION_CODES[where]), number))


def _diagnoses(rng: np.random.Generator, people: People, owner: Array) -> Array:
    size = len(owner)
    age, male = people.age[owner], people.male[owner]
    elderly = labels(ELDERLY_DIAGNOSES)[rng.integers(0, len(ELDERLY_DIAGNOSES), size)]
    general = labels(GENERAL_DIAGNOSES)[rng.integers(0, len(GENERAL_DIAGNOSES), size)]
    birth = ~male & (age >= 20) & (age < 40) & (rng.random(size) < 0.5)
    result: Array = np.where(age >= 60, elderly, np.where(birth, CHILDBIRTH, general))
    return result


def trip_rows(seed: int, people: People, events: Events) -> Rows:
    """transport.trips, numbered in order of departure."""
    rng = stream(seed, "trips")
    size = len(events.owner)
    departed = events.day.astype("datetime64[s]") + _departure_seconds(rng, events.day)
    order = np.argsort(departed, kind="stable")
    owner, departed = events.owner[order], departed[order]
    origin = np.where(rng.random(size) < 0.65, REGION_TEXT[people.hukou[owner]],
                      REGION_TEXT[pick(rng, REGION_WEIGHTS, size)])
    nearby = REGION_TEXT[pick(rng, REGION_WEIGHTS, size)]
    distant = (rng.random(size) < 0.25) | (nearby == origin)
    far = labels(DISTANT_DESTINATIONS)[rng.integers(0, len(DISTANT_DESTINATIONS), size)]
    # Far trips go by rail or air, near ones by rail or coach.
    mode = np.where(distant, pick(rng, (0.55, 0.45), size), pick(rng, (0.5, 0.0, 0.5), size))
    return Rows(owner, {
        "trip_id": TRIP_ID_BASE + np.arange(1, size + 1),
        "id_no": people.id_no[owner],
        "mode": labels(("rail", "air", "coach"))[mode],
        "departed_at": departed,
        "origin_code": origin,
        "destination_code": np.where(distant, far, nearby),
    })


def _departure_seconds(rng: np.random.Generator, day: Array) -> Array:
    """06:00-22:55 in five-minute steps; trips on WINDOW_START leave after 19:00."""
    size = len(day)
    evening = 19 * 60 + 5 * rng.integers(0, 48, size)
    daytime = 6 * 60 + 5 * rng.integers(0, 204, size)
    minutes = np.where(day == WINDOW_START, evening, daytime)
    result: Array = (minutes * 60).astype("m8[s]")
    return result


def certificate_rows(seed: int, people: People, lives: Lives) -> Rows:
    """disabled_persons.certificates: one per disabled person, in order of issue."""
    rng = stream(seed, "certificates")
    owner = np.flatnonzero(lives.disabled)
    size = len(owner)
    latest = np.where(np.isnat(lives.death[owner]), TODAY, lives.death[owner])
    earliest = np.maximum(add_years(people.birth[owner], 1), CERTIFICATES_FROM)
    issued = uniform_dates(rng, np.minimum(earliest, latest), latest, size)
    order = np.argsort(issued, kind="stable")
    owner = owner[order]
    return Rows(owner, {
        "id_no": people.id_no[owner],
        "category": labels(CATEGORIES)[pick(rng, CATEGORY_WEIGHTS, size)],
        "grade": 1 + pick(rng, GRADE_WEIGHTS, size),
        "issued_on": issued[order],
    })
