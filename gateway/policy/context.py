"""What every pipeline step may read: a frozen catalog snapshot, who is asking, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from catalog.models import CatalogSnapshot, Principal
from gateway.errors import NotAuthenticated


@dataclass(frozen=True, slots=True)
class PolicyContext:
    """The inputs of one policy decision. ``today`` is passed in: the pipeline reads no clock."""

    snapshot: CatalogSnapshot
    principal: Principal
    today: date
    default_catalog: str | None = None
    default_schema: str | None = None

    @classmethod
    def for_principal(
        cls,
        snapshot: CatalogSnapshot,
        principal: str,
        today: date,
        *,
        default_catalog: str | None = None,
        default_schema: str | None = None,
    ) -> PolicyContext:
        found = snapshot.principal(principal)
        if found is None:
            raise NotAuthenticated(f"unknown principal {principal!r}")
        return cls(snapshot, found, today, default_catalog, default_schema)
