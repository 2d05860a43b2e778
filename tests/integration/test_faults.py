"""Faults: a department's database stopped mid-session, and Trino stopped.

Statements that touch the stopped part fail within a bounded time with an error naming it;
statements elsewhere keep working; once it is back, the same gateway recovers by itself.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest
import services

import gateway.errors as errors
from gateway.service import Gateway

pytestmark = pytest.mark.services

ON_PUBLIC_SECURITY = "SELECT count(*) FROM public_security.public.deaths d"
ON_TRANSPORT = "SELECT count(*) FROM transport.public.trips t"
ACROSS = ("SELECT count(*) FROM social_security.public.pensioners p "
          "JOIN public_security.public.deaths d ON d.id_no = p.id_no")
BOUND_S = 20.0


def services_sh(action: str, name: str) -> None:
    subprocess.run([str(services.SCRIPT), action, name], check=True, capture_output=True,
                   timeout=300)


def count(gateway: Gateway, sql: str, engine: str) -> int:
    execution = gateway.execute("si_analyst", sql, engine=engine)
    rows = [r for page in execution.result.pages(10) for r in page]
    value = rows[0][0]
    assert isinstance(value, int)
    return value


def eventually(gateway: Gateway, sql: str, engine: str, within_s: float = 60.0) -> int:
    """The count once the restarted part serves again: recovery must come by itself, within a
    bounded time, through the same gateway object (a freshly restarted Trino can answer
    internal errors for a few seconds while its catalogs initialise)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return count(gateway, sql, engine)
        except errors.ShuqiaoError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def failure_time(gateway: Gateway, sql: str, engine: str,
                 expected: type[errors.ShuqiaoError]) -> tuple[float, str]:
    started = time.monotonic()
    with pytest.raises(expected) as caught:
        count(gateway, sql, engine)
    return time.monotonic() - started, str(caught.value)


@pytest.fixture
def postgres_stopped(real_gateway: Gateway) -> Iterator[None]:
    for engine in ("duckdb", "direct", "trino"):  # warm every route before the fault
        count(real_gateway, ON_PUBLIC_SECURITY, engine)
    services_sh("down", "postgres")
    try:
        yield
    finally:
        services_sh("up", "postgres")


@pytest.mark.parametrize("engine", ["duckdb", "direct", "trino"])
def test_stopped_department_database_fails_fast_naming_it(engine: str, real_gateway: Gateway,
                                                          postgres_stopped: None) -> None:
    elapsed, message = failure_time(real_gateway, ON_PUBLIC_SECURITY, engine, errors.SourceError)
    assert elapsed < BOUND_S
    assert "public_security" in message and "shuqiao" not in message.lower().replace(
        "shuqiao_", "")


def test_other_sources_keep_working_and_the_gateway_recovers(real_gateway: Gateway) -> None:
    expected = {e: count(real_gateway, ACROSS, e) for e in ("duckdb", "trino")}
    direct_expected = count(real_gateway, ON_PUBLIC_SECURITY, "direct")
    services_sh("down", "postgres")
    try:
        for engine in ("duckdb", "trino"):
            assert count(real_gateway, ON_TRANSPORT, engine) > 0  # MariaDB is still up
            failure_time(real_gateway, ACROSS, engine, errors.SourceError)
    finally:
        services_sh("up", "postgres")
    # Same gateway object, nothing restarted but the database itself.
    for engine, value in expected.items():
        assert eventually(real_gateway, ACROSS, engine) == value
    assert eventually(real_gateway, ON_PUBLIC_SECURITY, "direct") == direct_expected


def test_trino_down_fails_fast_and_recovers(real_gateway: Gateway) -> None:
    expected = count(real_gateway, ACROSS, "trino")
    services_sh("down", "trino")
    try:
        elapsed, message = failure_time(real_gateway, ACROSS, "trino", errors.EngineError)
        assert elapsed < BOUND_S and "trino" in message
        assert count(real_gateway, ACROSS, "duckdb") == expected  # the embedded engine serves
        assert count(real_gateway, ON_PUBLIC_SECURITY, "direct") > 0
    finally:
        services_sh("up", "trino")
    assert eventually(real_gateway, ACROSS, "trino") == expected
