"""The departments' tables: columns in their documented order, as SQLite DDL.

Declared types are chosen for DuckDB's SQLite scanner, which maps them by name: ``DATE`` and
``TIMESTAMP`` come back as DATE and TIMESTAMP (values are ISO text), ``VARCHAR(n)`` and
``CHAR(1)`` as VARCHAR, ``INTEGER``/``BIGINT`` as BIGINT, and ``DECIMAL(p,s)`` as DOUBLE.
"""

from __future__ import annotations

Columns = tuple[tuple[str, str], ...]

ID_NO = ("id_no", "VARCHAR(18) NOT NULL")
REGION = ("region_code", "VARCHAR(6) NOT NULL")
NAME = ("name", "VARCHAR NOT NULL")

COLUMNS: dict[str, dict[str, Columns]] = {
    "public_security": {
        "residents": (
            ID_NO, NAME, ("gender", "CHAR(1) NOT NULL"), ("birth_date", "DATE NOT NULL"),
            ("hukou_region_code", "VARCHAR(6) NOT NULL"), ("address", "VARCHAR NOT NULL"),
            ("phone", "VARCHAR(11)"), ("status", "VARCHAR NOT NULL"),
        ),
        "deaths": (
            ID_NO, ("death_date", "DATE NOT NULL"), REGION,
            ("cause_category", "VARCHAR NOT NULL"),
        ),
    },
    "social_security": {
        "insured": (
            ID_NO, NAME, ("insurance_type", "VARCHAR NOT NULL"), REGION,
            ("enrolled_on", "DATE NOT NULL"), ("status", "VARCHAR NOT NULL"),
        ),
        "pensioners": (
            ID_NO, NAME, REGION, ("pension_type", "VARCHAR NOT NULL"),
            ("monthly_amount", "DECIMAL(10,2) NOT NULL"), ("start_date", "DATE NOT NULL"),
            ("last_verified_on", "DATE NOT NULL"), ("bank_account", "VARCHAR(19) NOT NULL"),
        ),
        "payments": (
            ID_NO, REGION, ("pay_month", "DATE NOT NULL"), ("amount", "DECIMAL(10,2) NOT NULL"),
        ),
    },
    "medical_insurance": {
        "hospitalizations": (
            ("record_id", "BIGINT NOT NULL"), ID_NO, ("hospital_code", "VARCHAR NOT NULL"),
            ("admitted_on", "DATE NOT NULL"), ("discharged_on", "DATE"),
            ("diagnosis_code", "VARCHAR NOT NULL"), ("total_cost", "DECIMAL(12,2) NOT NULL"),
        ),
    },
    "transport": {
        "trips": (
            ("trip_id", "BIGINT NOT NULL"), ID_NO, ("mode", "VARCHAR NOT NULL"),
            ("departed_at", "TIMESTAMP NOT NULL"), ("origin_code", "VARCHAR(6) NOT NULL"),
            ("destination_code", "VARCHAR(6) NOT NULL"),
        ),
    },
    "justice": {
        "incarcerations": (
            ID_NO, ("facility_code", "VARCHAR NOT NULL"), ("start_date", "DATE NOT NULL"),
            ("end_date", "DATE"),
        ),
    },
    "disabled_persons": {
        "certificates": (
            ID_NO, ("category", "VARCHAR NOT NULL"), ("grade", "INTEGER NOT NULL"),
            ("issued_on", "DATE NOT NULL"),
        ),
    },
}

# Tables holding at most one row per person get a unique index on id_no.
ONE_ROW_PER_PERSON = frozenset({"residents", "deaths", "pensioners", "certificates"})


def create_table(table: str, columns: Columns) -> str:
    body = ",\n".join(f"    {name} {kind}" for name, kind in columns)
    return f"CREATE TABLE {table} (\n{body}\n)"


def create_index(table: str) -> str:
    unique = "UNIQUE " if table in ONE_ROW_PER_PERSON else ""
    return f"CREATE {unique}INDEX {table}_id_no ON {table} (id_no)"


SOURCES: dict[str, dict[str, str]] = {
    source: {table: create_table(table, columns) for table, columns in tables.items()}
    for source, tables in COLUMNS.items()
}
