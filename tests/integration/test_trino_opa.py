"""One policy, two enforcement points: the DEMO.md principals querying Trino directly, with
Trino's OPA plugin asking the gateway's decision endpoint, get what the gateway gives them.

Trino is switched to ``access-control.name=opa`` (pointed at ``gateway.server.opa_routes``
served from this process) with ``hide-inaccessible-columns``, over the ``real_world`` catalogs,
for this module only: its previous ``etc`` extras are put back afterwards.

Every security-corpus statement runs both ways, as the same principal: through
``Gateway.execute`` on Trino, and straight into Trino (tables named as Trino knows them). A
statement *both paths can express* uses no ``match`` column and no aggregate-only grant; on it
the two must agree exactly (same columns, same rows, or both refuse). On the others the direct
path must refuse. Where the gateway refuses a construct it does not model (its ``unsupported``
and ``read-only`` rules, or a parse error) Trino may answer, applying the same masks and row
filters inside its plan. Whatever Trino returns must hold no value the principal may not see.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import services
import trino
import uvicorn
from fastapi import FastAPI
from security.test_adversarial import Entry, Facts, load_corpus
from trino.exceptions import TrinoQueryError

import gateway.errors as errors
from catalog.models import ActionKind, CatalogSnapshot
from gateway.server.opa_routes import opa_router
from gateway.service import Gateway
from gateway.trino_config import ACCESS_CONTROL_FILE, render_opa_access_control
from integration.conftest import RealWorld

pytestmark = pytest.mark.services

HOST = "127.0.0.1"
CORPUS = load_corpus()
#: Gateway refusals of constructs it does not model; Trino, applying masks and row filters at
#: the scan, may answer these.
CONSTRUCT_RULES = frozenset({"unsupported", "read-only", "syntax"})
#: Trino lists the catalogs' metadata, filtered to what the user may read; the gateway's
#: catalog has no such tables.
METADATA = re.compile(r"\binformation_schema\b", re.IGNORECASE)
TRINO_CONFIG = "config.properties"
HIDE_INACCESSIBLE = "hide-inaccessible-columns=true\n"


# ------------------------------------------------------------------------------------------------
# The decision endpoint in this process, and Trino pointed at it
# ------------------------------------------------------------------------------------------------


class Endpoint:
    """uvicorn serving the OPA routes in a thread, on a socket bound before it starts."""

    def __init__(self, app: FastAPI) -> None:
        self.socket = socket.socket()
        self.socket.bind((HOST, 0))
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run,
                                       kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the OPA endpoint did not start")
            time.sleep(0.01)
        return f"http://{HOST}:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


def opa_app(gateway: Gateway, requests: Counter[str]) -> FastAPI:
    """The routes over the gateway's own catalog, as the HTTP app mounts them."""
    app = FastAPI()
    app.include_router(opa_router(gateway.snapshot, gateway.clock,
                                  str(gateway.settings["trino.user"]),
                                  lambda principal: gateway.target(principal, "trino").mask_key))

    @app.middleware("http")
    async def count(request: Any, call_next: Any) -> Any:
        requests[request.url.path] += 1
        return await call_next(request)

    return app


def switch_to_opa(extra: Path, url: str) -> dict[str, bytes]:
    """Write the OPA access control into Trino's ``etc`` extras; return what was there."""
    saved = {f.name: f.read_bytes() for f in extra.iterdir() if f.is_file()}
    (extra / ACCESS_CONTROL_FILE).unlink(missing_ok=True)
    for name, text in render_opa_access_control(url).items():
        (extra / name).write_text(text, encoding="utf-8")
    config = saved.get(TRINO_CONFIG, b"").decode()
    (extra / TRINO_CONFIG).write_text(config + HIDE_INACCESSIBLE, encoding="utf-8")
    return saved


def restore(extra: Path, saved: dict[str, bytes]) -> None:
    for found in extra.iterdir():
        if found.is_file() and found.name not in saved:
            found.unlink()
    for name, content in saved.items():
        (extra / name).write_bytes(content)


@dataclass
class OpaTrino:
    snapshot: CatalogSnapshot
    requests: Counter[str]
    reload_s: float


@pytest.fixture(scope="module")
def opa_trino(real_world: RealWorld, real_gateway: Gateway) -> Iterator[OpaTrino]:
    requests: Counter[str] = Counter()
    extra = services.trino_etc_extra_dir()
    with Endpoint(opa_app(real_gateway, requests)) as url:
        saved = switch_to_opa(extra, url)
        try:
            started = time.monotonic()
            services.trino_reload()
            yield OpaTrino(real_gateway.snapshot(), requests, time.monotonic() - started)
        finally:
            restore(extra, saved)
            services.trino_reload()


# ------------------------------------------------------------------------------------------------
# Running a statement both ways
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str  # "rows", "refused" or "failed"
    detail: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[object, ...], ...] = ()

    def __str__(self) -> str:
        if self.kind == "rows":
            return f"rows {self.columns} x {len(self.rows)}"
        return f"{self.kind} ({self.detail})"


def normal(value: object) -> object:
    """Paths agree on values, not Python types. A masked column keeps its type on Trino's path
    (the ``date`` mask of a timestamp is midnight of that day), the gateway's view has the
    mask's own type (a date)."""
    if isinstance(value, float | Decimal):
        return f"{Decimal(str(value)):.2f}"
    if isinstance(value, datetime):
        value = value.replace(tzinfo=None)
        return value.date().isoformat() if value.time() == datetime.min.time() else (
            value.isoformat(sep=" "))
    if isinstance(value, date):
        return value.isoformat()
    return value


def answered(columns: list[str], rows: list[Any], ordered: bool) -> Outcome:
    """Column names compared without case: Trino keeps an output name as it was quoted
    (``r."PHONE"``), the gateway's rewrite normalises it."""
    normal_rows = [tuple(normal(v) for v in row) for row in rows]
    if not ordered:
        normal_rows.sort(key=repr)
    return Outcome("rows", columns=tuple(c.lower() for c in columns), rows=tuple(normal_rows))


def through_gateway(gateway: Gateway, principal: str, sql: str) -> Outcome:
    try:
        execution = gateway.execute(principal, sql, engine="trino")
        rows = [row for page in execution.result.pages(2000) for row in page]
    except errors.PolicyError as error:
        return Outcome("refused", error.rule)
    except errors.QueryError:
        return Outcome("refused", "syntax")
    except errors.EngineError as error:
        # Trino, running the rewritten statement, refused it (a type mismatch, say).
        return Outcome("refused", "engine") if "refused" in str(error) else (
            Outcome("failed", type(error).__name__))
    except errors.ShuqiaoError as error:
        return Outcome("failed", type(error).__name__)
    return answered([c.name for c in execution.result.columns], rows, is_ordered(sql))


def straight_to_trino(principal: str, sql: str) -> Outcome:
    connection = trino.dbapi.connect(**{**services.trino_params(), "user": principal})
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        rows = cursor.fetchall()
        columns = [d[0] for d in cursor.description or ()]
    except TrinoQueryError as error:
        # Any error Trino answers with is a non-answer: a denial (PERMISSION_DENIED), a table
        # it will not show (TABLE_NOT_FOUND), a syntax error, or its own quirk (the ``system``
        # catalog answers GENERIC_INTERNAL_ERROR for a schema it does not have).
        return Outcome("refused", str(error.error_name))
    finally:
        connection.close()
    return answered(columns, rows, is_ordered(sql))


def is_ordered(sql: str) -> bool:
    """Rows are compared in order only when the outermost query orders them."""
    return bool(re.search(r"\border\s+by\b[^()]*$", sql, re.IGNORECASE | re.DOTALL))


def trino_names(snapshot: CatalogSnapshot) -> Callable[[str], str]:
    """The statement as a client of Trino writes it: ``source.public.`` becomes the physical
    schema where Trino's differs (MariaDB names its schemas after databases), and a final
    ``;`` is dropped, as the Trino CLI drops it (Trino's parser takes none)."""
    moves = {t.source: t.physical_schema for t in snapshot.tables
             if t.physical_schema.lower() != "public"}

    def rename(sql: str) -> str:
        for source, schema in moves.items():
            pattern = rf'(\b{source}"?\s*\.\s*)"?public"?(\s*\.)'
            sql = re.sub(pattern, rf"\g<1>{schema}\g<2>", sql, flags=re.IGNORECASE)
        stripped = sql.rstrip()
        return stripped[:-1] if stripped.endswith(";") and stripped.count(";") == 1 else sql

    return rename


def not_expressible(gateway: Gateway, principal: str, sql: str) -> str | None:
    """Why Trino alone cannot run a statement the gateway accepts; ``None`` if it can."""
    plan = gateway.plan(principal, sql)
    if any(u.action.kind is ActionKind.MATCH for u in plan.decision.uses):
        return "match column"
    if any(g.aggregate_only for g in plan.decision.grants):
        return "aggregate-only grant"
    if any(u.action.mask == "hash" for u in plan.decision.uses):
        return "keyed mask"
    return None


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def facts(real_world: RealWorld) -> Facts:
    def raw(source: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{real_world.data_dir / source}.sqlite?mode=ro", uri=True)

    return Facts(real_world.data_dir, raw)


@dataclass(frozen=True)
class Comparison:
    entry: Entry
    gateway: Outcome
    direct: Outcome
    verdict: str


COMPARED: list[Comparison] = []


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
def test_corpus_agrees_on_both_paths(entry: Entry, opa_trino: OpaTrino, real_gateway: Gateway,
                                     facts: Facts) -> None:
    sql = facts.fill(entry.sql)
    via_gateway = through_gateway(real_gateway, entry.principal, sql)
    direct = straight_to_trino(entry.principal, trino_names(opa_trino.snapshot)(sql))
    if direct.kind == "rows":
        leaked = {v for v in facts.leaks(entry.principal, direct.rows) if v not in sql}
        assert not leaked, f"Trino returned protected values {sorted(leaked)[:5]}"
    verdict = judge(real_gateway, entry, sql, via_gateway, direct)
    COMPARED.append(Comparison(entry, via_gateway, direct, verdict))


def judge(gateway: Gateway, entry: Entry, sql: str, via_gateway: Outcome,
          direct: Outcome) -> str:
    assert via_gateway.kind != "failed", f"the gateway failed: {via_gateway}"
    assert direct.kind != "failed", f"Trino failed: {direct}"
    if via_gateway.kind == "rows":
        reason = not_expressible(gateway, entry.principal, sql)
        if reason is None:
            assert direct == via_gateway, f"Trino: {direct}; gateway: {via_gateway}"
            return "same rows"
        assert direct.kind == "refused", f"{reason}: Trino answered {direct}"
        return f"Trino refuses ({reason})"
    if direct.kind == "refused":
        return "both refuse"
    if METADATA.search(sql):
        return "Trino answers (metadata)"
    assert via_gateway.detail in CONSTRUCT_RULES, (
        f"the gateway refused ({via_gateway.detail}) but Trino answered {direct}")
    return f"Trino answers ({via_gateway.detail})"


def test_plans_show_column_masks(opa_trino: OpaTrino) -> None:
    """Why the keyed ``hash`` mask is never handed to Trino: a user sees the masks of their
    own query in its plan."""
    plan = straight_to_trino("si_analyst",
                             "EXPLAIN SELECT r.address FROM public_security.public.residents r")
    assert plan.kind == "rows"
    assert "regexp_extract" in str(plan.rows).lower()


def test_metadata_lists_only_what_is_readable(opa_trino: OpaTrino) -> None:
    columns = straight_to_trino("si_analyst", (
        "SELECT table_name, column_name FROM public_security.information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"))
    assert [row for row in columns.rows if row[0] == "deaths"] == [
        ("deaths", "death_date"), ("deaths", "region_code")]
    catalogs = straight_to_trino("mi_analyst", "SHOW CATALOGS")
    assert catalogs.rows == (("medical_insurance",),)
    assert straight_to_trino("auditor", "SHOW CATALOGS").rows == ()


def test_the_service_user_reads_tables_but_not_the_system_catalog(opa_trino: OpaTrino) -> None:
    user = "shuqiao"
    deaths = straight_to_trino(user, "SELECT count(*), count(DISTINCT id_no), count("
                                     "cause_category) FROM public_security.public.deaths")
    assert deaths.kind == "rows" and deaths.rows[0][0] == deaths.rows[0][1] > 0
    for sql in ("SELECT * FROM system.runtime.nodes", "SELECT * FROM system.runtime.queries",
                "SELECT * FROM TABLE(public_security.system.query(query => 'SELECT 1'))"):
        assert straight_to_trino(user, sql).kind == "refused", sql


def test_report_of_the_comparison(opa_trino: OpaTrino) -> None:
    """Runs after the corpus: a summary per category, printed for the record (``-s``)."""
    if not COMPARED:
        pytest.skip("no comparison ran")
    per = Counter((c.entry.category, c.verdict) for c in COMPARED)
    lines = [f"{category:20} {verdict:50} {n}" for (category, verdict), n in sorted(per.items())]
    lines += [f"{c.entry.id}: {c.verdict}: gateway {c.gateway}; trino {c.direct}"
              for c in COMPARED if c.verdict not in ("same rows", "both refuse")]
    lines.append(f"OPA requests: {dict(opa_trino.requests)};"
                 f" Trino reloaded with OPA in {opa_trino.reload_s:.1f}s")
    print("\n" + "\n".join(lines))
