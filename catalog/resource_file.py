"""The resource file: the catalogue of government information resources (政务信息资源目录) in YAML.

Read with line numbers and accepted whole or refused whole, like the policy file
(:mod:`catalog.policy_file`, whose reader this module shares): :class:`ResourceFileError` lists
every problem, each with its line. Format, version 1::

    version: 1
    resources:
      - code: 51-PS-0001                        # <2-digit region>-<department>-<4 digits>, unique
        table: public_security.public.residents # a registered table, catalogued once
        name: 全省户籍人口基本信息
        department: public_security             # the source's department (提供部门)
        abstract: 全省户籍人口的身份、户籍地、住址与联系方式 ...
        share_class: conditional                # unconditional | conditional | not_shareable
        basis: 《政务信息资源共享管理暂行办法》第九条 ...   # required unless unconditional
        update_cycle: daily                     # realtime | daily | weekly | monthly |
                                                #   quarterly | yearly
        default_masks:                          # optional: allow | mask:<fn> | match | deny;
          phone: mask:phone                     #   a column not named starts as allow

Checks come in two layers: the document's own consistency, and (with a snapshot and mask
names) cross-checks against the registered tables and the masks the gateway knows.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import yaml

from catalog.errors import CatalogError, PolicyFileError, PolicyProblem
from catalog.governance_models import Resource, ResourceDocument, ShareClass, UpdateCycle
from catalog.models import ActionKind, CatalogSnapshot, ColumnAction, LineKey
from catalog.policy_file import _compose, _Reader

__all__ = ["ResourceFileError", "load_resources", "parse_resources", "validate_resources"]

FORMAT_VERSION = 1
W = TypeVar("W", ShareClass, UpdateCycle)
CODE = re.compile(r"\d{2}-[A-Z]{2,4}-\d{4}")

_TOP_KEYS = ("version", "resources")
_RESOURCE_KEYS = (
    "code", "table", "name", "department", "abstract", "share_class", "basis", "update_cycle",
    "default_masks",
)  # fmt: skip


class ResourceFileError(CatalogError):
    """A resource file was rejected whole; ``problems`` lists every problem found."""

    def __init__(self, path: str, problems: list[PolicyProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {path}:{p}" for p in problems)
        super().__init__(f"resource file {path} rejected, nothing applied:\n{lines}")


def load_resources(
    path: Path | str,
    *,
    snapshot: CatalogSnapshot | None = None,
    known_masks: Collection[str] | None = None,
) -> ResourceDocument:
    """Read a resource file; raise :class:`ResourceFileError` listing every problem found."""
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ResourceFileError(where, [PolicyProblem(1, "the file is not UTF-8 text")]) from None
    except OSError as err:
        raise CatalogError(f"cannot read resource file {where}: {err.strerror}") from None
    return parse_resources(text, where, snapshot=snapshot, known_masks=known_masks)


def parse_resources(
    text: str,
    path: str = "<string>",
    *,
    snapshot: CatalogSnapshot | None = None,
    known_masks: Collection[str] | None = None,
) -> ResourceDocument:
    """Parse resource-file text; like :func:`load_resources` without the file."""
    if not text.strip():
        raise ResourceFileError(path, [PolicyProblem(1, "the resource file is empty")])
    try:
        root = _compose(text, path)
    except PolicyFileError as err:
        raise ResourceFileError(path, err.problems) from None
    reader = _Reader()
    doc = _read_document(reader, root, path)
    problems = reader.problems + validate_resources(doc, snapshot, known_masks)
    if problems:
        raise ResourceFileError(path, sorted(dict.fromkeys(problems), key=lambda p: p.line))
    return doc


# ---------------------------------------------------------------------------------------------
# Reading.


def _read_document(r: _Reader, root: yaml.Node, path: str) -> ResourceDocument:
    top = r.mapping(root, "the resource file", _TOP_KEYS)
    if top is None:
        return ResourceDocument(path=path)
    version = r.required(top, "version", root, "the resource file")
    if version and version != str(FORMAT_VERSION):
        r.problem(top["version"], f"unsupported version {version!r}; expected {FORMAT_VERSION}")
    found: list[Resource] = []
    for item in r.sequence(top["resources"], "resources") if "resources" in top else []:
        key: LineKey = ("resources", len(found))
        resource = _read_resource(r, item, key)
        if resource is None:
            r.forget(key)
        else:
            found.append(resource)
    return ResourceDocument(tuple(found), path, r.lines)


def _read_resource(r: _Reader, node: yaml.Node, key: LineKey) -> Resource | None:
    entries = r.record(node, key, "resource", _RESOURCE_KEYS)
    if entries is None:
        return None
    code = r.required(entries, "code", node, "resource")
    what = f"resource {code}" if code else "resource"
    share = _read_word(r, entries, "share_class", node, what, ShareClass)
    cycle = _read_word(r, entries, "update_cycle", node, what, UpdateCycle)
    resource = Resource(
        code=code,
        table=r.required(entries, "table", node, what),
        name=r.required(entries, "name", node, what),
        department=r.required(entries, "department", node, what),
        share_class=share or ShareClass.NOT_SHAREABLE,
        update_cycle=cycle or UpdateCycle.YEARLY,
        abstract=r.optional(entries, "abstract", what) or "",
        basis=r.optional(entries, "basis", what) or "",
        default_masks=_read_masks(r, entries.get("default_masks"), key, what),
    )
    return resource if code and share and cycle else None


def _read_word(
    r: _Reader, entries: Mapping[str, yaml.Node], key: str, node: yaml.Node, what: str,
    kind: type[W],
) -> W | None:
    text = r.required(entries, key, node, what)
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        words = ", ".join(kind)
        r.problem(entries[key], f"{what}: unknown {key} {text!r} (expected {words})")
        return None


def _read_masks(
    r: _Reader, node: yaml.Node | None, key: LineKey, what: str
) -> dict[str, ColumnAction]:
    entries = None if node is None else r.mapping(node, f"{what}: default_masks")
    return r.actions(entries, (*key, "default_masks"), what)


# ---------------------------------------------------------------------------------------------
# Checks.


def validate_resources(
    doc: ResourceDocument,
    snapshot: CatalogSnapshot | None,
    known_masks: Collection[str] | None,
) -> list[PolicyProblem]:
    """Every problem of ``doc``, sorted by line: its own consistency always; mask names with
    ``known_masks``; tables, columns and departments with ``snapshot``."""
    problems = list(_document_problems(doc))
    if known_masks is not None:
        problems += _mask_problems(doc, known_masks)
    if snapshot is not None:
        problems += _catalog_problems(doc, snapshot)
    return sorted(dict.fromkeys(problems), key=lambda p: p.line)


def _document_problems(doc: ResourceDocument) -> Iterator[PolicyProblem]:
    codes: dict[str, int] = {}
    tables: dict[str, int] = {}
    for i, resource in enumerate(doc.resources):
        where = doc.line("resources", i)
        if not CODE.fullmatch(resource.code):
            message = f"resource {resource.code}: code must look like 51-PS-0001"
            yield PolicyProblem(doc.line("resources", i, "code"), message)
        for seen, name, what in ((codes, resource.code, "code"), (tables, resource.table, "table")):
            if name in seen:
                message = f"duplicate resource {what} {name!r} (first at line {seen[name]})"
                yield PolicyProblem(doc.line("resources", i, what), message)
            seen.setdefault(name, where)
        if resource.share_class.needs_basis and not resource.basis.strip():
            message = (f"resource {resource.code}: a {resource.share_class} resource needs the"
                       " legal basis of its restriction (basis)")
            yield PolicyProblem(where, message)


def _mask_problems(doc: ResourceDocument, known: Collection[str]) -> Iterator[PolicyProblem]:
    for i, resource in enumerate(doc.resources):
        for name, action in resource.default_masks.items():
            if action.kind is ActionKind.MASK and action.mask not in known:
                message = (f"resource {resource.code}: column {name}: unknown mask"
                           f" {action.mask!r} (known: {', '.join(sorted(known))})")
                yield PolicyProblem(doc.line("resources", i, "default_masks", name), message)


def _catalog_problems(doc: ResourceDocument, snapshot: CatalogSnapshot) -> Iterator[PolicyProblem]:
    for i, resource in enumerate(doc.resources):
        what = f"resource {resource.code}"
        table = snapshot.table(resource.table)
        if table is None:
            message = f"{what}: table {resource.table} is not a registered table"
            yield PolicyProblem(doc.line("resources", i, "table"), message)
            continue
        source = snapshot.source(table.source)
        if source is not None and source.department != resource.department:
            message = (f"{what}: department {resource.department!r} does not provide"
                       f" {resource.table} (its source belongs to {source.department!r})")
            yield PolicyProblem(doc.line("resources", i, "department"), message)
        for name in resource.default_masks:
            if table.column(name) is None:
                message = f"{what}: {resource.table} has no column {name!r}"
                yield PolicyProblem(doc.line("resources", i, "default_masks", name), message)
