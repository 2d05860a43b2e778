"""The resource catalogue as principals browse it: metadata only, never data. Pure functions.

Every principal may browse and search the catalogue (the catalogue is how a department learns
what it may ask for), so nothing here consults grants. A catalogue entry joins a
:class:`~catalog.governance_models.Resource` with its registered table: the entry's items
(信息项) are the table's columns with type, classification and description, and the action a
grant of the item starts from.

:func:`resource_rows` and :func:`item_rows` give the rows of the metadata tables
``shuqiao.catalogue.resources`` and ``shuqiao.catalogue.items`` (see :data:`CATALOGUE_TABLES`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from catalog.governance_models import Resource
from catalog.models import CatalogSnapshot, ColumnAction, Table

Row = tuple[object, ...]
Columns = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Item:
    """One information item (信息项): a column of the resource's table."""

    position: int
    name: str
    type: str
    classification: str
    description: str
    default_action: ColumnAction

    @property
    def documented(self) -> bool:
        return bool(self.description.strip() and self.classification.strip())


@dataclass(frozen=True, slots=True)
class Entry:
    """A catalogue entry: the resource, its department's title, its items."""

    resource: Resource
    department_title: str
    items: tuple[Item, ...]

    @property
    def code(self) -> str:
        return self.resource.code

    def words(self) -> str:
        """Everything a search looks at, lower-cased."""
        r = self.resource
        item_words = " ".join(f"{i.name} {i.description}" for i in self.items)
        return " ".join((r.code, r.table, r.name, r.department, self.department_title,
                         r.abstract, r.share_class.value, r.share_class.label,
                         item_words)).lower()


@dataclass(frozen=True)
class Catalogue:
    """The catalogue at one catalog version."""

    snapshot: CatalogSnapshot
    resources: tuple[Resource, ...]

    def entries(self) -> tuple[Entry, ...]:
        """Entries of resources whose table is registered, by code."""
        titles = {d.name: d.title for d in self.snapshot.departments}
        found = ((r, self.snapshot.table(r.table)) for r in self.resources)
        return tuple(Entry(r, titles.get(r.department, ""), _items(r, table))
                     for r, table in found if table is not None)

    def find(self, code_or_table: str) -> Entry | None:
        key = code_or_table.strip()
        return next((e for e in self.entries()
                     if key in (e.code, e.resource.table)), None)

    def search(self, query: str = "", department: str | None = None) -> tuple[Entry, ...]:
        """Entries matching every word of ``query`` (case-insensitive), of one department."""
        words = query.lower().split()
        return tuple(e for e in self.entries()
                     if all(w in e.words() for w in words)
                     and department in (None, e.resource.department))


def _items(resource: Resource, table: Table) -> tuple[Item, ...]:
    return tuple(Item(i, c.name, c.type, c.classification, c.description,
                      resource.default_action(c.name))
                 for i, c in enumerate(table.columns, start=1))


class CatalogueReader(Protocol):
    def catalogue(self) -> Catalogue: ...


def _catalogue(source: Catalogue | CatalogueReader) -> Catalogue:
    return source if isinstance(source, Catalogue) else source.catalogue()


# ---------------------------------------------------------------------------------------------
# The metadata tables.

V, B = "VARCHAR", "BIGINT"
RESOURCE_COLUMNS: Columns = (
    ("resource_code", V), ("resource_name", V), ("table_catalog", V), ("table_schema", V),
    ("table_name", V), ("department", V), ("department_title", V), ("abstract", V),
    ("share_class", V), ("share_class_title", V), ("share_basis", V), ("update_cycle", V),
    ("items", B),
)
ITEM_COLUMNS: Columns = (
    ("resource_code", V), ("table_catalog", V), ("table_schema", V), ("table_name", V),
    ("ordinal_position", B), ("item_name", V), ("data_type", V), ("classification", V),
    ("description", V), ("default_action", V),
)


def resource_rows(source: Catalogue | CatalogueReader,
                  query: str = "") -> tuple[Columns, list[Row]]:
    """``shuqiao.catalogue.resources``: one row per entry matching ``query``."""
    return RESOURCE_COLUMNS, [_resource_row(e) for e in _catalogue(source).search(query)]


def item_rows(source: Catalogue | CatalogueReader, query: str = "") -> tuple[Columns, list[Row]]:
    """``shuqiao.catalogue.items``: one row per item of the entries matching ``query``."""
    entries = _catalogue(source).search(query)
    return ITEM_COLUMNS, [_item_row(e, i) for e in entries for i in e.items]


def _resource_row(e: Entry) -> Row:
    r = e.resource
    source, schema, name = r.table.split(".")
    return (r.code, r.name, source, schema, name, r.department, e.department_title, r.abstract,
            r.share_class.value, r.share_class.label, r.basis, r.update_cycle.value,
            len(e.items))


def _item_row(e: Entry, i: Item) -> Row:
    source, schema, name = e.resource.table.split(".")
    return (e.code, source, schema, name, i.position, i.name, i.type, i.classification,
            i.description, str(i.default_action))


RowsOf = Callable[[Catalogue | CatalogueReader, str], tuple[Columns, list[Row]]]

#: The catalogue's metadata tables by qualified name, each with its rows function.
CATALOGUE_TABLES: dict[str, RowsOf] = {
    "shuqiao.catalogue.resources": resource_rows,
    "shuqiao.catalogue.items": item_rows,
}


def entry_json(entry: Entry, *, items: bool = True) -> dict[str, object]:
    """An entry as the API and ``--format json`` show it."""
    r = entry.resource
    shown: dict[str, object] = {
        "code": r.code, "name": r.name, "table": r.table, "department": r.department,
        "department_title": entry.department_title, "abstract": r.abstract,
        "share_class": r.share_class.value, "share_class_title": r.share_class.label,
        "basis": r.basis, "update_cycle": r.update_cycle.value,
        "default_masks": {k: str(v) for k, v in r.default_masks.items()},
        "item_count": len(entry.items),
    }
    if items:
        shown["items"] = [_item_json(i) for i in entry.items]
    return shown


def _item_json(i: Item) -> dict[str, object]:
    return {"position": i.position, "name": i.name, "type": i.type,
            "classification": i.classification, "description": i.description,
            "default_action": str(i.default_action)}


def documented_items(entries: Iterable[Entry]) -> tuple[int, int]:
    """(items documented, items) over ``entries``."""
    items = [i for e in entries for i in e.items]
    return sum(i.documented for i in items), len(items)
