"""The resource file: the demo catalogue loads; every problem is reported with its line."""

from __future__ import annotations

import textwrap

import pytest

from catalog.governance_models import ShareClass, UpdateCycle
from catalog.models import CatalogSnapshot
from catalog.resource_file import ResourceFileError, load_resources, parse_resources
from gateway.policy.masks import MASKS

from .conftest import RESOURCES

GOOD = """\
version: 1
resources:
  - code: 51-PS-0001
    table: public_security.public.residents
    name: 全省户籍人口基本信息
    department: public_security
    share_class: conditional
    basis: 《政务信息资源共享管理暂行办法》第九条
    update_cycle: daily
    default_masks: {phone: mask:phone}
"""


def problems(text: str, snapshot: CatalogSnapshot | None = None) -> list[tuple[int, str]]:
    with pytest.raises(ResourceFileError) as caught:
        parse_resources(textwrap.dedent(text), "r.yaml", snapshot=snapshot,
                        known_masks=MASKS.keys())
    return [(p.line, p.message) for p in caught.value.problems]


def test_the_demo_catalogue_covers_the_nine_demo_tables(demo_snapshot: CatalogSnapshot) -> None:
    doc = load_resources(RESOURCES, snapshot=demo_snapshot, known_masks=MASKS.keys())
    assert {r.table for r in doc.resources} == {t.qualified for t in demo_snapshot.tables}
    classes = {r.code: r.share_class for r in doc.resources}
    assert classes["51-SI-0001"] is ShareClass.UNCONDITIONAL
    assert classes["51-JU-0001"] is ShareClass.NOT_SHAREABLE
    assert all(r.basis for r in doc.resources if r.share_class.needs_basis)
    assert all(r.abstract and r.name for r in doc.resources)
    trips = next(r for r in doc.resources if r.code == "51-TR-0001")
    assert trips.update_cycle is UpdateCycle.REALTIME
    assert str(trips.default_action("departed_at")) == "mask:date"
    assert str(trips.default_action("mode")) == "allow"


def test_a_good_file_parses() -> None:
    [resource] = parse_resources(GOOD).resources
    assert (resource.code, resource.share_class, str(resource.default_masks["phone"])) == (
        "51-PS-0001", ShareClass.CONDITIONAL, "mask:phone")


def test_shape_problems_point_at_their_lines() -> None:
    text = """\
    version: 1
    resources:
      - code: 51-PS-1
        table: public_security.public.residents
        name: 户籍
        department: public_security
        share_class: sometimes
        update_cycle: hourly
      - code: 51-PS-0002
        table: public_security.public.deaths
        name: 死亡
        department: public_security
        share_class: conditional
        update_cycle: daily
        defaults_masks: {}
      - code: 51-PS-0002
        table: public_security.public.deaths
        name: 死亡
        department: public_security
        share_class: unconditional
        update_cycle: daily
        default_masks: {id_no: mask:nope, name: hide}
    """
    assert problems(text) == [
        (7, "resource 51-PS-1: unknown share_class 'sometimes' (expected unconditional,"
            " conditional, not_shareable)"),
        (8, "resource 51-PS-1: unknown update_cycle 'hourly' (expected realtime, daily, weekly,"
            " monthly, quarterly, yearly)"),
        (9, "resource 51-PS-0002: a conditional resource needs the legal basis of its"
            " restriction (basis)"),
        (15, "resource: unknown key 'defaults_masks' (expected code, table, name, department,"
             " abstract, share_class, basis, update_cycle, default_masks)"),
        (16, "duplicate resource code '51-PS-0002' (first at line 9)"),
        (17, "duplicate resource table 'public_security.public.deaths' (first at line 9)"),
        (22, "resource 51-PS-0002: column name: unknown column action 'hide'; expected allow,"
             " mask:<fn>, match or deny"),
        (22, "resource 51-PS-0002: column id_no: unknown mask 'nope' (known: address_district,"
             " bank_card, date, hash, id_no, month, name, null, phone, year)"),
    ]


def test_catalog_problems_point_at_their_lines(demo_snapshot: CatalogSnapshot) -> None:
    text = GOOD.replace("code: 51-PS-0001", "code: PS1").replace(
        "department: public_security", "department: justice") + """\
  - code: 51-TR-0009
    table: transport.public.buses
    name: 公交
    department: transport
    share_class: unconditional
    update_cycle: daily
  - code: 51-TR-0001
    table: transport.public.trips
    name: 出行
    department: transport
    share_class: unconditional
    update_cycle: realtime
    default_masks: {seat: deny}
"""
    assert problems(text, demo_snapshot) == [
        (3, "resource PS1: code must look like 51-PS-0001"),
        (6, "resource PS1: department 'justice' does not provide public_security.public.residents"
            " (its source belongs to 'public_security')"),
        (12, "resource 51-TR-0009: table transport.public.buses is not a registered table"),
        (23, "resource 51-TR-0001: transport.public.trips has no column 'seat'"),
    ]


@pytest.mark.parametrize(("text", "line", "message"), [
    ("", 1, "the resource file is empty"),
    ("version: 2\nresources: []\n", 1, "unsupported version '2'; expected 1"),
    ("version: 1\nresources: {a: 1}\n", 2, "resources must be a list"),
    ("version: 1\nresources: [\n", 3, "not valid YAML"),
    ("version: 1\nresources:\n  - {code: 51-PS-0001}\n", 3, "resource 51-PS-0001: missing table"),
])
def test_malformed_files(text: str, line: int, message: str) -> None:
    assert any(at == line and found.startswith(message) for at, found in problems(text))
