"""Smoke tests: the local PostgreSQL, MariaDB and Trino answer a trivial query."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncmy
import asyncpg
import pytest
import services
import trino

pytestmark = pytest.mark.services


@pytest.fixture(scope="module", autouse=True)
def _services() -> Iterator[None]:
    services.ensure_up("postgres", "mariadb", "trino")
    yield


def test_postgres_select_1() -> None:
    async def run() -> tuple[int, str]:
        conn = await asyncpg.connect(services.pg_dsn())
        try:
            one = await conn.fetchval("SELECT 1")
            version = await conn.fetchval("SHOW server_version")
            return one, version
        finally:
            await conn.close()

    one, version = asyncio.run(run())
    assert one == 1
    assert version.startswith("15.")


def test_postgres_rejects_wrong_password() -> None:
    dsn = services.pg_dsn().replace(":shuqiao@", ":not-the-password@")

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        await conn.close()

    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(run())


def test_mariadb_select_1() -> None:
    async def run() -> tuple[object, ...]:
        conn = await asyncmy.connect(**services.mariadb_params(db="shuqiao"))
        try:
            async with conn.cursor() as cur:
                await cur.execute("SELECT 1, @@version, @@local_infile")
                row = await cur.fetchone()
                assert row is not None
                return tuple(row)
        finally:
            conn.close()

    one, version, local_infile = asyncio.run(run())
    assert one == 1
    assert "MariaDB" in str(version)
    assert local_infile == 1


def test_trino_select_1() -> None:
    conn = trino.dbapi.connect(**services.trino_params())
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchall() == [[1]]
    finally:
        conn.close()


def test_trino_cli_and_jdbc_are_cached() -> None:
    assert services.trino_cli_jar().is_file()
    assert services.trino_jdbc_jar().is_file()
