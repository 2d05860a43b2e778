"""The demo world generator: realistic values, deterministic files, and scenario SQL that finds
exactly the planted cases (100% recall and precision) when run straight over the SQLite files."""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import duckdb_ext
import pytest

from gateway.demo import world as world_module
from gateway.demo.regions import REGIONS
from gateway.demo.world import AS_OF, SOURCES, GroundTruth, generate

SCALE = 4000
SEED = 11
SCENARIOS = Path(__file__).parents[1] / "gateway" / "demo" / "scenarios"
WINDOW_START = date(2025, 11, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GroundTruth]:
    out = tmp_path_factory.mktemp("world")
    return out, generate(out, SCALE, SEED)


@pytest.fixture(scope="module")
def truth(world: tuple[Path, GroundTruth]) -> GroundTruth:
    return world[1]


@pytest.fixture(scope="module")
def duck(world: tuple[Path, GroundTruth]) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB with every department's file attached under its source name."""
    extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(config={
        "extension_directory": str(extensions),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
    con.execute("LOAD sqlite_scanner")
    for source in SOURCES:
        con.execute(f"ATTACH '{world[0] / source}.sqlite' AS {source} (TYPE sqlite, READ_ONLY)")
    yield con
    con.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return rows(con, sql)[0][0]


def scenario(con: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    """Run a shipped scenario as is, but against SQLite's ``main`` schema instead of the
    gateway's logical ``public`` one (masks and row filters don't change these answers)."""
    sql = (SCENARIOS / f"{name}.sql").read_text(encoding="utf-8")
    return rows(con, sql.replace(".public.", ".main."))


# -- files and types ------------------------------------------------------------------------


def test_each_source_has_its_tables_and_columns_in_order(world: tuple[Path, GroundTruth]) -> None:
    for source, tables in SOURCES.items():
        con = sqlite3.connect(world[0] / f"{source}.sqlite")
        found = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert found == list(tables)
        for table, ddl in tables.items():
            columns = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
            assert columns == re.findall(r"^\s+(\w+) ", ddl, re.MULTILINE)
            assert con.execute(f"PRAGMA index_list({table})").fetchall(), f"{table} has no index"
        con.close()


EXPECTED_DUCKDB_TYPES = {
    ("residents", "birth_date"): "DATE",
    ("deaths", "death_date"): "DATE",
    ("pensioners", "monthly_amount"): "DOUBLE",
    ("payments", "pay_month"): "DATE",
    ("hospitalizations", "record_id"): "BIGINT",
    ("hospitalizations", "discharged_on"): "DATE",
    ("trips", "departed_at"): "TIMESTAMP",
    ("trips", "trip_id"): "BIGINT",
    ("incarcerations", "end_date"): "DATE",
    ("certificates", "grade"): "BIGINT",
    ("residents", "gender"): "VARCHAR",
}


def test_duckdb_reads_declared_types(duck: duckdb.DuckDBPyConnection) -> None:
    for source, tables in SOURCES.items():
        for table in tables:
            for name, kind, *_ in rows(duck, f"DESCRIBE {source}.main.{table}"):
                assert EXPECTED_DUCKDB_TYPES.get((table, name), kind) == kind
    assert one(duck, "SELECT typeof(max(departed_at)) FROM transport.main.trips") == "TIMESTAMP"


# -- values look real -------------------------------------------------------------------------


def mod11_2(body: str) -> str:
    """ISO 7064 MOD 11-2, computed the iterative way (independent of the generator's table)."""
    p = 0
    for digit in body:
        p = (p + int(digit)) * 2 % 11
    return "0123456789X"[(12 - p) % 11]


def test_identity_numbers_are_valid_and_agree_with_sex_and_birth(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    people = rows(duck, "SELECT id_no, gender, birth_date FROM public_security.main.residents")
    codes = {r.code for r in REGIONS}
    assert len({p[0] for p in people}) == len(people) == SCALE
    for id_no, gender, birth in people:
        assert re.fullmatch(r"\d{17}[\dX]", id_no)
        assert id_no[17] == mod11_2(id_no[:17])
        assert id_no[:6] in codes
        assert id_no[6:14] == birth.strftime("%Y%m%d")
        assert gender == ("M" if int(id_no[16]) % 2 else "F")
        assert birth <= AS_OF


def test_regions_are_mostly_sichuan_with_a_quarter_in_chengdu(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    chengdu, outside = rows(duck, """
        SELECT avg(CASE WHEN hukou_region_code LIKE '5101%' THEN 1 ELSE 0 END),
               avg(CASE WHEN hukou_region_code LIKE '51%' THEN 0 ELSE 1 END)
        FROM public_security.main.residents""")[0]
    assert 0.20 < chengdu < 0.30
    assert 0.015 < outside < 0.05


ADDRESS = re.compile(
    r"(?P<district>(?:[^省]+省[^省]+?(?:市|自治州)|重庆市)[^省市区县]+[区县市])"
    r"[^省市州区县号]+\d+号"
)


def test_addresses_cut_cleanly_after_the_district(duck: duckdb.DuckDBPyConnection) -> None:
    prefixes = {r.prefix for r in REGIONS}
    for (address,) in rows(duck, "SELECT address FROM public_security.main.residents"):
        match = ADDRESS.fullmatch(address)
        assert match, address
        assert match["district"] in prefixes


def test_names_phones_and_bank_accounts_look_real(duck: duckdb.DuckDBPyConnection) -> None:
    names = [r[0] for r in rows(duck, "SELECT name FROM public_security.main.residents")]
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", n) for n in names)
    assert any(n.startswith(("欧阳", "司马", "诸葛", "上官", "司徒")) for n in names)
    phones = [r[0] for r in rows(duck, "SELECT phone FROM public_security.main.residents")]
    assert all(p is None or re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)
    assert 0 < phones.count(None) < len(phones) / 5
    accounts = rows(duck, "SELECT bank_account FROM social_security.main.pensioners")
    assert all(re.fullmatch(r"62\d{17}", a) and luhn_valid(a) for (a,) in accounts)


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    doubled = [d * 2 - 9 if d * 2 > 9 else d * 2 for d in digits[1::2]]
    return (sum(digits[0::2]) + sum(doubled)) % 10 == 0


# -- proportions ------------------------------------------------------------------------------


def test_table_proportions_follow_demo_md(duck: duckdb.DuckDBPyConnection) -> None:
    pensioners = one(duck, "SELECT count(*) FROM social_security.main.pensioners")
    stays = one(duck, """SELECT count(*) FROM medical_insurance.main.hospitalizations
                         WHERE admitted_on > DATE '2025-11-01'""")
    trips = one(duck, """SELECT count(*) FROM transport.main.trips
                         WHERE CAST(departed_at AS DATE) > DATE '2025-11-01'""")
    certificates = one(duck, "SELECT count(*) FROM disabled_persons.main.certificates")
    assert 0.17 < pensioners / SCALE < 0.24
    assert 0.13 < stays / SCALE < 0.17
    assert 0.27 < trips / SCALE < 0.33
    assert 0.01 < certificates / SCALE < 0.05


def test_about_88_percent_of_active_adult_sichuan_residents_are_insured(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    insured = one(duck, """
        SELECT avg(CASE WHEN EXISTS (SELECT 1 FROM social_security.main.insured i
                                     WHERE i.id_no = r.id_no) THEN 1 ELSE 0 END)
        FROM public_security.main.residents r
        WHERE r.status = 'active' AND r.hukou_region_code LIKE '51%'
          AND r.birth_date <= DATE '2010-11-01'""")
    assert 0.85 < insured < 0.91


def test_planted_cases_are_present_in_realistic_numbers(truth: GroundTruth) -> None:
    pensioners = truth.counts["social_security"]["pensioners"]
    assert 3 <= len(truth.deceased_paid) <= max(3, 0.01 * pensioners)
    assert 2 <= len(truth.incarcerated_paid) <= max(2, 0.003 * pensioners)
    assert 0.80 < len(truth.verified) / pensioners < 0.95
    assert truth.disabled_uninsured
    assert 0.08 < len(truth.uninsured) / SCALE < 0.14


def test_decoys_sit_next_to_the_planted_cases(duck: duckdb.DuckDBPyConnection) -> None:
    """Records just outside the window, and prison terms without payments in them, exist,
    so a query with a wrong boundary or join would be caught."""
    on_edge = one(duck, """SELECT count(*) FROM transport.main.trips
                           WHERE CAST(departed_at AS DATE) = DATE '2025-11-01'
                             AND hour(departed_at) >= 19""")
    suspended = one(duck, """
        SELECT count(DISTINCT j.id_no)
        FROM justice.main.incarcerations j
        JOIN social_security.main.pensioners p ON p.id_no = j.id_no
        WHERE COALESCE(j.end_date, DATE '2026-11-01') >= DATE '2025-12-01'
          AND NOT EXISTS (SELECT 1 FROM social_security.main.payments pay
                          WHERE pay.id_no = j.id_no AND pay.pay_month >= j.start_date
                            AND pay.pay_month <= COALESCE(j.end_date, DATE '2026-11-01'))""")
    ended = one(duck, "SELECT count(*) FROM justice.main.incarcerations WHERE end_date IS NOT NULL")
    assert on_edge > 0
    assert suspended > 0
    assert ended > 0


# -- consistency ------------------------------------------------------------------------------


def test_every_deceased_resident_has_exactly_one_death_row(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    mismatched = one(duck, """
        SELECT count(*) FROM public_security.main.residents r
        WHERE (r.status = 'deceased') <> ((SELECT count(*) FROM public_security.main.deaths d
                                          WHERE d.id_no = r.id_no) = 1)""")
    deaths = one(duck, "SELECT count(*) FROM public_security.main.deaths")
    deceased = one(duck, """SELECT count(*) FROM public_security.main.residents
                            WHERE status = 'deceased'""")
    assert mismatched == 0
    assert deaths == deceased > 0


def test_payments_are_monthly_within_the_last_twelve_months(
    duck: duckdb.DuckDBPyConnection,
) -> None:
    months, first, last, duplicates, strangers = rows(duck, """
        SELECT count(DISTINCT pay_month), min(pay_month), max(pay_month),
               count(*) - count(DISTINCT id_no || CAST(pay_month AS VARCHAR)),
               count(*) FILTER (WHERE id_no NOT IN (SELECT id_no
                                                    FROM social_security.main.pensioners))
        FROM social_security.main.payments""")[0]
    assert (months, first, last) == (12, date(2025, 12, 1), AS_OF)
    assert duplicates == strangers == 0


def test_records_of_the_dead_stop_at_death(duck: duckdb.DuckDBPyConnection) -> None:
    after_death = one(duck, """
        SELECT count(*) FROM medical_insurance.main.hospitalizations h
        JOIN public_security.main.deaths d ON d.id_no = h.id_no
        WHERE h.admitted_on > d.death_date""")
    assert after_death == 0


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_and_scale_give_identical_files(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(first, 1500, seed=5)
    generate(second, 1500, seed=5)
    generate(other, 1500, seed=6)
    for source in SOURCES:
        name = f"{source}.sqlite"
        assert (first / name).read_bytes() == (second / name).read_bytes(), source
    assert (first / "ground_truth.json").read_bytes() == (second / "ground_truth.json").read_bytes()
    residents = "public_security.sqlite"
    assert (first / residents).read_bytes() != (other / residents).read_bytes()


def test_a_large_world_written_by_two_processes_gives_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial, forked = tmp_path / "serial", tmp_path / "forked"
    generate(serial, 1500, seed=5)
    monkeypatch.setattr(world_module, "PARALLEL_FROM", 0)  # social security in a forked child
    generate(forked, 1500, seed=5)
    for name in [f"{source}.sqlite" for source in SOURCES] + ["ground_truth.json"]:
        assert (serial / name).read_bytes() == (forked / name).read_bytes(), name


@pytest.mark.parametrize("scale", [1, 2, 7])
def test_tiny_worlds_still_generate(tmp_path: Path, scale: int) -> None:
    truth = generate(tmp_path, scale, seed=scale)
    assert truth.counts["public_security"]["residents"] == scale


def test_an_empty_world_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="scale"):
        generate(tmp_path, 0)


def test_ground_truth_round_trips_through_json(world: tuple[Path, GroundTruth]) -> None:
    assert GroundTruth.load(world[0] / "ground_truth.json") == world[1]


# -- scenarios --------------------------------------------------------------------------------


def test_scenario1_finds_exactly_the_uninsured(
    duck: duckdb.DuckDBPyConnection, truth: GroundTruth
) -> None:
    result = scenario(duck, "scenario1_coverage")
    assert sorted(r[0] for r in result) == truth.uninsured
    assert result == sorted(result, key=lambda r: (r[2], r[0]))
    assert {r[0] for r in result if r[4]} == set(truth.disabled_uninsured)
    per_region = Counter(r[2] for r in result)
    assert all(r[5] == per_region[r[2]] for r in result)


def test_scenario2_verifies_exactly_the_pensioners_seen(
    duck: duckdb.DuckDBPyConnection, truth: GroundTruth
) -> None:
    result = {r[0]: (r[3], r[4]) for r in scenario(duck, "scenario2_verification")}
    expected = {i: (True, date.fromisoformat(d)) for i, d in truth.verified.items()}
    expected |= {i: (False, None) for i in truth.unverified}
    assert result == expected
    assert all(WINDOW_START < seen <= AS_OF for _, seen in expected.values() if seen)


def test_scenario3_finds_exactly_the_overpaid(
    duck: duckdb.DuckDBPyConnection, truth: GroundTruth
) -> None:
    result = {(r[2], r[0]): (r[3], r[4]) for r in scenario(duck, "scenario3_fund_risk")}
    expected = {
        ("deceased", i): (v["months"], Decimal(v["overpaid"]))
        for i, v in truth.deceased_paid.items()
    } | {
        ("incarcerated", i): (v["months"], Decimal(v["amount"]))
        for i, v in truth.incarcerated_paid.items()
    }
    assert result == expected
