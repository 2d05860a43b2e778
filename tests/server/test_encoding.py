"""Types and values in Trino's JSON forms, checked against what a real Trino 476 sent.

``trino476_reference.json`` holds one statement's columns and row as a Trino 476 server answered
them, with and without the ``PARAMETRIC_DATETIME`` client capability. For each column we give
the DuckDB type and Python value our engine would produce for the same value, and require the
same type name, ``typeSignature`` and JSON value.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from gateway.server.encoding import (
    encode_rows,
    encoder,
    encoders,
    for_client,
    passes_through,
    trino_type,
    value_type,
)

from .conftest import load_fixture

REFERENCE = load_fixture("trino476_reference.json")

# column name in the reference -> (DuckDB type, the Python value DuckDB returns)
ENGINE_SIDE: dict[str, tuple[str, object]] = {
    "a": ("INTEGER", 1),
    "d": ("DECIMAL(3,2)", Decimal("1.50")),
    "dt": ("DATE", date(2020, 1, 2)),
    "ts": ("TIMESTAMP", datetime(2020, 1, 2, 3, 4, 5, 123000)),
    "v": ("VARCHAR(6)", "x"),
    "s": ("VARCHAR", "abc"),
    "b": ("BOOLEAN", True),
    "dbl": ("DOUBLE", 1.0),
    "bi": ("BIGINT", 1),
    "c": ("CHAR(1)", "a"),
    "n": ("INTEGER", None),
    "ts6": ("TIMESTAMP(6)", datetime(2020, 1, 2, 3, 4, 5, 123456)),
    "r": ("FLOAT", 2.5),
    "vb": ("BLOB", b"\x01\x02"),
    "arr": ("INTEGER[]", [1, 2]),
    "si": ("SMALLINT", 1),
    "ti": ("TINYINT", 1),
    "t": ("TIME", time(1, 2, 3, 456000)),
    "nan": ("DOUBLE", float("nan")),
    "ninf": ("DOUBLE", float("-inf")),
    "rw": ("STRUCT(x INTEGER, y VARCHAR)", {"x": 1, "y": "a"}),
    "m": ("MAP(VARCHAR(1), INTEGER)", {"k": 1}),
    "big": ("HUGEINT", 12345678901234567890),
}


def reference_columns(kind: str) -> list[tuple[dict[str, Any], object]]:
    captured = REFERENCE[kind]
    return list(zip(captured["columns"], captured["data"][0], strict=True))


@pytest.mark.parametrize(("column", "expected"), reference_columns("values_parametric"),
                         ids=[c["name"] for c, _ in reference_columns("values_parametric")])
def test_types_and_values_match_trino(column: dict[str, Any], expected: object) -> None:
    duckdb_type, value = ENGINE_SIDE[column["name"]]
    kind = trino_type(duckdb_type)
    assert kind.display == column["type"]
    assert kind.signature() == column["typeSignature"]
    encode = encoder(value_type(kind, True))
    assert (value if value is None or encode is None else encode(value)) == expected


@pytest.mark.parametrize(("column", "expected"), reference_columns("values_legacy"),
                         ids=[c["name"] for c, _ in reference_columns("values_legacy")])
def test_clients_without_parametric_datetime_get_what_trino_sends_them(
        column: dict[str, Any], expected: object) -> None:
    duckdb_type, value = ENGINE_SIDE[column["name"]]
    kind = trino_type(duckdb_type)
    assert for_client(kind, False).display == column["type"]
    assert for_client(kind, False).signature() == column["typeSignature"]
    encode = encoder(value_type(kind, False))
    assert (value if value is None or encode is None else encode(value)) == expected


@pytest.mark.parametrize(("text", "display"), [
    ("DECIMAL(12,2)", "decimal(12, 2)"),
    ("decimal(10, 2)", "decimal(10, 2)"),
    ("VARCHAR(18)", "varchar(18)"),
    ("TIMESTAMP WITH TIME ZONE", "timestamp(3) with time zone"),
    ("timestamp(6) with time zone", "timestamp(6) with time zone"),
    ("TIMESTAMP_S", "timestamp(0)"),
    ("UBIGINT", "decimal(20, 0)"),
    ("VARCHAR[][]", "array(array(varchar))"),
    ('STRUCT("A" VARCHAR, b DECIMAL(3,1)[])', "row(a varchar, b array(decimal(3, 1)))"),
    ("MAP(VARCHAR, STRUCT(a INTEGER))", "map(varchar, row(a integer))"),
    ("ENUM('a', 'b')", "varchar"),
    ("GEOMETRY", "varchar"),
])
def test_engine_type_strings(text: str, display: str) -> None:
    assert trino_type(text).display == display


def test_catalog_names_have_no_spaces_in_numeric_arguments() -> None:
    assert trino_type("DECIMAL(10,2)").sql_name == "decimal(10,2)"
    assert trino_type("STRUCT(a INTEGER)").sql_name == "row(a integer)"


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("TIMESTAMP WITH TIME ZONE", datetime(2020, 1, 2, 3, 4, 5, 123000, tzinfo=UTC),
     "2020-01-02 03:04:05.123 UTC"),
    ("TIMESTAMP WITH TIME ZONE",
     datetime(2020, 1, 2, 3, 4, 5, 123000, tzinfo=timezone(timedelta(hours=8))),
     "2020-01-02 03:04:05.123 +08:00"),
    ("TIMESTAMP_S", datetime(2020, 1, 2, 3, 4, 5), "2020-01-02 03:04:05"),
    ("INTERVAL", timedelta(days=1, hours=2, milliseconds=5), "1 02:00:00.005"),
    ("DECIMAL(10,2)", Decimal("3"), "3.00"),
    ("DOUBLE", float("inf"), "Infinity"),
    ("UUID", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("MAP(INTEGER, VARCHAR)", {1: "a", 2: None}, {"1": "a", "2": None}),
])
def test_values(text: str, value: object, expected: object) -> None:
    encode = encoder(trino_type(text))
    assert encode is not None and encode(value) == expected


def test_a_page_is_encoded_column_by_column_and_nulls_stay_null() -> None:
    kinds = [trino_type(t) for t in ("VARCHAR", "DECIMAL(10,2)", "DATE")]
    page = [("a", Decimal("1.5"), date(2026, 1, 1)), (None, None, None)]
    assert encode_rows(encoders(kinds), page) == [["a", "1.50", "2026-01-01"], [None, None, None]]


def test_a_page_of_plain_values_is_copied_as_is() -> None:
    kinds = [trino_type("VARCHAR"), trino_type("BIGINT")]
    assert encode_rows(encoders(kinds), [("a", 1)]) == [["a", 1]]


@pytest.mark.parametrize(("text", "parametric", "passes"), [
    ("varchar", True, True), ("varchar(18)", False, True), ("decimal(10, 2)", False, True),
    ("date", False, True), ("double", True, True), ("varbinary", True, True),
    ("timestamp(6)", True, True), ("timestamp(3)", False, True),
    ("timestamp(6)", False, False),  # sent to this client at millisecond precision
    ("timestamp(0) with time zone", False, False), ("time(3) with time zone", False, True),
    ("array(timestamp(6))", False, False), ("map(varchar, array(decimal(3,1)))", False, True),
    ('row("a" integer, "b" varchar)', True, True),
    ("interval day to second", True, False), ("ipaddress", True, False),  # read as varchar
])
def test_which_trino_values_pass_through(text: str, parametric: bool, passes: bool) -> None:
    assert passes_through(text, parametric) is passes
