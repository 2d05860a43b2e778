"""The real services the benchmark needs, left as they were found.

PostgreSQL and MariaDB are the shared local ones (``deploy/local/services.sh``): started only if
they are not running, and then stopped again at the end. Trino is a private coordinator of the
same version and settings, with its own state directory and port, so that pointing it at the
benchmark's databases never restarts (or reconfigures) the coordinator other test sessions use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from catalog.models import CatalogSnapshot
from gateway.trino_config import trino_tables, write_access_control

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "deploy" / "local" / "services.sh"
PASSWORD = "shuqiao"
HOST = "127.0.0.1"
SERVICE_USER = "shuqiao"


def pg_port() -> int:
    return int(os.environ.get("SHUQIAO_PG_PORT") or 55432)


def mariadb_port() -> int:
    return int(os.environ.get("SHUQIAO_MARIADB_PORT") or 53306)


def set_passwords() -> None:
    os.environ.setdefault("SHUQIAO_PG_PASSWORD", PASSWORD)
    os.environ.setdefault("SHUQIAO_MARIADB_PASSWORD", PASSWORD)


def _script(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=REPO, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False,
                          env=dict(env) if env is not None else None)


def running(name: str, env: Mapping[str, str] | None = None) -> bool:
    return _script("status", name, env=env).returncode == 0


@contextmanager
def databases_up() -> Iterator[list[str]]:
    """PostgreSQL and MariaDB running for the block; those started here stop after it."""
    started = [n for n in ("postgres", "mariadb") if not running(n)]
    if started:
        done = _script("up", *started)
        if done.returncode != 0:
            raise RuntimeError(f"services.sh up {' '.join(started)} failed:\n{done.stderr[-3000:]}")
    try:
        yield started
    finally:
        if started:
            _script("down", *started)


class PrivateTrino:
    """A Trino coordinator of the benchmark's own, on ``port``, state under ``state``."""

    def __init__(self, state: Path, port: int) -> None:
        self.state = state
        self.port = port
        self.catalogs = state / "trino-catalogs"
        self.extra = state / "trino-etc-extra"
        self.env = {**os.environ, "SHUQIAO_STATE": str(state), "SHUQIAO_TRINO_PORT": str(port),
                    "SHUQIAO_TRINO_CATALOGS": str(self.catalogs),
                    "SHUQIAO_TRINO_ETC_EXTRA": str(self.extra),
                    "SHUQIAO_CACHE": str(REPO / ".cache")}

    def serve(self, rendered_catalogs: Path, snapshot: CatalogSnapshot) -> None:
        """Serve the catalogs ``build_demo`` rendered, with the service user's access rules;
        the coordinator starts, or restarts only if its configuration changed."""
        self.catalogs.mkdir(parents=True, exist_ok=True)
        self.extra.mkdir(parents=True, exist_ok=True)
        for old in self.catalogs.glob("*.properties"):
            old.unlink()
        for rendered in rendered_catalogs.glob("*.properties"):
            shutil.copyfile(rendered, self.catalogs / rendered.name)
        tables = trino_tables(snapshot, {s.name for s in snapshot.sources})
        write_access_control(self.extra, service_user=SERVICE_USER, tables=tables)
        done = _script("up", "trino", env=self.env)
        if done.returncode != 0:
            raise RuntimeError(f"private trino failed to start:\n{done.stderr[-3000:]}")

    def stop(self) -> None:
        if running("trino", env=self.env):
            _script("down", "trino", env=self.env)

    def version(self) -> str:
        import requests

        info = requests.get(f"http://{HOST}:{self.port}/v1/info", timeout=10).json()
        return str(json.dumps(info.get("nodeVersion", {}).get("version", "unknown"))).strip('"')
