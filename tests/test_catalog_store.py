"""The catalog store: migrations, atomic writes, snapshots and versions, no secrets."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

import catalog.store
from catalog.errors import CatalogError, PolicyFileError
from catalog.models import (
    ActionKind,
    CatalogSnapshot,
    Column,
    ColumnAction,
    Department,
    Grant,
    Principal,
    Source,
    Table,
)
from catalog.policy_file import (
    ColumnAnnotation,
    PolicyDocument,
    TableAnnotation,
    dump_policy,
    load_policy,
    parse_policy,
)
from catalog.store import CatalogStore, Migration, bundled_migrations

DEMO_POLICY = Path(__file__).resolve().parents[1] / "deploy" / "demo" / "policy.yaml"

SOCIAL_SECURITY = Source(
    "social_security",
    "postgresql",
    "social_security",
    {"host": "db.si.example", "database": "si", "user": "shuqiao", "password_ref": "env:SI_PW"},
)
INSURED = Table(
    "social_security",
    "insured",
    (Column("id_no", "varchar(18)"), Column("region_code", "varchar(6)")),
    physical_schema="si",
    physical_name="t_insured",
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "catalog" / "catalog.db"


@pytest.fixture
def store(path: Path) -> Iterator[CatalogStore]:
    with CatalogStore(path) as opened:
        yield opened


def small_policy(*grants: Grant) -> PolicyDocument:
    return PolicyDocument(
        departments=(Department("social_security", "社保局 Social Security"),),
        principals=(Principal("si_analyst", "social_security", ("analyst",), "analyst"),),
        tables=(
            TableAnnotation(
                "social_security.public.insured",
                "参保登记 enrolment",
                {"id_no": ColumnAnnotation("sensitive-personal", "身份证号 identity number")},
            ),
        ),
        grants=grants or (own_data(),),
    )


def own_data(grant_id: str = "G1", **changes: object) -> Grant:
    fields: dict[str, object] = {
        "id": grant_id,
        "principal": "si_analyst",
        "table": "social_security.public.*",
        "purpose": "own data",
        "columns": {"*": ColumnAction(ActionKind.ALLOW)},
        "row_filter": "region_code LIKE '5101%'",
        "valid_from": date(2025, 1, 1),
        "approved_by": "social_security_data_owner",
    }
    return Grant(**(fields | changes))  # type: ignore[arg-type]


BUNDLED = [(m.number, m.name) for m in bundled_migrations()]
NEXT = len(BUNDLED) + 1


def applied_migrations(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT number, name FROM schema_migrations ORDER BY number"))


# -- migrations ------------------------------------------------------------------------------------


def test_a_new_file_gets_every_migration(store: CatalogStore, path: Path) -> None:
    assert path.exists()
    assert applied_migrations(path) == BUNDLED
    assert store.version == 0
    assert store.snapshot() == CatalogSnapshot(version=0)


def test_migrations_are_applied_once(path: Path) -> None:
    CatalogStore(path).close()
    with CatalogStore(path) as store:
        store.register_source(SOCIAL_SECURITY)
    with CatalogStore(path) as store:
        assert store.version == 1
        assert store.snapshot().source("social_security") == SOCIAL_SECURITY
    assert applied_migrations(path) == BUNDLED


def test_later_migrations_apply_to_an_existing_file(path: Path) -> None:
    CatalogStore(path).close()
    extra = Migration(NEXT, f"{NEXT:04d}_notes.sql", "-- notes\nCREATE TABLE notes (body TEXT);\n")
    with CatalogStore(path, migrations=(*bundled_migrations(), extra)):
        pass
    assert applied_migrations(path) == [*BUNDLED, (NEXT, f"{NEXT:04d}_notes.sql")]
    with pytest.raises(CatalogError, match=f"has migration {NEXT:04d}, which this version"):
        CatalogStore(path)


def test_a_failing_migration_leaves_no_trace(path: Path) -> None:
    CatalogStore(path).close()
    broken = Migration(NEXT, f"{NEXT:04d}_broken.sql", "CREATE TABLE a (x);\nCREATE TABLE a (x);\n")
    with pytest.raises(CatalogError, match="cannot open catalog store"):
        CatalogStore(path, migrations=(*bundled_migrations(), broken))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'a'").fetchall() == []
    assert applied_migrations(path) == BUNDLED


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"not a database at all, just some bytes " * 100)
    with pytest.raises(CatalogError, match="cannot open catalog store"):
        CatalogStore(path)


def test_foreign_keys_are_enforced(store: CatalogStore, path: Path) -> None:
    store.register_source(SOCIAL_SECURITY)
    store.replace_tables("social_security", [INSURED])
    store.remove_source("social_security")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM columns").fetchone() == (0,)


# -- sources and secrets ---------------------------------------------------------------------------


def test_register_source_bumps_the_version(store: CatalogStore) -> None:
    store.register_source(SOCIAL_SECURITY)
    assert store.version == 1
    moved = Source("social_security", "postgresql", "social_security", {"host": "db2"})
    store.register_source(moved)
    assert store.version == 2
    assert store.snapshot().sources == (moved,)


@pytest.mark.parametrize(
    ("options", "refusal"),
    [
        ({"password": "s3cr3t-Value"}, "option 'password' looks like a secret"),
        ({"api_key": "s3cr3t-Value"}, "option 'api_key' looks like a secret"),
        ({"Secret": "s3cr3t-Value"}, "option 'Secret' looks like a secret"),
        ({"password_ref": "s3cr3t-Value"}, "option 'password_ref' must be a reference"),
        ({"password_ref": "env:"}, "option 'password_ref' must be a reference"),
        ({"dsn": "postgresql://si:s3cr3t-Value@db/si"}, "option 'dsn' embeds a password"),
    ],
)
def test_literal_secrets_are_refused(
    store: CatalogStore, path: Path, options: dict[str, str], refusal: str
) -> None:
    source = Source("social_security", "postgresql", "social_security", options)
    with pytest.raises(CatalogError, match=refusal) as caught:
        store.register_source(source)
    assert "s3cr3t-Value" not in str(caught.value)
    assert store.version == 0
    assert b"s3cr3t-Value" not in b"".join(p.read_bytes() for p in path.parent.iterdir())


@pytest.mark.parametrize(
    "reference", ["env:SI_PASSWORD", "file:/run/secrets/si_password", "file:/etc/shuqiao/pw"]
)
def test_secret_references_are_kept(store: CatalogStore, reference: str) -> None:
    source = Source("si", "postgresql", "social_security", {"password_ref": reference})
    store.register_source(source)
    assert store.snapshot().source("si") == source


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        (Source("Social-Security", "sqlite", "social_security"), "lower-case identifier"),
        (Source("si", "", "social_security"), "kind must not be empty"),
        (Source("si", "sqlite", ""), "department must not be empty"),
    ],
)
def test_malformed_sources_are_refused(store: CatalogStore, source: Source, refusal: str) -> None:
    with pytest.raises(CatalogError, match=refusal):
        store.register_source(source)


def test_remove_source_takes_its_tables(store: CatalogStore) -> None:
    store.register_source(SOCIAL_SECURITY)
    store.replace_tables("social_security", [INSURED])
    store.remove_source("social_security")
    assert store.snapshot().tables == ()
    with pytest.raises(CatalogError, match="unknown source 'social_security'"):
        store.remove_source("social_security")
    assert store.version == 3


# -- tables ----------------------------------------------------------------------------------------


def test_replace_tables(store: CatalogStore) -> None:
    store.register_source(SOCIAL_SECURITY)
    store.replace_tables("social_security", [INSURED])
    snapshot = store.snapshot()
    assert snapshot.tables == (INSURED,)
    assert snapshot.table("social_security.public.insured") == INSURED
    store.replace_tables("social_security", [])
    assert store.snapshot().tables == ()


def test_reintrospection_keeps_annotations(store: CatalogStore) -> None:
    store.register_source(SOCIAL_SECURITY)
    annotated = Table(
        "social_security",
        "insured",
        (
            Column("id_no", "varchar(18)", "sensitive-personal", "身份证号 identity number"),
            Column("region_code", "varchar(6)", "public", "区划 region"),
        ),
        description="参保登记 enrolment",
    )
    store.replace_tables("social_security", [annotated])
    fresh = Table(
        "social_security",
        "insured",
        (
            Column("id_no", "varchar(20)"),
            Column("region_code", "varchar(6)", "restricted"),
            Column("status", "varchar"),
        ),
    )
    store.replace_tables("social_security", [fresh])
    [table] = store.snapshot().tables
    assert table.description == "参保登记 enrolment"
    assert table.columns == (
        Column("id_no", "varchar(20)", "sensitive-personal", "身份证号 identity number"),
        Column("region_code", "varchar(6)", "restricted", "区划 region"),
        Column("status", "varchar"),
    )


@pytest.mark.parametrize(
    ("tables", "refusal"),
    [
        ([Table("justice", "insured", ())], "does not belong to source 'social_security'"),
        ([INSURED, INSURED], "a table is listed twice"),
        ([Table("social_security", "Insured", ())], "must be a lower-case identifier"),
        (
            [Table("social_security", "t", (Column("a", "int"), Column("a", "int")))],
            "lists a column twice",
        ),
    ],
)
def test_malformed_tables_are_refused(
    store: CatalogStore, tables: list[Table], refusal: str
) -> None:
    store.register_source(SOCIAL_SECURITY)
    store.replace_tables("social_security", [INSURED])
    with pytest.raises(CatalogError, match=refusal):
        store.replace_tables("social_security", tables)
    assert store.snapshot().tables == (INSURED,)
    assert store.version == 2


def test_tables_of_an_unknown_source_are_refused(store: CatalogStore) -> None:
    with pytest.raises(CatalogError, match="unknown source 'social_security'"):
        store.replace_tables("social_security", [INSURED])
    assert store.version == 0


# -- policy ----------------------------------------------------------------------------------------


def test_apply_policy_fills_the_snapshot(store: CatalogStore) -> None:
    store.register_source(SOCIAL_SECURITY)
    store.replace_tables("social_security", [INSURED])
    store.apply_policy(small_policy())
    snapshot = store.snapshot()
    assert snapshot.version == 3
    assert snapshot.departments == (Department("social_security", "社保局 Social Security"),)
    assert snapshot.principal("si_analyst") == small_policy().principals[0]
    assert snapshot.grants_for("si_analyst", "social_security.public.insured") == (own_data(),)
    table = snapshot.table("social_security.public.insured")
    assert table is not None
    assert table.description == "参保登记 enrolment"
    assert table.columns[0] == Column(
        "id_no", "varchar(18)", "sensitive-personal", "身份证号 identity number"
    )
    assert table.columns[1] == INSURED.columns[1]


def test_annotations_apply_to_tables_registered_later(store: CatalogStore) -> None:
    store.apply_policy(small_policy())
    store.register_source(SOCIAL_SECURITY)
    store.replace_tables("social_security", [INSURED])
    table = store.snapshot().table("social_security.public.insured")
    assert table is not None and table.columns[0].classification == "sensitive-personal"


def test_an_invalid_policy_changes_nothing(store: CatalogStore) -> None:
    store.apply_policy(small_policy())
    before = store.export_policy()
    broken = small_policy(
        own_data(principal="nobody"), own_data("G2", valid_until=date(2024, 1, 1))
    )
    with pytest.raises(PolicyFileError) as caught:
        store.apply_policy(broken)
    assert sorted(p.message for p in caught.value.problems) == [
        "grant G1: unknown principal 'nobody'",
        "grant G2: valid_until 2024-01-01 is before valid_from 2025-01-01",
    ]
    assert store.version == 1
    assert store.export_policy() == before


def test_a_failure_half_way_through_writes_nothing(
    store: CatalogStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.apply_policy(small_policy())
    before = store.snapshot()
    write = catalog.store._insert_policy

    def fail_after_writing(conn: sqlite3.Connection, doc: PolicyDocument) -> None:
        write(conn, doc)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(catalog.store, "_insert_policy", fail_after_writing)
    with pytest.raises(CatalogError, match="catalog write failed, nothing written"):
        store.apply_policy(small_policy(own_data(purpose="changed")))
    assert store.version == 1
    assert store.snapshot() == before


def test_snapshots_are_cached_until_the_version_moves(store: CatalogStore) -> None:
    first = store.snapshot()
    assert store.snapshot() is first
    store.apply_policy(small_policy())
    second = store.snapshot()
    assert second is not first and second.version == first.version + 1
    assert store.snapshot() is second


def test_writes_by_another_store_on_the_same_file_are_seen(path: Path) -> None:
    with CatalogStore(path) as reader, CatalogStore(path) as writer:
        assert reader.snapshot().principals == ()
        writer.apply_policy(small_policy())
        assert reader.version == 1
        assert [p.name for p in reader.snapshot().principals] == ["si_analyst"]


def test_apply_without_replace_lays_the_document_over(store: CatalogStore) -> None:
    store.apply_policy(small_policy())
    overlay = parse_policy(
        """\
        version: 1
        principals:
          - {name: chengdu_si_analyst, department: social_security, roles: [analyst]}
        grants:
          - id: G1
            principal: si_analyst
            table: social_security.public.*
            purpose: own data
            columns: {"*": allow}
            approved_by: social_security_data_owner
          - id: G8.1
            principal: chengdu_si_analyst
            table: social_security.public.*
            purpose: own data
            columns: {"*": allow}
            row_filter: "region_code LIKE '5101%'"
            approved_by: social_security_data_owner
        """,
        partial=True,
    )
    store.apply_policy(overlay, replace=False)
    merged = store.export_policy()
    assert [p.name for p in merged.principals] == ["si_analyst", "chengdu_si_analyst"]
    assert [(g.id, g.row_filter) for g in merged.grants] == [
        ("G1", None),
        ("G8.1", "region_code LIKE '5101%'"),
    ]
    assert merged.tables == small_policy().tables


def test_a_bad_overlay_points_at_its_own_lines(store: CatalogStore) -> None:
    store.apply_policy(small_policy())
    overlay = parse_policy(
        """\
        version: 1
        grants:
          - id: G2
            principal: si_analyst
            table: social_security.public.*
            purpose: statistics
            columns: {"*": allow}
            approved_by: social_security_data_owner
        """,
        partial=True,
    )
    with pytest.raises(PolicyFileError) as caught:
        store.apply_policy(overlay, replace=False)
    [problem] = caught.value.problems
    assert problem.line == 5 and "ambiguous with grant G1" in problem.message
    assert store.version == 1


def test_replace_removes_what_the_document_omits(store: CatalogStore) -> None:
    store.apply_policy(small_policy())
    store.apply_policy(PolicyDocument())
    assert store.export_policy() == PolicyDocument()
    assert store.snapshot().grants == ()


def test_demo_policy_round_trips_through_the_store(store: CatalogStore) -> None:
    demo = load_policy(DEMO_POLICY)
    store.apply_policy(demo)
    exported = store.export_policy()
    assert exported == demo
    assert parse_policy(dump_policy(exported)) == demo
    snapshot = store.snapshot()
    assert len(snapshot.grants) == 18
    [g2] = snapshot.grants_for("si_analyst", "public_security.public.residents")
    assert g2.id == "G2" and str(g2.action("phone")) == "mask:phone"


def test_readers_and_a_writer_in_threads(store: CatalogStore) -> None:
    errors: list[BaseException] = []
    versions: list[int] = []

    def read() -> None:
        try:
            for _ in range(50):
                versions.append(store.snapshot().version)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    for n in range(20):
        store.register_source(Source(f"s{n}", "sqlite", "social_security", {"path": f"/d/{n}"}))
    for reader in readers:
        reader.join()
    assert errors == []
    assert store.version == 20 and len(store.snapshot().sources) == 20
    assert all(0 <= v <= 20 for v in versions)
