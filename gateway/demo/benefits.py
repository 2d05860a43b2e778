"""Social security's own tables: who is insured, who draws a pension, and the monthly payments.

About 88% of active adult Sichuan residents are insured: every pensioner, and most others at
rates that vary with age (students and the never-enrolled elderly are the gaps). Disabled
residents are insured less often, which is why the coverage scenario flags them.
"""

from __future__ import annotations

import numpy as np

from gateway.demo.justice import Terms
from gateway.demo.lives import ACTIVE, ADULT_AGE, Lives
from gateway.demo.people import REGION_TEXT, People, draw_chengdu
from gateway.demo.rows import STRING, Array, Rows, choose, column, labels, pick
from gateway.demo.timeline import PAY_MONTHS, TODAY, add_years, days, stream, uniform_dates

# Share insured among active Sichuan residents who draw no pension, by age band.
COVERAGE_BY_AGE = ((23, 0.70), (60, 0.895))
COVERAGE_OLD = 0.5
COVERAGE_ELSEWHERE = 0.45  # hukou outside Sichuan: insured only if they work here
COVERAGE_GONE = 0.7  # deceased or emigrated residents keep their (terminated) records
DISABLED_GAP = 1.8  # disabled residents are uninsured this many times as often
UNEMPLOYMENT_SHARE = 0.75  # of employees, also insured against unemployment
WORK_INJURY_SHARE = 0.65
WORKS_IN_CHENGDU_SHARE = 0.25
EMPLOYEE_SCHEME_FROM = np.datetime64("1995-01-01")
RESIDENT_SCHEME_FROM = np.datetime64("2009-10-01")  # the rural (later: resident) pension pilot
INSURANCE_TYPES = ("employee_pension", "resident_pension", "unemployment", "work_injury")
STATUSES = ("active", "suspended", "terminated")
LIVING_STATUS_WEIGHTS = (0.93, 0.06, 0.01)
TERMINATED = 2
# Debit-card BINs of the banks that pay pensions (ICBC, CCB, ABC, BOC, PSBC).
BANK_BINS = (
    "622202", "621226", "621700", "622700", "622848", "621661", "623668", "621098", "622188",
    "621799",
)


def insured_rows(seed: int, people: People, lives: Lives) -> Rows:
    """social_security.insured: a pension row per insured person, plus unemployment and work
    injury rows for working employees; in order of enrolment. A person's rows share the
    enrolment date, the insuring office and the status."""
    rng = stream(seed, "insured")
    covered = np.flatnonzero(_covered(rng, people, lives))
    working = lives.employee & ~lives.pensioner & (lives.status == ACTIVE)
    unemployment = covered[working[covered] & (rng.random(len(covered)) < UNEMPLOYMENT_SHARE)]
    injury = covered[working[covered] & (rng.random(len(covered)) < WORK_INJURY_SHARE)]
    owner = np.concatenate([covered, unemployment, injury])
    kind = np.concatenate([
        np.where(lives.employee[covered], 0, 1),
        np.full(len(unemployment), 2),
        np.full(len(injury), 3),
    ])
    enrolled = _enrolment_dates(rng, people, lives)[owner]
    order = np.lexsort((kind, enrolled))
    owner = owner[order]
    return Rows(owner, {
        "id_no": people.id_no[owner],
        "name": people.name[owner],
        "insurance_type": labels(INSURANCE_TYPES)[kind[order]],
        "region_code": offices(seed, people, lives)[owner],
        "enrolled_on": enrolled[order],
        "status": labels(STATUSES)[_member_status(rng, lives)[owner]],
    })


def _covered(rng: np.random.Generator, people: People, lives: Lives) -> Array:
    age = people.age
    coverage = np.select([age < limit for limit, _ in COVERAGE_BY_AGE],
                         [share for _, share in COVERAGE_BY_AGE], COVERAGE_OLD)
    coverage = np.where(people.sichuan, coverage, COVERAGE_ELSEWHERE)
    coverage = np.where(lives.status == ACTIVE, coverage, COVERAGE_GONE)
    gap = (1 - coverage) * np.where(lives.disabled, DISABLED_GAP, 1.0)
    result: Array = ((age >= ADULT_AGE) & (rng.random(len(people)) >= gap)) | lives.pensioner
    return result


def _enrolment_dates(rng: np.random.Generator, people: People, lives: Lives) -> Array:
    """Between coming of age (or the scheme's start) and today, a pension's start or death."""
    employee = lives.employee
    entry_age = np.where(employee, 18, ADULT_AGE)
    scheme_from = np.where(employee, EMPLOYEE_SCHEME_FROM, RESIDENT_SCHEME_FROM)
    low = np.maximum(add_years(people.birth, entry_age), scheme_from)
    high = np.where(lives.pensioner, lives.pension_start - days(1), TODAY)
    high = np.where(np.isnat(lives.death), high, np.minimum(high, lives.death))
    return uniform_dates(rng, np.minimum(low, high), high, len(people))


def _member_status(rng: np.random.Generator, lives: Lives) -> Array:
    """Index into STATUSES. Pensioners stay active members until the office learns of their
    death; others are sometimes suspended (contributions stopped); the gone are terminated."""
    status = np.where(lives.status == ACTIVE, pick(rng, LIVING_STATUS_WEIGHTS, len(lives.status)),
                      TERMINATED)
    known_dead = ~np.isnat(lives.death) & ~lives.paid_after_death
    result: Array = np.where(lives.pensioner, np.where(known_dead, TERMINATED, 0), status)
    return result


def offices(seed: int, people: People, lives: Lives) -> Array:
    """The social security office (region code) that insures or pays each person: the hukou
    region, except for employees working in Chengdu and pensioners registered outside Sichuan
    (paid by the Chengdu office of their last employer)."""
    rng = stream(seed, "offices")
    size = len(people)
    in_chengdu = lives.employee & ~lives.pensioner & (rng.random(size) < WORKS_IN_CHENGDU_SHARE)
    in_chengdu |= lives.pensioner & ~people.sichuan
    result: Array = REGION_TEXT[np.where(in_chengdu, draw_chengdu(rng, size), people.hukou)]
    return result


def pensioners_rows(seed: int, people: People, lives: Lives) -> Rows:
    """social_security.pensioners, in order of pension start."""
    rng = stream(seed, "pensioners")
    owner = np.flatnonzero(lives.pensioner)
    owner = owner[np.argsort(lives.pension_start[owner], kind="stable")]
    employee = lives.employee[owner]
    start = lives.pension_start[owner]
    return Rows(owner, {
        "id_no": people.id_no[owner],
        "name": people.name[owner],
        "region_code": offices(seed, people, lives)[owner],
        "pension_type": choose(employee, "employee", "resident"),
        "monthly_amount": monthly_amounts(rng, employee) / 100,
        "start_date": start,
        "last_verified_on": _last_verified(rng, start, lives.death[owner]),
        "bank_account": bank_accounts(rng, len(owner)),
    })


def monthly_amounts(rng: np.random.Generator, employee: Array) -> Array:
    """Monthly pension in cents: employees' around 3,300 yuan, the resident scheme's around 230."""
    size = len(employee)
    employee_yuan = np.clip(rng.lognormal(np.log(3300), 0.35, size), 1500, 15000)
    resident_yuan = np.clip(rng.lognormal(np.log(230), 0.35, size), 128, 1500)
    result: Array = np.rint(np.where(employee, employee_yuan, resident_yuan) * 100)
    return result.astype(np.int64)


def _last_verified(rng: np.random.Generator, start: Array, death: Array) -> Array:
    """The last in-person check: within the last two years, never before start or after death."""
    checked = uniform_dates(rng, TODAY - days(730), TODAY - days(90), len(start))
    before_death = death - rng.integers(15, 120, len(start)).astype("m8[D]")
    checked = np.where(np.isnat(death), checked, np.minimum(checked, before_death))
    result: Array = np.maximum(checked, start)
    return result


def bank_accounts(rng: np.random.Generator, size: int) -> Array:
    """19-digit debit card numbers: a bank's BIN, 12 digits, and a Luhn check digit."""
    bins = np.array([int(b) for b in BANK_BINS], dtype=np.int64)
    payload = bins[rng.integers(0, len(bins), size)] * 10**12 + rng.integers(0, 10**12, size)
    return column(np.strings.add(payload.astype(STRING), luhn_digit(payload).astype(STRING)))


def luhn_digit(payload: Array) -> Array:
    """The Luhn check digit for each 18-digit payload (every other digit from the right doubled)."""
    total = np.zeros(len(payload), dtype=np.int64)
    rest = payload.copy()
    for position in range(18):
        digit = rest % 10
        rest //= 10
        if position % 2 == 0:
            digit = np.where(digit * 2 > 9, digit * 2 - 9, digit * 2)
        total += digit
    result: Array = (10 - total % 10) % 10
    return result


def payments_rows(people: People, lives: Lives, terms: Terms, pensioners: Rows) -> Rows:
    """social_security.payments: one row per pensioner and month paid, kept as a ledger by
    pensioner (in identity-number order) and month, the order its index is in."""
    paid = paid_months(lives, terms, pensioners.owner)
    by_id = np.argsort(pensioners.columns["id_no"], kind="stable")
    row, month = np.nonzero(paid[by_id])
    row = by_id[row]
    owner = pensioners.owner[row]
    return Rows(owner, {
        "id_no": people.id_no[owner],
        "region_code": pensioners.columns["region_code"][row],
        "pay_month": PAY_MONTHS[month],
        "amount": pensioners.columns["monthly_amount"][row],
    })


def paid_months(lives: Lives, terms: Terms, owner: Array) -> Array:
    """(pensioner, month) -> paid: from the pension's start, until a death the office learnt of,
    except during prison terms for which it suspended payment."""
    months = PAY_MONTHS[np.newaxis, :]
    death = lives.death[owner][:, np.newaxis]
    stopped = ~lives.paid_after_death[owner][:, np.newaxis] & (months > death)
    started = months >= lives.pension_start[owner][:, np.newaxis]
    return started & ~stopped & ~_suspended(lives, terms, owner)


def _suspended(lives: Lives, terms: Terms, owner: Array) -> Array:
    row_of = np.full(len(lives.status), -1)
    row_of[owner] = np.arange(len(owner))
    chosen = terms.suspends_pension
    end = np.where(np.isnat(terms.end[chosen]), TODAY, terms.end[chosen])
    inside = (terms.start[chosen][:, np.newaxis] <= PAY_MONTHS) & (end[:, np.newaxis] >= PAY_MONTHS)
    result: Array = np.zeros((len(owner), len(PAY_MONTHS)), dtype=bool)
    np.logical_or.at(result, row_of[terms.owner[chosen]], inside)
    return result
