"""Trino's configuration rendered from the catalog: catalogs hold secret references and bounded
timeouts, and the access rules confine the service user to the registered tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from catalog.errors import SourceError
from catalog.models import CatalogSnapshot, Column, Source, Table
from connectors.base import Connector, connector_for
from connectors.postgres import PostgresConnector
from gateway.trino_config import (
    ACCESS_CONTROL_FILE,
    RULES_FILE,
    SourceTimeouts,
    TrinoTable,
    access_rules,
    java_literal,
    properties_text,
    render_access_control,
    render_catalogs,
    trino_tables,
    with_url_parameters,
    write_access_control,
    write_trino_etc,
)

SERVICE_USER = "shuqiao"
PG_PASSWORD_REF = "${ENV:SHUQIAO_RSJ_PASSWORD}"
SECRET_FILE = "/run/secrets/health-db"


class LiteralPassword(PostgresConnector):
    def trino_properties(self, source: Source) -> dict[str, str]:
        return super().trino_properties(source) | {"connection-password": "hunter2"}


def network(name: str, kind: str, password_ref: str, **options: str) -> Source:
    return Source(name, kind, name, {"host": f"db.{name}", "database": name, "user": "reader",
                                     "password_ref": password_ref, **options})


def table(source: str, name: str, schema: str, physical: str = "") -> Table:
    return Table(source, name, (Column("id", "INTEGER"),), physical_schema=schema,
                 physical_name=physical)


@pytest.fixture
def snapshot() -> CatalogSnapshot:
    return CatalogSnapshot(
        version=1,
        sources=(
            network("social_security", "postgres", "env:SHUQIAO_RSJ_PASSWORD", port="5433"),
            network("health", "mysql", f"file:{SECRET_FILE}"),
            network("medicare", "mariadb", "env:SHUQIAO_YBJ_PASSWORD"),
            Source("justice", "sqlite", "justice", {"path": "/data/justice.sqlite"}),
        ),
        tables=(
            table("social_security", "pensioners", "public", "Pensioners"),
            table("social_security", "payments", "public"),
            table("health", "visits", "hospital"),
            table("medicare", "claims", "medicare"),
            table("justice", "cases", "main"),
        ),
    )


def parse_properties(text: str) -> dict[str, str]:
    """Enough of Java's reader for what the renderer writes: one ``key=value`` per line."""
    return dict(line.split("=", 1) for line in text.splitlines())


def catalogs_of(snapshot: CatalogSnapshot, **kwargs: SourceTimeouts) -> dict[str, dict[str, str]]:
    rendered = render_catalogs(snapshot, connector_for, **kwargs)
    return {name: parse_properties(text) for name, text in rendered.items()}


def test_one_catalog_per_source_with_a_trino_connector(snapshot: CatalogSnapshot) -> None:
    assert set(render_catalogs(snapshot, connector_for)) == {
        "social_security.properties", "health.properties", "medicare.properties"}


def test_passwords_stay_references(snapshot: CatalogSnapshot) -> None:
    catalogs = catalogs_of(snapshot)
    assert catalogs["social_security.properties"]["connection-password"] == PG_PASSWORD_REF
    assert catalogs["health.properties"]["connection-password"] == (
        "${ENV:SHUQIAO_HEALTH_PASSWORD}")
    assert catalogs["medicare.properties"]["connection-password"] == (
        "${ENV:SHUQIAO_YBJ_PASSWORD}")


def test_a_literal_password_is_refused_without_repeating_it(snapshot: CatalogSnapshot) -> None:
    def leaky(kind: str) -> Connector:
        return LiteralPassword() if kind == "postgres" else connector_for(kind)

    with pytest.raises(SourceError, match="social_security") as caught:
        render_catalogs(snapshot, leaky)
    assert "hunter2" not in str(caught.value)


def test_connector_name_comes_first(snapshot: CatalogSnapshot) -> None:
    text = render_catalogs(snapshot, connector_for)["health.properties"]
    assert text.splitlines()[0] == "connector.name=mysql"


def test_timeouts_bound_a_dead_postgresql(snapshot: CatalogSnapshot) -> None:
    catalogs = catalogs_of(snapshot, timeouts=SourceTimeouts(3, 4, 60))
    assert catalogs["social_security.properties"]["connection-url"] == (
        "jdbc:postgresql://db.social_security:5433/social_security"
        "?connectTimeout=3&loginTimeout=4&socketTimeout=60")


def test_timeouts_bound_a_dead_mysql(snapshot: CatalogSnapshot) -> None:
    health = catalogs_of(snapshot)["health.properties"]
    assert health["mysql.connection-timeout"] == "5s"
    assert health["mysql.auto-reconnect"] == "false"
    assert health["connection-url"] == "jdbc:mysql://db.health:3306?socketTimeout=300000"


def test_timeouts_bound_a_dead_mariadb(snapshot: CatalogSnapshot) -> None:
    medicare = catalogs_of(snapshot)["medicare.properties"]
    assert medicare["connection-url"] == (
        "jdbc:mariadb://db.medicare:3306?connectTimeout=5000&socketTimeout=300000")


@pytest.mark.parametrize(("url", "expected"), [
    ("jdbc:postgresql://h/db", "jdbc:postgresql://h/db?a=1&b=2"),
    ("jdbc:postgresql://h/db?", "jdbc:postgresql://h/db?a=1&b=2"),
    ("jdbc:postgresql://h/db?ssl=true", "jdbc:postgresql://h/db?ssl=true&a=1&b=2"),
    ("jdbc:postgresql://h/db?a=9", "jdbc:postgresql://h/db?a=9&b=2"),
    ("jdbc:postgresql://h/db?b=8&a=9", "jdbc:postgresql://h/db?b=8&a=9"),
])
def test_the_connectors_own_url_parameters_win(url: str, expected: str) -> None:
    assert with_url_parameters(url, {"a": "1", "b": "2"}) == expected


def test_a_value_cannot_add_a_property() -> None:
    text = properties_text({"connector.name": "postgresql",
                            "connection-user": "x\nconnection-password=plain"})
    assert text.count("\n") == 2
    assert "connection-user=x\\nconnection-password=plain\n" in text


def test_properties_are_ascii_with_unicode_escapes() -> None:
    text = properties_text({"connection-user": "数桥", "k y": " lead\\", "emoji": "\U0001f600"})
    assert text.isascii()
    assert "connection-user=\\u6570\\u6865\n" in text
    assert "k\\ y=\\ lead\\\\\n" in text
    assert "emoji=\\ud83d\\ude00\n" in text


@pytest.mark.parametrize("name", ["system", "Social", "bad-name", "9lives", ""])
def test_catalog_names_trino_cannot_take_are_refused(name: str) -> None:
    snapshot = CatalogSnapshot(1, sources=(network(name, "postgres", "env:X"),))
    with pytest.raises(SourceError):
        render_catalogs(snapshot, connector_for)


# ------------------------------------------------------------------------- access rules


def rules_for(snapshot: CatalogSnapshot) -> dict[str, list[dict[str, object]]]:
    tables = trino_tables(snapshot, {"social_security", "health", "medicare"})
    return access_rules(SERVICE_USER, tables)


def java_matches(pattern: object, text: str) -> bool:
    """Java's ``Pattern.matches`` on the plain patterns the renderer writes."""
    return re.fullmatch(str(pattern), text) is not None


def test_access_control_points_at_the_rules(snapshot: CatalogSnapshot) -> None:
    files = render_access_control(SERVICE_USER, trino_tables(snapshot, {"health"}),
                                  rules_path="/etc/trino/shuqiao-access-rules.json")
    properties = parse_properties(files[ACCESS_CONTROL_FILE])
    assert properties["access-control.name"] == "file"
    assert properties["security.config-file"] == "/etc/trino/shuqiao-access-rules.json"
    assert json.loads(files[RULES_FILE])["catalogs"][0] == {"catalog": "system", "allow": "none"}


def test_system_catalog_is_denied_before_anything_is_allowed(
        snapshot: CatalogSnapshot) -> None:
    catalogs = rules_for(snapshot)["catalogs"]
    assert catalogs[0] == {"catalog": "system", "allow": "none"}
    assert all(not java_matches(r["catalog"], "system") for r in catalogs[1:])


def test_service_user_reads_only_the_departmental_catalogs(snapshot: CatalogSnapshot) -> None:
    (rule,) = rules_for(snapshot)["catalogs"][1:]
    assert rule["allow"] == "read-only" and rule["user"] == SERVICE_USER
    for catalog, readable in [("social_security", True), ("health", True), ("medicare", True),
                              ("justice", False), ("memory", False), ("health2", False)]:
        assert java_matches(rule["catalog"], catalog) is readable


def test_service_user_selects_only_registered_tables(snapshot: CatalogSnapshot) -> None:
    tables = rules_for(snapshot)["tables"]
    assert all(r["privileges"] == ["SELECT"] and r["user"] == SERVICE_USER for r in tables)

    def readable(catalog: str, schema: str, name: str) -> bool:
        return any(java_matches(r["catalog"], catalog) and java_matches(r["schema"], schema)
                   and java_matches(r["table"], name) for r in tables)

    assert readable("social_security", "public", "pensioners")
    assert readable("social_security", "public", "payments")
    assert readable("health", "hospital", "visits")
    assert not readable("social_security", "pg_catalog", "pg_user")
    assert not readable("social_security", "public", "unregistered")
    assert not readable("health", "public", "visits")


def test_table_functions_and_procedures_are_denied(snapshot: CatalogSnapshot) -> None:
    rules = rules_for(snapshot)
    # Present and empty: only system.builtin functions may run, and no procedure.
    assert rules["functions"] == []
    assert rules["procedures"] == []


def test_nothing_else_is_granted(snapshot: CatalogSnapshot) -> None:
    rules = rules_for(snapshot)
    assert rules["schemas"] == []
    assert rules["catalog_session_properties"] == []
    assert rules["impersonation"] == [] and rules["authorization"] == []
    assert rules["system_information"] == []
    assert rules["queries"] == [{"user": SERVICE_USER, "allow": ["execute"]}]
    assert rules["system_session_properties"] == [
        {"user": SERVICE_USER, "property": "query_max_run_time", "allow": True}]


def test_other_users_match_no_granting_rule(snapshot: CatalogSnapshot) -> None:
    for section, rules in rules_for(snapshot).items():
        for rule in rules:
            if "user" in rule:
                assert not java_matches(rule["user"], "analyst"), section
                assert not java_matches(rule["user"], "shuqiao2"), section


@pytest.mark.parametrize("text", ["a.b", "a-b", "x|y", "(.*)", "a b", "数桥", "$x^", "a\\b"])
def test_names_become_literal_patterns(text: str) -> None:
    assert java_matches(java_literal(text), text)
    assert not java_matches(java_literal(text), text + "x")


def test_literal_patterns_do_not_widen() -> None:
    assert not java_matches(java_literal("a.b"), "axb")
    assert not java_matches(java_literal("x|y"), "x")


def test_service_user_must_be_a_plain_name() -> None:
    with pytest.raises(ValueError, match="service user"):
        render_access_control(".*", (), rules_path="r.json")


def test_no_tables_grants_no_catalog() -> None:
    rules = access_rules(SERVICE_USER, ())
    assert rules["catalogs"] == [{"catalog": "system", "allow": "none"}]
    assert rules["tables"] == []


def test_table_names_are_as_trino_sees_them(snapshot: CatalogSnapshot) -> None:
    assert TrinoTable("social_security", "public", "pensioners") in trino_tables(
        snapshot, {"social_security"})


# ------------------------------------------------------------------------------- writing


def test_write_trino_etc(snapshot: CatalogSnapshot, tmp_path: Path) -> None:
    catalogs_dir, etc_dir = tmp_path / "catalogs", tmp_path / "etc"
    catalogs_dir.mkdir()
    (catalogs_dir / "retired.properties").write_text("connector.name=memory\n")
    (catalogs_dir / "README").write_text("kept\n")

    written = write_trino_etc(snapshot, catalogs_dir, etc_dir, service_user=SERVICE_USER)

    assert written.skipped == ("justice",)
    assert written.environment == {"SHUQIAO_HEALTH_PASSWORD": f"file:{SECRET_FILE}"}
    assert sorted(p.name for p in catalogs_dir.iterdir()) == [
        "README", "health.properties", "medicare.properties", "social_security.properties"]
    for name, text in written.catalogs.items():
        assert (catalogs_dir / name).read_text() == text
    assert sorted(p.name for p in etc_dir.iterdir()) == [ACCESS_CONTROL_FILE, RULES_FILE]
    properties = parse_properties((etc_dir / ACCESS_CONTROL_FILE).read_text())
    assert properties["security.config-file"] == str((etc_dir / RULES_FILE).resolve())
    assert json.loads((etc_dir / RULES_FILE).read_text()) == rules_for(snapshot)


def test_without_a_table_list_every_departmental_table_is_readable(tmp_path: Path) -> None:
    files = write_access_control(tmp_path, service_user=SERVICE_USER)
    rules = json.loads(files[RULES_FILE])
    assert json.loads((tmp_path / RULES_FILE).read_text()) == rules
    assert rules["catalogs"] == [{"catalog": "system", "allow": "none"},
                                 {"user": SERVICE_USER, "allow": "read-only"}]
    deny_system_schemas, select_rest = rules["tables"]
    assert deny_system_schemas["privileges"] == [] and select_rest["privileges"] == ["SELECT"]
    for schema in ("pg_catalog", "mysql", "performance_schema", "sys"):
        assert java_matches(deny_system_schemas["schema"], schema)
    assert not java_matches(deny_system_schemas["schema"], "public")
    assert rules["functions"] == [] and rules["procedures"] == []
