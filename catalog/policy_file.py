"""Policy as code: the YAML policy file, read with line numbers, checked, and written back.

A policy file declares departments, principals, annotations of registered tables and grants. It
is accepted whole or refused whole: :class:`~catalog.errors.PolicyFileError` lists every problem
found, each with its line. Format, version 1::

    version: 1                                # required
    departments:                              # name (required), title
      - {name: public_security, title: 四川省公安厅 Public Security}
    principals:                               # name, department (required); roles, title
      - {name: si_analyst, department: social_security, roles: [analyst], title: analyst}
    tables:                                   # annotations, keyed by logical table name
      public_security.public.residents:
        description: 户籍人口 registered residents
        columns:                              # classification: public | internal |
          id_no:                              #   sensitive-personal | restricted
            {classification: sensitive-personal, description: 居民身份证号码 identity number}
    grants:
      - id: G2                                # unique
        principal: si_analyst                 # a principal declared above
        table: public_security.public.residents   # <source>.public.<table> | <source>.public.*
        purpose: coverage expansion 参保扩面
        columns:                              # allow | mask:<fn> | match | deny
          id_no: allow                        # "*" (quoted) names every other column
          address: mask:address_district
        row_filter: "hukou_region_code LIKE '51%' AND status = 'active'"   # optional
        aggregate_only: {min_group_size: 10, subject_column: id_no}        # optional
        valid_from: 2025-01-01                # optional, YYYY-MM-DD
        valid_until: 2027-12-31               # optional; absent means no expiry
        approved_by: public_security_data_owner   # required; never the grantee

A column a grant does not name, with no ``"*"`` entry, is ``deny``. Unknown keys are problems, so
a misspelt ``valid_until`` can never silently mean "no expiry". A row filter is a Trino boolean
expression over the table's own, unqualified columns, built only from comparisons, LIKE, IN,
BETWEEN, IS NULL, AND, OR, NOT and literals. Two grants of one principal with the same table
pattern are ambiguous (patterns are either exact or ``<source>.public.*``, so equal specificity
and overlap mean the same pattern).

Checks come in three layers: the file's shape (while parsing), the document's own consistency
(:data:`DOCUMENT_CHECKS`), and cross-checks against the registered tables and the known masks
(:func:`validate_policy` with a snapshot and mask names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import sqlglot
import yaml
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError

from catalog.errors import CatalogError, PolicyFileError, PolicyProblem
from catalog.models import (
    CLASSIFICATIONS,
    LOGICAL_SCHEMA,
    ActionKind,
    AggregateOnly,
    CatalogSnapshot,
    ColumnAction,
    ColumnAnnotation,
    Department,
    Grant,
    LineKey,
    PolicyDocument,
    Principal,
    Table,
    TableAnnotation,
)

__all__ = [
    "ColumnAnnotation",
    "PolicyDocument",
    "TableAnnotation",
    "dump_policy",
    "load_policy",
    "parse_policy",
    "row_filter_problems",
    "validate_policy",
]

FORMAT_VERSION = 1

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Reading: composed YAML nodes keep their marks, so every problem can name its line.

_NULL_TAG = "tag:yaml.org,2002:null"
_TOP_KEYS = ("version", "departments", "principals", "tables", "grants")
_DEPARTMENT_KEYS = ("name", "title")
_PRINCIPAL_KEYS = ("name", "department", "roles", "title")
_TABLE_KEYS = ("description", "columns")
_COLUMN_KEYS = ("classification", "description")
_AGGREGATE_KEYS = ("min_group_size", "subject_column")
_GRANT_KEYS = (
    "id", "principal", "table", "purpose", "columns", "row_filter", "aggregate_only",
    "valid_from", "valid_until", "approved_by",
)  # fmt: skip
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WHOLE_NUMBER = re.compile(r"[+-]?\d+")
_DEFAULT_SUBJECT = AggregateOnly(min_group_size=2).subject_column


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _Reader:
    """Walks composed YAML nodes, collecting problems and the line of every entry."""

    def __init__(self) -> None:
        self.problems: list[PolicyProblem] = []
        self.lines: dict[LineKey, int] = {}

    def problem(self, node: yaml.Node, message: str) -> None:
        self.problems.append(PolicyProblem(_line(node), message))

    def forget(self, key: LineKey) -> None:
        for known in [k for k in self.lines if k[: len(key)] == key]:
            del self.lines[known]

    def actions(self, names: Mapping[str, yaml.Node] | None, key: LineKey,
                what: str) -> dict[str, ColumnAction]:
        """Column name → action (``allow``, ``mask:<fn>``, ...), each entry's line recorded
        under ``key`` + the column name."""
        actions: dict[str, ColumnAction] = {}
        for name, value in (names or {}).items():
            self.lines[(*key, name)] = _line(value)
            text = self.text(value, f"{what}: column {name}")
            try:
                actions[name] = ColumnAction.parse(text or "")
            except ValueError as err:
                self.problem(value, f"{what}: column {name}: {err}")
        return actions

    def text(self, node: yaml.Node, what: str) -> str | None:
        """A scalar's text as written (no YAML 1.1 type guessing); ``None`` for null."""
        if isinstance(node, yaml.ScalarNode):
            return None if node.tag == _NULL_TAG else str(node.value)
        kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
        self.problem(node, f"{what} must be a single value, not {kind}")
        return None

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self.problem(node, f"{what} must be a list")
        return []

    def mapping(
        self, node: yaml.Node, what: str, allowed: tuple[str, ...] | None = None
    ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return None
        entries: dict[str, yaml.Node] = {}
        for key_node, value in node.value:
            key = self.text(key_node, f"a key in {what}")
            if key is None:
                continue
            if key in entries:
                self.problem(key_node, f"{what}: duplicate key {key!r}")
            elif allowed is not None and key not in allowed:
                self.problem(key_node, f"{what}: unknown key {key!r} (expected {_or(allowed)})")
            else:
                entries[key] = value
        return entries

    def record(
        self, node: yaml.Node, key: LineKey, what: str, allowed: tuple[str, ...]
    ) -> dict[str, yaml.Node] | None:
        """A mapping entry of the document; marks its line and each field's line."""
        entries = self.mapping(node, what, allowed)
        if entries is not None:
            self.lines[key] = _line(node)
            self.lines.update({(*key, name): _line(value) for name, value in entries.items()})
        return entries

    def optional(self, entries: Mapping[str, yaml.Node], key: str, what: str) -> str | None:
        node = entries.get(key)
        return None if node is None else self.text(node, f"{what}: {key}")

    def required(
        self, entries: Mapping[str, yaml.Node], key: str, node: yaml.Node, what: str
    ) -> str:
        """The field's text; ``""`` (after reporting why) when it is missing or empty."""
        if key not in entries:
            self.problem(node, f"{what}: missing {key}")
            return ""
        value = self.text(entries[key], f"{what}: {key}")
        if value is not None and value.strip():
            return value
        if isinstance(entries[key], yaml.ScalarNode):
            self.problem(entries[key], f"{what}: {key} must not be empty")
        return ""

    def day(self, entries: Mapping[str, yaml.Node], key: str, what: str) -> date | None:
        text = self.optional(entries, key, what)
        if text is None:
            return None
        if _ISO_DATE.fullmatch(text):
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
        self.problem(entries[key], f"{what}: {key} {text!r} is not an ISO date (YYYY-MM-DD)")
        return None


def _or(words: Collection[str]) -> str:
    return ", ".join(words)


def load_policy(
    path: Path | str,
    *,
    snapshot: CatalogSnapshot | None = None,
    known_masks: Collection[str] | None = None,
    partial: bool = False,
) -> PolicyDocument:
    """Read a policy file; raise :class:`PolicyFileError` listing every problem found.

    With ``snapshot`` and/or ``known_masks`` the cross-checks of :func:`validate_policy` run
    too, so one call reports everything at once. ``partial`` reads a file meant for
    ``CatalogStore.apply_policy(doc, replace=False)``, whose references may lie outside it.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PolicyFileError(where, [PolicyProblem(1, "the file is not UTF-8 text")]) from None
    except OSError as err:
        raise CatalogError(f"cannot read policy file {where}: {err.strerror}") from None
    return parse_policy(text, where, snapshot=snapshot, known_masks=known_masks, partial=partial)


def parse_policy(
    text: str,
    path: str = "<string>",
    *,
    snapshot: CatalogSnapshot | None = None,
    known_masks: Collection[str] | None = None,
    partial: bool = False,
) -> PolicyDocument:
    """Parse policy text; like :func:`load_policy` without the file."""
    reader = _Reader()
    doc = _read_document(reader, _compose(text, path), path)
    problems = reader.problems + validate_policy(doc, snapshot, known_masks, partial=partial)
    if problems:
        raise PolicyFileError(path, sorted(dict.fromkeys(problems), key=lambda p: p.line))
    return doc


def _compose(text: str, path: str) -> yaml.Node:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        raise PolicyFileError(path, [_syntax_problem(err)]) from None
    except yaml.YAMLError as err:
        raise PolicyFileError(path, [PolicyProblem(1, f"not valid YAML: {err}")]) from None
    if root is None:
        raise PolicyFileError(path, [PolicyProblem(1, "the policy file is empty")])
    return root


def _syntax_problem(err: yaml.MarkedYAMLError) -> PolicyProblem:
    mark = err.problem_mark or err.context_mark
    line = int(mark.line) + 1 if mark else 1
    message = f"not valid YAML: {err.problem or err.context or 'syntax error'}"
    if err.context and err.context_mark and err.problem_mark:
        message += f" ({err.context} on line {int(err.context_mark.line) + 1})"
    return PolicyProblem(line, message)


def _read_document(r: _Reader, root: yaml.Node, path: str) -> PolicyDocument:
    top = r.mapping(root, "the policy file", _TOP_KEYS)
    if top is None:
        return PolicyDocument(path=path)
    _read_version(r, top, root)
    for section in _TOP_KEYS[1:]:
        if section in top:
            r.lines[(section,)] = _line(top[section])
    return PolicyDocument(
        departments=_read_list(r, top.get("departments"), "departments", _read_department),
        principals=_read_list(r, top.get("principals"), "principals", _read_principal),
        tables=_read_tables(r, top.get("tables")),
        grants=_read_list(r, top.get("grants"), "grants", _read_grant),
        path=path,
        lines=r.lines,
    )


def _read_version(r: _Reader, top: Mapping[str, yaml.Node], root: yaml.Node) -> None:
    version = r.required(top, "version", root, "the policy file")
    if version and version != str(FORMAT_VERSION):
        r.problem(top["version"], f"unsupported version {version!r}; expected {FORMAT_VERSION}")


def _read_list(
    r: _Reader,
    node: yaml.Node | None,
    section: str,
    read_one: Callable[[_Reader, yaml.Node, LineKey], T | None],
) -> tuple[T, ...]:
    found: list[T] = []
    for item in [] if node is None else r.sequence(node, section):
        key: LineKey = (section, len(found))
        value = read_one(r, item, key)
        if value is None:
            r.forget(key)
        else:
            found.append(value)
    return tuple(found)


def _read_department(r: _Reader, node: yaml.Node, key: LineKey) -> Department | None:
    entries = r.record(node, key, "department", _DEPARTMENT_KEYS)
    if entries is None:
        return None
    name = r.required(entries, "name", node, "department")
    title = r.optional(entries, "title", f"department {name}") or ""
    return Department(name, title) if name else None


def _read_principal(r: _Reader, node: yaml.Node, key: LineKey) -> Principal | None:
    entries = r.record(node, key, "principal", _PRINCIPAL_KEYS)
    if entries is None:
        return None
    name = r.required(entries, "name", node, "principal")
    what = f"principal {name}"
    department = r.required(entries, "department", node, what)
    roles = _read_words(r, entries.get("roles"), f"{what}: roles")
    title = r.optional(entries, "title", what) or ""
    return Principal(name, department, roles, title) if name else None


def _read_words(r: _Reader, node: yaml.Node | None, what: str) -> tuple[str, ...]:
    words = [r.text(item, what) for item in ([] if node is None else r.sequence(node, what))]
    return tuple(word for word in words if word)


def _read_tables(r: _Reader, node: yaml.Node | None) -> tuple[TableAnnotation, ...]:
    entries = {} if node is None else r.mapping(node, "tables")
    found: list[TableAnnotation] = []
    for name, value in (entries or {}).items():
        key: LineKey = ("tables", len(found))
        fields = r.record(value, key, f"table {name}", _TABLE_KEYS)
        if fields is None:
            r.forget(key)
            continue
        columns = _read_column_annotations(r, fields.get("columns"), key, name)
        description = r.optional(fields, "description", f"table {name}")
        found.append(TableAnnotation(name, description, columns))
    return tuple(found)


def _read_column_annotations(
    r: _Reader, node: yaml.Node | None, key: LineKey, table: str
) -> dict[str, ColumnAnnotation]:
    entries = {} if node is None else r.mapping(node, f"table {table}: columns")
    columns: dict[str, ColumnAnnotation] = {}
    for name, value in (entries or {}).items():
        what = f"table {table}: column {name}"
        fields = r.record(value, (*key, "columns", name), what, _COLUMN_KEYS)
        if fields is not None:
            classification = r.optional(fields, "classification", what)
            description = r.optional(fields, "description", what)
            columns[name] = ColumnAnnotation(classification, description)
    return columns


def _read_grant(r: _Reader, node: yaml.Node, key: LineKey) -> Grant | None:
    entries = r.record(node, key, "grant", _GRANT_KEYS)
    if entries is None:
        return None
    grant_id = r.required(entries, "id", node, "grant")
    what = f"grant {grant_id}" if grant_id else "grant"
    grant = Grant(
        id=grant_id,
        principal=r.required(entries, "principal", node, what),
        table=r.required(entries, "table", node, what),
        purpose=r.required(entries, "purpose", node, what),
        columns=_read_actions(r, entries, node, key, what),
        row_filter=r.optional(entries, "row_filter", what),
        aggregate_only=_read_aggregate(r, entries.get("aggregate_only"), what),
        valid_from=r.day(entries, "valid_from", what),
        valid_until=r.day(entries, "valid_until", what),
        approved_by=r.required(entries, "approved_by", node, what),
    )
    return grant if grant_id else None


def _read_actions(
    r: _Reader, entries: Mapping[str, yaml.Node], node: yaml.Node, key: LineKey, what: str
) -> dict[str, ColumnAction]:
    if "columns" not in entries:
        r.problem(node, f"{what}: missing columns")
        return {}
    names = r.mapping(entries["columns"], f"{what}: columns")
    if names == {}:
        r.problem(entries["columns"], f"{what}: columns must name at least one column")
    return r.actions(names, (*key, "columns"), what)


def _read_aggregate(r: _Reader, node: yaml.Node | None, what: str) -> AggregateOnly | None:
    where = f"{what}: aggregate_only"
    fields = None if node is None else r.mapping(node, where, _AGGREGATE_KEYS)
    if node is None or fields is None:
        return None
    size = r.required(fields, "min_group_size", node, where)
    subject = r.optional(fields, "subject_column", where) or _DEFAULT_SUBJECT
    if size and not _WHOLE_NUMBER.fullmatch(size):
        r.problem(fields["min_group_size"], f"{where}: min_group_size must be a whole number")
        return None
    return AggregateOnly(int(size), subject) if size else None


# ---------------------------------------------------------------------------------------------
# Row filters: a small, safe subset of Trino boolean expressions.

_FILTER_NODES = (
    exp.And, exp.Or, exp.Not, exp.Paren, exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE,
    exp.Like, exp.In, exp.Is, exp.Between, exp.Column, exp.Identifier, exp.Literal, exp.Null,
    exp.Boolean, exp.Neg,
)  # fmt: skip
_PREDICATES = (
    exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE, exp.Like, exp.In, exp.Is, exp.Between,
    exp.Boolean,
)  # fmt: skip


def _parse_filter(text: str) -> exp.Expr | str:
    """The filter's tree, or why it does not parse."""
    try:
        tree = sqlglot.parse_one(text, read="trino")
    except ParseError as err:
        details = err.errors[0]["description"] if err.errors else str(err).splitlines()[0]
        return f"row filter is not valid Trino SQL: {details}"
    except SqlglotError as err:
        return f"row filter is not valid Trino SQL: {str(err).splitlines()[0]}"
    return tree


def row_filter_problems(text: str) -> list[str]:
    """Why ``text`` is not an acceptable row filter; empty when it is."""
    tree = _parse_filter(text)
    if isinstance(tree, str):
        return [tree]
    banned = [n for n in tree.walk(prune=_banned) if _banned(n)]
    problems = list(dict.fromkeys(f"row filter may not use {_construct(n)}" for n in banned))
    if any(column.table for column in tree.find_all(exp.Column)):
        problems.append("row filter must name columns without a table qualifier")
    if not problems and not _is_boolean(tree):
        problems.append(
            "row filter is not a boolean expression (comparisons, LIKE, IN, BETWEEN or IS NULL,"
            " combined with AND, OR, NOT)"
        )
    return problems


def row_filter_columns(text: str) -> frozenset[str]:
    """The column names a (valid) row filter reads; Trino folds names to lower case."""
    tree = _parse_filter(text)
    if isinstance(tree, str):
        return frozenset()
    return frozenset(str(column.name).lower() for column in tree.find_all(exp.Column))


def _banned(node: exp.Expr) -> bool:
    return not isinstance(node, _FILTER_NODES)


def _construct(node: exp.Expr) -> str:
    if isinstance(node, exp.Select | exp.Subquery | exp.Exists | exp.Query):
        return "subqueries"
    if isinstance(node, exp.Func):
        return f"function {node.sql_name()}"
    return f"{node.key.upper()} expressions"


def _is_boolean(node: exp.Expr) -> bool:
    if isinstance(node, exp.Paren | exp.Not):
        return _is_boolean(node.this)
    if isinstance(node, exp.And | exp.Or):
        return _is_boolean(node.left) and _is_boolean(node.right)
    return isinstance(node, _PREDICATES)


# ---------------------------------------------------------------------------------------------
# Checks of the document on its own. Each yields problems; DOCUMENT_CHECKS runs them in order.

_TABLE_PATTERN = re.compile(rf"[a-z_][a-z0-9_]*\.{LOGICAL_SCHEMA}\.([a-z_][a-z0-9_]*|\*)")
_TABLE_NAME = re.compile(rf"[a-z_][a-z0-9_]*\.{LOGICAL_SCHEMA}\.[a-z_][a-z0-9_]*")

Check = Callable[[PolicyDocument], Iterator[PolicyProblem]]


def _unique_names(doc: PolicyDocument) -> Iterator[PolicyProblem]:
    yield from _duplicates(doc, "departments", [d.name for d in doc.departments], "department")
    yield from _duplicates(doc, "principals", [p.name for p in doc.principals], "principal")
    yield from _duplicates(doc, "grants", [g.id for g in doc.grants], "grant id")
    for i, principal in enumerate(doc.principals):
        if len(set(principal.roles)) < len(principal.roles):
            yield PolicyProblem(
                doc.line("principals", i, "roles"), f"principal {principal.name}: repeated role"
            )


def _duplicates(
    doc: PolicyDocument, section: str, names: list[str], what: str
) -> Iterator[PolicyProblem]:
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        if name not in first:
            first[name] = i
            continue
        earlier = doc.line(section, first[name])
        where = f" (first at line {earlier})" if earlier else ""
        yield PolicyProblem(doc.line(section, i), f"duplicate {what} {name!r}{where}")


def _references(doc: PolicyDocument) -> Iterator[PolicyProblem]:
    departments = {d.name for d in doc.departments}
    principals = {p.name for p in doc.principals}
    for i, p in enumerate(doc.principals):
        if p.department and p.department not in departments:
            message = f"principal {p.name}: unknown department {p.department!r}"
            yield PolicyProblem(doc.line("principals", i, "department"), message)
    for i, g in enumerate(doc.grants):
        if g.principal and g.principal not in principals:
            message = f"grant {g.id}: unknown principal {g.principal!r}"
            yield PolicyProblem(doc.line("grants", i, "principal"), message)


def _grant_rules(doc: PolicyDocument) -> Iterator[PolicyProblem]:
    for i, grant in enumerate(doc.grants):
        for key, message in _grant_problems(grant):
            yield PolicyProblem(doc.line("grants", i, key), f"grant {grant.id}: {message}")


def _grant_problems(g: Grant) -> Iterator[tuple[str, str]]:
    if g.table and not _TABLE_PATTERN.fullmatch(g.table):
        yield "table", f"table {g.table!r} is not <source>.public.<table> or <source>.public.*"
    for message in row_filter_problems(g.row_filter) if g.row_filter is not None else ():
        yield "row_filter", message
    if g.aggregate_only and g.aggregate_only.min_group_size < 2:
        yield "aggregate_only", "min_group_size must be at least 2"
    if g.valid_from and g.valid_until and g.valid_until < g.valid_from:
        yield "valid_until", f"valid_until {g.valid_until} is before valid_from {g.valid_from}"
    if g.approved_by and g.approved_by == g.principal:
        yield "approved_by", "a grant may not be approved by its own principal"


def _ambiguous(doc: PolicyDocument) -> Iterator[PolicyProblem]:
    first: dict[tuple[str, str], Grant] = {}
    for i, grant in enumerate(doc.grants):
        earlier = first.setdefault((grant.principal, grant.table), grant)
        if earlier is not grant and earlier.id != grant.id:  # a duplicate id is reported apart
            message = (
                f"grant {grant.id}: ambiguous with grant {earlier.id}: both give"
                f" {grant.principal} {grant.table} with the same specificity"
            )
            yield PolicyProblem(doc.line("grants", i, "table"), message)


def _annotations(doc: PolicyDocument) -> Iterator[PolicyProblem]:
    for i, table in enumerate(doc.tables):
        if not _TABLE_NAME.fullmatch(table.table):
            message = f"table {table.table!r} is not a logical name <source>.public.<table>"
            yield PolicyProblem(doc.line("tables", i), message)
        for name, column in table.columns.items():
            if column.classification is not None and column.classification not in CLASSIFICATIONS:
                message = (
                    f"table {table.table}: column {name}: unknown classification"
                    f" {column.classification!r} (expected {_or(CLASSIFICATIONS)})"
                )
                yield PolicyProblem(doc.line("tables", i, "columns", name), message)


DOCUMENT_CHECKS: tuple[Check, ...] = (_unique_names, _grant_rules, _ambiguous, _annotations)

#: Checks that need the whole policy, not a part to be laid over the current one.
WHOLE_POLICY_CHECKS: tuple[Check, ...] = (_references,)


# ---------------------------------------------------------------------------------------------
# Cross-checks against the known masks and the registered tables.


def validate_policy(
    doc: PolicyDocument,
    snapshot: CatalogSnapshot | None,
    known_masks: Collection[str] | None,
    *,
    partial: bool = False,
) -> list[PolicyProblem]:
    """Every problem of ``doc``, sorted by line.

    The document's own consistency is always checked; mask names when ``known_masks`` is given;
    tables and columns when ``snapshot`` is given. Unless ``partial`` (a document meant to be
    laid over the current policy), references to principals and departments must resolve
    within it, and with ``snapshot`` every registered source's department must be declared.
    """
    checks = DOCUMENT_CHECKS if partial else DOCUMENT_CHECKS + WHOLE_POLICY_CHECKS
    problems = [problem for check in checks for problem in check(doc)]
    if known_masks is not None:
        problems += _mask_problems(doc, known_masks)
    if snapshot is not None:
        problems += _catalog_problems(doc, snapshot)
        problems += [] if partial else _department_problems(doc, snapshot)
    return sorted(dict.fromkeys(problems), key=lambda p: p.line)


def _mask_problems(doc: PolicyDocument, known: Collection[str]) -> Iterator[PolicyProblem]:
    for i, grant in enumerate(doc.grants):
        for name, action in grant.columns.items():
            if action.kind is ActionKind.MASK and action.mask not in known:
                message = (
                    f"grant {grant.id}: column {name}: unknown mask {action.mask!r}"
                    f" (known: {_or(sorted(known))})"
                )
                yield PolicyProblem(doc.line("grants", i, "columns", name), message)


def _catalog_problems(doc: PolicyDocument, snapshot: CatalogSnapshot) -> Iterator[PolicyProblem]:
    for i, grant in enumerate(doc.grants):
        covered = [t for t in snapshot.tables if grant.covers(t.qualified)]
        for key, message in _grant_catalog_problems(grant, covered):
            yield PolicyProblem(doc.line("grants", i, *key), f"grant {grant.id}: {message}")
    for i, table in enumerate(doc.tables):
        for key, message in _annotation_catalog_problems(table, snapshot.table(table.table)):
            yield PolicyProblem(doc.line("tables", i, *key), f"table {table.table}: {message}")


def _department_problems(doc: PolicyDocument, snapshot: CatalogSnapshot) -> Iterator[PolicyProblem]:
    declared = {d.name for d in doc.departments}
    for source in snapshot.sources:
        if source.department not in declared:
            message = f"source {source.name} belongs to undeclared department {source.department!r}"
            yield PolicyProblem(doc.line("departments"), message)


def _grant_catalog_problems(grant: Grant, covered: list[Table]) -> Iterator[tuple[LineKey, str]]:
    if not covered:
        yield ("table",), f"table {grant.table} matches no registered table"
        return
    known = {name for table in covered for name in table.column_names}
    for name in grant.columns:
        if name != "*" and name not in known:
            yield ("columns", name), f"column {name!r} is in no table {grant.table} covers"
    for table in covered:
        yield from _table_catalog_problems(grant, table)


def _table_catalog_problems(grant: Grant, table: Table) -> Iterator[tuple[LineKey, str]]:
    columns = set(table.column_names)
    missing = row_filter_columns(grant.row_filter or "") - columns
    if missing:
        names = _or(sorted(missing))
        yield ("row_filter",), f"row filter uses {names}, which {table.qualified} does not have"
    subject = grant.aggregate_only.subject_column if grant.aggregate_only else None
    if subject is not None and subject not in columns:
        message = f"subject_column {subject!r} is not a column of {table.qualified}"
        yield ("aggregate_only",), message


def _annotation_catalog_problems(
    annotation: TableAnnotation, table: Table | None
) -> Iterator[tuple[LineKey, str]]:
    if table is None:
        yield (), "is not a registered table"
        return
    for name in annotation.columns:
        if table.column(name) is None:
            yield ("columns", name), f"has no column {name!r}"


# ---------------------------------------------------------------------------------------------
# Writing: YAML that parses back to an equal document.


class _Flow(dict[str, Any]):
    """A mapping written on one line, as a person would write it."""


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    """On one line when it fits (wide CJK characters count twice), else one field a line."""
    width = sum(len(str(k)) + len(str(v)) + 4 for k, v in fields.items())
    width += sum(1 for k, v in fields.items() for ch in f"{k}{v}" if ord(ch) > 0x2E80)
    return _Flow(fields) if width <= 84 else fields


class _Dumper(yaml.SafeDumper):
    pass


class _Words(list[str]):
    """A list written on one line: ``[analyst, auditor]``."""


def _represent_flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


def _represent_words(dumper: yaml.SafeDumper, data: _Words) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_Dumper.add_representer(_Flow, _represent_flow)
_Dumper.add_representer(_Words, _represent_words)


def dump_policy(doc: PolicyDocument) -> str:
    """The document as a policy file; ``parse_policy(dump_policy(doc)) == doc``."""
    data: dict[str, Any] = {"version": FORMAT_VERSION}
    if doc.departments:
        data["departments"] = [
            _compact(_present(name=d.name, title=d.title)) for d in doc.departments
        ]
    if doc.principals:
        data["principals"] = [_principal_data(p) for p in doc.principals]
    if doc.tables:
        data["tables"] = {t.table: _table_data(t) for t in doc.tables}
    if doc.grants:
        data["grants"] = [_grant_data(g) for g in doc.grants]
    text: str = yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=4096)
    return text


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value not in (None, "", ())}


def _principal_data(p: Principal) -> dict[str, Any]:
    roles = _Words(p.roles) or None
    return _compact(_present(name=p.name, department=p.department, roles=roles, title=p.title))


def _table_data(t: TableAnnotation) -> dict[str, Any]:
    columns = {
        name: _compact(_present(classification=c.classification, description=c.description))
        for name, c in t.columns.items()
    }
    return _present(description=t.description, columns=columns or None)


def _grant_data(g: Grant) -> dict[str, Any]:
    aggregate = g.aggregate_only and _Flow(
        min_group_size=g.aggregate_only.min_group_size,
        subject_column=g.aggregate_only.subject_column,
    )
    return _present(
        id=g.id,
        principal=g.principal,
        table=g.table,
        purpose=g.purpose,
        columns=_compact({name: str(action) for name, action in g.columns.items()}),
        row_filter=g.row_filter,
        aggregate_only=aggregate,
        valid_from=g.valid_from,
        valid_until=g.valid_until,
        approved_by=g.approved_by,
    )
