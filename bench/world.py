"""The demo world at one scale, built for the benchmark: generated (timed), loaded into
PostgreSQL and MariaDB under the ``b_`` prefix (timed), registered in a catalog with the demo
policy, and twinned by a second catalog over the generated SQLite files themselves.

Two configurations come out: ``real`` (departments in PostgreSQL/MariaDB, Trino enabled on the
benchmark's private coordinator) and ``sqlite`` (the same data as SQLite files). With ``reuse``
a world already built for the same scale and seed is taken as it is, with its recorded times.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.common import timed
from catalog.models import CatalogSnapshot
from catalog.store import CatalogStore
from gateway.demo import world
from gateway.demo.build import (
    DemoDatabases,
    demo_policy_path,
    register_database_sources,
    register_demo_sources,
)
from gateway.demo.databases import MariaTarget, PgTarget
from gateway.policyfiles import apply_policy_file
from gateway.settings import render_settings

PREFIX = "b_"
BUILT = "bench-built.json"


@dataclass(frozen=True)
class BenchWorld:
    scale: int
    seed: int
    data_dir: Path
    truth: world.GroundTruth
    real_config: Path
    sqlite_config: Path
    generate_s: float
    load_s: float
    reused: bool

    @property
    def trino_catalogs(self) -> Path:
        return self.data_dir / "trino" / "catalog"

    def snapshot(self, which: str = "real") -> CatalogSnapshot:
        path = self.data_dir / ("catalog.sqlite" if which == "real" else "sqlite/catalog.sqlite")
        with CatalogStore(path) as store:
            return store.snapshot()

    def sizes(self) -> dict[str, int]:
        return {f"{s}.{t}": n for s, tables in self.truth.counts.items() for t, n in tables.items()}


def targets(prefix: str = PREFIX, pg_port: int = 55432,
            mariadb_port: int = 53306) -> DemoDatabases:
    return DemoDatabases(PgTarget(port=pg_port, prefix=prefix),
                         MariaTarget(port=mariadb_port, prefix=prefix))


def build(data_dir: Path, scale: int, seed: int, databases: DemoDatabases, *, trino_port: int,
          reuse: bool = False, loaded_marker: Path | None = None) -> BenchWorld:
    """Build the world in ``data_dir`` (or reuse it); ``loaded_marker`` records which world the
    ``b_`` databases hold, so a reuse never trusts databases since reloaded at another scale."""
    data_dir = data_dir.resolve()
    built = data_dir / BUILT
    marker = loaded_marker or data_dir.parent / "loaded.json"
    ident = {"scale": scale, "seed": seed, "data_dir": str(data_dir)}
    if reuse and built.exists() and marker.exists() and _same(marker, ident):
        times = json.loads(built.read_text())
        return _world(data_dir, scale, seed, times["generate_s"], times["load_s"], reused=True)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    generate_s, _ = timed(lambda: world.generate(data_dir, scale, seed))
    with CatalogStore(data_dir / "catalog.sqlite") as store:
        load_s, _ = timed(lambda: register_database_sources(store, data_dir, databases))
        apply_policy_file(store, demo_policy_path())
    key = data_dir / "secrets" / "hash_key"
    key.parent.mkdir(mode=0o700)
    key.write_text(secrets.token_hex(32))
    key.chmod(0o600)
    (data_dir / "shuqiao.toml").write_text(render_settings({
        "catalog.path": "catalog.sqlite",
        "security.hash_key": f"file:{key}",
        "engine.default": "auto",
        "trino.enabled": True,
        "trino.port": trino_port,
    }), encoding="utf-8")
    twin = data_dir / "sqlite"
    twin.mkdir()
    with CatalogStore(twin / "catalog.sqlite") as store:
        register_demo_sources(store, data_dir)
        apply_policy_file(store, demo_policy_path())
    (twin / "shuqiao.toml").write_text(render_settings({
        "catalog.path": "catalog.sqlite",
        "security.hash_key": f"file:{key}",
        "engine.default": "duckdb",
    }), encoding="utf-8")
    built.write_text(json.dumps({"generate_s": generate_s, "load_s": load_s}))
    marker.write_text(json.dumps(ident))
    return _world(data_dir, scale, seed, generate_s, load_s, reused=False)


def with_trino_port(config: Path, port: int) -> None:
    """Point a reused world's configuration at this run's private coordinator."""
    text = config.read_text(encoding="utf-8")
    lines = [f"port = {port}" if ln.startswith("port = ") else ln for ln in text.splitlines()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _same(marker: Path, ident: dict[str, object]) -> bool:
    try:
        return bool(json.loads(marker.read_text()) == ident)
    except (OSError, ValueError):
        return False


def _world(data_dir: Path, scale: int, seed: int, generate_s: float, load_s: float, *,
           reused: bool) -> BenchWorld:
    truth = world.GroundTruth.load(data_dir / "ground_truth.json")
    return BenchWorld(scale, seed, data_dir, truth, data_dir / "shuqiao.toml",
                      data_dir / "sqlite" / "shuqiao.toml", generate_s, load_s, reused)


def derived_config(base: Path, name: str, overrides: dict[str, object]) -> Path:
    """A configuration beside ``base`` (so its relative paths still hold), with ``overrides``."""
    import tomllib

    raw = tomllib.loads(base.read_text(encoding="utf-8"))
    flat: dict[str, object] = {}
    for section, values in raw.items():
        for key, value in values.items():
            flat[f"{section}.{key}"] = value
    flat.update(overrides)
    path = base.parent / name
    path.write_text(render_settings(flat), encoding="utf-8")
    return path


def drop_databases(databases: DemoDatabases) -> None:
    """Drop the benchmark's departmental databases (``b_*``) from both servers."""
    import asyncio

    from connectors import mysql, postgres
    from gateway.demo.databases import demo_sources

    async def run() -> None:
        for source in demo_sources(databases.pg, databases.mariadb):
            name = source.options["database"]
            if source.kind == "mariadb":
                async with mysql.connect(source, database="") as con, con.cursor() as cursor:
                    await cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            else:
                async with postgres.connect(source, database=databases.pg.admin_database) as con:
                    await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    asyncio.run(run())
