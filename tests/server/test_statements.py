"""Statement recognition: the kinds the protocol answers itself, and ``USING`` literals.

The statements are the ones clients send: the Python client's ``EXECUTE IMMEDIATE`` (with its
parameter formatting), the JDBC driver's ``PREPARE`` / ``EXECUTE``, the CLI's ``USE`` and
``DESCRIBE``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from gateway.errors import ParseError
from gateway.server.statements import (
    Deallocate,
    Execute,
    Prepare,
    Query,
    Show,
    Statement,
    Use,
    parameters,
    recognise,
    tokenize,
)


@pytest.mark.parametrize(("sql", "expected"), [
    ("USE public_security.public", Use("public_security", "public")),
    ('use "Social_Security"."PUBLIC";', Use("social_security", "public")),
    ("USE public", Use(None, "public")),
    ("PREPARE statement1 FROM SELECT p.name FROM t p WHERE p.id_no = ?",
     Prepare("statement1", "SELECT p.name FROM t p WHERE p.id_no = ?")),
    ("EXECUTE statement1 USING '510181192910011044'",
     Execute("statement1", ("510181192910011044",))),
    ("EXECUTE st_1", Execute("st_1")),
    ("DEALLOCATE PREPARE st_1", Deallocate("st_1")),
    ("EXECUTE IMMEDIATE 'SELECT ''a'' AS x WHERE y = ?' USING 'it''s'",
     Query("SELECT 'a' AS x WHERE y = ?", ("it's",))),
    ("SHOW CATALOGS", Show("catalogs")),
    ("SHOW CATALOGS LIKE 'pub%'", Show("catalogs", like="pub%")),
    ("SHOW SCHEMAS FROM justice", Show("schemas", ("justice",))),
    ("SHOW TABLES IN social_security.public LIKE 'p\\_%' ESCAPE '\\'",
     Show("tables", ("social_security", "public"), "p\\_%", "\\")),
    ("SHOW COLUMNS FROM transport.public.trips", Show("columns", ("transport", "public", "trips"))),
    ("DESCRIBE deaths", Show("columns", ("deaths",))),
    ("-- a comment\nSELECT 1", Query("-- a comment\nSELECT 1")),
    ("/* USE x */ SELECT 1", Query("/* USE x */ SELECT 1")),
    ("SHOW GRANTS", Query("SHOW GRANTS")),
    ("SHOW CREATE TABLE t", Query("SHOW CREATE TABLE t")),
    ("DESCRIBE OUTPUT q", Query("DESCRIBE OUTPUT q")),
    ("SET SESSION query_max_run_time = '1h'", Query("SET SESSION query_max_run_time = '1h'")),
    ("START TRANSACTION", Query("START TRANSACTION")),
    ("SELECT 'unterminated", Query("SELECT 'unterminated")),  # the pipeline reports it
])
def test_recognise(sql: str, expected: Statement) -> None:
    assert recognise(sql) == expected


def test_the_python_clients_parameter_formats() -> None:
    # trino.dbapi.Cursor._format_prepared_param renders each Python type like this.
    text = ("NULL,true,-5,DOUBLE '2.5',DECIMAL '1.20','O''Brien',DATE '2026-03-04',"
            "TIMESTAMP '2026-03-04 08:15:00.123000'")
    assert parameters(text) == (None, True, -5, 2.5, Decimal("1.20"), "O'Brien",
                                date(2026, 3, 4), datetime(2026, 3, 4, 8, 15, 0, 123000))


@pytest.mark.parametrize("text", [
    "x", "(SELECT 1)", "1 + 1", "upper('a')", "1 FROM t", "'a' WHERE true", "ARRAY[1]",
    "X'01'", "current_user",
])
def test_parameters_must_be_literals(text: str) -> None:
    with pytest.raises(ParseError, match=r"literal|USING"):
        parameters(text)


@pytest.mark.parametrize("sql", [
    "USE a.b.c", "PREPARE q SELECT 1", "PREPARE q FROM", "DEALLOCATE q",
    "SHOW COLUMNS", "EXECUTE IMMEDIATE SELECT 1", "USE x y",
])
def test_malformed_statements_are_syntax_errors(sql: str) -> None:
    with pytest.raises(ParseError):
        recognise(sql)


def test_tokens_keep_their_place() -> None:
    tokens = tokenize("SELECT \"a\"\"b\", 'c''d' -- x\n FROM t")
    assert [(t.kind, t.text) for t in tokens] == [
        ("word", "SELECT"), ("ident", 'a"b'), ("punct", ","), ("string", "c'd"),
        ("word", "FROM"), ("word", "t")]
    assert tokens[1].start == 7
