"""The whole request cycle against a real demo world: request, approve / narrow / reject / lapse,
query through the gateway, expire, revoke, each step audited in the statements' chain."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from datetime import UTC, date, datetime

import pytest

from catalog.governance_models import GrantState, RequestStatus, ShareClass
from catalog.policy_file import load_policy
from catalog.resource_file import ResourceFileError, load_resources
from gateway.approval import Conflict, InvalidRequest, NotFound, NotPermitted, RequestForm
from gateway.errors import ColumnDenied, GrantExpired, MatchMisuse, NotGranted
from gateway.governance import Governance
from gateway.policyfiles import apply_policy_file
from gateway.service import Gateway
from gateway.settings import Settings, load_settings

from .conftest import DEMO, RESOURCES, World

RESIDENTS = "public_security.public.residents"
DEATHS = "public_security.public.deaths"
RESIDENT_COLUMNS = ("hukou_region_code", "gender", "status", "phone")
PHONE = re.compile(r"1\d{2}\*{4}\d{4}")


def residents_form(**changes: object) -> RequestForm:
    fields: dict[str, object] = {
        "table": RESIDENTS, "columns": RESIDENT_COLUMNS,
        "purpose": "medical assistance outreach 医疗救助对象核查",
        "valid_until": date(2026, 6, 30), "row_filter": "status = 'active'",
        "scenario": "核查医疗救助对象户籍状态", "legal_basis": "《社会救助暂行办法》第二十九条",
    }
    fields.update(changes)
    return RequestForm(**fields)  # type: ignore[arg-type]


def raw_count(world: World, source: str, where: str) -> int:
    with sqlite3.connect(world.data_dir / f"{source}.sqlite") as conn:
        count = int(conn.execute(f"SELECT count(*) FROM {where}").fetchone()[0])
    conn.close()
    return count


# -- conditional: approve, query, expire ---------------------------------------------------------


def test_a_conditional_request_waits_for_the_owner_then_grants_at_once(world: World) -> None:
    request = world.gov.request("mi_analyst", residents_form())
    assert (request.id, request.status, request.department) == (
        "R-0001", RequestStatus.PENDING, "public_security")
    assert request.deadline == date(2026, 3, 10)  # five working days, Friday 6 March a holiday
    with pytest.raises(NotGranted):
        world.rows("mi_analyst", f"SELECT count(*) FROM {RESIDENTS}")

    before = world.gateway.store.version
    approved = world.gov.approve("R-0001", "ps_owner")
    assert approved.status is RequestStatus.APPROVED and not approved.narrowed
    assert world.gateway.store.version == before + 1
    [grant] = world.gateway.snapshot().grants_for("mi_analyst", RESIDENTS)
    assert (grant.id, grant.approved_by, grant.row_filter) == ("R-0001", "ps_owner",
                                                               "status = 'active'")
    assert {k: str(v) for k, v in grant.columns.items()} == {
        "hukou_region_code": "allow", "gender": "allow", "status": "allow", "phone": "mask:phone"}

    [[count]] = world.rows("mi_analyst", f"SELECT count(*) FROM {RESIDENTS}")
    assert count == raw_count(world, "public_security", "residents WHERE status = 'active'")
    phones = world.rows("mi_analyst",
                        f"SELECT phone FROM {RESIDENTS} WHERE phone IS NOT NULL LIMIT 20")
    assert phones and all(PHONE.fullmatch(str(p)) for (p,) in phones)
    with pytest.raises(ColumnDenied):
        world.rows("mi_analyst", f"SELECT name FROM {RESIDENTS}")

    [created] = world.events("request.created")
    assert created.principal == "mi_analyst"
    assert created.body["details"]["columns"] == list(RESIDENT_COLUMNS)
    [event] = world.events("request.approved")
    assert event.principal == "ps_owner"
    assert event.body["details"]["columns"]["phone"] == "mask:phone"
    assert world.events("request.narrowed") == []


def test_an_expired_grant_refuses_the_next_statement_and_is_recorded(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    world.gov.approve("R-0001", "ps_owner")
    sql = f"SELECT gender, count(*) FROM {RESIDENTS} GROUP BY gender"
    world.clock.set(datetime(2026, 6, 30, 23, 0, tzinfo=UTC))
    assert len(world.rows("mi_analyst", sql)) == 2

    world.clock.set(datetime(2026, 7, 1, 8, 0, tzinfo=UTC))
    with pytest.raises(GrantExpired, match="grant R-0001 expired on 2026-06-30"):
        world.rows("mi_analyst", sql)
    [issued] = world.gov.issued_grants()  # looking settles: the expiry is recorded
    assert (issued.state, issued.ended_by) == (GrantState.EXPIRED, "auto:expiry")
    [event] = world.events("grant.expired")
    assert event.body["details"] == {"grant": "R-0001", "principal": "mi_analyst",
                                     "table": RESIDENTS, "valid_until": "2026-06-30"}
    world.gov.issued_grants()
    assert len(world.events("grant.expired")) == 1


# -- revocation ---------------------------------------------------------------------------------


def test_revocation_refuses_the_very_next_statement(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    world.gov.approve("R-0001", "ps_owner")
    sql = f"SELECT hukou_region_code, count(*) FROM {RESIDENTS} GROUP BY 1"
    first = world.gateway.plan("mi_analyst", sql)
    assert world.gateway.plan("mi_analyst", sql) is first  # the plan is cached
    assert world.rows("mi_analyst", sql)

    with pytest.raises(NotPermitted, match="only a data owner of public_security"):
        world.gov.revoke("R-0001", "si_owner")
    with pytest.raises(NotPermitted, match="admins"):
        world.gov.revoke("R-0001", "admin")
    version = world.gateway.store.version
    revoked = world.gov.revoke("R-0001", "ps_owner", "purpose achieved")
    assert revoked.state is GrantState.REVOKED
    assert world.gateway.store.version == version + 1  # a new version: the cached plan misses
    with pytest.raises(NotGranted):
        world.rows("mi_analyst", sql)
    [event] = world.events("grant.revoked")
    assert event.principal == "ps_owner"
    assert event.body["details"]["reason"] == "purpose achieved"
    with pytest.raises(Conflict, match="revoked, not active"):
        world.gov.revoke("R-0001", "ps_owner")
    with pytest.raises(NotFound, match="policy file"):
        world.gov.revoke("G2", "ps_owner")


def test_a_policy_apply_does_not_undo_an_approval(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    world.gov.approve("R-0001", "ps_owner")
    apply_policy_file(world.gateway.store, DEMO / "policy.yaml")  # replaces every grant...
    world.gateway.store.apply_policy(load_policy(DEMO / "owners.yaml", partial=True),
                                     replace=False)
    assert world.gateway.snapshot().grants_for("mi_analyst", RESIDENTS) == ()
    world.gov.settle()  # ...and the approved one is put back
    [grant] = world.gateway.snapshot().grants_for("mi_analyst", RESIDENTS)
    assert grant.id == "R-0001"
    assert [e.body["details"]["grant"] for e in world.events("grant.reinstated")] == ["R-0001"]
    assert world.rows("mi_analyst", f"SELECT count(*) FROM {RESIDENTS}")


# -- narrowing ----------------------------------------------------------------------------------


def test_an_owner_narrows_columns_rows_and_period(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    approved = world.gov.approve("R-0001", "ps_owner", columns=["hukou_region_code", "gender"],
                                 row_filter="hukou_region_code LIKE '5101%'",
                                 valid_until=date(2026, 4, 30))
    assert approved.narrowed
    assert approved.granted is not None
    assert approved.granted.columns == ("hukou_region_code", "gender")
    assert approved.granted.row_filter == (
        "(status = 'active') AND (hukou_region_code LIKE '5101%')")
    [grant] = world.gateway.snapshot().grants_for("mi_analyst", RESIDENTS)
    assert grant.valid_until == date(2026, 4, 30)

    [[count]] = world.rows("mi_analyst", f"SELECT count(*) FROM {RESIDENTS}")
    where = "residents WHERE status = 'active' AND hukou_region_code LIKE '5101%'"
    assert count == raw_count(world, "public_security", where)
    with pytest.raises(ColumnDenied):
        world.rows("mi_analyst", f"SELECT phone FROM {RESIDENTS}")

    [narrowed] = world.events("request.narrowed")
    assert narrowed.principal == "ps_owner"
    assert narrowed.body["details"] == {
        "request": "R-0001", "columns_removed": ["status", "phone"],
        "row_filter": {"requested": "status = 'active'",
                       "granted": "(status = 'active') AND (hukou_region_code LIKE '5101%')"},
        "valid_until": {"requested": "2026-06-30", "granted": "2026-04-30"}}
    assert world.events("request.approved")[0].body["details"]["narrowed"] is True


@pytest.mark.parametrize(("changes", "message"), [
    ({"columns": ["hukou_region_code", "name"]}, "name were not requested"),
    ({"valid_until": date(2026, 7, 1)}, "beyond the requested 2026-06-30"),
    ({"columns": []}, "keeps at least one column"),
    ({"row_filter": "length(phone) > 3"}, "may not use function"),
    ({"row_filter": "shoe_size > 40"}, "row filter uses shoe_size"),
])
def test_an_approval_never_widens(world: World, changes: dict[str, object],
                                  message: str) -> None:
    world.gov.request("mi_analyst", residents_form())
    with pytest.raises(InvalidRequest, match=message):
        world.gov.approve("R-0001", "ps_owner", **changes)  # type: ignore[arg-type]
    assert world.gov.show("R-0001").status is RequestStatus.PENDING
    assert world.gateway.snapshot().grants_for("mi_analyst", RESIDENTS) == ()


def test_an_owners_row_filter_can_only_remove_rows(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    world.gov.approve("R-0001", "ps_owner", row_filter="status <> 'active' OR 1 = 1")
    [[count]] = world.rows("mi_analyst", f"SELECT count(*) FROM {RESIDENTS}")
    assert count == raw_count(world, "public_security", "residents WHERE status = 'active'")


# -- rejection, lapse, withdrawal -----------------------------------------------------------------


def test_a_rejection_needs_the_owner_and_a_reason(world: World) -> None:
    world.gov.request("lapsed_analyst", residents_form(table=DEATHS, columns=("id_no",),
                                                      row_filter=None))
    with pytest.raises(InvalidRequest, match="needs a reason"):
        world.gov.reject("R-0001", "ps_owner", " ")
    with pytest.raises(NotPermitted):
        world.gov.reject("R-0001", "tr_owner", "no")
    rejected = world.gov.reject("R-0001", "ps_owner", "用途与交通运输职责无关")
    assert (rejected.status, rejected.reason) == (RequestStatus.REJECTED, "用途与交通运输职责无关")
    [event] = world.events("request.rejected")
    assert event.principal == "ps_owner"
    assert event.body["details"]["reason"] == "用途与交通运输职责无关"
    with pytest.raises(Conflict, match="rejected, not pending"):
        world.gov.approve("R-0001", "ps_owner")
    with pytest.raises(NotGranted):
        world.rows("lapsed_analyst", f"SELECT count(*) FROM {DEATHS}")


def test_a_request_lapses_after_its_working_days(world: World) -> None:
    world.clock.set(datetime(2026, 3, 5, 16, 0, tzinfo=UTC))  # Thursday
    request = world.gov.request("mi_analyst", residents_form())
    # Friday 6 March is a holiday: Mon 9, Tue 10, Wed 11, Thu 12, Fri 13.
    assert request.deadline == date(2026, 3, 13)
    world.clock.set(datetime(2026, 3, 13, 23, 59, tzinfo=UTC))
    assert world.gov.show("R-0001").status is RequestStatus.PENDING
    world.clock.set(datetime(2026, 3, 14, 0, 1, tzinfo=UTC))
    assert world.events("request.lapsed") == []  # nothing runs in the background
    [lapsed] = world.gov.requests("mi_analyst")
    assert (lapsed.status, lapsed.decided_by) == (RequestStatus.LAPSED, "auto:deadline")
    [event] = world.events("request.lapsed")
    assert event.body["details"]["deadline"] == "2026-03-13"
    with pytest.raises(Conflict, match="lapsed, not pending"):
        world.gov.approve("R-0001", "ps_owner")
    assert world.gov.request("mi_analyst", residents_form()).id == "R-0002"  # may ask again


def test_a_requester_withdraws_their_own_pending_request(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    with pytest.raises(NotPermitted):
        world.gov.withdraw("R-0001", "ps_owner")
    assert world.gov.withdraw("R-0001", "mi_analyst").status is RequestStatus.WITHDRAWN
    assert len(world.events("request.withdrawn")) == 1


# -- share classes --------------------------------------------------------------------------------


def test_an_unconditional_resource_is_granted_at_once_under_default_masks(world: World) -> None:
    form = RequestForm("51-SI-0001", ("id_no", "name", "insurance_type", "status"),
                       "statistics 统计分析", date(2026, 12, 31))
    request = world.gov.request("mi_analyst", form)
    assert (request.status, request.decided_by) == (RequestStatus.APPROVED, "auto:unconditional")
    [grant] = world.gateway.snapshot().grants_for("mi_analyst", "social_security.public.insured")
    assert {k: str(v) for k, v in grant.columns.items()} == {
        "id_no": "match", "name": "mask:name", "insurance_type": "allow", "status": "allow"}
    names = world.rows("mi_analyst", "SELECT name FROM social_security.public.insured LIMIT 20")
    assert names and all(re.fullmatch(r".\*+", str(n)) for (n,) in names)
    with pytest.raises(MatchMisuse):
        world.rows("mi_analyst", "SELECT id_no FROM social_security.public.insured")
    [event] = world.events("request.approved")
    assert event.principal == "auto:unconditional"


def test_a_not_shareable_resource_is_refused_with_its_basis(world: World) -> None:
    form = RequestForm("justice.public.incarcerations", ("id_no", "start_date"),
                       "fraud detection", date(2026, 12, 31), legal_basis="-")
    refused = world.gov.request("mi_analyst", form)
    assert (refused.status, refused.decided_by) == (RequestStatus.REFUSED, "auto:not_shareable")
    assert refused.reason is not None
    assert "51-JU-0001 服刑人员信息 is not shareable (不予共享)" in refused.reason
    assert "《政务信息资源共享管理暂行办法》" in refused.reason
    [event] = world.events("request.refused")
    assert event.body["details"]["reason"] == refused.reason
    assert world.gateway.snapshot().grants_for("mi_analyst", "justice.public.incarcerations") == ()


# -- separation of duties and checks --------------------------------------------------------------


@pytest.mark.parametrize(("actor", "message"), [
    ("admin", "admins register sources and principals; they approve nothing"),
    ("si_owner", "only a data owner of public_security decides"),
    ("si_analyst", "only a data owner of public_security decides"),
    ("nobody", "unknown principal 'nobody'"),
])
def test_only_the_providing_departments_owner_decides(world: World, actor: str,
                                                       message: str) -> None:
    world.gov.request("mi_analyst", residents_form())
    with pytest.raises(NotPermitted, match=message):
        world.gov.approve("R-0001", actor)


def test_a_requester_cannot_approve_their_own_request(world: World) -> None:
    world.gov.request("ps_owner", residents_form())
    with pytest.raises(NotPermitted, match="their own request"):
        world.gov.approve("R-0001", "ps_owner")


@pytest.mark.parametrize(("changes", "message"), [
    ({"columns": ("phone", "shoe_size")}, "has no column 'shoe_size'"),
    ({"table": DEATHS, "columns": ("id_no", "cause_category"), "row_filter": None},
     r"column cause_category is not shared \(51-PS-0002 denies it\)"),
    ({"row_filter": "status IN (SELECT 1)"}, "subqueries"),
    ({"valid_until": date(2026, 3, 1)}, r"ends \(2026-03-01\) before it starts \(2026-03-02\)"),
    ({"valid_from": date(2026, 2, 1), "valid_until": date(2026, 3, 1)}, "before today"),
    ({"legal_basis": ""}, "give the legal basis"),
    ({"purpose": " "}, "needs a purpose"),
])
def test_a_request_that_cannot_be_granted_is_refused_whole(world: World,
                                                           changes: dict[str, object],
                                                           message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        world.gov.request("mi_analyst", residents_form(**changes))
    assert world.gov.requests() == ()


def test_what_is_held_or_asked_already_is_not_asked_again(world: World) -> None:
    with pytest.raises(Conflict, match="already granted to si_analyst by grant G2"):
        world.gov.request("si_analyst", residents_form())
    world.gov.request("mi_analyst", residents_form())
    with pytest.raises(Conflict, match=r"R-0001 .* is already pending"):
        world.gov.request("mi_analyst", residents_form())
    with pytest.raises(NotFound, match="no catalogued resource"):
        world.gov.request("mi_analyst", residents_form(table="transport.public.buses"))


def test_an_expired_policy_grant_does_not_stop_a_renewal(world: World) -> None:
    form = residents_form(columns=("gender",), row_filter=None)
    world.gov.request("lapsed_analyst", form)  # G12 expired on 2025-12-31
    world.gov.approve("R-0001", "ps_owner")
    assert world.rows("lapsed_analyst", f"SELECT count(*) FROM {RESIDENTS}")


def test_requests_are_shown_to_whom_they_concern(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    world.gov.request("lapsed_analyst", residents_form(table=DEATHS, columns=("id_no",),
                                                      row_filter=None))
    seen = {who: [r.id for r in world.gov.requests(who)]
            for who in ("mi_analyst", "lapsed_analyst", "ps_owner", "si_owner", "auditor")}
    assert seen == {"mi_analyst": ["R-0001"], "lapsed_analyst": ["R-0002"],
                    "ps_owner": ["R-0001", "R-0002"], "si_owner": [],
                    "auditor": ["R-0001", "R-0002"]}
    with pytest.raises(NotFound):
        world.gov.show("R-0001", "lapsed_analyst")


def test_every_step_stays_in_one_verifiable_chain(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    world.rows("si_analyst", f"SELECT count(*) FROM {RESIDENTS}")
    world.gov.approve("R-0001", "ps_owner", columns=["gender"])
    world.rows("mi_analyst", f"SELECT gender FROM {RESIDENTS} LIMIT 1")
    world.gov.revoke("R-0001", "ps_owner")
    kinds = [r.body.get("event", r.kind) for r in world.gateway.audit.log.tail(100)]
    assert kinds[1:] == ["request.created", "decision", "completion", "request.narrowed",
                         "request.approved", "decision", "completion", "grant.revoked"]
    assert world.gateway.audit.log.verify().ok


def test_a_resource_reclassified_as_not_shareable_is_not_approved(world: World) -> None:
    world.gov.request("mi_analyst", residents_form())
    doc = load_resources(RESOURCES)
    closed = tuple(dataclasses.replace(r, share_class=ShareClass.NOT_SHAREABLE)
                   if r.code == "51-PS-0001" else r for r in doc.resources)
    world.gov.apply_resources(dataclasses.replace(doc, resources=closed), "admin")
    with pytest.raises(Conflict, match="since been catalogued as not shareable"):
        world.gov.approve("R-0001", "ps_owner")
    [_, applied] = world.events("resource.applied")
    assert applied.principal == "admin"
    assert len(applied.body["details"]["resources"]) == 9


def test_a_bad_catalogue_is_refused_whole(world: World) -> None:
    doc = load_resources(RESOURCES)
    broken = tuple(dataclasses.replace(r, table="transport.public.buses")
                   if r.code == "51-TR-0001" else r for r in doc.resources)
    with pytest.raises(ResourceFileError, match=r"transport\.public\.buses is not a registered"):
        world.gov.apply_resources(dataclasses.replace(doc, resources=broken))
    assert len(world.gov.catalogue().entries()) == 9
    assert len(world.events("resource.applied")) == 1


def test_settings_set_the_deadline_and_the_calendar(world: World) -> None:
    (world.data_dir / "calendar.yaml").write_text("holidays: [2026-03-03]\n", encoding="utf-8")
    base = load_settings(world.data_dir / "shuqiao.toml")
    values = {**base.values, "governance.deadline_days": 2,
              "governance.calendar": "calendar.yaml"}
    gateway = Gateway(Settings(values, base.base_dir), clock=world.clock.today)
    gov = Governance.for_gateway(gateway, world.clock)
    try:
        request = gov.request("mi_analyst", residents_form())
        assert request.deadline == date(2026, 3, 5)  # Tuesday 3 March off: Wednesday, Thursday
    finally:
        gov.close()
        gateway.close()
