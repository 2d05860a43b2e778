"""The embedded engine is hardened: even a statement that slipped past the pipeline could not
read files, attach databases, install or load extensions, write to a source, or change settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DemoWorld

from catalog.models import Source
from connectors.base import connector_for
from gateway.engines.duckdb import DuckDBEngine
from gateway.errors import EngineError, SourceError


@pytest.fixture(scope="module")
def engine(demo_world: DemoWorld) -> Iterator[DuckDBEngine]:
    source = Source("social_security", "sqlite", "social_security",
                    {"path": str(demo_world.data_dir / "social_security.sqlite")})
    made = DuckDBEngine([connector_for("sqlite").attachment(source)])
    yield made
    made.close()


def rows(engine: DuckDBEngine, sql: str) -> list[tuple[object, ...]]:
    return [r for page in engine.execute(sql).pages(100) for r in page]


def test_attached_sources_answer(engine: DuckDBEngine) -> None:
    assert rows(engine, 'SELECT count(*) > 0 FROM "social_security"."main"."pensioners"') == [
        (True,)]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM glob('/*')",
    "COPY (SELECT 1) TO '/tmp/shuqiao-escape.csv'",
    "ATTACH '/tmp/shuqiao-escape.duckdb' AS escape",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
    "SET memory_limit = '1TB'",
    "DELETE FROM social_security.main.pensioners",
    "CREATE TABLE social_security.main.x AS SELECT 1 AS a",
    "SELECT * FROM sqlite_scan('/etc/passwd', 'x')",
])
def test_escapes_are_refused(engine: DuckDBEngine, sql: str) -> None:
    with pytest.raises(EngineError) as caught:
        rows(engine, sql)
    assert "passwd" not in str(caught.value)
    assert not Path("/tmp/shuqiao-escape.csv").exists()


def test_engine_errors_carry_no_values(engine: DuckDBEngine) -> None:
    sql = 'SELECT CAST(p.name AS INTEGER) FROM "social_security"."main"."pensioners" p'
    with pytest.raises(EngineError) as caught:
        rows(engine, sql)
    names = rows(engine, 'SELECT name FROM "social_security"."main"."pensioners" LIMIT 50')
    assert names and not any(str(n[0]) in str(caught.value) for n in names)


def test_missing_source_file_is_a_source_error(tmp_path: Path) -> None:
    source = Source("justice", "sqlite", "justice", {"path": str(tmp_path / "gone.sqlite")})
    with pytest.raises(SourceError, match="justice"):
        connector_for("sqlite").attachment(source)
