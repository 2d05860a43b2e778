"""``shuqiao demo init``: the DEMO.md world on disk — one SQLite file per department, the
catalog with every source registered and introspected, the demo policy applied, a hash-mask
secret, and the ``shuqiao.toml`` every other command takes.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from catalog.audit_store import AuditLog
from catalog.models import Source
from catalog.store import CatalogStore
from connectors.base import connector_for
from gateway.demo import world
from gateway.demo.databases import MariaTarget, PgTarget, load_demo_databases
from gateway.governance import apply_governance_files
from gateway.policyfiles import apply_policy_file
from gateway.settings import render_settings
from gateway.sources import add_source, write_trino_catalogs

CONFIG_NAME = "shuqiao.toml"
TRINO_CATALOGS = Path("trino") / "catalog"
CATALOG_NAME = "catalog.sqlite"
AUDIT_NAME = "audit.sqlite"
KEY_PATH = Path("secrets") / "hash_key"


def demo_policy_path() -> Path:
    return demo_file("policy.yaml")


def demo_file(name: str) -> Path:
    """A file of the demo world shipped with the package (the repo keeps them in deploy/demo)."""
    return Path(str(resources.files("gateway.demo") / name))


def build_demo(data_dir: Path, *, scale: int, seed: int, progress: bool = False,
               databases: DemoDatabases | None = None) -> Path:
    """Build (or rebuild) the demo world in ``data_dir``; return the config file's path.

    With ``databases``, each department is loaded into its own PostgreSQL database (transport
    into MariaDB) and registered from there; Trino's catalogs are written to ``trino/catalog``.
    Otherwise every department is a SQLite file in ``data_dir``.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    world.generate(data_dir, scale, seed, progress=progress)
    catalog = data_dir / CATALOG_NAME
    catalog.unlink(missing_ok=True)
    with CatalogStore(catalog) as store:
        if databases is None:
            register_demo_sources(store, data_dir)
        else:
            register_database_sources(store, data_dir, databases, progress=progress)
        apply_policy_file(store, demo_policy_path())
        with AuditLog(data_dir / AUDIT_NAME) as audit:
            apply_governance_files(store, audit, owners=demo_file("owners.yaml"),
                                   resources=demo_file("resources.yaml"))
    _write_key(data_dir / KEY_PATH)
    config = data_dir / CONFIG_NAME
    config.write_text(render_settings({
        "catalog.path": CATALOG_NAME,
        "security.hash_key": f"file:{KEY_PATH.as_posix()}",
        "engine.default": "duckdb" if databases is None else "auto",
    }), encoding="utf-8")
    return config


@dataclass(frozen=True)
class DemoDatabases:
    """Where ``demo init --engine trino`` puts the departments."""

    pg: PgTarget = field(default_factory=PgTarget)
    mariadb: MariaTarget = field(default_factory=MariaTarget)


def register_database_sources(store: CatalogStore, data_dir: Path, databases: DemoDatabases,
                              *, progress: bool = False) -> None:
    sources = load_demo_databases(data_dir, pg=databases.pg, mariadb=databases.mariadb,
                                  progress=progress)
    for source in sources:
        add_source(store, source)
    write_trino_catalogs(sources, data_dir / TRINO_CATALOGS)


def register_demo_sources(store: CatalogStore, data_dir: Path) -> None:
    """Each department's SQLite file as a source named after the department, introspected."""
    for name in world.SOURCES:
        source = Source(name, "sqlite", department=name,
                        options={"path": str(data_dir / f"{name}.sqlite")})
        store.register_source(source)
        store.replace_tables(name, connector_for("sqlite").introspect(source))


def _write_key(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32))
