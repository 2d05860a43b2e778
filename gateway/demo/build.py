"""``shuqiao demo init``: the DEMO.md world on disk — one SQLite file per department, the
catalog with every source registered and introspected, the demo policy applied, a hash-mask
secret, and the ``shuqiao.toml`` every other command takes.
"""

from __future__ import annotations

import os
import secrets
from importlib import resources
from pathlib import Path

from catalog.models import Source
from catalog.store import CatalogStore
from connectors.base import connector_for
from gateway.demo import world
from gateway.policyfiles import apply_policy_file
from gateway.settings import render_settings

CONFIG_NAME = "shuqiao.toml"
CATALOG_NAME = "catalog.sqlite"
KEY_PATH = Path("secrets") / "hash_key"


def demo_policy_path() -> Path:
    return Path(str(resources.files("gateway.demo") / "policy.yaml"))


def build_demo(data_dir: Path, *, scale: int, seed: int, progress: bool = False) -> Path:
    """Build (or rebuild) the demo world in ``data_dir``; return the config file's path."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    world.generate(data_dir, scale, seed, progress=progress)
    catalog = data_dir / CATALOG_NAME
    catalog.unlink(missing_ok=True)
    with CatalogStore(catalog) as store:
        register_demo_sources(store, data_dir)
        apply_policy_file(store, demo_policy_path())
    _write_key(data_dir / KEY_PATH)
    config = data_dir / CONFIG_NAME
    config.write_text(render_settings({
        "catalog.path": CATALOG_NAME,
        "security.hash_key": f"file:{KEY_PATH.as_posix()}",
    }), encoding="utf-8")
    return config


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
