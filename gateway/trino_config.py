"""Trino's configuration, rendered from the catalog: one catalog per source, and the access rules
that narrow what the gateway's service user may do in Trino.

Everything but :func:`write_trino_etc` is pure: a :class:`CatalogSnapshot` in, file contents out.

Catalogs
    Each source whose connector names a Trino connector (``trino_connector``) becomes
    ``<source>.properties`` from the connector's ``trino_properties``; the catalog is named after
    the source, as the rewritten statements address it. SQLite sources have no Trino catalog
    (Trino cannot read a file on the gateway's disk) and are skipped: statements over them stay
    on the embedded engine. A password must be an ``${ENV:NAME}`` reference (Trino 476 has no
    other secret provider; a ``file:`` secret reaches Trino through the variable listed in
    :attr:`TrinoEtc.environment`); a literal one is refused.

    A dead departmental database must fail a statement in bounded time, so JDBC timeouts are added
    where the connector left them out (:data:`TIMEOUT_SETTINGS`). Measured on Trino 476 (Trino's
    JDBC layer retries a failed connection once, hence the factors of two):

    - a port that refuses connections: 0.03 s, every kind;
    - a server that accepts and never answers: PostgreSQL 2 x ``login_s`` (10 s by default),
      MariaDB 2 x ``connect_s`` (10 s), MySQL 2 x ``read_s``, since Connector/J times its
      handshake with the socket timeout; there the engine's statement time limit ends it first.

    Without these settings a PostgreSQL server that hangs after ``accept`` (``sslmode=disable``)
    held a statement for as long as it was let run, and MariaDB waited 60 s.

Access control (Trino's file-based system access control; first matching rule wins, and a
section that is present but matches nothing denies)
    ``catalogs``     ``system`` none; read-only on the departmental catalogs for the service
                     user; nothing for anyone else.
    ``schemas``      empty: nobody owns a schema.
    ``tables``       SELECT on exactly the registered tables (physical schema and name), so
                     ``pg_catalog`` or an unregistered table stays unreadable. Without a table
                     list (:func:`write_access_control` alone): SELECT on every table of the
                     departmental catalogs except the databases' own system schemas.
    ``functions``    empty: only ``system.builtin`` functions run, so connector table functions
                     (``<catalog>.system.query`` and the like) are denied. Trino always allows
                     builtin functions, including the builtin table functions ``exclude_columns``
                     and ``sequence``; they read nothing the table rules do not already allow.
    ``procedures``   empty: ``CALL <catalog>.system.execute(...)`` and the like are denied.
    ``queries``      the service user may run queries (everyone may view and kill their own);
                     other users may not run any.
    ``system_session_properties``  only the statement time limit the engine sets.
    ``catalog_session_properties``, ``impersonation``, ``authorization``,
    ``system_information``  empty: denied.

    ``information_schema`` is outside the file-based rules. Trino filters it by the same
    visibility, so it lists only the registered tables (and its own views); planning does not
    need it, and the gateway never forwards a statement that names it, since it is not in the
    catalog.

Access control by the gateway (Trino's ``opa`` plugin), instead of the file-based rules
    :func:`render_opa_access_control` points every access decision, row filter and column mask
    at the gateway's decision routes (``gateway.server.opa_routes``), so that principals may
    query Trino directly under the same grants; the service user keeps the rights listed above.
    See ``gateway/opa.py`` for the rules and ``deploy/trino/README.md`` for the set-up.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from catalog.errors import SourceError
from catalog.models import CatalogSnapshot, Source
from connectors.base import Connector, trino_environment
from connectors.base import connector_for as registered_connector

#: The name Trino gives its own catalog; no source may take it.
SYSTEM_CATALOG = "system"
#: The session property the Trino engine sets to bound a statement's run time.
TIME_LIMIT_PROPERTY = "query_max_run_time"
ACCESS_CONTROL_FILE = "access-control.properties"
RULES_FILE = "shuqiao-access-rules.json"

_CATALOG_NAME = re.compile(r"[a-z][a-z0-9_]*")
_SERVICE_USER = re.compile(r"[A-Za-z0-9_.@-]+")
_SECRET_REFERENCE = re.compile(r"\$\{ENV:[A-Za-z_][A-Za-z0-9_]*\}")
_PASSWORD_KEYS = ("connection-password", "password")
#: The departmental databases' own catalogs, never readable when no table list narrows access.
DATABASE_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "mysql", "performance_schema",
                           "sys")

ConnectorFor = Callable[[str], Connector]


@dataclass(frozen=True, slots=True)
class SourceTimeouts:
    """Bounds on how long Trino waits for a departmental database, in seconds.

    ``connect_s`` bounds the TCP connect, ``login_s`` the whole login (PostgreSQL), ``read_s``
    any single read once connected. ``read_s`` is generous, since a pushed-down aggregate may
    compute for a while before its first row; waiting longer than the engine's statement time
    limit (``trino.query_timeout_s``, 300 s by default) would gain nothing.
    """

    connect_s: int = 5
    login_s: int = 5
    read_s: int = 300


@dataclass(frozen=True, slots=True)
class TimeoutSettings:
    """What one Trino connector needs to honour :class:`SourceTimeouts`."""

    url_parameters: Callable[[SourceTimeouts], dict[str, str]]
    properties: Callable[[SourceTimeouts], dict[str, str]] = field(default=lambda _: {})


def _ms(seconds: int) -> str:
    return str(seconds * 1000)


#: Per Trino ``connector.name``: the JDBC URL parameters and catalog properties that bound waits.
TIMEOUT_SETTINGS: Mapping[str, TimeoutSettings] = {
    "postgresql": TimeoutSettings(lambda t: {
        "connectTimeout": str(t.connect_s), "loginTimeout": str(t.login_s),
        "socketTimeout": str(t.read_s)}),
    "mysql": TimeoutSettings(
        lambda t: {"socketTimeout": _ms(t.read_s)},
        # Connector/J's own reconnect loop would multiply the connect timeout.
        lambda t: {"mysql.connection-timeout": f"{t.connect_s}s",
                   "mysql.auto-reconnect": "false"}),
    "mariadb": TimeoutSettings(lambda t: {
        "connectTimeout": _ms(t.connect_s), "socketTimeout": _ms(t.read_s)}),
}


@dataclass(frozen=True, slots=True)
class TrinoTable:
    """A table as Trino names it: catalog (the source), physical schema and name, lower case."""

    catalog: str
    schema: str
    table: str


@dataclass(frozen=True)
class TrinoEtc:
    """What :func:`write_trino_etc` wrote, the sources it left to the embedded engine, and the
    environment Trino must be started with: variable -> ``file:/path`` it is read from."""

    catalogs: Mapping[str, str]
    access_control: Mapping[str, str]
    skipped: tuple[str, ...]
    environment: Mapping[str, str]


# ------------------------------------------------------------------------------- catalogs


def render_catalogs(snapshot: CatalogSnapshot, connector_for: ConnectorFor, *,
                    timeouts: SourceTimeouts = SourceTimeouts()) -> dict[str, str]:
    """``<source>.properties`` -> its text, for every source that has a Trino catalog."""
    return {f"{source.name}.properties": catalog_text(source, connector_for, timeouts)
            for source in trino_sources(snapshot, connector_for)}


def catalog_text(source: Source, connector_for: ConnectorFor,
                 timeouts: SourceTimeouts = SourceTimeouts()) -> str:
    """One source's catalog file; raises ``NotInTrino`` for a kind Trino cannot read."""
    properties = connector_for(source.kind).trino_properties(source)
    return properties_text(catalog_properties(source, properties, timeouts))


def trino_sources(snapshot: CatalogSnapshot, connector_for: ConnectorFor) -> tuple[Source, ...]:
    """The sources that become Trino catalogs (their kind has a Trino connector)."""
    return tuple(s for s in snapshot.sources if connector_for(s.kind).trino_connector)


def catalog_properties(source: Source, properties: Mapping[str, str],
                       timeouts: SourceTimeouts) -> dict[str, str]:
    """A connector's properties, checked (name, secrets) and completed with timeouts."""
    _check_catalog_name(source.name)
    _check_secrets(source.name, properties)
    settings = TIMEOUT_SETTINGS.get(properties.get("connector.name", ""))
    if settings is None:
        return dict(properties)
    completed = {**settings.properties(timeouts), **properties}
    url = completed.get("connection-url")
    if url is not None:
        completed["connection-url"] = with_url_parameters(url, settings.url_parameters(timeouts))
    return completed


def with_url_parameters(url: str, defaults: Mapping[str, str]) -> str:
    """``url`` with each default parameter the URL does not already set appended."""
    _, _, query = url.partition("?")
    present = {part.split("=", 1)[0] for part in query.split("&") if part}
    missing = [f"{k}={v}" for k, v in defaults.items() if k not in present]
    if not missing:
        return url
    separator = "&" if query else ("" if url.endswith("?") else "?")
    return url + separator + "&".join(missing)


def properties_text(properties: Mapping[str, str]) -> str:
    """Java properties text, ``connector.name`` first, escaped so that no value can add a line.

    Trino reads properties files as ISO 8859-1, so anything beyond ASCII is written as ``\\uXXXX``.
    """
    ordered = sorted(properties.items(), key=lambda kv: (kv[0] != "connector.name", kv[0]))
    return "".join(f"{_escape(k, _KEY_SPECIALS)}={_escape(v, _VALUE_SPECIALS)}\n"
                   for k, v in ordered)


_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}
_KEY_SPECIALS = "\\=: #!"
_VALUE_SPECIALS = "\\"


def _escape(text: str, specials: str) -> str:
    escaped = "".join(_escape_char(ch, specials) for ch in text)
    # Leading blanks of a value would be dropped by the reader.
    return "\\" + escaped if escaped.startswith(" ") else escaped


def _escape_char(ch: str, specials: str) -> str:
    if ch in _CONTROL:
        return _CONTROL[ch]
    if ch in specials:
        return "\\" + ch
    if " " <= ch <= "~":
        return ch
    return "".join(f"\\u{unit:04x}" for unit in _utf16_units(ord(ch)))


def _utf16_units(code: int) -> tuple[int, ...]:
    if code <= 0xFFFF:
        return (code,)
    offset = code - 0x10000
    return (0xD800 + (offset >> 10), 0xDC00 + (offset & 0x3FF))


def _check_catalog_name(name: str) -> None:
    if not _CATALOG_NAME.fullmatch(name) or name == SYSTEM_CATALOG:
        raise SourceError(name, "cannot be a Trino catalog name (lower-case letters, digits and "
                                "underscores, not 'system')")


def _check_secrets(source: str, properties: Mapping[str, str]) -> None:
    for key in _PASSWORD_KEYS:
        value = properties.get(key)
        if value and not _SECRET_REFERENCE.fullmatch(value):
            raise SourceError(source, f"Trino catalog property {key} must be an ${{ENV:NAME}} "
                                      "reference, not a literal password")


# ------------------------------------------------------------------------- access control


def trino_tables(snapshot: CatalogSnapshot, catalogs: Collection[str]) -> tuple[TrinoTable, ...]:
    """The registered tables of ``catalogs``, as Trino names them."""
    return tuple(sorted({
        TrinoTable(t.source, t.physical_schema.lower(), t.physical.lower())
        for t in snapshot.tables if t.source in catalogs
    }, key=lambda t: (t.catalog, t.schema, t.table)))


def render_access_control(service_user: str, tables: Iterable[TrinoTable] | None = None, *,
                          rules_path: str, refresh_period: str = "10s") -> dict[str, str]:
    """``access-control.properties`` and the rules file it points at (``rules_path``).

    ``tables`` narrows the service user to exactly those tables; ``None`` allows every table of
    every catalog but ``system`` (outside the databases' own system schemas). ``rules_path`` is
    where Trino will read the rules: absolute, or relative to Trino's working directory (its data
    directory when started by the launcher). Trino re-reads the rules every ``refresh_period``,
    so a newly registered table needs no restart.
    """
    if not _SERVICE_USER.fullmatch(service_user):
        raise ValueError(f"service user {service_user!r} is not a plain Trino user name")
    properties = {"access-control.name": "file", "security.config-file": rules_path,
                  "security.refresh-period": refresh_period}
    listed = None if tables is None else tuple(tables)
    rules = json.dumps(access_rules(service_user, listed), indent=2, ensure_ascii=False)
    return {ACCESS_CONTROL_FILE: properties_text(properties), RULES_FILE: rules + "\n"}


Rules = list[dict[str, object]]


def access_rules(service_user: str,
                 tables: tuple[TrinoTable, ...] | None) -> dict[str, Rules]:
    """The rules document; see the module docstring for what each section allows."""
    user = java_literal(service_user)
    catalogs = None if tables is None else sorted({t.catalog for t in tables})
    return {
        "catalogs": _catalog_rules(user, catalogs),
        "schemas": [],
        "tables": _table_rules(user, tables),
        "functions": [],
        "procedures": [],
        "queries": [{"user": user, "allow": ["execute"]}],
        "system_session_properties": [
            {"user": user, "property": TIME_LIMIT_PROPERTY, "allow": True}],
        "catalog_session_properties": [],
        "impersonation": [],
        "authorization": [],
        "system_information": [],
    }


def _catalog_rules(user: str, catalogs: list[str] | None) -> Rules:
    rules: Rules = [{"catalog": SYSTEM_CATALOG, "allow": "none"}]
    if catalogs is None:
        rules.append({"user": user, "allow": "read-only"})
    elif catalogs:
        rules.append({"user": user, "catalog": _alternatives(catalogs), "allow": "read-only"})
    return rules


def _table_rules(user: str, tables: tuple[TrinoTable, ...] | None) -> Rules:
    if tables is None:
        return [{"user": user, "schema": _alternatives(DATABASE_SYSTEM_SCHEMAS),
                 "privileges": []},
                {"user": user, "privileges": ["SELECT"]}]
    grouped: dict[tuple[str, str], list[str]] = {}
    for t in tables:
        grouped.setdefault((t.catalog, t.schema), []).append(t.table)
    return [{"user": user, "catalog": java_literal(catalog), "schema": java_literal(schema),
             "table": _alternatives(names), "privileges": ["SELECT"]}
            for (catalog, schema), names in sorted(grouped.items())]


def _alternatives(names: Iterable[str]) -> str:
    return "|".join(java_literal(n) for n in names)


def java_literal(text: str) -> str:
    """A Java regular expression matching exactly ``text``: every ASCII character that is not a
    letter, digit or underscore is escaped (Java allows a backslash before any of them)."""
    return "".join(f"\\{ch}" if ch.isascii() and not (ch.isalnum() or ch == "_") else ch
                   for ch in text)


# ----------------------------------------------------------------- access control by OPA

#: Where each OPA plugin setting points, under the gateway's URL (see gateway.server.opa_routes).
OPA_ROUTES = {
    "opa.policy.uri": "/opa/v1/allow",
    "opa.policy.batched-uri": "/opa/v1/batch",
    "opa.policy.row-filters-uri": "/opa/v1/row-filters",
    "opa.policy.batch-column-masking-uri": "/opa/v1/column-masks",
}
_GATEWAY_URL = re.compile(r"https?://[A-Za-z0-9.\[\]:_-]+(/[A-Za-z0-9._~/-]*)?")


def render_opa_access_control(gateway_url: str) -> dict[str, str]:
    """``access-control.properties`` making Trino ask the gateway for every access decision,
    row filter and column mask (the ``opa`` plugin), instead of the file-based rules.

    ``gateway_url`` is the gateway's base URL as the Trino coordinator reaches it, e.g.
    ``http://shuqiao-gateway:8080``; see ``deploy/trino/README.md``.
    """
    base = gateway_url.rstrip("/")
    if not _GATEWAY_URL.fullmatch(base):
        raise ValueError(f"gateway URL {gateway_url!r} is not an http(s) URL without query")
    properties = {"access-control.name": "opa",
                  **{key: base + route for key, route in OPA_ROUTES.items()}}
    return {ACCESS_CONTROL_FILE: properties_text(properties)}


# ------------------------------------------------------------------------------- writing


def write_trino_etc(snapshot: CatalogSnapshot, catalogs_dir: Path, etc_dir: Path, *,
                    service_user: str, connector_for: ConnectorFor | None = None,
                    timeouts: SourceTimeouts = SourceTimeouts(),
                    rules_path: str | None = None) -> TrinoEtc:
    """Write the catalogs into ``catalogs_dir`` (for ``SHUQIAO_TRINO_CATALOGS``) and the access
    control into ``etc_dir`` (for ``SHUQIAO_TRINO_ETC_EXTRA``).

    ``catalogs_dir`` ends up holding exactly the rendered catalogs: stale ``*.properties`` files
    there are removed. ``rules_path`` defaults to the rules file's absolute path in ``etc_dir``.
    """
    connector_for = connector_for or registered_connector
    sources = trino_sources(snapshot, connector_for)
    names = {s.name for s in sources}
    catalogs = render_catalogs(snapshot, connector_for, timeouts=timeouts)
    _write_all(catalogs_dir, catalogs, prune="*.properties")
    access = write_access_control(etc_dir, service_user=service_user,
                                  tables=trino_tables(snapshot, names), rules_path=rules_path)
    skipped = tuple(s.name for s in snapshot.sources if s.name not in names)
    return TrinoEtc(catalogs, access, skipped, trino_environment(sources))


def write_access_control(etc_dir: Path, *, service_user: str,
                         tables: Iterable[TrinoTable] | None = None,
                         rules_path: str | None = None) -> dict[str, str]:
    """Write ``access-control.properties`` and the rules into ``etc_dir``; ``rules_path``
    defaults to the rules file's absolute path there. Returns what was written."""
    rules_at = rules_path or str((etc_dir / RULES_FILE).resolve())
    access = render_access_control(service_user, tables, rules_path=rules_at)
    _write_all(etc_dir, access)
    return access


def _write_all(directory: Path, files: Mapping[str, str], *, prune: str | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        # Written whole then renamed: Trino re-reads the rules file while running.
        temporary = directory / f".{name}.tmp"
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o644)  # no secrets inside, and Trino may run as another user
        os.replace(temporary, directory / name)
    if prune:
        for stale in directory.glob(prune):
            if stale.name not in files:
                stale.unlink()
