"""Applying policy files to the catalog: validated whole against the registered tables and the
masks the gateway knows, then written in one transaction — or not at all."""

from __future__ import annotations

from pathlib import Path

from catalog.policy_file import load_policy
from catalog.store import CatalogStore
from gateway.policy.masks import MASKS


def apply_policy_file(store: CatalogStore, path: Path) -> str:
    """Apply ``path``; raise ``PolicyFileError`` listing every problem, with nothing written."""
    doc = load_policy(path, snapshot=store.snapshot(), known_masks=MASKS.keys())
    store.apply_policy(doc)
    return (
        f"applied {path}: {len(doc.departments)} departments, {len(doc.principals)} principals, "
        f"{len(doc.grants)} grants (catalog version {store.version})"
    )
