"""The adversarial corpus (``tests/fixtures/security/corpus.yaml``) again, over the protocol.

Every statement goes through the Trino Python client to a real server, as its principal, and
must end the way :meth:`Gateway.execute` ends it: the same refusal (error name and message) or
the same rows. Some statements the protocol answers itself, because clients rely on them:
metadata (``SHOW``, ``DESCRIBE``, ``information_schema``, ``system.jdbc``) is answered from the
principal's visible catalog, and ``USE`` / ``PREPARE`` / ``EXECUTE`` / ``DEALLOCATE`` are session
statements; for those the expected protocol outcome is stated below, entry by entry.

Whatever the outcome, no error message quotes a data value and no row carries a value the
principal may not see (the corpus module's own checks, reused).
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import pytest
import trino
from trino.exceptions import TrinoQueryError

from catalog.errors import ShuqiaoError
from gateway.service import Gateway

from .conftest import Live


def _corpus_module() -> ModuleType:
    """``tests/security/test_adversarial.py``, loaded under its own name for its corpus loader
    and its leak checks (its tests are not collected again from here)."""
    path = Path(__file__).parents[1] / "security" / "test_adversarial.py"
    spec = importlib.util.spec_from_file_location("adversarial_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


CORPUS = _corpus_module()
ENTRIES = CORPUS.load_corpus()

#: Statements the protocol answers itself, and how: "rows" (metadata from the visible catalog),
#: "update" (a session statement that succeeds), or the error name it ends with.
PROTOCOL_ANSWERS: dict[str, str] = {
    "sys-02": "rows",  # public_security.information_schema.columns: si_analyst's columns only
    "sys-03": "rows",  # system.jdbc.tables
    "sys-04": "rows",  # system.jdbc.columns
    "sys-06": "rows",  # system.metadata.table_comments
    "meta-03": "rows",  # SHOW TABLES FROM public_security.public
    "meta-04": "rows",  # SHOW CATALOGS as auditor: no catalog at all
    "meta-05": "rows",  # SHOW SCHEMAS FROM public_security
    "meta-06": "rows",  # SHOW COLUMNS FROM public_security.public.deaths
    "meta-09": "rows",  # DESCRIBE public_security.public.deaths
    "meta-11": "update",  # PREPARE checks syntax only; EXECUTE plans it with the pipeline
    "meta-12": "NOT_FOUND",  # EXECUTE of a statement the session does not hold
    "meta-13": "PERMISSION_DENIED",  # EXECUTE IMMEDIATE: the inner query, refused (match)
    "meta-14": "NOT_FOUND",  # DEALLOCATE PREPARE of an unknown statement
    "meta-15": "update",  # USE public_security.public: a visible catalog
}


class World(Protocol):
    data_dir: Path

    def raw(self, source: str) -> sqlite3.Connection: ...


@pytest.fixture(scope="module")
def facts(demo_world: World) -> Any:
    return CORPUS.Facts(demo_world.data_dir, demo_world.raw)


Outcome = tuple[str, Any, Any]  # ("rows", columns, rows) or ("error", name, message)


def through_gateway(gateway: Gateway, principal: str, sql: str) -> Outcome:
    try:
        columns, rows = CORPUS.run(gateway, principal, sql)
    except ShuqiaoError as error:
        return "error", getattr(error, "error_name", "GENERIC_INTERNAL_ERROR"), str(error)
    return "rows", columns, rows


def through_protocol(live: Live, principal: str, sql: str) -> Outcome:
    cursor = trino.dbapi.connect(host="127.0.0.1", port=live.port, user=principal).cursor()
    try:
        cursor.execute(sql)
        rows = [tuple(r) for r in cursor.fetchall()]
    except TrinoQueryError as error:
        return "error", error.error_name, error.message
    columns = tuple(d[0] for d in cursor.description or ())
    return "rows", columns, rows


def normalised(rows: list[tuple[object, ...]]) -> list[list[str | None]]:
    return [[CORPUS.norm(v) for v in row] for row in rows]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_corpus_over_the_protocol(entry: Any, live: Live, gateway: Gateway, facts: Any) -> None:
    sql = facts.fill(entry.sql)
    got = through_protocol(live, entry.principal, sql)
    check_nothing_leaks(got, entry.principal, sql, facts)
    special = PROTOCOL_ANSWERS.get(entry.id)
    if special is None:
        assert_same(got, through_gateway(gateway, entry.principal, sql))
    elif special in ("rows", "update"):
        assert got[0] == "rows", f"expected {special}, got {got}"
    else:
        assert got[:2] == ("error", special)


def assert_same(got: Outcome, wanted: Outcome) -> None:
    assert got[0] == wanted[0], f"protocol: {got[:2]}; gateway: {wanted[:2]}"
    if got[0] == "error":
        assert (got[1], got[2]) == (wanted[1], wanted[2])
    else:
        assert got[1] == wanted[1]
        # as multisets: without ORDER BY two runs may order rows differently
        assert sorted(normalised(got[2]), key=repr) == sorted(normalised(wanted[2]), key=repr)


def check_nothing_leaks(got: Outcome, principal: str, sql: str, facts: Any) -> None:
    if got[0] == "error":
        leaked = facts.message_leaks(got[2], sql, principal)
        assert not leaked, f"the error quotes raw values {sorted(leaked)}: {got[2]}"
    else:
        leaked = facts.leaks(principal, got[2])
        assert not leaked, f"protected values returned: {sorted(leaked)[:5]}"


def test_metadata_shows_only_what_is_granted(live: Live) -> None:
    got = through_protocol(live, "si_analyst",
                           "SELECT table_name, column_name FROM"
                           " public_security.information_schema.columns")
    assert got[0] == "rows"
    assert ("deaths", "cause_category") not in got[2]
    assert {t for t, _ in got[2]} == {"deaths", "residents"}
    assert through_protocol(live, "auditor", "SHOW CATALOGS")[2] == []
