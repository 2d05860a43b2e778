"""A real server for real clients: uvicorn on a free loopback port, in a thread, over the
``demo_world`` fixture; plus the Java runtime for the Trino CLI and JDBC driver."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from services import trino_cli_jar, trino_jdbc_jar

from gateway.cli_serve import service_app
from gateway.server.auth import InsecureAuthenticator
from gateway.service import Gateway

HOST = "127.0.0.1"
JAVAS = ("java", "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")


class World(Protocol):
    data_dir: Path
    config: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running(app: FastAPI, *, certfile: Path | None = None,
            keyfile: Path | None = None) -> Iterator[int]:
    """Serve ``app`` with uvicorn in a thread until the block ends; yields the port."""
    port = free_port()
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning",
                            timeout_graceful_shutdown=1,
                            ssl_certfile=str(certfile) if certfile else None,
                            ssl_keyfile=str(keyfile) if keyfile else None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(20)


@dataclass(frozen=True)
class Live:
    port: int
    gateway: Gateway

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def query_info(self, query_id: str, user: str) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/v1/query/{query_id}", headers={"X-Trino-User": user})
        response.raise_for_status()
        info: dict[str, Any] = response.json()
        return info


@pytest.fixture(scope="session")
def live(demo_world: World) -> Iterator[Live]:
    """The whole service in insecure (loopback) mode, as ``shuqiao demo`` runs it."""
    gateway = Gateway.from_config(demo_world.config)
    with running(service_app(gateway, InsecureAuthenticator(HOST))) as port:
        yield Live(port, gateway)
    gateway.close()


@cache
def java() -> str:
    """A Java runtime that can run the Trino CLI (the system one, else Temurin 25)."""
    for candidate in JAVAS:
        try:
            done = subprocess.run([candidate, "-jar", str(trino_cli_jar()), "--version"],
                                  capture_output=True, timeout=60, check=False)
        except OSError:
            continue
        if done.returncode == 0:
            return candidate
    pytest.skip("no Java runtime runs the Trino CLI")


def javac() -> str:
    return str(Path(java()).with_name("javac")) if "/" in java() else "javac"


@pytest.fixture(scope="session")
def cli_jar() -> Path:
    if not trino_cli_jar().exists():
        pytest.skip(f"{trino_cli_jar()} missing: deploy/local/services.sh fetch trino")
    return trino_cli_jar()


@pytest.fixture(scope="session")
def jdbc_jar() -> Path:
    if not trino_jdbc_jar().exists():
        pytest.skip(f"{trino_jdbc_jar()} missing: deploy/local/services.sh fetch trino")
    return trino_jdbc_jar()


JAVA_SOURCE = Path(__file__).parent / "java" / "JdbcSmoke.java"
PARAMETER_SQL = "SELECT p.name FROM social_security.public.pensioners p WHERE p.id_no = ?"


@pytest.fixture(scope="session")
def jdbc_classes(jdbc_jar: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``java/JdbcSmoke.java`` compiled against the Trino JDBC driver."""
    out = tmp_path_factory.mktemp("jdbc-classes")
    subprocess.run([javac(), "-d", str(out), "-cp", str(jdbc_jar), str(JAVA_SOURCE)],
                   check=True, capture_output=True, timeout=120)
    return out


def jdbc_smoke(jar: Path, classes: Path, url: str, user: str, scenario: Path, refused: str,
               parameter: str) -> dict[str, list[list[str]]]:
    """Run JdbcSmoke; its output lines grouped by their first field."""
    done = subprocess.run(
        [java(), "-cp", f"{classes}:{jar}", "JdbcSmoke", url, user, str(scenario), refused,
         PARAMETER_SQL, parameter],
        capture_output=True, text=True, timeout=120, check=True)
    found: dict[str, list[list[str]]] = {}
    for line in done.stdout.splitlines():
        kind, *fields = line.split("\t")
        found.setdefault(kind, []).append(fields)
    return found
