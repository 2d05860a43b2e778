"""Real clients against a real server over the demo world: the Trino Python DBAPI (with
parameters), SQLAlchemy and pandas, the Trino 476 CLI and the Trino 476 JDBC driver.

Each must get exactly what :meth:`Gateway.execute` gives for the DEMO.md scenarios, see only
the objects its principal is granted when browsing, and get refusals as ``PERMISSION_DENIED``
with the gateway's own message. Results stream: the first page reaches the client while the
engine has produced only a page or two of a 100,000-row result.
"""

from __future__ import annotations

import csv
import io
import subprocess
import time
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
import trino
from trino.exceptions import TrinoUserError

from gateway.demo.walkthrough import scenario_sql
from gateway.errors import ShuqiaoError
from gateway.service import Gateway

from .conftest import PARAMETER_SQL, Live, java, jdbc_smoke

SCENARIOS = ("scenario1_coverage", "scenario2_verification", "scenario3_fund_risk")
REFUSED = "SELECT d.id_no, d.death_date FROM public_security.public.deaths d"
SIX = ["disabled_persons", "justice", "medical_insurance", "public_security", "social_security",
       "transport"]
DEATH_COLUMNS = ["id_no", "death_date", "region_code"]  # cause_category is denied (G3)
PAGE = 1000


class Truth(Protocol):
    deceased_paid: dict[str, Any]


class World(Protocol):
    data_dir: Path
    truth: Truth


Row = tuple[object, ...]


def expected(gateway: Gateway, principal: str, sql: str,
             parameters: Sequence[object] = ()) -> list[Row]:
    execution = gateway.execute(principal, sql, parameters)  # type: ignore[arg-type]
    return [row for page in execution.result.pages(PAGE) for row in page]


def refusal(gateway: Gateway, principal: str, sql: str) -> str:
    with pytest.raises(ShuqiaoError) as caught:
        expected(gateway, principal, sql)
    return str(caught.value)


def connect(live: Live, user: str, **options: Any) -> Any:
    return trino.dbapi.connect(host="127.0.0.1", port=live.port, user=user, **options)


def fetch(live: Live, user: str, sql: str, parameters: Sequence[object] | None = None,
          **options: Any) -> list[Row]:
    cursor = connect(live, user, **options).cursor()
    cursor.execute(sql, parameters)
    return [tuple(row) for row in cursor.fetchall()]


# --- the Python DBAPI --------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_python_client_gets_the_scenarios_rows(live: Live, gateway: Gateway, name: str) -> None:
    sql = scenario_sql(name)
    rows = fetch(live, "si_analyst", sql)
    assert rows == expected(gateway, "si_analyst", sql)
    assert rows


@pytest.mark.parametrize("legacy", [False, True], ids=["execute-immediate", "prepare-execute"])
def test_python_client_parameters(live: Live, gateway: Gateway, demo_world: World,
                                  legacy: bool) -> None:
    dead = sorted(demo_world.truth.deceased_paid)[0]
    sql = ("SELECT p.name, d.death_date, p.monthly_amount FROM social_security.public.pensioners p"
           " JOIN public_security.public.deaths d ON d.id_no = p.id_no WHERE d.id_no = ?")
    rows = fetch(live, "si_analyst", sql, (dead,), legacy_prepared_statements=legacy)
    assert rows == expected(gateway, "si_analyst", sql, (dead,))
    assert len(rows) == 1 and isinstance(rows[0][1], date) and isinstance(rows[0][2], Decimal)


def test_python_client_gets_refusals_with_the_gateways_message(live: Live,
                                                              gateway: Gateway) -> None:
    with pytest.raises(TrinoUserError) as caught:
        fetch(live, "si_analyst", REFUSED)
    assert caught.value.error_name == "PERMISSION_DENIED"
    assert caught.value.message == refusal(gateway, "si_analyst", REFUSED)


def catalog_view(live: Live, user: str) -> dict[str, dict[str, list[str]]]:
    """Every catalog, table and column ``user`` can browse, through SQL metadata."""
    view: dict[str, dict[str, list[str]]] = {}
    for (catalog,) in fetch(live, user, "SHOW CATALOGS"):
        tables = fetch(live, user, f"SHOW TABLES FROM {catalog}.public")
        view[str(catalog)] = {
            str(table): [str(c[0]) for c in fetch(live, user, f"DESCRIBE {catalog}.public.{table}")]
            for (table,) in tables
        }
    return view


def test_browsing_shows_only_granted_objects(live: Live) -> None:
    si = catalog_view(live, "si_analyst")
    assert sorted(si) == SIX
    assert sorted(si["public_security"]) == ["deaths", "residents"]
    assert si["public_security"]["deaths"] == DEATH_COLUMNS
    mi = catalog_view(live, "mi_analyst")
    assert sorted(mi) == ["medical_insurance", "social_security"]
    assert "name" not in mi["social_security"]["pensioners"]
    assert catalog_view(live, "auditor") == {}
    assert "public_security" not in catalog_view(live, "lapsed_analyst")


def test_information_schema_and_session_functions(live: Live) -> None:
    rows = fetch(live, "si_analyst",
                 "SELECT column_name FROM information_schema.columns"
                 " WHERE table_name = 'deaths' ORDER BY ordinal_position",
                 catalog="public_security", schema="public")
    assert [r[0] for r in rows] == DEATH_COLUMNS
    assert fetch(live, "mi_analyst", "SELECT current_user") == [("mi_analyst",)]


def test_streaming_first_page_arrives_before_the_engine_is_done(live: Live) -> None:
    sql = ("SELECT a.id_no, b.pay_month FROM social_security.public.insured a"
           " CROSS JOIN social_security.public.payments b LIMIT 100000")
    headers = {"X-Trino-User": "si_analyst"}
    with httpx.Client(headers=headers, timeout=60) as client:
        document = client.post(f"{live.url}/v1/statement", content=sql).json()
        while "data" not in document:
            document = client.get(document["nextUri"]).json()
        produced = live.query_info(document["id"], "si_analyst")["rowsProduced"]
        pages, rows = 1, len(document["data"])
        while "nextUri" in document:
            document = client.get(document["nextUri"]).json()
            pages += "data" in document
            rows += len(document.get("data", []))
    assert produced <= 2 * PAGE  # this page and the one prefetched behind it: not 100,000
    assert rows == 100_000 and pages == 100_000 // PAGE


def test_python_client_streams_and_cancels(live: Live) -> None:
    cursor = connect(live, "si_analyst").cursor()
    cursor.execute("SELECT a.id_no FROM social_security.public.insured a"
                   " CROSS JOIN social_security.public.payments b")
    assert cursor.fetchone() is not None
    query_id = cursor.query_id
    cursor.cancel()
    assert live.query_info(query_id, "si_analyst")["state"] == "CANCELED"


# --- SQLAlchemy and pandas ---------------------------------------------------------------------


def test_sqlalchemy_and_pandas(live: Live, gateway: Gateway) -> None:
    engine = sa.create_engine(f"trino://si_analyst@127.0.0.1:{live.port}/social_security")
    sql = scenario_sql("scenario3_fund_risk")
    with engine.connect() as connection:
        frame = pd.read_sql(sa.text(sql), connection)
        inspector = sa.inspect(connection)
        schemas = inspector.get_schema_names()
        tables = inspector.get_table_names("public")
        columns = [c["name"] for c in inspector.get_columns("pensioners", "public")]
    rows = expected(gateway, "si_analyst", sql)
    assert [tuple(r) for r in frame.itertuples(index=False)] == [
        tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in rows]
    assert schemas == ["public"] and tables == ["insured", "payments", "pensioners"]
    assert "bank_account" in columns
    engine.dispose()


def test_sqlalchemy_inspector_sees_what_mi_analyst_may_see(live: Live) -> None:
    engine = sa.create_engine(f"trino://mi_analyst@127.0.0.1:{live.port}/social_security")
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        assert inspector.get_table_names("public") == ["pensioners"]
        columns = [c["name"] for c in inspector.get_columns("pensioners", "public")]
    assert columns == ["id_no", "region_code", "pension_type", "monthly_amount", "start_date"]
    engine.dispose()


# --- the Trino CLI -----------------------------------------------------------------------------


def as_text(value: object, null: str = "") -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def run_cli(cli_jar: Path, live: Live, user: str, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [java(), "-jar", str(cli_jar), "--server", live.url, "--user", user,
         "--output-format", "CSV_HEADER", "--execute", sql],
        capture_output=True, text=True, timeout=120, check=False)


def test_trino_cli(cli_jar: Path, live: Live, gateway: Gateway) -> None:
    sql = scenario_sql("scenario1_coverage")
    done = run_cli(cli_jar, live, "si_analyst", sql)
    assert done.returncode == 0, done.stderr
    lines = list(csv.reader(io.StringIO(done.stdout)))
    rows = expected(gateway, "si_analyst", sql)
    assert lines[0] == ["id_no", "name", "hukou_region_code", "phone", "disabled",
                        "uninsured_in_region"]
    assert lines[1:] == [[as_text(v) for v in row] for row in rows]


def test_trino_cli_refusal_and_catalogs(cli_jar: Path, live: Live, gateway: Gateway) -> None:
    refused = run_cli(cli_jar, live, "si_analyst", REFUSED)
    assert refused.returncode == 1
    assert refusal(gateway, "si_analyst", REFUSED) in refused.stderr
    catalogs = run_cli(cli_jar, live, "mi_analyst", "SHOW CATALOGS")
    assert catalogs.stdout.split() == ['"Catalog"', '"medical_insurance"', '"social_security"']


# --- the JDBC driver ---------------------------------------------------------------------------

def run_jdbc(jdbc_jar: Path, classes: Path, live: Live, user: str, scenario: Path,
             parameter: str) -> dict[str, list[list[str]]]:
    return jdbc_smoke(jdbc_jar, classes, f"jdbc:trino://127.0.0.1:{live.port}", user, scenario,
                      REFUSED, parameter)


def test_jdbc_driver(jdbc_jar: Path, jdbc_classes: Path, live: Live, gateway: Gateway,
                     demo_world: World, tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.sql"
    scenario.write_text(scenario_sql("scenario2_verification"), encoding="utf-8")
    pensioner = sorted(demo_world.truth.deceased_paid)[0]
    seen = run_jdbc(jdbc_jar, jdbc_classes, live, "si_analyst", scenario, pensioner)
    assert [c[0] for c in seen["catalog"]] == SIX
    assert ["public_security", "public", "deaths", "TABLE"] in seen["table"]
    assert [c[3] for c in seen["column"] if c[2] == "deaths"] == DEATH_COLUMNS
    assert seen["table_type"] == [["TABLE"], ["VIEW"]] and int(seen["types"][0][0]) > 10
    assert seen["procedures"] == [["0"]] and seen["primary_keys"] == [["0"]]
    rows = expected(gateway, "si_analyst", scenario_sql("scenario2_verification"))
    assert seen["row"] == [[as_text(v, "null") for v in row] for row in rows]
    names = expected(gateway, "si_analyst", PARAMETER_SQL, (pensioner,))
    assert seen["param"] == [[str(names[0][0])]]
    message = refusal(gateway, "si_analyst", REFUSED)
    assert len(seen["refused-error"]) == 1 and message in seen["refused-error"][0][0]


@pytest.mark.parametrize(("user", "catalogs"), [
    ("mi_analyst", ["medical_insurance", "social_security"]), ("auditor", [])])
def test_jdbc_browsing_per_principal(jdbc_jar: Path, jdbc_classes: Path, live: Live,
                                     tmp_path: Path, user: str, catalogs: list[str]) -> None:
    scenario = tmp_path / "scenario.sql"
    scenario.write_text("SELECT p.name FROM social_security.public.pensioners p",
                        encoding="utf-8")
    seen = run_jdbc(jdbc_jar, jdbc_classes, live, user, scenario, "x")
    assert [c[0] for c in seen.get("catalog", [])] == catalogs
    assert {t[0] for t in seen.get("table", [])} == set(catalogs)
    assert "row" not in seen and len(seen["scenario-error"]) == 1


def test_measure_latency_and_throughput(live: Live) -> None:
    """Not a bound, a record: per-statement latency and streaming rate through the protocol."""
    cursor = connect(live, "si_analyst").cursor()
    started = time.perf_counter()
    for _ in range(20):
        cursor.execute("SELECT count(*) FROM social_security.public.pensioners p")
        cursor.fetchall()
    latency = (time.perf_counter() - started) / 20
    started = time.perf_counter()
    cursor.execute("SELECT a.id_no, b.pay_month FROM social_security.public.insured a"
                   " CROSS JOIN social_security.public.payments b LIMIT 100000")
    count = len(cursor.fetchall())
    rate = count / (time.perf_counter() - started)
    print(f"\nprotocol latency {latency * 1000:.1f} ms/statement; streaming {rate:,.0f} rows/s")
    assert count == 100_000 and latency < 1.0
