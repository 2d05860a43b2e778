"""Connection settings for the local real services, and a way to start them.

Not a test module: tests import it (``tests/`` is on ``sys.path``) to reach the
PostgreSQL, MariaDB and Trino servers that ``deploy/local/services.sh`` runs on
private ports bound to 127.0.0.1. Ports and paths come from the same
environment variables, with the same defaults, as the script.

``ensure_up("postgres", "trino")`` starts what is not running yet, once per
test session. Services that this process had to start are stopped again when
it exits; services that were already running (``services.sh up`` by hand, or
by ``make``) are left alone. Set ``SHUQIAO_KEEP_SERVICES=1`` to keep the ones
started here running too, so that the next session starts at once.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "deploy" / "local" / "services.sh"
NAMES = ("postgres", "mariadb", "trino")

USER = "shuqiao"
PASSWORD = "shuqiao"
HOST = "127.0.0.1"

_lock = threading.Lock()
_up: set[str] = set()
_started: list[str] = []


def _port(var: str, default: int) -> int:
    return int(os.environ.get(var) or default)


def pg_port() -> int:
    return _port("SHUQIAO_PG_PORT", 55432)


def mariadb_port() -> int:
    return _port("SHUQIAO_MARIADB_PORT", 53306)


def trino_port() -> int:
    return _port("SHUQIAO_TRINO_PORT", 58080)


def pg_dsn(db: str = "postgres") -> str:
    """A libpq/asyncpg DSN for the superuser ``shuqiao`` over TCP."""
    return f"postgresql://{USER}:{PASSWORD}@{HOST}:{pg_port()}/{db}"


def mariadb_params(db: str | None = None) -> dict[str, object]:
    """Keyword arguments for ``asyncmy.connect`` (user ``shuqiao``, all privileges)."""
    params: dict[str, object] = {
        "host": HOST,
        "port": mariadb_port(),
        "user": USER,
        "password": PASSWORD,
    }
    if db is not None:
        params["db"] = db
    return params


def trino_params() -> dict[str, object]:
    """Keyword arguments for ``trino.dbapi.connect`` (no authentication)."""
    return {"host": HOST, "port": trino_port(), "user": USER}


def trino_url() -> str:
    return f"http://{HOST}:{trino_port()}"


def cache_dir() -> Path:
    return Path(os.environ.get("SHUQIAO_CACHE") or REPO / ".cache")


def state_dir() -> Path:
    return Path(os.environ.get("SHUQIAO_STATE") or REPO / ".cache" / "services")


def trino_version() -> str:
    return os.environ.get("SHUQIAO_TRINO_VERSION") or "476"


def trino_cli_jar() -> Path:
    """The Trino CLI executable jar fetched by ``services.sh up trino``."""
    return cache_dir() / "trino" / f"trino-cli-{trino_version()}-executable.jar"


def trino_jdbc_jar() -> Path:
    """The Trino JDBC driver jar fetched by ``services.sh up trino``."""
    return cache_dir() / "trino" / f"trino-jdbc-{trino_version()}.jar"


def trino_catalogs_dir() -> Path:
    """Where ``services.sh`` takes Trino's ``etc/catalog/*.properties`` from."""
    return Path(os.environ.get("SHUQIAO_TRINO_CATALOGS") or state_dir() / "trino-catalogs")


def trino_etc_extra_dir() -> Path:
    """Extra ``etc/`` files (access control) for Trino; exported so ``services.sh`` uses it."""
    path = Path(os.environ.get("SHUQIAO_TRINO_ETC_EXTRA") or state_dir() / "trino-etc-extra")
    path.mkdir(parents=True, exist_ok=True)
    os.environ["SHUQIAO_TRINO_ETC_EXTRA"] = str(path)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )


def is_running(name: str) -> bool:
    return _run("status", name).returncode == 0


def ensure_up(*names: str) -> None:
    """Start the named services (default: all) unless this session already did."""
    wanted = list(names) or list(NAMES)
    unknown = [n for n in wanted if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown service(s) {unknown}; expected some of {NAMES}")
    with _lock:
        todo = [n for n in wanted if n not in _up]
        if not todo:
            return
        fresh = [n for n in todo if not is_running(n)]
        proc = _run("up", *todo)
        if proc.returncode != 0:
            raise RuntimeError(
                f"deploy/local/services.sh up {' '.join(todo)} failed "
                f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}{proc.stdout[-2000:]}"
            )
        _up.update(todo)
        if fresh and not _started:
            atexit.register(_stop_started)
        _started.extend(n for n in fresh if n not in _started)


def trino_reload() -> None:
    """Apply changed catalogs or settings: ``services.sh up trino`` again.

    The script restarts the coordinator only when its rendered ``etc/`` differs
    from the running one (e.g. after writing files into ``trino_catalogs_dir()``).
    """
    ensure_up("trino")
    proc = _run("up", "trino")
    if proc.returncode != 0:
        raise RuntimeError(f"deploy/local/services.sh up trino failed:\n{proc.stderr[-4000:]}")


def _stop_started() -> None:
    if os.environ.get("SHUQIAO_KEEP_SERVICES", "") not in ("", "0") or not _started:
        return
    _run("down", *_started)
    _started.clear()
