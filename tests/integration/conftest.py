"""The demo world in real departmental databases, once per session: generated, loaded into
PostgreSQL (transport into MariaDB), registered in a catalog, and served by Trino through
catalogs rendered from it — beside a SQLite-backed catalog over the very same generated files,
so every engine answers over identical data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import services

from catalog.store import CatalogStore
from gateway.demo import world
from gateway.demo.build import (
    DemoDatabases,
    build_demo,
    demo_policy_path,
    register_demo_sources,
)
from gateway.demo.databases import MariaTarget, PgTarget
from gateway.policyfiles import apply_policy_file
from gateway.service import Gateway
from gateway.settings import render_settings

SCALE = 3000
SEED = 11
PREFIX = "t_eng_"


@dataclass(frozen=True)
class RealWorld:
    data_dir: Path
    truth: world.GroundTruth
    sqlite_config: Path
    real_config: Path


@pytest.fixture(scope="session")
def real_world(tmp_path_factory: pytest.TempPathFactory) -> RealWorld:
    os.environ.setdefault("SHUQIAO_PG_PASSWORD", services.PASSWORD)
    os.environ.setdefault("SHUQIAO_MARIADB_PASSWORD", services.PASSWORD)
    services.ensure_up("postgres", "mariadb")
    data_dir = tmp_path_factory.mktemp("real-world")
    databases = DemoDatabases(PgTarget(port=services.pg_port(), prefix=PREFIX),
                              MariaTarget(port=services.mariadb_port(), prefix=PREFIX))
    real_config = build_demo(data_dir, scale=SCALE, seed=SEED, databases=databases)
    _enable_trino(real_config)
    sqlite_config = _sqlite_twin(data_dir)
    _serve_catalogs(data_dir)
    return RealWorld(data_dir, world.GroundTruth.load(data_dir / "ground_truth.json"),
                     sqlite_config, real_config)


def _enable_trino(config: Path) -> None:
    text = config.read_text(encoding="utf-8")
    extra = render_settings({"trino.enabled": True, "trino.port": services.trino_port()})
    config.write_text(f"{text}\n{extra}", encoding="utf-8")


def _sqlite_twin(data_dir: Path) -> Path:
    """A second catalog over the generated SQLite files themselves (same data, same policy)."""
    twin = data_dir / "sqlite"
    twin.mkdir()
    with CatalogStore(twin / "catalog.sqlite") as store:
        register_demo_sources(store, data_dir)
        apply_policy_file(store, demo_policy_path())
    config = twin / "shuqiao.toml"
    config.write_text(render_settings({
        "catalog.path": "catalog.sqlite",
        "security.hash_key": f"file:{data_dir / 'secrets' / 'hash_key'}",
    }), encoding="utf-8")
    return config


def _serve_catalogs(data_dir: Path) -> None:
    """Trino reads the catalogs ``demo init`` rendered, with the service user's access rules."""
    from gateway.trino_config import trino_tables, write_access_control

    catalogs = services.trino_catalogs_dir()
    catalogs.mkdir(parents=True, exist_ok=True)
    for old in catalogs.glob("*.properties"):
        old.unlink()
    for rendered in (data_dir / "trino" / "catalog").glob("*.properties"):
        (catalogs / rendered.name).write_text(rendered.read_text(encoding="utf-8"))
    with CatalogStore(data_dir / "catalog.sqlite") as store:
        snapshot = store.snapshot()
    tables = trino_tables(snapshot, {s.name for s in snapshot.sources})
    write_access_control(services.trino_etc_extra_dir(), service_user="shuqiao", tables=tables)
    services.trino_reload()


@pytest.fixture(scope="session")
def sqlite_gateway(real_world: RealWorld) -> Iterator[Gateway]:
    service = Gateway.from_config(real_world.sqlite_config)
    yield service
    service.close()


@pytest.fixture(scope="session")
def real_gateway(real_world: RealWorld) -> Iterator[Gateway]:
    service = Gateway.from_config(real_world.real_config)
    yield service
    service.close()
